"""Small fakes for the model-layer tests: a scripted ChatModel, a fake clock, request builders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from bot.ports import CallRecord, ChatMessage, ChatRequest, ChatResponse, Usage

SECRET = "sk-test-SECRET-0123456789"

Step = BaseException | str | Callable[[ChatRequest], ChatResponse | str]


def make_request(text: str = "I have a headache and fever", **kwargs: Any) -> ChatRequest:
    """A one-message request with a system prompt."""
    return ChatRequest(
        system=kwargs.pop("system", "You are a careful health assistant."),
        messages=kwargs.pop("messages", (ChatMessage("user", text),)),
        **kwargs,
    )


class FakeClock:
    """A monotonic clock whose sleep advances time instantly (and records the sleeps)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedModel:
    """A ChatModel answering from a script: exceptions are raised, strings become replies.

    The last step repeats once the script runs out. `cost_s` advances a FakeClock per call.
    """

    def __init__(
        self,
        provider: str,
        model: str,
        script: Sequence[Step],
        *,
        clock: FakeClock | None = None,
        cost_s: float = 0.0,
        delay_s: float = 0.0,
    ) -> None:
        self.provider = provider
        self.model = model
        self.script = list(script)
        self.clock = clock
        self.cost_s = cost_s
        self.delay_s = delay_s
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.requests)

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        step = self.script[min(index, len(self.script) - 1)]
        started = self.clock() if self.clock else time.monotonic()
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.clock is not None:
            self.clock.now += self.cost_s
        if isinstance(step, BaseException):
            raise step
        result = step(request) if callable(step) else step
        if isinstance(result, ChatResponse):
            return result
        ended = self.clock() if self.clock else time.monotonic()
        record = CallRecord(
            provider=self.provider,
            model=self.model,
            outcome="ok",
            latency_ms=(ended - started) * 1000,
            usage=Usage(10, 5),
            perspective=request.perspective,
            cost_usd=0.0,
            started_at=started,
            ended_at=ended,
        )
        return ChatResponse(text=result, provider=self.provider, model=self.model, calls=(record,))


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request] | None = None
) -> httpx.Client:
    """An httpx.Client over MockTransport that records the requests it sees."""

    def wrapped(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return httpx.Client(transport=httpx.MockTransport(wrapped))


def reply_with(
    status: int, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A MockTransport handler that always answers the same."""

    def handler(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def raise_with(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    """A MockTransport handler that raises a transport error."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler

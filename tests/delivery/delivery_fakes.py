"""Delivery test fakes: a recording messenger, a slow chat model, a canned Twilio HttpClient."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response

from bot.outbound import SentMessage, Template
from bot.ports import ChatRequest, ChatResponse


@dataclass
class Sent:
    sid: str
    to: str
    body: str | None
    template: Template | None
    status_callback: str | None
    at: dt.datetime


def rendered(sent: Sent) -> str:
    """The text Twilio shows for a message: a template's approved wording with its variable."""
    if sent.template is not None:
        return f"Update from the clinic: {sent.template.variables.get('1', '')} Reply to continue."
    return sent.body or ""


class FakeMessenger:
    """A Messenger (and SentLookup) that keeps what it sent; failures can be scripted."""

    def __init__(self, *, delay_s: float = 0.0, lookup: bool = True) -> None:
        self.sent: list[Sent] = []
        self.failures: list[BaseException] = []
        self.delay_s = delay_s
        self.lookup = lookup
        self.lookups = 0
        self._lock = threading.Lock()
        # Called after Twilio "accepted" a message, before the SID is returned: crash simulation.
        self.after_accept: Callable[[Sent], None] | None = None

    def _send(self, to: str, body: str | None, template: Template | None,
              status_callback: str | None) -> tuple[str, str]:
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            sent = Sent("SM" + uuid.uuid4().hex, to, body, template, status_callback,
                        dt.datetime.now(dt.UTC))
            self.sent.append(sent)
        if self.after_accept is not None:
            self.after_accept(sent)
        return sent.sid, "queued"

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        return self._send(to, body, None, status_callback)

    def send_template(self, to: str, template: Template, *,
                      status_callback: str | None) -> tuple[str, str]:
        return self._send(to, None, template, status_callback)

    def find_sent(self, to: str, since: dt.datetime) -> list[SentMessage]:
        if not self.lookup:
            raise AttributeError("find_sent")
        self.lookups += 1
        with self._lock:
            return [SentMessage(s.sid, "sent", rendered(s), s.at)
                    for s in reversed(self.sent) if s.to == to and s.at >= since]

    def bodies(self, to: str | None = None) -> list[str]:
        return [s.body or "" for s in self.sent if to is None or s.to == to]


class NoLookupMessenger(FakeMessenger):
    """The same without `find_sent`: reconciliation can't check, so it sends again."""

    find_sent = None  # type: ignore[assignment]


class SlowModel:
    """A ChatModel that takes `delay_s` and answers with the question's marker in the text."""

    provider = "fake"
    model = "slow"

    def __init__(self, delay_s: float = 0.0, *, delays: dict[str, float] | None = None) -> None:
        self.delay_s = delay_s
        self.delays = delays or {}
        self.urgency: str | None = None  # a triage level the "model" concludes, if any
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.delay_s, self.delays, self.urgency = 0.0, {}, None

    def complete(self, request: ChatRequest) -> ChatResponse:
        text = request.last_user_text
        with self._lock:
            self.calls.append(text)
        time.sleep(next((d for k, d in self.delays.items() if k in text), self.delay_s))
        answer = f"Answer about [{text}]: rest and drink water."
        if request.passages:
            # As a grounded model does: it answers from the vetted passage it was given.
            answer += "\n" + request.passages[0].text
        return ChatResponse(text=answer, provider=self.provider, model=self.model, mode="single",
                            urgency=self.urgency)


class CannedHttpClient(HttpClient):  # type: ignore[misc]
    """A twilio HttpClient that answers every request with a canned status and JSON body."""

    def __init__(self, status: int = 201, body: dict[str, Any] | None = None, *,
                 error: BaseException | None = None) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False)
        self.status = status
        self.body = body or {}
        self.error = error
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = False) -> Response:
        self.requests.append({"method": method, "url": uri, "params": params, "data": data})
        if self.error is not None:
            raise self.error
        return Response(self.status, json.dumps(self.body), {})


def twilio_error(code: int, status: int = 400, message: str = "refused") -> dict[str, Any]:
    """The JSON body Twilio sends with an error."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class RecordingExecutor:
    """An Executor that only records what was queued: the test runs the jobs by hand."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, tuple[Any, ...], str | None]] = []

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str:
        self.queued.append((name, args, chain))
        return f"job-{len(self.queued)}"

    def failed_jobs(self) -> list[Any]:
        return []

    def close(self) -> None:
        return None

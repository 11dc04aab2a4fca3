"""The one retry/failover loop over an ordered chain of chat models, ending at a last resort.

Adapters never retry; this router decides from each error's `retryable` and `retry_after`:

    retryable and attempts left and wait fits   -> back off (or obey retry_after) and retry
    otherwise                                   -> fail over to the next model in the chain
    chain exhausted or deadline passed          -> the last resort (the offline model) answers

A per-(provider, model) cooldown, based on the recent failure rate and with a TTL, makes the next
requests skip a provider that keeps failing. The last resort ignores cooldown and the deadline,
so every request gets an answer. Every attempt, failed or not, is returned in `calls`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot import metrics
from bot.errors import ModelError, ModelRateLimited, ModelRefused, ModelUnavailable
from bot.llm.http import describe_error, outcome_of
from bot.llm.retry import retry_wait
from bot.ports import CallRecord, ChatModel, ChatRequest, ChatResponse

log = logging.getLogger(__name__)

Key = tuple[str, str]
# Errors that describe this request rather than the provider's health; they must not cool it down.
_REQUEST_STATUSES = frozenset({400, 413, 422})
# Statuses after which the provider will not recover within seconds (bad key, unknown model).
_STICKY_STATUSES = frozenset({401, 403, 404})


@dataclass(slots=True)
class _Health:
    """Recent outcomes of one (provider, model), for the failure-rate cooldown."""

    events: deque[tuple[float, bool]] = field(default_factory=deque)  # (when, failed)
    cooling_until: float = 0.0


class Router:
    """A ChatModel that tries `chain` in order with retries and cooldowns, then `last_resort`."""

    def __init__(
        self,
        chain: Sequence[ChatModel],
        last_resort: ChatModel,
        *,
        max_retries: int = 2,
        retry_cap_s: float = 8.0,
        backoff_base: float = 0.5,
        cooldown_s: float = 30.0,
        failure_threshold: float = 0.5,
        min_calls: int = 3,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 < failure_threshold <= 1.0:
            raise ValueError("failure_threshold is a failure rate in (0, 1]")
        self.chain = tuple(chain)
        self.last_resort = last_resort
        self.provider = "router"
        self.model = "+".join(f"{m.provider}/{m.model}" for m in (*self.chain, last_resort))
        self.max_retries = max_retries
        self.retry_cap_s = retry_cap_s
        self.backoff_base = backoff_base
        self.cooldown_s = cooldown_s
        self.failure_threshold = failure_threshold
        # Never cool a provider down on its very first failure (LiteLLM's rule): one blip is not
        # a pattern, and cooling the only real model would push everyone to the offline answer.
        self.min_calls = max(1, min_calls)
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._lock = threading.Lock()
        self._health: dict[Key, _Health] = {}

    def __repr__(self) -> str:
        return f"Router({self.model})"

    # ------------------------------------------------------------------ cooldown state

    def cooling_down(self, model: ChatModel) -> bool:
        """True while `model` is in cooldown (requests skip it)."""
        now = self._clock()
        with self._lock:
            health = self._health.get((model.provider, model.model))
            return health is not None and now < health.cooling_until

    def _record(self, key: Key, *, failed: bool, sticky: bool = False) -> None:
        now = self._clock()
        with self._lock:
            health = self._health.setdefault(key, _Health())
            events = health.events
            events.append((now, failed))
            while events and events[0][0] < now - self.window_s:
                events.popleft()
            if not failed:
                return
            failures = sum(1 for _, f in events if f)
            rate = failures / len(events)
            if sticky or (len(events) >= self.min_calls and rate >= self.failure_threshold):
                health.cooling_until = now + self.cooldown_s
                # Start afresh after the TTL, so one success or failure decides quickly again.
                events.clear()
                log.warning(
                    "cooling down %s/%s for %.0fs (failure rate %.0f%%%s)",
                    key[0],
                    key[1],
                    self.cooldown_s,
                    rate * 100,
                    ", sticky error" if sticky else "",
                )

    # ------------------------------------------------------------------ the loop

    def _retry_wait(self, exc: ModelError, attempt: int, request: ChatRequest) -> float | None:
        """Seconds to wait before retrying the same model, or None to fail over now."""
        return retry_wait(exc, attempt, max_retries=self.max_retries,
                          backoff_base_s=self.backoff_base, cap_s=self.retry_cap_s,
                          time_left=request.time_left(self._clock()), rng=self._rng)

    def _attempt(
        self, model: ChatModel, request: ChatRequest, calls: list[CallRecord]
    ) -> tuple[ChatResponse | None, ModelError | None]:
        started = self._clock()
        try:
            response = model.complete(request)
        except ModelError as exc:
            ended = self._clock()
            calls.append(self._failure_record(model, request, exc, started, ended))
            return None, exc
        except Exception as exc:
            # A bug in an adapter must not silence the bot: record it and fail over.
            ended = self._clock()
            log.exception("%s/%s raised an unexpected error", model.provider, model.model)
            calls.append(self._failure_record(model, request, exc, started, ended))
            return None, ModelUnavailable(
                f"{model.provider}: unexpected {type(exc).__name__}",
                provider=model.provider,
                retryable=False,
            )
        calls.extend(response.calls)
        return response, None

    def _failure_record(
        self,
        model: ChatModel,
        request: ChatRequest,
        exc: BaseException,
        started: float,
        ended: float,
    ) -> CallRecord:
        return CallRecord(
            provider=model.provider,
            model=model.model,
            outcome=outcome_of(exc),
            latency_ms=max(0.0, ended - started) * 1000.0,
            perspective=request.perspective,
            started_at=started,
            ended_at=ended,
            error=describe_error(exc),
        )

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer with the first model that succeeds; the last resort answers when none does."""
        calls: list[CallRecord] = []
        first = self.chain[0] if self.chain else self.last_resort
        for model in self.chain:
            left = request.time_left(self._clock())
            if left is not None and left <= 0:
                log.info("deadline passed: skipping the rest of the chain")
                break
            if self.cooling_down(model):
                log.info("skipping %s/%s: cooling down", model.provider, model.model)
                continue
            response = self._try_model(model, request, calls)
            if response is not None:
                return self._finish(response, calls, fallback=model is not first)
        response, exc = self._attempt(self.last_resort, request, calls)
        if response is None:
            assert exc is not None
            metrics.observe_model_calls(calls)
            raise exc
        return self._finish(response, calls, fallback=self.last_resort is not first)

    def _try_model(
        self, model: ChatModel, request: ChatRequest, calls: list[CallRecord]
    ) -> ChatResponse | None:
        key = (model.provider, model.model)
        attempt = 0
        while True:
            response, exc = self._attempt(model, request, calls)
            if response is not None:
                self._record(key, failed=False)
                return response
            assert exc is not None
            self._record_failure(key, exc)
            if self.cooling_down(model):
                return None
            wait = self._retry_wait(exc, attempt, request)
            if wait is None:
                return None
            log.info("retrying %s/%s in %.2fs after %s", model.provider, model.model, wait, exc)
            self._sleep(wait)
            attempt += 1

    def _record_failure(self, key: Key, exc: ModelError) -> None:
        if isinstance(exc, ModelRefused) or exc.status in _REQUEST_STATUSES:
            return  # about this prompt, not about the provider's health
        sticky = (not exc.retryable) and (
            exc.status in _STICKY_STATUSES or isinstance(exc, ModelRateLimited)
        )
        self._record(key, failed=True, sticky=sticky)

    @staticmethod
    def _finish(response: ChatResponse, calls: list[CallRecord], *, fallback: bool) -> ChatResponse:
        metrics.observe_model_calls(calls)
        return replace(
            response,
            calls=tuple(calls),
            mode="fallback" if fallback else response.mode,
        )

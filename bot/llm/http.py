"""Shared plumbing for the raw-httpx model adapters.

Client construction (explicit timeouts and connection limits), per-call timeouts bounded by the
request's deadline, wait-hint parsing, token estimation and the translation of httpx exceptions
into the `bot.errors` tree. Adapters never retry: the router is the only retry loop.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.errors import (
    ModelBadResponse,
    ModelError,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
)
from bot.ports import ChatMessage, ChatRequest, Usage

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_S = 5.0
# Enough connections that a contemplating fan-out (3 perspectives x a few concurrent
# conversations) never queues on the pool, which would silently serialise it.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE = 20
# Chat formats add a few tokens of framing per message and for the reply primer.
_TOKENS_PER_MESSAGE = 3
_REPLY_PRIMER_TOKENS = 3


class Secret:
    """An API key that never shows itself in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def reveal(self) -> str | None:
        """Return the key itself, only for putting it in a request header."""
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret(None)"

    __str__ = __repr__


def build_client(
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    connect_s: float = DEFAULT_CONNECT_S,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """Build the shared httpx.Client for model calls; the caller closes it."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s, connect=min(connect_s, timeout_s)),
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
        ),
        transport=transport,
        # Redirects on a POST to a model API are a misconfiguration, not something to follow.
        follow_redirects=False,
    )


def call_timeout(
    configured_s: float,
    request: ChatRequest,
    *,
    provider: str = "",
    connect_s: float = DEFAULT_CONNECT_S,
    now: float | None = None,
) -> httpx.Timeout:
    """The timeout of one call: min(configured, time left); ModelTimeout when none is left."""
    left = request.time_left(now)
    budget = configured_s if left is None else min(configured_s, left)
    if budget <= 0:
        raise ModelTimeout(f"{provider}: no time left before the deadline", provider=provider)
    # httpx applies these per operation (connect, each read, write, pool wait), so a server that
    # trickles bytes could exceed the budget; the router's deadline checks bound the damage.
    return httpx.Timeout(budget, connect=min(connect_s, budget))


def redact(text: str, secret: Secret | None) -> str:
    """Remove the secret from text (an exception message, a URL) before it is shown anywhere."""
    value = secret.reveal() if secret is not None else None
    if value and value in text:
        text = text.replace(value, "***")
    return text


def scrub(exc: ModelError, secret: Secret | None) -> ModelError:
    """Remove the secret from an error's message in place (a provider may echo the key back)."""
    text = str(exc)
    clean = redact(text, secret)
    if clean != text:
        exc.args = (clean,)
    return exc


def map_transport_error(
    exc: httpx.HTTPError, *, provider: str, secret: Secret | None = None
) -> ModelError:
    """Translate an httpx exception into the bot.errors tree (the caller raises it `from exc`)."""
    detail = redact(f"{type(exc).__name__}: {exc}", secret)
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeout(f"{provider}: timed out ({detail})", provider=provider)
    if isinstance(exc, httpx.ConnectError | httpx.NetworkError | httpx.RemoteProtocolError):
        return ModelUnavailable(f"{provider}: connection failed ({detail})", provider=provider)
    if isinstance(exc, httpx.DecodingError):
        return ModelBadResponse(f"{provider}: undecodable response ({detail})", provider=provider)
    # Anything else (bad URL, too many redirects, protocol misuse) will not fix itself on retry.
    return ModelUnavailable(
        f"{provider}: request failed ({detail})", provider=provider, retryable=False
    )


def post_json(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: httpx.Timeout,
    provider: str,
    secret: Secret | None,
) -> httpx.Response:
    """POST a JSON body and return the response (any status); transport errors become ModelError."""
    try:
        return client.post(url, headers=dict(headers), json=dict(body), timeout=timeout)
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, provider=provider, secret=secret) from exc


def response_json(response: httpx.Response, *, provider: str) -> Any:
    """Decode a response body as JSON; a 2xx that is not JSON is a ModelBadResponse."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelBadResponse(
            f"{provider}: HTTP {response.status_code} body is not JSON",
            provider=provider,
            status=response.status_code,
        ) from exc


def error_body(response: httpx.Response) -> dict[str, Any]:
    """Return the `error` object of an error response ({} when the body has none or is not JSON)."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return err
        if isinstance(err, str):
            return {"message": err}
    return {}


def short(text: object, limit: int = 200) -> str:
    """Shorten a provider message for an exception text (one line, bounded)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_for_status(
    status: int,
    *,
    provider: str,
    message: str,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> ModelError:
    """Map a non-2xx HTTP status to the error tree (adapters handle provider specifics first)."""
    text = (
        f"{provider}: HTTP {status}: {short(message)}" if message else f"{provider}: HTTP {status}"
    )
    err: ModelError
    if status == 408 or status == 504:
        err = ModelTimeout(text, provider=provider, status=status)
    elif status in (429, 529):
        err = ModelRateLimited(text, provider=provider, status=status, retry_after=retry_after)
    elif status == 402:  # out of credit: a billing state that no wait will fix
        err = ModelRateLimited(text, provider=provider, status=status, retryable=False)
    elif status == 409 or status >= 500:
        err = ModelUnavailable(text, provider=provider, status=status, retry_after=retry_after)
    else:  # 400 malformed/too long, 401/403 key, 404 model, 413 too large: retrying cannot help
        err = ModelUnavailable(text, provider=provider, status=status, retryable=False)
    # OpenAI's servers can say explicitly whether a retry is worthwhile; that beats our guess.
    should_retry = {k.lower(): v for k, v in (headers or {}).items()}.get("x-should-retry")
    if should_retry in ("true", "false"):
        err.retryable = should_retry == "true"
    return err


# ---------------------------------------------------------------------------- wait hints

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Parse a Go-style or protobuf duration ("12ms", "6s", "1m30s", "37.5s") into seconds."""
    text = text.strip()
    if not text:
        return None
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(text):
        return None
    return total


def _parse_retry_after(value: str, now_wall: float) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now_wall)


def _parse_rfc3339(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_wait_hint(headers: Mapping[str, str], *, now_wall: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from the response headers, or None when it didn't say.

    Order: `retry-after-ms`, `retry-after` (seconds or HTTP date), then Anthropic's
    `anthropic-ratelimit-*-reset` timestamps of the limits that are exhausted.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    now_wall = time.time() if now_wall is None else now_wall
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is not None:
        parsed = _parse_retry_after(raw, now_wall)
        if parsed is not None:
            return parsed
    return _anthropic_reset_wait(lowered, now_wall)


def _anthropic_reset_wait(lowered: Mapping[str, str], now_wall: float) -> float | None:
    prefix, suffix = "anthropic-ratelimit-", "-reset"
    waits: list[float] = []
    for key, value in lowered.items():
        if not (key.startswith(prefix) and key.endswith(suffix)):
            continue
        limit_name = key[len(prefix) : -len(suffix)]
        # Only the limits that are used up explain the 429; a full bucket's reset is irrelevant.
        if lowered.get(f"{prefix}{limit_name}-remaining", "").strip() != "0":
            continue
        when = _parse_rfc3339(value)
        if when is not None:
            waits.append(max(0.0, when.timestamp() - now_wall))
    return max(waits) if waits else None


def gemini_retry_delay(error: Mapping[str, Any]) -> float | None:
    """Return `RetryInfo.retryDelay` in seconds from a google.rpc.Status error object, if any."""
    details = error.get("details")
    if not isinstance(details, list):
        return None
    for item in details:
        if not isinstance(item, dict):
            continue
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = item.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
            if isinstance(delay, dict):  # the proto form {"seconds": 37, "nanos": 0}
                try:
                    return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
                except (TypeError, ValueError):
                    return None
    return None


# ---------------------------------------------------------------------------- tokens


def estimate_tokens(text: str) -> int:
    """Estimate tokens as chars/3, deliberately high for non-English and non-Latin scripts."""
    return math.ceil(len(text) / 3) if text else 0


def estimate_usage(request: ChatRequest, reply: str) -> Usage:
    """Estimate a call's usage when the provider reported none (flagged estimated=True)."""
    messages: list[ChatMessage] = [ChatMessage("system", request.system), *request.messages]
    prompt = sum(estimate_tokens(m.content) + _TOKENS_PER_MESSAGE for m in messages)
    return Usage(
        input_tokens=prompt + _REPLY_PRIMER_TOKENS,
        output_tokens=estimate_tokens(reply),
        estimated=True,
    )


def as_int(value: object) -> int | None:
    """Return value as a non-negative int, or None when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, int(value))


# ---------------------------------------------------------------------------- outcomes

_OUTCOMES: tuple[tuple[type[ModelError], str], ...] = (
    (ModelTimeout, "timeout"),
    (ModelRateLimited, "rate_limited"),
    (ModelUnavailable, "unavailable"),
    (ModelRefused, "refused"),
    (ModelBadResponse, "bad_response"),
)


def outcome_of(exc: BaseException) -> str:
    """The CallRecord.outcome word for an exception ("timeout", "rate_limited", ... or "error")."""
    for kind, word in _OUTCOMES:
        if isinstance(exc, kind):
            return word
    return "error"


def describe_error(exc: BaseException) -> str:
    """One line for CallRecord.error: the error kind, HTTP status and message (never a key)."""
    status = getattr(exc, "status", None)
    prefix = f"{type(exc).__name__}" + (f" [{status}]" if status is not None else "")
    return f"{prefix}: {short(exc, 300)}"


def join_url(base_url: str, path: str) -> str:
    """Join a base URL and a path with exactly one slash."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def monotonic() -> float:
    """time.monotonic, named here so adapters and tests share the same clock."""
    return time.monotonic()

"""How long to wait before retrying a model call: the one retry policy of the model layer.

The router (chat) and the transcriber (speech) both ask it, so a provider's `retry-after` and
our backoff mean the same thing wherever a call is retried.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.errors import ModelError


def retry_wait(
    exc: ModelError,
    attempt: int,
    *,
    max_retries: int,
    backoff_base_s: float,
    cap_s: float,
    time_left: float | None,
    rng: Callable[[], float],
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when retrying is pointless.

    None when the error is not retryable, the attempts are spent, the server asks for longer
    than `cap_s`, or the wait would spend the rest of the time budget (`time_left`).
    """
    if not exc.retryable or attempt >= max_retries:
        return None
    hint = exc.retry_after
    if hint is not None and hint > 0:
        if hint > cap_s:
            return None  # the server wants longer than we wait for anyone
        wait = hint
    else:
        base = min(backoff_base_s * (2.0**attempt), cap_s)
        # Jitter x(0.75-1.0), as the official SDKs do, so concurrent retries spread out.
        wait = base * (0.75 + 0.25 * rng())
    if time_left is not None and wait >= time_left:
        return None
    return wait

"""Job functions for the worker-kill tests: they run in worker processes and report to Redis."""

from __future__ import annotations

import os
import time
from typing import Any

from redis import Redis


def events_key(token: str) -> str:
    return f"{token}:events"


def step(redis_url: str, token: str, chain: str, number: int, first_delay_s: float) -> str:
    """Record the start; on the first try sleep `first_delay_s` (time to be killed); the end."""
    conn = Redis.from_url(redis_url)
    try:
        attempt = int(conn.incr(f"{token}:attempts:{chain}:{number}"))
        conn.rpush(events_key(token), f"start {chain} {number} {os.getpid()} {time.time():.3f}")
        if attempt == 1:
            time.sleep(first_delay_s)
        conn.rpush(events_key(token), f"end {chain} {number} {os.getpid()} {time.time():.3f}")
    finally:
        conn.close()
    return f"{chain}/{number}"


def perform(name: str, *args: Any) -> Any:
    """The RQ entry point of the test worker processes."""
    if name != "step":
        raise LookupError(name)
    return step(*args)

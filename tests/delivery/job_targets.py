"""Job functions for the executor tests: they record when each step starts and ends."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

EVENTS: list[tuple[str, str, int]] = []  # ("start" | "end" | "fail", chain, number)
FAILS_LEFT: dict[str, int] = defaultdict(int)  # "chain/number" -> failures still to produce
_LOCK = threading.Lock()


def reset() -> None:
    with _LOCK:
        EVENTS.clear()
        FAILS_LEFT.clear()


def step(chain: str, number: int, delay_s: float = 0.0) -> str:
    """Record the start, wait, maybe fail (as scripted), record the end."""
    with _LOCK:
        EVENTS.append(("start", chain, number))
    time.sleep(delay_s)
    with _LOCK:
        key = f"{chain}/{number}"
        if FAILS_LEFT[key] != 0:
            FAILS_LEFT[key] -= 1
            EVENTS.append(("fail", chain, number))
            raise RuntimeError(f"scripted failure of {key}")
        EVENTS.append(("end", chain, number))
    return key


def run(name: str, args: Any) -> Any:
    """The in-process executor's runner."""
    if name != "step":
        raise LookupError(name)
    return step(*args)


def perform(name: str, *args: Any) -> Any:
    """The RQ entry point."""
    return run(name, args)


def ended(chain: str) -> list[int]:
    with _LOCK:
        return [n for kind, c, n in EVENTS if kind == "end" and c == chain]


def overlapped(chain: str) -> bool:
    """True if a step of this chain started before the previous one ended."""
    running = 0
    with _LOCK:
        for kind, c, _n in EVENTS:
            if c != chain:
                continue
            running += 1 if kind == "start" else -1
            if running > 1:
                return True
            if kind == "start" and running < 0:
                return True
    return False

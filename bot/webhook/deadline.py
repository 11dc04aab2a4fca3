"""Run database work with a deadline: a hung database must not hold the person's answer.

Connect, pool and statement timeouts (bot/store/uow.py) turn most database trouble into a fast
StoreError, but nothing on the client side bounds a query on a connection whose server stopped
answering after it was opened (a frozen host, a stalled disk). So the webhook runs such work in a
daemon thread and stops waiting at the deadline. The thread is abandoned, not killed: it ends
when the connection fails or the database answers. A bounded number may run at once per process,
so a long hang can't pile up threads; when none is free the caller gets `TooLate` as well.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")

# Work that may be running (or stuck) at once in one process.
MAX_IN_FLIGHT = 32
_slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)


class TooLate(Exception):
    """The work did not finish before the deadline (it may still finish, unobserved)."""


class Pending(Generic[_T]):
    """Work started in a daemon thread; `result` waits for it until a deadline."""

    def __init__(self, work: Callable[[], _T], name: str) -> None:
        self.name = name
        self._done = threading.Event()
        self._value: _T | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()

        def run() -> None:
            try:
                self._value = context.run(work)
            except BaseException as exc:  # handed to the caller, or dropped if it gave up
                self._error = exc
            finally:
                _slots.release()
                self._done.set()

        threading.Thread(target=run, name=name, daemon=True).start()

    def result(self, deadline: float) -> _T:
        """Return the work's result, or raise what it raised, or TooLate at `deadline`."""
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            raise TooLate(f"{self.name}: no answer from the database in time")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def start(work: Callable[[], _T], *, deadline: float, name: str) -> Pending[_T]:
    """Start work in a daemon thread, with a copy of the caller's context variables.

    Raises:
        TooLate: MAX_IN_FLIGHT earlier calls are still running and none ended before deadline.
    """
    if not _slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise TooLate(f"{name}: {MAX_IN_FLIGHT} earlier calls are still waiting on the database")
    try:
        return Pending(work, name)
    except BaseException:
        _slots.release()  # the thread never started
        raise


def run_within(deadline: float, work: Callable[[], _T], *, name: str = "deadline") -> _T:
    """Return work()'s result, or raise what it raised, or TooLate at `deadline` (monotonic)."""
    return start(work, deadline=deadline, name=name).result(deadline)

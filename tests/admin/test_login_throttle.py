"""Sign-in throttling a stranger can't turn into a lock-out: per (account, address), progressive."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bot.admin.console import (
    PAIR_FIRST_DELAY,
    PAIR_FREE_FAILURES,
    PAIR_MAX_DELAY,
    BadCredentials,
    Throttled,
    pair_delay,
)
from bot.store.models import utcnow
from tests.admin.support import PASSWORD, console, csrf_of, make_staff

STRANGER = "198.51.100.7"
OWNER = "10.0.0.5"


def _login_from(app: Any, address: str, email: str, password: str) -> Any:
    client = app.test_client()
    return client.post("/admin/login",
                       data={"email": email, "password": password,
                             "csrf_token": csrf_of(client)},
                       environ_base={"REMOTE_ADDR": address})


def test_a_stranger_guessing_cannot_lock_the_owner_out(sqlite_app: Any) -> None:
    _, email, _ = make_staff(sqlite_app, "admin")
    codes = [_login_from(sqlite_app, STRANGER, email, f"guess number {i}!").status_code
             for i in range(12)]
    assert codes[:PAIR_FREE_FAILURES] == [401] * PAIR_FREE_FAILURES
    assert set(codes[PAIR_FREE_FAILURES:]) == {429}  # the stranger is slowed down...
    # ...even with the right password, from their address...
    assert _login_from(sqlite_app, STRANGER, email, PASSWORD).status_code == 429
    # ...while the owner, from their own address, signs in at once.
    assert _login_from(sqlite_app, OWNER, email, PASSWORD).status_code == 302


def test_delays_grow_with_each_failure_and_a_success_resets_them(sqlite_app: Any) -> None:
    _, email, _ = make_staff(sqlite_app, "viewer")
    desk = console(sqlite_app)
    now = [utcnow()]
    desk.clock = lambda: now[0]

    def attempt(password: str) -> int | None:
        """Return the Retry-After of a refused try, None for a plain wrong password."""
        try:
            desk.login(email, password, OWNER)
        except Throttled as exc:
            return exc.retry_after
        except BadCredentials:
            return None
        return 0

    for _ in range(PAIR_FREE_FAILURES):
        assert attempt("not the password") is None
    waits = []
    for _ in range(4):
        wait = attempt("not the password")
        assert wait is not None and wait > 0
        waits.append(wait)
        now[0] += dt.timedelta(seconds=wait)  # wait it out, then fail once more
        assert attempt("not the password") is None
    assert waits == sorted(waits) and waits[-1] > waits[0]  # progressive
    assert waits[0] == pytest.approx(PAIR_FIRST_DELAY.total_seconds(), abs=1)
    # The owner waits the delay out once and signs in; the count starts afresh.
    wait = attempt(PASSWORD)
    assert wait
    now[0] += dt.timedelta(seconds=wait)
    assert attempt(PASSWORD) == 0
    assert attempt("a slip of the finger") is None  # free again


def test_one_address_guessing_many_accounts_is_stopped(sqlite_app: Any) -> None:
    _, email, _ = make_staff(sqlite_app, "viewer")
    for i in range(20):
        _login_from(sqlite_app, STRANGER, f"guess{i}@clinic.example.org", "wrong password!!")
    assert _login_from(sqlite_app, STRANGER, email, PASSWORD).status_code == 429
    assert _login_from(sqlite_app, OWNER, email, PASSWORD).status_code == 302


def test_the_delay_schedule_doubles_up_to_its_cap() -> None:
    assert pair_delay(PAIR_FREE_FAILURES - 1) == dt.timedelta(0)
    assert pair_delay(PAIR_FREE_FAILURES) == PAIR_FIRST_DELAY
    assert pair_delay(PAIR_FREE_FAILURES + 1) == PAIR_FIRST_DELAY * 2
    assert pair_delay(PAIR_FREE_FAILURES + 50) == PAIR_MAX_DELAY

"""Readiness within a second: the database, its migrations and Redis, each checked with a deadline.

Liveness (`/healthz`) touches nothing; readiness (`/readyz`) is for a load balancer deciding where
to send traffic, so a hung database or Redis must answer "unavailable" quickly, not hang it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text

from bot.store import migrate
from bot.webhook.deadline import Pending, TooLate, start

if TYPE_CHECKING:
    from bot.services import Services

READY_BUDGET_S = 1.0


def readiness(
    services: Services, *, budget_s: float = READY_BUDGET_S
) -> tuple[dict[str, str], int]:
    """Return (the JSON body, the HTTP status) of `/readyz`, within about `budget_s`."""
    deadline = time.monotonic() + budget_s
    body: dict[str, str] = {}
    # Both checks start at once, so the slower one does not eat the other's time.
    checks: dict[str, Callable[[], dict[str, str]]] = {
        "database": lambda: _database(services), "redis": lambda: _redis(services)}
    started: dict[str, Pending[dict[str, str]] | Exception] = {}
    for name, check in checks.items():
        try:
            started[name] = start(check, deadline=deadline, name=f"readyz-{name}")
        except TooLate as exc:
            started[name] = exc
    for name, pending in started.items():
        try:
            if isinstance(pending, Exception):
                raise pending
            body.update(pending.result(deadline))
        except TooLate:
            body[name] = "timeout"
        except Exception as exc:
            body[name] = type(exc).__name__
    body.setdefault("migrations", "unknown")
    ok = (body.get("database") == "ok" and body["migrations"] == "head"
          and body.get("redis") in ("ok", "unused"))
    return {"status": "ok" if ok else "unavailable", **body}, 200 if ok else 503


def _database(services: Services) -> dict[str, str]:
    with services.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    at_head = migrate.is_at_head(services.engine)
    return {"database": "ok", "migrations": "head" if at_head else "behind"}


def _redis(services: Services) -> dict[str, str]:
    connection = getattr(services.tasks, "connection", None)
    if connection is None:
        return {"redis": "unused"}  # jobs run in this process's threads
    connection.ping()
    return {"redis": "ok"}

"""Who may call a console route: each view declares its least role; anything undeclared is refused.

`@requires("clinician")` marks a view; `@public` marks the few that need no sign-in (the login
page, the stylesheet, the OpenAPI document). The blueprints' `before_request` hooks read the mark,
so a route added without one fails closed (403) instead of answering everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, g

from bot.admin.console import ROLE_RANK, Actor, Console

if TYPE_CHECKING:
    from flask import Flask

F = TypeVar("F", bound=Callable[..., Any])
UNDECLARED = "undeclared"
# Views Flask makes itself, which can't carry a mark: the console's stylesheet.
PUBLIC_ENDPOINTS = frozenset({"admin_pages.static"})


def requires(role: str) -> Callable[[F], F]:
    """Mark a view as needing at least `role` ("viewer", "clinician" or "admin")."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def mark(view: F) -> F:
        view.min_role = role  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Mark a view as answering without sign-in."""
    view.min_role = None  # type: ignore[attr-defined]
    return view


def required_role(app: Flask, endpoint: str | None) -> str | None:
    """Return the least role an endpoint needs, None for public, UNDECLARED when unmarked."""
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    view = app.view_functions.get(endpoint or "")
    if view is None:
        return UNDECLARED
    role: str | None = getattr(view, "min_role", UNDECLARED)
    return role


def console() -> Console:
    return current_app.extensions["healthbot_console"]  # type: ignore[no-any-return]


def actor() -> Actor:
    """Return the signed-in staff member of this request (set by the blueprint's hook)."""
    found: Actor = g.actor
    return found

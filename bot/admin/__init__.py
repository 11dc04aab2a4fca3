"""The staff console: a JSON API (`/admin/api`) and server-rendered pages (`/admin`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.admin.console import Actor, Console
from bot.admin.events import EventFeed
from bot.admin.security import app_secret

if TYPE_CHECKING:
    from flask import Flask

    from bot.services import Services

__all__ = ["Actor", "Console", "init_app"]


def init_app(app: Flask, services: Services) -> Console:
    """Build the console over the services, configure the session cookie, register blueprints."""
    from bot.admin import account_api, account_pages  # noqa: F401 - their routes join these
    from bot.admin.api import blueprint as api_blueprint
    from bot.admin.pages import blueprint as pages_blueprint

    settings = services.settings
    secret = app_secret(settings)
    console = Console(services, secret)
    app.extensions["healthbot_console"] = console
    app.extensions["healthbot_events"] = EventFeed(services.uow)
    services.on_erase = console.record_self_erasure
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="healthbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=urlsplit(settings.public_url).scheme == "https",
        SESSION_COOKIE_PATH="/admin",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.staff_session_hours),
    )
    app.register_blueprint(api_blueprint)
    app.register_blueprint(pages_blueprint)
    return console

"""The composition root: `create_app()` builds the services once and wires the blueprints."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy import text

import safety
from bot.config import Settings, load_settings
from bot.outbound import Messenger
from bot.ports import Alerter, ChatModel
from bot.services import Services, build_services
from bot.store import migrate

log = logging.getLogger(__name__)

# Twilio posts at most a few KB; anything much larger is not a webhook and is refused early.
MAX_REQUEST_BYTES = 64 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    chat_model: ChatModel | None = None,
    upgrade_db: bool | None = None,
    alerters: list[Alerter] | None = None,
    messenger: Messenger | None = None,
    background: bool = True,
) -> Flask:
    """Build the Flask app. SQLite is brought to the latest migration unless told otherwise."""
    settings = settings or load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    if upgrade_db is None:
        upgrade_db = settings.is_sqlite  # an embedded database looks after itself
    if upgrade_db:
        migrate.upgrade(settings.sqlalchemy_url)

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    services = build_services(
        settings, chat_model=chat_model, alerters=alerters, messenger=messenger,
        background=background,
    )
    app.extensions["bot"] = services
    if services.dev_token:
        log.warning(
            "TWILIO_AUTH_TOKEN is not set: using the LOCAL DEVELOPMENT secret in %s. "
            "Only `healthbot chat` can sign requests for it; real Twilio requests will get 403.",
            settings.dev_token_path(),
        )

    from bot.admin import init_app as init_admin
    from bot.webhook.status import blueprint as status_blueprint
    from bot.webhook.views import blueprint as webhook_blueprint

    app.register_blueprint(webhook_blueprint)
    app.register_blueprint(status_blueprint)
    init_admin(app, services)  # the staff console: JSON API, pages, session secret
    # Compile the safety rules now rather than inside the first person's answer deadline.
    safety.assess("warm-up")
    _register_health(app, services)
    _register_errors(app)
    return app


def _register_health(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Any:
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            at_head = migrate.is_at_head(services.engine)
        except Exception as exc:
            return jsonify(status="unavailable", database=type(exc).__name__), 503
        if not at_head:
            return jsonify(status="unavailable", database="ok", migrations="behind"), 503
        return jsonify(status="ok", database="ok", migrations="head")


def _register_errors(app: Flask) -> None:
    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return Response("request body too large\n", status=413, content_type="text/plain")

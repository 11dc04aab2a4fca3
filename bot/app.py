"""The composition root: `create_app()` builds the services once and wires the blueprints."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request

import safety
from bot import metrics
from bot.config import Settings, load_settings
from bot.logging_setup import configure_logging, new_request_id, request_id
from bot.outbound import Messenger
from bot.ports import Alerter, ChatModel
from bot.services import Services, build_services
from bot.store import migrate
from bot.webhook.health import readiness

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
    configure_logging(settings.log_level, settings.log_format)
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
    from bot.voice.views import blueprint as voice_blueprint
    from bot.webhook.status import blueprint as status_blueprint
    from bot.webhook.views import blueprint as webhook_blueprint

    app.register_blueprint(webhook_blueprint)
    app.register_blueprint(status_blueprint)
    app.register_blueprint(voice_blueprint)  # GET /media/speech/<token>.ogg (voice replies)
    init_admin(app, services)  # the staff console: JSON API, pages, session secret
    # Load the safety layer now rather than inside the first person's answer deadline.
    safety.preload()
    _register_request_id(app)
    _register_health(app, services)
    _register_metrics(app, services)
    _register_errors(app)
    return app


def _register_request_id(app: Flask) -> None:
    """Give each request an id (the caller's X-Request-Id if plain), on its logs and response."""

    @app.before_request
    def bind_request_id() -> None:
        rid = new_request_id(request.headers.get("X-Request-Id"))
        g.request_id = rid
        g.request_id_token = request_id.set(rid)

    @app.after_request
    def expose_request_id(response: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-Id"] = rid
        return response

    @app.teardown_request
    def unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            # Torn down in another context, the id dies with that context anyway.
            with contextlib.suppress(ValueError):
                request_id.reset(token)


def _register_metrics(app: Flask, services: Services) -> None:
    allow = services.settings.metrics_allow_networks

    @app.get("/metrics")
    def prometheus() -> Any:
        if not metrics.address_allowed(request.remote_addr, request.headers, allow):
            token = metrics.bearer_token(request.headers)
            console = app.extensions.get("healthbot_console")
            if not token or console is None or console.token_actor(token) is None:
                response = Response(
                    "metrics: only from loopback, HEALTHBOT_METRICS_ALLOW, or with a staff API "
                    "token (Authorization: Bearer hbt_...)\n",
                    status=401, content_type="text/plain; charset=utf-8")
                response.headers["WWW-Authenticate"] = 'Bearer realm="healthbot-metrics"'
                return response
        body, content_type = metrics.render(services)
        return Response(body, status=200, content_type=content_type,
                        headers={"Cache-Control": "no-store"})


def _register_health(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Any:
        # Database, migrations and Redis, each within a deadline: a hung dependency answers
        # "unavailable" in about a second instead of hanging the load balancer's probe.
        body, status = readiness(services)
        return jsonify(body), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return Response("request body too large\n", status=413, content_type="text/plain")

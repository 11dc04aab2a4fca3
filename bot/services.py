"""The long-lived objects of one process, built once from Settings and closed on shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import StaffAlerts, TwilioAlerter, WebhookAlerter
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.llm.offline import OfflineModel
from bot.pipeline import PipelineConfig, Reply
from bot.ports import Alerter, ChatModel
from bot.store.uow import SqlUnitOfWork, make_engine, session_factory

if TYPE_CHECKING:
    from bot.store.models import Contact, SafetyEvent

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chat_model: ChatModel
    knowledge: KnowledgeBase
    webhook_token: str
    dev_token: bool
    pipeline_config: PipelineConfig
    alerts: StaffAlerts
    http: httpx.Client
    closers: list[Callable[[], object]] = field(default_factory=list)

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def notify_staff(
        self, uow: SqlUnitOfWork, contact: Contact, event: SafetyEvent, excerpt: str
    ) -> list[int]:
        """Record alerts for staff in the pipeline's transaction (sent once it commits)."""
        return self.alerts.create(uow, contact, event, excerpt)

    def after_reply(self, reply: Reply) -> None:
        """Work that must wait for the reply's transaction to commit: sending staff alerts."""
        self.alerts.dispatch(reply.alert_ids)

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:  # noqa: BLE001 - shutdown must go on closing the rest
                log.exception("error while closing %r", closer)
        self.engine.dispose()


def build_alerters(settings: Settings, http: httpx.Client) -> list[Alerter]:
    """The staff alert channels the settings configure (none, one or both)."""
    alerters: list[Alerter] = []
    if settings.alert_webhook_url:
        secret = settings.alert_webhook_secret
        if secret is None:
            from bot.config import ConfigError

            raise ConfigError(
                "invalid setting HEALTHBOT_ALERT_WEBHOOK_SECRET: required with "
                "HEALTHBOT_ALERT_WEBHOOK_URL, alerts are always signed"
            )
        alerters.append(
            WebhookAlerter(settings.alert_webhook_url, secret.get_secret_value(), http)
        )
    numbers = settings.oncall_number_list
    if numbers:
        from bot.config import ConfigError
        from bot.twilio_client import make_client

        if not (settings.twilio_account_sid and settings.twilio_auth_token
                and settings.twilio_whatsapp_from):
            raise ConfigError(
                "invalid setting HEALTHBOT_ONCALL_NUMBERS: needs TWILIO_ACCOUNT_SID, "
                "TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM to send through Twilio"
            )
        client = make_client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            base_url=settings.twilio_api_base_url,
        )
        alerters.append(
            TwilioAlerter(client, settings.twilio_whatsapp_from, numbers,
                          from_sms=settings.twilio_sms_from)
        )
    return alerters


def build_services(
    settings: Settings,
    *,
    chat_model: ChatModel | None = None,
    alerters: list[Alerter] | None = None,
    background: bool = True,
) -> Services:
    """Build every long-lived object the app needs from the settings."""
    engine = make_engine(settings.sqlalchemy_url)
    sessions = session_factory(engine)
    http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0),
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    knowledge = KnowledgeBase.load()
    token, is_dev = settings.webhook_auth_token(create=True)
    closers: list[Callable[[], object]] = [http.close]
    submit: Callable[[Callable[[], None]], None] | None = None
    if background:
        # Alerts leave the request thread so a slow pager never delays the person's reply.
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="alerts")
        closers.append(lambda: pool.shutdown(wait=True))

        def submit(job: Callable[[], None]) -> None:
            pool.submit(job)

    staff_alerts = StaffAlerts(
        build_alerters(settings, http) if alerters is None else alerters,
        lambda: SqlUnitOfWork(sessions),
        admin_base_url=settings.public_url,
        submit=submit,
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        chat_model=chat_model or OfflineModel(knowledge),
        knowledge=knowledge,
        webhook_token=token,
        dev_token=is_dev,
        pipeline_config=PipelineConfig(
            history_chars=settings.history_chars,
            history_turns=settings.history_turns,
            answer_deadline_s=settings.answer_deadline_s,
        ),
        alerts=staff_alerts,
        http=http,
        closers=closers,
    )

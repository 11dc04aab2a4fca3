"""The long-lived objects of one process, built once from Settings and closed on shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.admin.security import app_secret
from bot.alerts import StaffAlerts, TwilioAlerter, WebhookAlerter
from bot.config import ConfigError, Settings
from bot.errors import EmbedderUnavailable
from bot.knowledge import KnowledgeBase
from bot.llm.factory import build_chat_model
from bot.llm.offline import OfflineModel
from bot.llm.vision import build_vision_model
from bot.outbound import (
    Messenger,
    OutsideWindow,
    Template,
    TemplateFor,
    in_window,
    record_outbound,
    send_recorded,
)
from bot.pipeline import EraseHook, PipelineConfig, Reply
from bot.ports import Alerter, ChatModel
from bot.store.models import utcnow
from bot.store.uow import SqlUnitOfWork, make_engine, session_factory, use_erasure_key
from bot.tasks import (
    JOB_MARGIN_S,
    Executor,
    FailedJob,
    InlineExecutor,
    PeriodicLock,
    RqExecutor,
    ThreadExecutor,
)
from bot.understanding import Understanding
from bot.understanding.embedder import build_embedder
from bot.voice.factory import build_speaker, build_transcriber, media_policy
from bot.voice.media import MediaPolicy
from bot.voice.speech import Speaker
from bot.voice.transcribe import Transcriber

if TYPE_CHECKING:
    from bot.store.models import Contact, Message, SafetyEvent

log = logging.getLogger(__name__)

# How often pending staff alerts whose next try is due are sent again.
ALERT_RETRY_S = 30.0
# In the instance folder: whoever holds an exclusive lock on it runs the periodic work.
PERIODIC_LOCK_FILE = "periodic.lock"


class MessengerNotConfigured(Exception):
    """Sending outside a webhook reply needs Twilio credentials that are not configured."""


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chat_model: ChatModel
    knowledge: KnowledgeBase
    understanding: Understanding
    webhook_token: str
    dev_token: bool
    pipeline_config: PipelineConfig
    alerts: StaffAlerts
    http: httpx.Client
    messenger: Messenger | None = None
    # Called inside the transaction that erases a contact at their own request (audit log).
    on_erase: EraseHook | None = None
    closers: list[Callable[[], object]] = field(default_factory=list)
    # Where slow work runs (bot/tasks.py): RQ with REDIS_URL, else threads in this process.
    tasks: Executor | None = None
    local_tasks: ThreadExecutor | None = None
    # Voice notes (HEALTHBOT_TRANSCRIBE_MODEL) and where their audio may be fetched from.
    transcriber: Transcriber | None = None
    media_policy: MediaPolicy | None = None
    speaker: Speaker | None = None  # HEALTHBOT_VOICE_REPLIES
    vision_model: ChatModel | None = None  # HEALTHBOT_VISION_MODEL

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def notify_staff(
        self, uow: SqlUnitOfWork, contact: Contact, event: SafetyEvent, excerpt: str
    ) -> list[int]:
        """Record alerts for staff in the pipeline's transaction (sent once it commits)."""
        return self.alerts.create(uow, contact, event, excerpt)

    def after_reply(self, reply: Reply) -> None:
        """Work that must wait for the reply's transaction to commit: sending staff alerts."""
        self.dispatch_alerts(reply.alert_ids)

    def dispatch_alerts(self, alert_ids: Sequence[int]) -> None:
        """Send committed staff alerts from a job (a worker with Redis, threads without)."""
        if not alert_ids:
            return
        if self.tasks is not None:
            try:
                self.tasks.enqueue("alerts", list(alert_ids))
                return
            except Exception:
                # Staff must hear of an emergency even with the queue down: send from here.
                log.exception("the job queue is unavailable; sending alerts from this process")
        self.alerts.dispatch(alert_ids)

    @property
    def receive_understanding(self) -> Understanding | None:
        """What the webhook's receive step encodes with: nothing when answers are queued.

        Queued, the webhook does the fast part only (store, commands, rules, enqueue) and the
        semantic second opinion runs first thing in the answer job, which answers a red flag it
        finds with the same fixed emergency text and escalation, moments later, through Twilio
        REST. Inline, the message is encoded once and shared by the second opinion and the answer.
        """
        return None if self.defers_answers else self.understanding

    @property
    def looks(self) -> bool:
        """True when photos go to a vision model: it, a queue, a way to send, a media policy."""
        return (self.vision_model is not None and self.messenger is not None
                and self.tasks is not None and self.media_policy is not None)

    @property
    def transcribes(self) -> bool:
        """True when voice notes are heard: a transcriber, a queue and a way to send."""
        return (self.transcriber is not None and self.messenger is not None
                and self.tasks is not None and self.media_policy is not None)

    def enqueue_transcription(self, contact_id: int, inbound_id: int) -> str:
        """Queue the hearing of a stored voice note, behind the contact's earlier messages."""
        if self.tasks is None:
            raise RuntimeError("no job executor: build_services made none")
        return self.tasks.enqueue("transcribe", inbound_id, chain=f"contact:{contact_id}")

    @property
    def defers_answers(self) -> bool:
        """True when model answers are queued and sent through Twilio REST, not in the TwiML."""
        return (self.settings.defers_answers and self.messenger is not None
                and self.tasks is not None)

    def enqueue_answer(self, contact_id: int, inbound_id: int) -> str:
        """Queue the model's answer to a stored message, behind the contact's earlier ones.

        If the queue can't take it (Redis down), the answer is worked out in this process's
        threads instead: the message is stored and Twilio would not deliver it again, so
        failing here would leave it unanswered.
        """
        if self.tasks is None:
            raise RuntimeError("no job executor: build_services made none")
        chain = f"contact:{contact_id}"
        try:
            return self.tasks.enqueue("answer", inbound_id, chain=chain)
        except Exception:
            if isinstance(self.tasks, ThreadExecutor):
                raise
            log.exception("the job queue is unavailable; answering %s in this process", inbound_id)
            return self._local_tasks().enqueue("answer", inbound_id, chain=chain)

    def _local_tasks(self) -> ThreadExecutor:
        """Threads of this process, for when the queue is down (order only within this process)."""
        if self.local_tasks is None:
            from bot import jobs

            def runner(name: str, args: Sequence[Any]) -> Any:
                return jobs.run(self, name, args)

            self.local_tasks = ThreadExecutor(runner, workers=self.settings.job_threads)
            self.closers.append(self.local_tasks.close)
        return self.local_tasks

    def failed_jobs(self) -> list[FailedJob]:
        """Jobs that failed every try, for staff (RQ's FailedJobRegistry or the in-process list)."""
        return self.tasks.failed_jobs() if self.tasks is not None else []

    def require_messenger(self) -> Messenger:
        """Return the Messenger.

        Raises:
            MessengerNotConfigured: no Twilio credentials, so nothing can be sent.
        """
        if self.messenger is None:
            raise MessengerNotConfigured(
                "sending needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM"
            )
        return self.messenger

    def template_for(self, purpose: str) -> TemplateFor | None:
        """The approved template for messages of this purpose outside the 24-hour window."""
        sid = {
            "answer": self.settings.template_answer,
            "staff_reply": self.settings.template_staff_reply,
        }.get(purpose)
        if not sid:
            return None

        def template(row: Message) -> Template:
            # Variable "1" is the text; Twilio allows up to 1,600 characters per variable.
            return Template(content_sid=sid, variables={"1": row.body})

        return template

    @property
    def status_callback_url(self) -> str:
        return f"{self.settings.public_url}/twilio/status"

    def send_text(
        self,
        contact_id: int,
        body: str,
        *,
        key: str,
        extra: dict[str, object] | None = None,
        **fields: Any,
    ) -> list[int]:
        """Record then send a free-form text to a contact; return the outbound message ids.

        Outside the 24-hour window the staff-reply template (HEALTHBOT_TEMPLATE_STAFF_REPLY) is
        sent instead when configured; without one the text is refused and kept as failed.

        Raises:
            MessengerNotConfigured: no Twilio credentials, so nothing can be sent.
            bot.outbound.OutsideWindow: the contact last wrote more than 24 hours ago.
            bot.outbound.SendFailed: Twilio refused the message.
        """
        messenger = self.require_messenger()
        with self.uow() as uow:
            contact = uow.contacts.get(contact_id)
            if contact is None:
                raise LookupError(f"no contact {contact_id}")
            rows = record_outbound(uow, contact, body, idempotency_key=key, extra=extra, **fields)
            uow.commit()
            ids = [r.id for r in rows]
        from bot.jobs import STAFF_REPLY, staff_reply_check

        send_recorded(self.uow, messenger, ids, status_callback=self.status_callback_url,
                      template_for=self.template_for(STAFF_REPLY), may_send=staff_reply_check)
        return ids

    def queue_text(
        self,
        contact_id: int,
        body: str,
        *,
        key: str,
        purpose: str = "staff_reply",
        extra: dict[str, object] | None = None,
        **fields: Any,
    ) -> list[int]:
        """Record a text now and send it from a job, in order with the contact's other messages.

        The window is checked here too, so the caller hears at once when it can't go.

        Raises:
            MessengerNotConfigured: no Twilio credentials, so nothing can be sent.
            bot.outbound.OutsideWindow: outside the 24-hour window and no template configured.
        """
        self.require_messenger()
        with self.uow() as uow:
            contact = uow.contacts.get(contact_id)
            if contact is None:
                raise LookupError(f"no contact {contact_id}")
            if not in_window(contact, utcnow()) and self.template_for(purpose) is None:
                raise OutsideWindow(
                    f"contact {contact_id} last wrote at {contact.last_inbound_at}; outside the "
                    "24-hour window only an approved template may be sent"
                )
            rows = record_outbound(uow, contact, body, idempotency_key=key, extra=extra, **fields)
            uow.commit()
            ids = [r.id for r in rows]
        if self.tasks is None:
            raise RuntimeError("no job executor: build_services made none")
        self.tasks.enqueue("send", ids, purpose, chain=f"contact:{contact_id}")
        return ids

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:
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
                          from_sms=settings.twilio_sms_from,
                          status_callback=f"{settings.public_url}/twilio/status")
        )
    return alerters


def build_services(
    settings: Settings,
    *,
    chat_model: ChatModel | None = None,
    alerters: list[Alerter] | None = None,
    messenger: Messenger | None = None,
    background: bool = True,
) -> Services:
    """Build every long-lived object the app needs from the settings."""
    engine = make_engine(settings.sqlalchemy_url)
    sessions = session_factory(engine)
    # Erased people's message ids are kept as keyed hashes, by every process that can erase
    # (the webhook, the console, `healthbot retention`), so a replayed delivery can't revive them.
    use_erasure_key(sessions, app_secret(settings))
    http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0),
                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
    knowledge = KnowledgeBase.load()
    token, is_dev = settings.webhook_auth_token(create=True)
    closers: list[Callable[[], object]] = [http.close]
    understanding = build_understanding(settings, http)
    if chat_model is None:  # HEALTHBOT_MODEL/_MODE -> router (+ contemplating); its own client
        chat_model, model_closers = build_chat_model(settings, knowledge=knowledge)
        closers += model_closers
    submit: Callable[[Callable[[], None]], None] | None = None
    if background:
        # Alerts leave the request thread so a slow pager never delays the person's reply.
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="alerts")
        closers.append(lambda: pool.shutdown(wait=True))

        def submit(job: Callable[[], None]) -> None:
            pool.submit(job)

    if messenger is None:
        messenger = build_messenger(settings)
    staff_alerts = StaffAlerts(
        build_alerters(settings, http) if alerters is None else alerters,
        lambda: SqlUnitOfWork(sessions),
        admin_base_url=settings.public_url,
        submit=submit,
    )
    services = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        chat_model=chat_model or OfflineModel(knowledge),
        knowledge=knowledge,
        understanding=understanding,
        webhook_token=token,
        dev_token=is_dev,
        pipeline_config=PipelineConfig(
            history_chars=settings.history_chars,
            history_turns=settings.history_turns,
            answer_deadline_s=settings.answer_deadline_s,
        ),
        alerts=staff_alerts,
        http=http,
        messenger=messenger,
        closers=closers,
    )
    services.tasks = build_executor(services, background=background)
    closers.append(services.tasks.close)
    services.transcriber = build_transcriber(settings, http)
    services.media_policy = media_policy(settings)  # voice notes, photos, console previews
    if services.transcriber is not None:
        services.speaker = build_speaker(settings, http)
        if messenger is None:
            log.warning("HEALTHBOT_TRANSCRIBE_MODEL=%s is set, but without Twilio credentials "
                        "the answer to a voice note can't be sent: voice notes get the "
                        "honest reply", settings.transcribe_model)
    services.vision_model, vision_closers = build_vision_model(settings, knowledge)
    closers += vision_closers
    if settings.defers_answers and messenger is None:
        log.warning("HEALTHBOT_MODEL=%s may be slow, but without Twilio credentials answers can't "
                    "be sent later: they are answered inline, within Twilio's 15 s",
                    settings.model)
    return services


def build_understanding(settings: Settings, http: httpx.Client) -> Understanding:
    """The passages, their index and the encoder named by HEALTHBOT_EMBEDDINGS."""
    try:
        embedder = build_embedder(
            settings.embeddings,
            client=http,
            openai_base_url=settings.openai_base_url,
            openai_api_key=(settings.openai_api_key.get_secret_value()
                            if settings.openai_api_key else None),
        )
    except EmbedderUnavailable as exc:
        raise ConfigError(f"HEALTHBOT_EMBEDDINGS: {exc}") from exc
    understanding = Understanding.load(embedder, semantic_triage=settings.semantic_triage)
    log.info("understanding: %d passages, %s", len(understanding.index.passages),
             f"semantic ({embedder.name})" if embedder else "lexical only")
    return understanding


def build_messenger(settings: Settings) -> Messenger | None:
    """The Twilio REST messenger, when the account SID, auth token and WhatsApp sender are set."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token
            and settings.twilio_whatsapp_from):
        return None
    from bot.messenger import TwilioMessenger
    from bot.twilio_client import make_client

    client = make_client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        base_url=settings.twilio_api_base_url,
    )
    return TwilioMessenger(client, settings.twilio_whatsapp_from,
                           messaging_service_sid=settings.twilio_messaging_service_sid)


def build_executor(services: Services, *, background: bool = True) -> Executor:
    """RQ on REDIS_URL; else threads in this process; `background=False` runs jobs inline.

    Periodic work (retrying due staff alerts every ALERT_RETRY_S) has exactly one owner: with
    Redis, the `healthbot worker` processes take turns through a Redis key; without it, the web
    process holding the instance folder's PeriodicLock (one per host: gunicorn's workers share
    the folder, and a killed owner's lock passes to the next to ask).
    """
    from bot import jobs

    settings = services.settings
    if settings.redis_url:
        from redis import Redis

        return RqExecutor(Redis.from_url(settings.redis_url), queue_name=settings.queue_name,
                          prefix=settings.queue_name,
                          job_timeout=int(settings.answer_deadline_s) + JOB_MARGIN_S)

    def runner(name: str, args: Sequence[Any]) -> Any:
        return jobs.run(services, name, args)

    if not background:
        return InlineExecutor(runner)
    executor = ThreadExecutor(runner, workers=settings.job_threads)
    lock = PeriodicLock(settings.instance_dir / PERIODIC_LOCK_FILE)
    lock.held()  # decide at start-up, not 30 s later
    services.closers.append(lock.release)
    # As `healthbot worker` does with Redis: staff alerts whose send failed are tried again.
    executor.every(ALERT_RETRY_S, "retry_alerts", owner=lock.held)
    return executor

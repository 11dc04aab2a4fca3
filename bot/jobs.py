"""The job functions the executors run (bot/tasks.py): one code path for threads and RQ workers.

Each job takes the process's `Services` and JSON-able ids, and is safe to run twice: answers are
recorded under an idempotency key before sending (`answer:<inbound_id>#<n>`), rows with a SID
are never sent again, and a row whose send outcome is unknown is reconciled first
(`bot.outbound.send_recorded`).

An RQ worker process binds its Services once (`bind`, done by `healthbot worker`); `perform` is
the function RQ imports and calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.llm.images import IMAGE_TYPES
from bot.outbound import OutsideWindow, SendFailed, send_recorded
from bot.pipeline import answer_inbound, answer_key, photo_items
from bot.ports import ImagePart
from bot.store.models import Contact, Message, SafetyEvent, utcnow

if TYPE_CHECKING:
    from bot.services import Services
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

ANSWER, STAFF_REPLY = "answer", "staff_reply"
EMERGENCY = "emergency"

_bound: Services | None = None
_bind_lock = threading.Lock()


def bind(services: Services | None) -> None:
    """Make these the Services RQ jobs in this process use (a worker builds them once)."""
    global _bound
    with _bind_lock:
        _bound = services


def current_services() -> Services:
    """The process's Services; built from the environment on first use if none were bound."""
    global _bound
    with _bind_lock:
        if _bound is None:
            from bot.config import load_settings
            from bot.services import build_services

            _bound = build_services(load_settings(), background=False)
        return _bound


def perform(name: str, *args: Any) -> Any:
    """The RQ entry point: run the named job with this worker's Services."""
    return run(current_services(), name, args)


def run(services: Services, name: str, args: Sequence[Any]) -> Any:
    """Run the named job (the in-process executor's runner)."""
    try:
        job = JOBS[name]
    except KeyError:
        raise LookupError(f"no job named {name!r}") from None
    return job(services, *args)


def answer(services: Services, inbound_id: int) -> str:
    """Answer a stored inbound message with the model and send the answer; return the outcome."""
    with services.uow() as uow:
        inbound = uow.messages.get(inbound_id)
        contact = uow.contacts.get(inbound.contact_id) if inbound is not None else None
        if inbound is None or contact is None:
            return "erased"  # DELETE YES came first: nothing about them may be kept or sent
        recorded = uow.messages.by_idempotency_prefix(answer_key(inbound_id))
        blocked = _answer_blocked(contact)
        if not recorded and blocked is not None:
            # Checked before the model runs: no cost for an answer nobody may receive.
            inbound.extra = {**(inbound.extra or {}), "not_answered": blocked}
            uow.commit()
            log.info("inbound %s not answered: %s", inbound_id, blocked)
            return blocked
        # A photo goes to the vision model (fetched now, never stored); not on a retried job
        # whose answer is recorded already.
        photos = (photo_items(inbound.media)
                  if services.vision_model is not None and not recorded else [])
    images = fetch_photos(services, photos) if photos else None
    reply = answer_inbound(
        inbound_id,
        uow=services.uow(),
        chat_model=services.vision_model if images and services.vision_model
        else services.chat_model,
        config=services.pipeline_config,
        notify_staff=services.notify_staff,
        delivery="rest",
        understanding=services.understanding,
        images=images,
    )
    services.after_reply(reply)
    metrics.observe_reply(reply)
    sent = deliver(services, reply.message_ids, purpose=ANSWER)
    return f"sent {len(sent)} of {len(reply.message_ids)}"


def fetch_photos(services: Services, photos: list[dict[str, Any]]) -> list[ImagePart]:
    """Fetch a message's photos from Twilio for the vision model; those that fail are left out."""
    from bot.voice.media import MediaError, fetch_media

    images: list[ImagePart] = []
    policy = services.media_policy
    for item in photos:
        if policy is None:
            break
        try:
            media = fetch_media(services.http, str(item["url"]), policy)
        except MediaError as exc:
            log.warning("photo not fetched: %s", exc)
            continue
        if media.content_type in IMAGE_TYPES:
            images.append(ImagePart(media.data, media.content_type))
    return images


def send_messages(services: Services, message_ids: list[int], purpose: str) -> str:
    """Send outbound rows recorded earlier (a queued staff reply or follow-up)."""
    sent = deliver(services, message_ids, purpose=purpose)
    return f"sent {len(sent)} of {len(message_ids)}"


def deliver_alerts(services: Services, alert_ids: list[int]) -> None:
    """Deliver staff alerts (each is claimed first, so two workers never send one twice)."""
    services.alerts.deliver(alert_ids)


def retry_due_alerts(services: Services) -> int:
    """Deliver every pending staff alert whose next try is due."""
    return services.alerts.retry_due()


def transcribe(services: Services, inbound_id: int) -> str:
    """Hear a stored voice note, then triage and answer it like typed text (bot/voice/job.py)."""
    from bot.voice.job import transcribe as hear_voice_note

    return hear_voice_note(services, inbound_id)


JOBS: dict[str, Callable[..., Any]] = {
    "answer": answer,
    "send": send_messages,
    "alerts": deliver_alerts,
    "retry_alerts": retry_due_alerts,
    "transcribe": transcribe,
}
# The replies `pipeline.hear` decided on a voice note go out as decided (a STOP's confirmation
# included), like the TwiML of a typed message; a model's answer keeps the answer checks.
VOICE = "voice"


def deliver(services: Services, message_ids: list[int], *, purpose: str) -> list[str]:
    """Send recorded rows through the Messenger with the checks of their purpose.

    A final refusal (outside the window without a template, too long, unsubscribed) is recorded
    on the rows and is not retried; a failed emergency text raises a staff alert.

    Raises:
        bot.outbound.SendFailed: a retryable refusal (rate limit, Twilio down): retry the job.
        bot.services.MessengerNotConfigured: there is no way to send at all.
    """
    if not message_ids:
        return []
    messenger = services.require_messenger()
    try:
        return send_recorded(
            services.uow,
            messenger,
            list(message_ids),
            status_callback=services.status_callback_url,
            template_for=services.template_for(purpose),
            may_send=(answer_check if purpose == ANSWER
                      else None if purpose == VOICE else staff_reply_check),
        )
    except OutsideWindow as exc:
        log.warning("not sent: %s", exc)
    except SendFailed as exc:
        if exc.retryable:
            raise
        log.warning("Twilio refused outbound %s for good: %s", message_ids, exc)
    report_failed_deliveries(services, message_ids)
    return []


def _answer_blocked(contact: Contact) -> str | None:
    if contact.opted_out:
        return "opted_out"
    if contact.state != "bot":
        return f"contact_{contact.state}"  # staff have the conversation now
    return None


def answer_check(contact: Contact, row: Message) -> str | None:
    """May this answer bubble still go out? An emergency text always may, as in the webhook."""
    if row.triage_level == EMERGENCY:
        return None
    return _answer_blocked(contact)


def staff_reply_check(contact: Contact, row: Message) -> str | None:
    """Staff replies and follow-ups: never to someone who opted out."""
    if contact.opted_out and row.triage_level != EMERGENCY:
        return "opted_out"
    return None


def report_failed_deliveries(services: Services, message_ids: Sequence[int]) -> list[int]:
    """Alert staff about emergency texts among these rows that failed; return the alert ids."""
    alert_ids: list[int] = []
    with services.uow() as uow:
        for message_id in message_ids:
            row = uow.messages.get(message_id)
            if row is None:
                continue
            alert_ids += delivery_failed(services, uow, row)
        uow.commit()
    services.dispatch_alerts(alert_ids)
    return alert_ids


def delivery_failed(services: Services, uow: SqlUnitOfWork, row: Message) -> list[int]:
    """Record a failed emergency text once and alert staff; the caller commits and dispatches."""
    if row.direction != "out" or row.triage_level != EMERGENCY:
        return []
    if row.status not in ("failed", "undelivered"):
        return []  # canceled on purpose (opted out, erased) is not a delivery failure
    if (row.extra or {}).get("failure_reported"):
        return []  # Twilio repeats callbacks; one alert per message is enough
    contact = uow.contacts.get(row.contact_id)
    if contact is None:
        return []
    row.extra = {**(row.extra or {}), "failure_reported": True}
    event = uow.safety_events.add(
        SafetyEvent(
            contact_id=contact.id,
            message_id=row.id,
            kind="delivery_failed",
            level=row.triage_level,
            detail={"status": row.status, "error_code": row.error_code, "sid": row.twilio_sid},
            status="open",
            created_at=utcnow(),
        )
    )
    log.error("emergency text %s to contact %s was %s (%s): alerting staff",
              row.id, contact.id, row.status, row.error_code)
    return services.alerts.create(uow, contact, event, row.body[:200])

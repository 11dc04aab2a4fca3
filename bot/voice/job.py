"""The transcription job: fetch a stored voice note, hear it, triage it, answer it.

Runs in the task executor (an RQ worker, or the web process's threads) because hearing takes
seconds; the webhook only stored the message. Then it is the typed message's path:
`pipeline.hear` (commands, the rules and the semantic check, emergencies with the fixed text,
the escalation and the staff alert) and, when a model answer is due, the same `answer` job a
queued typed message gets. Everything goes out through the Messenger.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import metrics
from bot.errors import ModelError
from bot.pipeline import Heard, hear, voice_item
from bot.voice.media import MediaError, fetch_media
from bot.voice.transcribe import Audio

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

VOICE = "voice"


def transcribe(services: Services, inbound_id: int) -> str:
    """Hear a stored voice note and answer it like a typed message; return the outcome.

    Raises:
        bot.outbound.SendFailed: a retryable send failure (the job is retried; hearing and
            deciding are not repeated, the rows recorded under `voice:<id>` are sent).
    """
    from bot.jobs import answer, deliver

    transcriber, policy = services.transcriber, services.media_policy
    if transcriber is None or policy is None:
        raise RuntimeError("a voice note was queued but no transcriber is configured")
    with services.uow() as uow:
        inbound = uow.messages.get(inbound_id)
        contact = uow.contacts.get(inbound.contact_id) if inbound is not None else None
        if inbound is None or contact is None:
            return "erased"
        pending = (inbound.extra or {}).get("heard") is None
        item = voice_item(inbound.media)
        hint = contact.language
        to = contact.phone
    heard: Heard | None = None
    error: str | None = None
    if pending and item is not None:
        try:
            media = fetch_media(services.http, str(item["url"]), policy)
            result = transcriber.transcribe(Audio(media.data, media.content_type), language=hint)
            heard = Heard(text=result.text, language=result.language,
                          transcriber=result.transcriber, seconds=result.seconds,
                          cost_usd=result.cost_usd, latency_ms=result.latency_ms)
        except (MediaError, ModelError) as exc:
            # Not heard: the person gets the honest reply with the number, never silence.
            error = f"{type(exc).__name__}: {exc}"
            log.warning("voice note %s not heard: %s", inbound_id, error)
    received = hear(
        inbound_id, heard, uow=services.uow(), config=services.pipeline_config,
        notify_staff=services.notify_staff, on_erase=services.on_erase,
        understanding=services.understanding, error=error,
    )
    reply = received.reply
    services.after_reply(reply)
    metrics.observe_received(received)
    if reply.bubbles and not reply.message_ids and not reply.duplicate:
        # DELETE YES by voice: nothing about them may be stored, not even the confirmation.
        messenger = services.require_messenger()
        for bubble in reply.bubbles:
            messenger.send_text(to, bubble, status_callback=None)
    sent = deliver(services, reply.message_ids, purpose=VOICE)
    outcome = f"heard, sent {len(sent)} of {len(reply.message_ids)}"
    if received.answer_id is not None:
        outcome += "; " + answer(services, received.answer_id)
    return outcome

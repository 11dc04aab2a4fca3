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
from bot.outbound import SendFailed
from bot.pipeline import Heard, answer_key, hear, heard_line, voice_item, voice_key
from bot.store.models import Message, utcnow
from bot.voice.clips import clip_url, store_clip
from bot.voice.media import MediaError, fetch_media
from bot.voice.transcribe import Audio
from safety import TriageLevel

if TYPE_CHECKING:
    from bot.services import Services
    from bot.store.models import Contact

log = logging.getLogger(__name__)

VOICE = "voice"
SPEECH = "speech"


def _must(row: Contact | None) -> Contact:
    if row is None:
        raise LookupError("the contact of a stored message is gone")
    return row


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
    if services.speaker is not None:
        outcome += "; " + speak_replies(services, inbound_id)
    return outcome


def speak_replies(services: Services, inbound_id: int) -> str:
    """Send what was answered to a voice note as one spoken media message too.

    The very texts that were sent are spoken (the fixed emergency text included), without the
    "I heard" line; nothing is spoken when nothing was sent (opted out, with staff). Recorded
    under `speech:<id>#0`, so a retried job does not speak twice.

    A refused media message is recorded as failed and not retried: the text went out.
    """
    speaker, messenger = services.speaker, services.messenger
    send_media = getattr(messenger, "send_media", None)
    if speaker is None or send_media is None:
        return "not spoken: no speaker or no media sending"
    key = f"{SPEECH}:{inbound_id}"
    with services.uow() as uow:
        inbound = uow.messages.get(inbound_id)
        if inbound is None or uow.messages.by_idempotency_prefix(key):
            return "spoken already"
        contact = _must(uow.contacts.get(inbound.contact_id))
        rows = [m for prefix in (voice_key(inbound_id), answer_key(inbound_id))
                for m in uow.messages.by_idempotency_prefix(prefix)
                if m.twilio_sid and m.status not in ("failed", "undelivered", "canceled")]
        if not rows:
            return "not spoken: nothing was sent"
        language = rows[-1].language or contact.language or "en"
        texts = [m.body for m in rows]
        if inbound.transcript:
            lead = heard_line(language, inbound.transcript)
            texts[0] = texts[0].removeprefix(lead).strip()
        spoken = "\n\n".join(t for t in texts if t.strip())
        level = max((m.triage_level for m in rows if m.triage_level), key=_rank, default=None)
        to, contact_id = contact.phone, contact.id
    try:
        speech = speaker.speak(spoken, language)
    except ModelError as exc:
        log.warning("voice reply to %s not spoken: %s", inbound_id, exc)
        return "not spoken: " + type(exc).__name__
    now = utcnow()
    with services.uow() as uow:
        row = uow.messages.add(Message(
            contact_id=contact_id, direction="out", body="", status="sending",
            idempotency_key=f"{key}#0", media=[{"content_type": speech.content_type,
                                               "spoken_by": speech.speaker}],
            triage_level=level, language=language, reply_to_id=inbound_id, created_at=now))
        token = store_clip(uow.session, row.id, speech.data, speech.content_type,
                           ttl_s=services.settings.speech_url_ttl_s, now=now)
        uow.commit()
        row_id = row.id
    try:
        sid, status = send_media(to, clip_url(services.settings.public_url, token),
                                 status_callback=services.status_callback_url)
    except SendFailed as exc:
        # The text went out already; the spoken copy is a courtesy, not retried.
        sid, status = None, "failed"
        log.warning("voice reply to %s not sent: %s", inbound_id, exc)
    with services.uow() as uow:
        stored = uow.messages.get(row_id)
        if stored is not None:
            stored.twilio_sid, stored.status = sid, status
            uow.commit()
    return f"spoken by {speech.speaker}" if sid else "spoken, not sent"


def _rank(level: str) -> int:
    try:
        return TriageLevel(level).rank
    except ValueError:
        return -1

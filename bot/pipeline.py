"""The one path an inbound message takes: store, commands, safety, model, guard, store, reply.

It is the service layer and imports no flask, sqlalchemy or httpx: the caller hands it a unit of
work and a chat model. `receive` does the fast, deterministic part (steps 1-3) and always runs in
the webhook; `answer_inbound` does the model part (4-6) from a stored message id, inline in the
webhook or from a queue worker; `handle_inbound` is the two together.

    1. store the inbound message; a duplicate MessageSid stops here (idempotent)
    2. commands first: STOP / START / HELP / HUMAN / DELETE / LANGUAGE
    3. safety.assess on the raw text and recent history, before any model call;
       an emergency gets the fixed, pre-written text and staff are alerted; no model runs
    4. the chat model answers within a deadline; any ModelError gets the safe fallback
    5. safety.check_reply repairs the draft; a disclaimer is added
    6. every outbound turn is stored, with the model calls that produced it
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import safety
from bot import commands, i18n
from bot.bubbles import split_message
from bot.commands import Command, ParsedCommand, command_language
from bot.errors import DuplicateDelivery, ModelError
from bot.ports import CallRecord, ChatModel, ChatRequest, ChatResponse
from bot.prompting import Turn, history_window, system_prompt
from bot.schemas import InboundMessage
from bot.store.models import Contact, Message, ModelCallRow, SafetyEvent, utcnow
from safety import Assessment, TriageLevel

if TYPE_CHECKING:
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A DELETE must be confirmed within this time, so an old request can't be confirmed by accident.
DELETE_CONFIRM_WINDOW = dt.timedelta(minutes=15)
# How many earlier inbound messages the rules look at, to catch a red flag spread over messages.
SAFETY_HISTORY = 5

# Who answers the conversation: the bot, nobody yet (a person asked for staff), or staff.
BOT, NEEDS_HUMAN, WITH_STAFF = "bot", "needs_human", "with_staff"


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    history_chars: int = 4000
    history_turns: int = 12
    answer_deadline_s: float = 25.0


@dataclass(slots=True)
class Reply:
    """What to send back: zero or more WhatsApp bubbles, each at most 1,600 characters."""

    bubbles: list[str] = field(default_factory=list)
    duplicate: bool = False
    level: str | None = None
    contact_id: int | None = None
    language: str | None = None  # the language the bubbles are written in
    # Alerts created for staff, to be sent after the transaction committed.
    alert_ids: list[int] = field(default_factory=list)
    # Outbound rows recorded for sending through the Messenger (delivery="rest"), in order.
    message_ids: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(self.bubbles)


StaffNotifier = Callable[["SqlUnitOfWork", Contact, SafetyEvent, str], list[int]]
# Records a person's own erasure (the audit log) in the transaction that erases them.
EraseHook = Callable[["SqlUnitOfWork", Contact], None]


def _no_staff_channels(
    uow: SqlUnitOfWork, contact: Contact, event: SafetyEvent, excerpt: str
) -> list[int]:
    return []


def handle_inbound(
    msg: InboundMessage,
    *,
    uow: SqlUnitOfWork,
    chat_model: ChatModel,
    config: PipelineConfig | None = None,
    notify_staff: StaffNotifier = _no_staff_channels,
    on_erase: EraseHook | None = None,
    now: dt.datetime | None = None,
) -> Reply:
    """Handle one inbound WhatsApp message inline and return all the reply bubbles.

    Raises:
        bot.errors.StoreError: the database could not store the message (the caller must not
            drop it: it spools the message and still answers from the safety layer).
    """
    started = time.monotonic()
    received = receive(
        msg, uow=uow, config=config, notify_staff=notify_staff, on_erase=on_erase, now=now
    )
    if received.answer_id is None:
        return received.reply
    answered = answer_inbound(
        received.answer_id,
        uow=uow,
        chat_model=chat_model,
        config=config,
        notify_staff=notify_staff,
        started=started,
    )
    reply = received.reply
    reply.bubbles += answered.bubbles
    reply.level = answered.level or reply.level
    reply.alert_ids += answered.alert_ids
    return reply


@dataclass(slots=True)
class Received:
    """What `receive` decided: bubbles to send now, and the inbound message still to answer."""

    reply: Reply
    answer_id: int | None = None  # the inbound Message id a model must answer, if any


def receive(
    msg: InboundMessage,
    *,
    uow: SqlUnitOfWork,
    config: PipelineConfig | None = None,
    notify_staff: StaffNotifier = _no_staff_channels,
    on_erase: EraseHook | None = None,
    now: dt.datetime | None = None,
) -> Received:
    """Store the message and do everything that needs no model: commands, safety, emergencies.

    Fast and deterministic, so the webhook can always run it inline. When a model answer is
    still needed, `answer_id` names the stored message for `answer_inbound` (inline or queued).

    Raises:
        bot.errors.StoreError: the database could not store the message.
    """
    config = config or PipelineConfig()
    now = now or utcnow()

    # 1. Store the inbound message in its own short transaction: it is durable before any slow
    # work, and the unique MessageSid turns a retried or concurrent delivery into a no-op.
    try:
        with uow:
            contact, _created = uow.contacts.get_or_create(
                wa_id=msg.contact_key,
                phone=msg.sender,
                profile_name=msg.profile_name,
                country=safety.country_of(msg.sender),
            )
            if msg.profile_name and contact.profile_name != msg.profile_name:
                contact.profile_name = msg.profile_name
            inbound = uow.messages.add_inbound(_inbound_row(msg, contact.id, now))
            contact.last_inbound_at = now
            uow.commit()
            contact_id, inbound_id = contact.id, inbound.id
    except DuplicateDelivery:
        log.info("duplicate delivery of %s ignored", msg.message_sid)
        return Received(Reply(duplicate=True))

    with uow:
        contact = _must(uow.contacts.get(contact_id))
        inbound = _must(uow.messages.get(inbound_id))
        turn = _Turn(uow=uow, contact=contact, inbound=inbound, now=now)

        # 2. Commands first.
        parsed = commands.parse(msg.text)
        if parsed is not None:
            reply = _handle_command(turn, parsed, msg, notify_staff, on_erase)
            if reply is not None:
                return Received(reply)

        # 3. The rules, on the raw text and recent history, before any model.
        language = _reply_language(contact, msg.text)
        earlier = uow.messages.recent(contact.id, limit=config.history_turns, before_id=inbound.id)
        assessment = _assess(contact, inbound, earlier, language)
        inbound.triage_level = assessment.level.value
        inbound.rule_ids = list(assessment.rule_ids)
        inbound.language = assessment.language

        # An emergency is answered with fixed text, whatever state the conversation is in.
        if assessment.is_emergency:
            return Received(_emergency(turn, assessment, notify_staff))
        if contact.opted_out or contact.state != BOT:
            # Opted out: stored, not answered, until START. With staff: the bot stays quiet.
            uow.commit()
            return Received(Reply(level=assessment.level.value, contact_id=contact.id))
        media_note = _media_note(msg.media != [], msg.location is not None, assessment)
        if not msg.text:
            texts = [media_note or i18n.t("empty_message", assessment.language)]
            return Received(turn.finish(texts, assessment=assessment, welcome_first=True))
        # The welcome (first contact) and the media note go out now; the answer follows.
        reply = turn.finish([media_note] if media_note else [], assessment=assessment,
                            welcome_first=True)
        return Received(reply, answer_id=inbound_id)


def answer_inbound(
    inbound_id: int,
    *,
    uow: SqlUnitOfWork,
    chat_model: ChatModel,
    config: PipelineConfig | None = None,
    notify_staff: StaffNotifier = _no_staff_channels,
    started: float | None = None,
    now: dt.datetime | None = None,
    delivery: str = "twiml",
) -> Reply:
    """Answer a stored inbound message with the model, guarded, and store the answer.

    Works from ids only, so a queue worker can run it as well as the webhook. The rules are
    re-run on the stored text (they are pure, so they conclude the same) to guard the answer.
    With delivery="rest" the answer is recorded as pending rows under the idempotency key
    `answer:<inbound_id>` for the Messenger to send; a retried job finds them and does not ask
    the model again.
    """
    config = config or PipelineConfig()
    now = now or utcnow()
    started = time.monotonic() if started is None else started
    key = answer_key(inbound_id) if delivery == "rest" else None
    with uow:
        if key is not None:
            done = uow.messages.by_idempotency_prefix(key)
            if done:
                return Reply(bubbles=[m.body for m in done], contact_id=done[0].contact_id,
                             level=done[0].triage_level, message_ids=[m.id for m in done])
        inbound = _must(uow.messages.get(inbound_id))
        contact = _must(uow.contacts.get(inbound.contact_id))
        contact_id = contact.id
        earlier = uow.messages.recent(contact.id, limit=config.history_turns, before_id=inbound.id)
        assessment = _assess(contact, inbound, earlier, inbound.language or contact.language)
        history = [Turn("assistant" if m.direction == "out" else "user", m.body) for m in earlier]
        history.append(Turn("user", inbound.body or inbound.button_text or ""))

    # 4. The model runs outside any transaction: no connection is held while it thinks.
    request = ChatRequest(
        system=system_prompt(assessment.language, assessment.level.value),
        messages=history_window(history, config.history_chars),
        language=assessment.language,
        deadline=started + config.answer_deadline_s,
        triage_level=assessment.level.value,
        conversation_id=contact_id,
    )
    response, error = _ask(chat_model, request)

    with uow:
        inbound = _must(uow.messages.get(inbound_id))
        contact = _must(uow.contacts.get(inbound.contact_id))
        turn = _Turn(uow=uow, contact=contact, inbound=inbound, now=now)
        # The most cautious triage wins: a model may raise the level, never lower it.
        final = assessment.raised_to(response.urgency if response else None)
        turn.idempotency_key = key
        if final.is_emergency:
            return _emergency(turn, final, notify_staff)
        if final.level is TriageLevel.URGENT:
            # Urgent: the answer says to see a clinician today, and staff review the conversation.
            uow.safety_events.add(
                SafetyEvent(
                    contact_id=contact.id,
                    message_id=inbound.id,
                    kind="urgent",
                    level=final.level.value,
                    rule_ids=list(final.rule_ids),
                    status="open",
                    created_at=now,
                )
            )
        # 5. Guard the draft; add the urgency notice and the disclaimer.
        text = _compose_answer(turn, final, response)
        return turn.finish(
            [text],
            assessment=final,
            response=response,
            error=error,
            latency_ms=(time.monotonic() - started) * 1000,
        )


def answer_key(inbound_id: int) -> str:
    """The idempotency key of the answer to one inbound message."""
    return f"answer:{inbound_id}"


def _assess(
    contact: Contact, inbound: Message, earlier: Sequence[Message], language: str | None
) -> Assessment:
    """Run the rules on a stored message with the contact's recent inbound messages."""
    texts = [m.body for m in earlier if m.direction == "in" and m.body][-SAFETY_HISTORY:]
    text = inbound.body.strip() or (inbound.button_text or "").strip()
    return safety.assess(text, history=texts, sender=contact.phone, language=language)


@dataclass(slots=True)
class _Turn:
    """The rows one inbound message touches, and how to finish with a stored reply."""

    uow: SqlUnitOfWork
    contact: Contact
    inbound: Message
    now: dt.datetime
    # Set when the reply goes out through the Messenger: rows are recorded as pending under it.
    idempotency_key: str | None = None

    @property
    def language(self) -> str:
        return self.contact.language or "en"

    def finish(
        self,
        texts: Sequence[str],
        *,
        assessment: Assessment | None = None,
        response: ChatResponse | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        welcome_first: bool = False,
        welcome_after: bool = False,
        alert_ids: Sequence[int] = (),
    ) -> Reply:
        """Store the outbound turn (one row per bubble), commit, and return the reply."""
        texts = [t for t in texts if t and t.strip()]
        language = assessment.language if assessment else self.language
        if self.contact.welcomed_at is None and not self.contact.opted_out:
            hint = _emergency_hint(assessment, language, sender=self.contact.phone)
            welcome = i18n.t("welcome", language, emergency_hint=hint)
            texts = [welcome, *texts] if welcome_first and not welcome_after else [*texts, welcome]
            self.contact.welcomed_at = self.now
        bubbles = [b for text in texts for b in split_message(text)]
        level = assessment.level.value if assessment else None
        first_out: Message | None = None
        rows: list[Message] = []
        for index, bubble in enumerate(bubbles):
            row = self.uow.messages.add(
                Message(
                    contact_id=self.contact.id,
                    direction="out",
                    body=bubble,
                    status="pending" if self.idempotency_key else "twiml",
                    idempotency_key=(
                        f"{self.idempotency_key}#{index}" if self.idempotency_key else None
                    ),
                    triage_level=level,
                    language=language,
                    model=response.label if response else None,
                    mode=response.mode if response else None,
                    reply_to_id=self.inbound.id,
                    latency_ms=latency_ms,
                    created_at=self.now,
                )
            )
            first_out = first_out or row
            rows.append(row)
        if response is not None and first_out is not None:
            self.uow.model_calls.add_all(
                [_call_row(first_out.id, call, response.mode) for call in response.calls]
            )
        if error is not None:
            self.uow.safety_events.add(
                SafetyEvent(
                    contact_id=self.contact.id,
                    message_id=self.inbound.id,
                    kind="model_failed",
                    level=level,
                    detail={"error": error[:300]},
                    created_at=self.now,
                )
            )
        self.uow.commit()
        return Reply(
            bubbles=bubbles,
            level=level,
            contact_id=self.contact.id,
            language=language,
            alert_ids=list(alert_ids),
            message_ids=[r.id for r in rows] if self.idempotency_key else [],
        )


def _inbound_row(
    msg: InboundMessage, contact_id: int, now: dt.datetime, *, spooled: bool = False
) -> Message:
    """The stored form of an inbound message: text, media, location, and Twilio's other fields."""
    extra = msg.extra_fields() | ({"spooled": True} if spooled else {})
    if msg.button_payload:
        extra["ButtonPayload"] = msg.button_payload  # the tapped button's id; no column of its own
    return Message(
        contact_id=contact_id,
        direction="in",
        body=msg.body,
        twilio_sid=msg.message_sid,
        status="received",
        media=[m.model_dump() for m in msg.media],
        location=msg.location.model_dump() if msg.location else None,
        button_text=msg.button_text,
        extra=extra,
        received_at=now,
        created_at=now,
    )


def _must(row: _T | None) -> _T:
    if row is None:
        raise LookupError("a row stored moments ago is gone (erased concurrently?)")
    return row


def _handle_command(
    turn: _Turn,
    parsed: ParsedCommand,
    msg: InboundMessage,
    notify: StaffNotifier,
    on_erase: EraseHook | None,
) -> Reply | None:
    """Carry out a command; return None when the text should go on to the health pipeline."""
    contact, uow = turn.contact, turn.uow
    language = (
        contact.language if contact.language_chosen else None
    ) or command_language(msg.text) or contact.language or "en"
    if not contact.language:
        contact.language = language
    hint = _emergency_hint(None, language, sender=contact.phone)
    cmd = parsed.command

    if cmd is Command.STOP:
        contact.opted_out, contact.opted_out_at = True, turn.now
        return turn.finish([i18n.t("stopped", language)])
    if cmd is Command.START:
        contact.opted_out, contact.opted_out_at = False, None
        return turn.finish([i18n.t("started", language)], welcome_after=True)
    if contact.opted_out and cmd not in (Command.DELETE, Command.CONFIRM_DELETE, Command.CANCEL):
        # Only START brings an opted-out contact back; the rest is stored unanswered. Erasure
        # stays open to them: asking to delete one's data must work after STOP too.
        return None
    if cmd is Command.HELP:
        return turn.finish([i18n.t("help", language)], welcome_first=True)
    if cmd is Command.LANGUAGE and parsed.argument:
        contact.language, contact.language_chosen = parsed.argument, True
        return turn.finish([i18n.t("language_set", parsed.argument)], welcome_first=True)
    if cmd is Command.HUMAN:
        contact.state = NEEDS_HUMAN
        event = uow.safety_events.add(
            SafetyEvent(
                contact_id=contact.id,
                message_id=turn.inbound.id,
                kind="human_requested",
                status="open",
                created_at=turn.now,
            )
        )
        alert_ids = notify(uow, contact, event, turn.inbound.body[:200])
        return turn.finish(
            [i18n.t("human_requested", language, emergency_hint=hint)], alert_ids=alert_ids
        )
    if cmd is Command.DELETE or (
        cmd is Command.CONFIRM_DELETE and not _delete_pending(contact, turn.now)
    ):
        contact.delete_requested_at = turn.now
        phrase = commands.confirm_phrase(language)
        return turn.finish([i18n.t("delete_confirm", language, confirm_word=phrase)])
    if cmd is Command.CONFIRM_DELETE:
        # Erase first, then answer: the answer is not stored, since nothing about them may remain.
        if on_erase is not None:
            on_erase(uow, contact)
        uow.contacts.erase(contact)
        uow.commit()
        return Reply(bubbles=[i18n.t("deleted", language)])
    if cmd is Command.CANCEL and contact.delete_requested_at is not None:
        contact.delete_requested_at = None
        return turn.finish([i18n.t("delete_cancelled", language)])
    return None


def _delete_pending(contact: Contact, now: dt.datetime) -> bool:
    requested = contact.delete_requested_at
    return requested is not None and now - requested <= DELETE_CONFIRM_WINDOW


def _reply_language(contact: Contact, text: str) -> str:
    """The contact's chosen language, else the language this message seems to be written in."""
    if contact.language_chosen and contact.language:
        return contact.language
    detected = safety.detect_language(text, default=contact.language or "en") if text else None
    language = detected or contact.language or "en"
    contact.language = language
    return language


def _emergency(turn: _Turn, assessment: Assessment, notify_staff: StaffNotifier) -> Reply:
    """Answer an emergency with fixed text, flag the conversation and alert staff."""
    contact = turn.contact
    kind = "self_harm" if assessment.self_harm else "emergency"
    event = turn.uow.safety_events.add(
        SafetyEvent(
            contact_id=contact.id,
            message_id=turn.inbound.id,
            kind=kind,
            level=assessment.level.value,
            rule_ids=list(assessment.rule_ids),
            detail={"categories": sorted(assessment.categories), "subject": assessment.subject},
            status="open",
            created_at=turn.now,
        )
    )
    # The open escalation is the flag staff work from. The bot keeps answering follow-ups (a
    # parent asking what to do next must not meet silence) until staff take the conversation.
    alert_ids = notify_staff(turn.uow, contact, event, turn.inbound.body[:200])
    return turn.finish(
        [safety.emergency_reply(assessment)],
        assessment=assessment,
        welcome_after=True,
        alert_ids=alert_ids,
    )


def _ask(chat_model: ChatModel, request: ChatRequest) -> tuple[ChatResponse | None, str | None]:
    try:
        return chat_model.complete(request), None
    except ModelError as exc:
        log.warning("model %s failed: %s", getattr(chat_model, "model", "?"), type(exc).__name__)
        return None, f"{type(exc).__name__}: {exc}"


def _compose_answer(turn: _Turn, assessment: Assessment, response: ChatResponse | None) -> str:
    """Put the urgency notice first, guard the whole reply, add the disclaimer."""
    language = assessment.language
    if response is None:
        body = safety.safe_fallback(assessment)  # already says when to seek care
    else:
        # The guard sees the notice too, so it doesn't append care advice the notice already
        # gives (the fixed notice itself always passes the guard unchanged).
        notice = (
            safety.urgent_notice(language) if assessment.level is TriageLevel.URGENT else ""
        )
        draft = f"{notice}\n\n{response.text}" if notice else response.text
        guarded = safety.check_reply(draft, assessment)
        body = guarded.text
        for violation in guarded.violations:
            turn.uow.safety_events.add(
                SafetyEvent(
                    contact_id=turn.contact.id,
                    message_id=turn.inbound.id,
                    kind="reply_repaired",
                    level=assessment.level.value,
                    detail={
                        "violation": violation.kind,
                        "action": violation.action,
                        "excerpt": violation.excerpt[:300],
                        "model": response.label,
                    },
                    created_at=turn.now,
                )
            )
    parts = [body, safety.disclaimer(assessment.level, language)]
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _media_note(has_media: bool, has_location: bool, assessment: Assessment) -> str | None:
    hint = _emergency_hint(assessment, assessment.language)
    if has_media:
        return i18n.t("media_unsupported", assessment.language, emergency_hint=hint)
    if has_location:
        return i18n.t("location_received", assessment.language)
    return None


def _emergency_hint(
    assessment: Assessment | None, language: str, *, sender: str | None = None
) -> str:
    contact = assessment.contact if assessment else safety.contact_for(sender)
    return contact.emergency or i18n.t("emergency_hint_unknown", language)


def _call_row(message_id: int, call: CallRecord, mode: str) -> ModelCallRow:
    return ModelCallRow(
        message_id=message_id,
        provider=call.provider,
        model=call.model,
        perspective=call.perspective,
        mode=mode,
        outcome=call.outcome,
        input_tokens=call.usage.input_tokens,
        output_tokens=call.usage.output_tokens,
        tokens_estimated=call.usage.estimated,
        latency_ms=call.latency_ms,
        cost_usd=call.cost_usd,
        error=(call.error or "")[:300] or None,
    )


def record_spooled(
    msg: InboundMessage,
    *,
    uow: SqlUnitOfWork,
    notify_staff: StaffNotifier = _no_staff_channels,
    now: dt.datetime | None = None,
) -> bool:
    """Store a message that was spooled while the database was down; return False if known.

    It was already answered from the safety layer alone, so nothing is sent now; what the rules
    find is recorded and an emergency or urgent message is put in front of staff.
    """
    now = now or utcnow()
    try:
        with uow:
            contact, _created = uow.contacts.get_or_create(
                wa_id=msg.contact_key,
                phone=msg.sender,
                profile_name=msg.profile_name,
                country=safety.country_of(msg.sender),
            )
            assessment = safety.assess(msg.text, sender=msg.sender)
            inbound = _inbound_row(msg, contact.id, now, spooled=True)
            inbound.triage_level = assessment.level.value
            inbound.rule_ids = list(assessment.rule_ids)
            inbound.language = assessment.language
            uow.messages.add_inbound(inbound)
            if contact.last_inbound_at is None or contact.last_inbound_at < now:
                contact.last_inbound_at = now
            if assessment.level.rank >= TriageLevel.URGENT.rank:
                event = uow.safety_events.add(
                    SafetyEvent(
                        contact_id=contact.id,
                        message_id=inbound.id,
                        kind="emergency" if assessment.is_emergency else "urgent",
                        level=assessment.level.value,
                        rule_ids=list(assessment.rule_ids),
                        detail={"spooled": True},
                        status="open",
                        created_at=now,
                    )
                )
                # recorded now; `healthbot db replay-spool` sends due alerts once it is done
                notify_staff(uow, contact, event, msg.body[:200])
            uow.commit()
    except DuplicateDelivery:
        return False
    return True

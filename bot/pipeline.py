"""The one path an inbound message takes: store, commands, safety, model, guard, store, reply.

It is the service layer and imports no flask, sqlalchemy or httpx: the caller hands it a unit of
work and a chat model. `receive` does the fast, deterministic part (steps 1-3) and always runs in
the webhook; `answer_inbound` does the model part (4-6) from a stored message id, inline in the
webhook (bot/webhook/views.py, each step under its own deadline) or from a queue worker.

    1. store the inbound message; a duplicate MessageSid stops here (idempotent)
    2. commands first: STOP / START / HELP / HUMAN / DELETE / LANGUAGE
    3. safety.assess on the raw text and recent history, before any model call;
       an emergency gets the fixed, pre-written text and staff are alerted; no model runs
    4. the chat model answers within a deadline; any ModelError gets the safe fallback
    5. safety.check_reply repairs the draft; a disclaimer is added
    6. every outbound turn is stored, with the model calls that produced it
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import safety
from bot import commands, i18n
from bot.bubbles import split_message
from bot.commands import Command, ParsedCommand, command_language
from bot.errors import ModelError
from bot.llm.images import IMAGE_TYPES, MAX_IMAGES, VISION_RULE
from bot.ports import (
    CallRecord,
    ChatModel,
    ChatRequest,
    ChatResponse,
    ImagePart,
    VettedPassage,
)
from bot.prompting import Turn, history_window, system_prompt
from bot.schemas import InboundMessage
from bot.store.models import Contact, Message, ModelCallRow, SafetyEvent, utcnow
from bot.understanding import grounding, smalltalk
from bot.understanding.language import conversation_language
from safety import Assessment, TriageLevel

if TYPE_CHECKING:
    from bot.store.uow import Episode, SqlUnitOfWork
    from bot.understanding import Understanding, Understood

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# A DELETE must be confirmed within this time, so an old request can't be confirmed by accident.
DELETE_CONFIRM_WINDOW = dt.timedelta(minutes=15)
# How many earlier inbound messages the rules look at, to catch a red flag spread over messages.
SAFETY_HISTORY = 5
# An emergency or urgent episode lasts until staff resolve its escalation, or this long after it
# was raised: until then a follow-up ("it's normal, right?") never gets a lower level.
EPISODE_WINDOW = dt.timedelta(hours=24)

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


@dataclass(slots=True)
class Received:
    """What `receive` decided: bubbles to send now, and the inbound message still to answer."""

    reply: Reply
    answer_id: int | None = None  # the inbound Message id a model must answer, if any
    # The MessageSid belongs to a person who has since been erased: nothing was stored.
    erased: bool = False
    # A voice note stored for the transcription job (bot/voice/job.py), which then runs `hear`.
    transcribe_id: int | None = None
    # The answer is to a photo a vision model must see: always answered from the job.
    photo: bool = False


def receive(
    msg: InboundMessage,
    *,
    uow: SqlUnitOfWork,
    config: PipelineConfig | None = None,
    notify_staff: StaffNotifier = _no_staff_channels,
    on_erase: EraseHook | None = None,
    now: dt.datetime | None = None,
    understanding: Understanding | None = None,
    transcribe: bool = False,
    look: bool = False,
) -> Received:
    """Store the message and do everything that needs no model: commands, safety, emergencies.

    Fast and deterministic, so the webhook can always run it inline. When a model answer is
    still needed, `answer_id` names the stored message for `answer_inbound` (inline or queued).
    With `transcribe` (a transcriber and a way to send are configured), a voice note is only
    stored: `transcribe_id` names it for the transcription job, which triages the transcript
    with `hear` exactly as this function triages typed text. With `look` (a vision model), a
    photo is left for the answer job (`photo`), which shows it to that model with the caption.

    Raises:
        bot.errors.StoreError: the database could not store the message.
    """
    config = config or PipelineConfig()
    now = now or utcnow()
    text = msg.text
    parsed = commands.parse(text)
    talk = smalltalk.detect(text) if text else None
    # A message made only of small-talk words can't describe a red flag: no encoding for it.
    semantic = None if talk else understanding
    if semantic is not None and parsed is None:
        # The encoder's work (milliseconds of CPU) is done before the transaction opens, so no
        # lock is held while it runs; the second opinion below reads the cached vector.
        semantic.encode(text)

    # One transaction: the message is stored with the rules' verdict and the answer's first
    # part, or not at all (then the webhook spools it). The unique MessageSid turns a retried or
    # concurrent delivery into a no-op.
    with uow:
        if uow.erased_messages.contains(msg.message_sid):
            return Received(Reply(duplicate=True), erased=True)
        contact = uow.contacts.note_inbound(
            wa_id=msg.contact_key, phone=msg.sender, profile_name=msg.profile_name,
            country=safety.country_of(msg.sender), now=now,
        )
        inbound: Message | None = None
        if transcribe and not text and voice_item(msg.media) is not None:
            # Nothing to decide before it is heard; the person waits seconds, not a round trip.
            inbound = uow.messages.insert_inbound(_inbound_values(msg, contact.id, now))
            if inbound is None:
                return _duplicate(msg)
            uow.commit()
            return Received(Reply(contact_id=contact.id), transcribe_id=inbound.id)

        # 2. Commands first.
        if parsed is not None:
            inbound = uow.messages.insert_inbound(_inbound_values(msg, contact.id, now))
            if inbound is None:
                return _duplicate(msg)
            turn = _Turn(uow=uow, contact=contact, inbound=inbound, now=now)
            reply = _handle_command(turn, parsed, msg.text, notify_staff, on_erase)
            if reply is not None:
                return Received(reply)

        # 3. The rules, on the raw text and recent history, before any model.
        language = _reply_language(contact, text, talk)
        # The latest turns before this message (a command stored above is this message).
        earlier = uow.messages.recent_texts(contact.id, limit=config.history_turns + 1)
        earlier = earlier[:-1] if inbound is not None else earlier[-config.history_turns:]
        own = _assess(contact, text, _inbound_texts(earlier), language, semantic)
        # A follow-up inside an open emergency or urgent episode keeps the episode's level.
        episode = uow.safety_events.open_episode(contact.id, since=now - EPISODE_WINDOW)
        assessment = _within_episode(own, episode)
        verdict = {"triage_level": assessment.level.value,
                   "rule_ids": list(assessment.rule_ids), "language": assessment.language}
        if inbound is None:
            inbound = uow.messages.insert_inbound(_inbound_values(msg, contact.id, now) | verdict)
            if inbound is None:
                return _duplicate(msg)
        else:
            for key, value in verdict.items():
                setattr(inbound, key, value)
        turn = _Turn(uow=uow, contact=contact, inbound=inbound, now=now)
        photos = look and bool(photo_items(msg.media))
        others = len(msg.media) > (len(photo_items(msg.media)) if photos else 0)
        media_note = _media_note(others, msg.location is not None, assessment)
        received = _decide(turn, text=msg.text, talk=talk, own=own, assessment=assessment,
                           episode=episode, notify_staff=notify_staff, media_note=media_note,
                           looks=photos)
        received.photo = photos and received.answer_id is not None
        return received


def _decide(
    turn: _Turn,
    *,
    text: str,
    talk: smalltalk.SmallTalk | None,
    own: Assessment,
    assessment: Assessment,
    episode: Episode | None,
    notify_staff: StaffNotifier,
    media_note: str | None,
    looks: bool = False,
) -> Received:
    """What the rules decided, for typed text (`receive`) and heard text (`hear`) alike.

    `looks`: a photo a vision model will look at, which needs an answer even without words.
    """
    contact, uow, inbound = turn.contact, turn.uow, turn.inbound
    chat = talk is not None and own.level.rank <= TriageLevel.SELF_CARE.rank
    answer_due = ((bool(text) or looks) and not chat and not assessment.is_emergency
                  and not contact.opted_out and contact.state == BOT)
    turn.mark("answer_due" if answer_due else "answered")
    if talk is not None and chat:
        # "ok thanks", "hola", "are you a doctor?": a short, warm answer, never a card. In an
        # emergency episode it carries the number again (the level stays the episode's).
        if contact.opted_out or contact.state != BOT:
            uow.commit()
            return Received(Reply(level=assessment.level.value, contact_id=contact.id))
        return Received(_small_talk(turn, talk.intent, assessment))
    # An emergency is answered with fixed text, whatever state the conversation is in.
    if assessment.is_emergency:
        return Received(_emergency(turn, assessment, notify_staff, episode))
    if contact.opted_out or contact.state != BOT:
        # Opted out: stored, not answered, until START. With staff: the bot stays quiet.
        uow.commit()
        return Received(Reply(level=assessment.level.value, contact_id=contact.id))
    if not text and not looks:
        texts = [media_note or i18n.t("empty_message", assessment.language)]
        return Received(turn.finish(texts, assessment=assessment, welcome_first=True))
    # The welcome (first contact) and the media note go out now; the answer follows.
    reply = turn.finish([media_note] if media_note else [], assessment=assessment,
                        welcome_first=True)
    return Received(reply, answer_id=inbound.id)


def photo_items(media: Sequence[Any]) -> list[dict[str, Any]]:
    """The photos among a message's media that a vision model can take (JPEG, PNG, WebP)."""
    rows = [item if isinstance(item, dict) else item.model_dump() for item in media]
    return [dict(r) for r in rows
            if str(r.get("content_type") or "").lower() in IMAGE_TYPES][:MAX_IMAGES]


def voice_item(media: Sequence[Any]) -> dict[str, Any] | None:
    """The first audio item of a message's media (MediaItem models or stored dicts), if any."""
    for item in media:
        row = item if isinstance(item, dict) else item.model_dump()
        if str(row.get("content_type") or "").lower().startswith("audio/"):
            return dict(row)
    return None


@dataclass(frozen=True, slots=True)
class Heard:
    """What the transcription job heard in a voice note (None fields: unknown)."""

    text: str
    language: str | None
    transcriber: str
    seconds: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None


# The "I heard: ..." line is one line: long voice notes are cut to this many characters.
HEARD_CHARS = 160


def voice_key(inbound_id: int) -> str:
    """The idempotency key of the replies decided on a voice note's transcript."""
    return f"voice:{inbound_id}"


def hear(
    inbound_id: int,
    heard: Heard | None,
    *,
    uow: SqlUnitOfWork,
    config: PipelineConfig | None = None,
    notify_staff: StaffNotifier = _no_staff_channels,
    on_erase: EraseHook | None = None,
    now: dt.datetime | None = None,
    understanding: Understanding | None = None,
    error: str | None = None,
) -> Received:
    """Triage a stored voice note's transcript exactly as `receive` triages typed text.

    The transcript is stored with the message (and becomes its body, so history, search and
    the model read it like text); then commands, the rules and the semantic check, emergencies
    (fixed text, escalation, staff alert), small talk, the welcome. Replies are recorded as
    pending rows under `voice:<id>` for the Messenger, the first starting with "I heard: ...",
    and `answer_id` asks for the model's answer as for typed text. Without a transcript
    (`heard` None or silent), the person gets today's honest reply with the emergency number.
    Safe to run twice: a second run returns what the first decided.
    """
    config = config or PipelineConfig()
    now = now or utcnow()
    key = voice_key(inbound_id)
    text = heard.text.strip() if heard is not None else ""
    parsed = commands.parse(text) if text else None
    talk = smalltalk.detect(text) if text else None
    if understanding is not None and text and parsed is None and talk is None:
        understanding.encode(text)  # outside the transaction, as in `receive`
    with uow:
        inbound = uow.messages.get(inbound_id)
        if inbound is None:
            return Received(Reply(duplicate=True), erased=True)
        contact = _must(uow.contacts.get(inbound.contact_id))
        done = (inbound.extra or {}).get("heard")
        if done is not None:
            rows = uow.messages.by_idempotency_prefix(key)
            return Received(
                Reply(bubbles=[m.body for m in rows], contact_id=contact.id,
                      level=inbound.triage_level, message_ids=[m.id for m in rows]),
                answer_id=inbound.id if done == "answer_due" else None)
        turn = _Turn(uow=uow, contact=contact, inbound=inbound, now=now, idempotency_key=key,
                     record_outcome=True)
        received = _hear_transcript(turn, heard, text, parsed, talk, config=config,
                                    notify_staff=notify_staff, on_erase=on_erase,
                                    understanding=understanding, error=error)
        return received


def _hear_transcript(
    turn: _Turn,
    heard: Heard | None,
    text: str,
    parsed: ParsedCommand | None,
    talk: smalltalk.SmallTalk | None,
    *,
    config: PipelineConfig,
    notify_staff: StaffNotifier,
    on_erase: EraseHook | None,
    understanding: Understanding | None,
    error: str | None,
) -> Received:
    uow, contact, inbound = turn.uow, turn.contact, turn.inbound
    caption = inbound.body.strip()
    if heard is not None:
        inbound.transcript = heard.text
        inbound.transcript_language = heard.language
        inbound.transcriber = heard.transcriber
        inbound.audio_seconds = heard.seconds
        inbound.transcription_cost_usd = heard.cost_usd
        inbound.transcription_ms = heard.latency_ms
    if not text:
        # Not heard (a failure, or silence): the honest reply, with the number, as before.
        inbound.extra = {**(inbound.extra or {}), "heard": "not_heard",
                         "transcription_error": (error or "empty transcript")[:300]}
        if contact.opted_out or contact.state != BOT:
            uow.commit()
            return Received(Reply(contact_id=contact.id))
        assessment = _assess(contact, caption, [], contact.language)
        note = i18n.t("voice_not_heard", assessment.language,
                      emergency_hint=_emergency_hint(assessment, assessment.language))
        return Received(turn.finish([note], assessment=assessment, welcome_first=True))
    # What the pipeline reads from now on, here and in the answer job: the words, spoken or not.
    inbound.body = f"{caption}\n\n{text}" if caption else text
    words = inbound.body
    if contact.language_chosen and contact.language:
        language = contact.language
    elif heard is not None and heard.language in i18n.SUPPORTED:
        language = contact.language = heard.language  # what the transcriber heard
    else:
        language = _reply_language(contact, words, talk)  # else the words decide, as typed
    turn.lead = heard_line(language, text)
    if parsed is not None:
        turn.mark("answered")  # a command's reply is recorded (and committed) by finish
        reply = _handle_command(turn, parsed, words, notify_staff, on_erase)
        if reply is not None:
            return Received(reply)
    earlier = uow.messages.recent(contact.id, limit=config.history_turns, before_id=inbound.id)
    semantic = None if talk else understanding
    own = _assess(contact, words, _inbound_texts([(m.direction, m.body) for m in earlier]),
                  language, semantic)
    episode = uow.safety_events.open_episode(contact.id, since=turn.now - EPISODE_WINDOW)
    assessment = _within_episode(own, episode)
    inbound.triage_level = assessment.level.value
    inbound.rule_ids = list(assessment.rule_ids)
    inbound.language = assessment.language
    others = [m for m in inbound.media
              if not str(m.get("content_type") or "").lower().startswith("audio/")]
    media_note = _media_note(bool(others), inbound.location is not None, assessment)
    received = _decide(turn, text=words, talk=talk, own=own, assessment=assessment,
                       episode=episode, notify_staff=notify_staff, media_note=media_note)
    return received


def heard_line(language: str, transcript: str) -> str:
    """The one line "I heard: ..." that starts the reply to a voice note."""
    return i18n.t("voice_heard", language, transcript=_one_line(transcript))


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= HEARD_CHARS else flat[: HEARD_CHARS - 1].rstrip() + "…"


def _duplicate(msg: InboundMessage) -> Received:
    """A MessageSid stored already: Twilio retrying, or a concurrent copy (rolled back)."""
    log.info("duplicate delivery of %s ignored", msg.message_sid)
    return Received(Reply(duplicate=True))


def _inbound_texts(earlier: Sequence[tuple[str, str]]) -> list[str]:
    """The person's own earlier messages among (direction, body) pairs, for the rules."""
    return [body for direction, body in earlier if direction == "in" and body]


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
    understanding: Understanding | None = None,
    images: Sequence[ImagePart] | None = None,
) -> Reply:
    """Answer a stored inbound message with the model, guarded, and store the answer.

    `images`: the photos of the message, fetched, for a vision model (`chat_model`): the system
    prompt then forbids diagnosing from a photo, and the guard checks the reply as always.

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
        assessment = _assess(contact, inbound.body.strip() or (inbound.button_text or "").strip(),
                             _inbound_texts([(m.direction, m.body) for m in earlier]),
                             inbound.language or contact.language, understanding)
        episode = uow.safety_events.open_episode(contact.id, since=now - EPISODE_WINDOW)
        assessment = _within_episode(assessment, episode)
        text = inbound.body or inbound.button_text or ""
        history = [Turn("assistant" if m.direction == "out" else "user", m.body) for m in earlier]
        history.append(Turn("user", text or "(photo)"))
        earlier_asked = [m.body for m in earlier if m.direction == "in" and m.body]
        last_passages = next(
            (list(m.passage_ids) for m in reversed(earlier) if m.direction == "out"
             and m.passage_ids), [],
        )

    if assessment.is_emergency:
        # A red flag the webhook did not see: with answers queued it runs the rules only, and
        # the second opinion runs here. The fixed text and the escalation now, with no model.
        with uow:
            return _emergency(_reload(uow, inbound_id, now, key), assessment, notify_staff,
                              episode)
    if not text.strip() and not images:
        # A photo nobody could look at (no vision model, or it could not be fetched).
        with uow:
            note = _media_note(True, False, assessment)
            return _reload(uow, inbound_id, now, key).finish([note or ""], assessment=assessment)

    # 4. Understand the question, then the model answers from the vetted passages that fit it,
    # outside any transaction: no connection is held while it thinks.
    language = assessment.language
    understood = (
        understanding.understand(text, earlier=earlier_asked, last_passages=last_passages,
                                 subject=assessment.subject, language=language)
        if understanding is not None and text.strip() else None
    )
    vetted = _vetted(understood, language)
    if understood is not None and understood.focus and vetted and understanding is not None:
        # A follow-up answered by the passage just sent: only the part of it that answers it.
        first = vetted[0]
        vetted = (dataclasses.replace(first, text=understanding.excerpt(first.text, text)),
                  *vetted[1:])
    if understood is not None and (understood.intent or understood.already_answered):
        with uow:
            turn = _reload(uow, inbound_id, now, key)
            if understood.intent:
                return _small_talk(turn, understood.intent, assessment)
            topic = understanding.topic_title(understood.topic, language) if understanding else ""
            return turn.finish([i18n.t("already_answered", language, topic=topic)],
                               assessment=assessment)
    system = system_prompt(language, assessment.level.value, vetted)
    request = ChatRequest(
        system=f"{system}\n\n{VISION_RULE}" if images else system,
        images=tuple(images or ()),
        messages=history_window(history, config.history_chars),
        language=language,
        deadline=started + config.answer_deadline_s,
        triage_level=assessment.level.value,
        conversation_id=contact_id,
        passages=vetted,
    )
    response, error = _ask(chat_model, request)
    ungrounded: tuple[grounding.Grounding, ChatResponse] | None = None
    # A photo answer describes what the photo shows, which no passage can support: it is not
    # replaced, but the vision rule forbids diagnosing and the guard checks it like any reply.
    if response is not None and vetted and response.mode != "offline" and understanding \
            and not images:
        # A remote model's answer must rest on the vetted passages; if it does not, the person
        # gets the vetted passage itself (the offline model's rendering of it).
        additions = (*response.red_flags, *response.warnings, *response.caution)
        check = grounding.check(response.text, vetted, understanding.embedder,
                                safety_additions=additions)
        if not check.grounded:
            ungrounded = (check, response)
            response = grounding.replace_with_passage(response, vetted[0], language)

    with uow:
        turn = _reload(uow, inbound_id, now, key)
        inbound, contact = turn.inbound, turn.contact
        # The most cautious triage wins: a model may raise the level, never lower it.
        final = assessment.raised_to(response.urgency if response else None)
        if final.is_emergency:
            return _emergency(turn, final, notify_staff, episode)
        if ungrounded is not None:
            check, draft = ungrounded
            uow.safety_events.add(
                SafetyEvent(
                    contact_id=contact.id,
                    message_id=inbound.id,
                    kind="reply_ungrounded",
                    level=final.level.value,
                    detail={"support": round(check.support, 3),
                            "passages": [p.id for p in vetted or ()]},
                    created_at=now,
                )
            )
            # What the replaced draft would have needed repairing, so staff see what the model
            # tried to say; nothing of it is sent.
            _record_repairs(turn, final, draft, safety.check_reply(draft.text, final),
                            action="replaced_by_passage")
        if final.level is TriageLevel.URGENT and episode is None:
            # Urgent: the answer says to see a clinician today, and staff review the conversation
            # (once per episode: its follow-ups are already in front of them).
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
        reply_text = _compose_answer(turn, final, response, vetted or ())
        return turn.finish(
            [reply_text],
            assessment=final,
            response=response,
            error=error,
            latency_ms=(time.monotonic() - started) * 1000,
            passage_ids=[p.id for p in vetted or ()][:1] if response is not None else [],
        )


def _reload(uow: SqlUnitOfWork, inbound_id: int, now: dt.datetime, key: str | None) -> _Turn:
    """The turn of a stored inbound message, read again in the caller's new transaction."""
    inbound = _must(uow.messages.get(inbound_id))
    contact = _must(uow.contacts.get(inbound.contact_id))
    return _Turn(uow=uow, contact=contact, inbound=inbound, now=now, idempotency_key=key)


def answer_key(inbound_id: int) -> str:
    """The idempotency key of the answer to one inbound message."""
    return f"answer:{inbound_id}"


def _assess(
    contact: Contact,
    text: str,
    earlier: Sequence[str],
    language: str | None,
    understanding: Understanding | None = None,
) -> Assessment:
    """Run the rules on a message with the contact's recent inbound texts, then the semantic
    second opinion, which can only raise the level (its hits are recorded like rules)."""
    rules = safety.assess(text, history=list(earlier[-SAFETY_HISTORY:]), sender=contact.phone,
                          language=language)
    if understanding is None:
        return rules
    return rules.with_hits(understanding.second_opinion(text, rules.language))


@dataclass(slots=True)
class _Turn:
    """The rows one inbound message touches, and how to finish with a stored reply."""

    uow: SqlUnitOfWork
    contact: Contact
    inbound: Message
    now: dt.datetime
    # Set when the reply goes out through the Messenger: rows are recorded as pending under it.
    idempotency_key: str | None = None
    # A line to put before the first text ("I heard: ..." for a voice note).
    lead: str | None = None
    # Keep what was decided on the inbound row (`hear` must conclude the same if run again).
    record_outcome: bool = False

    def mark(self, outcome: str) -> None:
        """Record on the inbound row whether an answer is still due ("answer_due") or not."""
        if self.record_outcome:
            self.inbound.extra = {**(self.inbound.extra or {}), "heard": outcome}

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
        passage_ids: Sequence[str] = (),
    ) -> Reply:
        """Store the outbound turn (one row per bubble), commit, and return the reply."""
        texts = [t for t in texts if t and t.strip()]
        language = assessment.language if assessment else self.language
        if self.contact.welcomed_at is None and not self.contact.opted_out:
            hint = _emergency_hint(assessment, language, sender=self.contact.phone)
            welcome = i18n.t("welcome", language, emergency_hint=hint)
            texts = [welcome, *texts] if welcome_first and not welcome_after else [*texts, welcome]
            self.contact.welcomed_at = self.now
        if self.lead:
            texts = [f"{self.lead}\n\n{texts[0]}", *texts[1:]] if texts else [self.lead]
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
                    passage_ids=list(passage_ids),
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


def _inbound_values(msg: InboundMessage, contact_id: int, now: dt.datetime) -> dict[str, Any]:
    """The stored form of an inbound message: text, media, location, and Twilio's other fields."""
    extra = msg.extra_fields()
    if msg.button_payload:
        extra["ButtonPayload"] = msg.button_payload  # the tapped button's id; no column of its own
    return {
        "contact_id": contact_id,
        "direction": "in",
        "body": msg.body,
        "twilio_sid": msg.message_sid,
        "status": "received",
        "media": [m.model_dump() for m in msg.media],
        "location": msg.location.model_dump() if msg.location else None,
        "button_text": msg.button_text,
        "extra": extra,
        "received_at": now,
        "created_at": now,
    }


def _must(row: _T | None) -> _T:
    if row is None:
        raise LookupError("a row stored moments ago is gone (erased concurrently?)")
    return row


def _handle_command(
    turn: _Turn,
    parsed: ParsedCommand,
    text: str,
    notify: StaffNotifier,
    on_erase: EraseHook | None,
) -> Reply | None:
    """Carry out a command; return None when the text should go on to the health pipeline."""
    contact, uow = turn.contact, turn.uow
    language = (
        contact.language if contact.language_chosen else None
    ) or command_language(text) or contact.language or "en"
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


def _reply_language(contact: Contact, text: str, talk: smalltalk.SmallTalk | None) -> str:
    """The contact's chosen language, else the language of this message (the sender's country
    breaking the tie when a short message gives too little to go on)."""
    if contact.language_chosen and contact.language:
        return contact.language
    language = conversation_language(text, talk, previous=contact.language,
                                     country=contact.country)
    contact.language = language
    return language


def _emergency(
    turn: _Turn,
    assessment: Assessment,
    notify_staff: StaffNotifier,
    episode: Episode | None = None,
) -> Reply:
    """Answer an emergency with fixed text, flag the conversation and alert staff."""
    contact = turn.contact
    if (
        episode is not None
        and episode.kind in ("emergency", "self_harm")
        and not assessment.hits_beyond(episode.rule_ids)
    ):
        # A follow-up in an emergency already in front of staff: the same fixed text (the number
        # and what to do meanwhile) again, with no second escalation or alert for it.
        return turn.finish([safety.emergency_reply(assessment)], assessment=assessment)
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


def _compose_answer(
    turn: _Turn,
    assessment: Assessment,
    response: ChatResponse | None,
    vetted: Sequence[VettedPassage] = (),
) -> str:
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
        # The vetted passages speak with their reviewers' authority (e.g. the public dosing table
        # for children), and their sources are links the person may follow.
        guarded = safety.check_reply(
            draft,
            assessment,
            vetted=[p.text for p in vetted],
            allowed_domains=safety.DEFAULT_ALLOWED_DOMAINS | _source_domains(vetted),
        )
        body = guarded.text
        _record_repairs(turn, assessment, response, guarded)
    parts = [body, safety.disclaimer(assessment.level, language)]
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _record_repairs(
    turn: _Turn,
    assessment: Assessment,
    response: ChatResponse,
    guarded: safety.GuardedReply,
    action: str | None = None,
) -> None:
    """Store one safety event per repair the guard made (or would have made) to a draft."""
    for violation in guarded.violations:
        turn.uow.safety_events.add(
            SafetyEvent(
                contact_id=turn.contact.id,
                message_id=turn.inbound.id,
                kind="reply_repaired",
                level=assessment.level.value,
                detail={
                    "violation": violation.kind,
                    "action": action or violation.action,
                    "excerpt": violation.excerpt[:300],
                    "model": response.label,
                },
                created_at=turn.now,
            )
        )


def _source_domains(vetted: Sequence[VettedPassage]) -> frozenset[str]:
    hosts = (urlsplit(p.source).hostname or "" for p in vetted)
    return frozenset(h.removeprefix("www.") for h in hosts if h)


def _vetted(understood: Understood | None, language: str) -> tuple[VettedPassage, ...] | None:
    """The retrieved passages in the reply's language (None when no retrieval ran)."""
    if understood is None:
        return None
    out: list[VettedPassage] = []
    for hit in understood.passages:
        passage = hit.passage
        used, text = passage.answer_in(language)
        out.append(VettedPassage(id=passage.id, title=passage.title_in(used), text=text,
                                 source=passage.main_source, language=used,
                                 level_hint=passage.level_hint))
    return tuple(out)


def _within_episode(assessment: Assessment, episode: Episode | None) -> Assessment:
    """Keep an open episode's level (and its first-aid categories) for a follow-up."""
    if episode is None or not episode.level:
        return assessment
    level = TriageLevel(episode.level)
    if level.rank <= assessment.level.rank:
        return assessment
    categories = frozenset((episode.detail or {}).get("categories") or ())
    if episode.kind == "self_harm":
        categories |= {"self_harm"}
    return assessment.within_episode(level, categories, rule_id=f"episode:{episode.id}")


def _small_talk(turn: _Turn, intent: str, assessment: Assessment) -> Reply:
    """A short, warm answer to small talk; on first contact the welcome says it all."""
    language = assessment.language
    if turn.contact.welcomed_at is None:
        return turn.finish([], assessment=assessment, welcome_first=True)
    texts = [i18n.t(f"smalltalk_{intent}", language)]
    if assessment.level.rank >= TriageLevel.URGENT.rank:
        # "ok thanks" in the middle of an emergency: still say where to get help.
        hint = _emergency_hint(assessment, language)
        key = "episode_reminder_emergency" if assessment.is_emergency else "episode_reminder_urgent"
        texts.append(i18n.t(key, language, emergency_hint=hint))
    return turn.finish(texts, assessment=assessment)


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


@dataclass(slots=True)
class Replayed:
    """What replaying one spooled message did, and what is left to tell the person."""

    stored: bool  # False: it was stored already, or its sender has been erased since
    contact_id: int | None = None
    to: str = ""  # the person's address
    level: str | None = None
    # Outbound rows recorded as pending, for the Messenger to send in this order.
    send_ids: list[int] = field(default_factory=list)
    # Texts to send that may not be stored: the confirmation that everything was erased.
    unrecorded: list[str] = field(default_factory=list)
    answer_id: int | None = None  # the inbound message still to answer with the model
    alert_ids: list[int] = field(default_factory=list)  # staff alerts to send after commit


def record_spooled(
    msg: InboundMessage,
    *,
    uow: SqlUnitOfWork,
    notify_staff: StaffNotifier = _no_staff_channels,
    on_erase: EraseHook | None = None,
    config: PipelineConfig | None = None,
    understanding: Understanding | None = None,
    now: dt.datetime | None = None,
    tell: bool = False,
) -> Replayed:
    """Run a message spooled during a database outage through the whole receive path.

    `now` is when it arrived (the spool's time). Commands take effect (STOP opts out, DELETE YES
    erases, HUMAN asks staff), the rules run with the contact's history, an emergency is
    escalated and staff alerted, exactly as if the database had been there. At the time the
    person was answered from the safety layer alone, so with `tell` (a Messenger is configured)
    the replies are recorded as pending rows for the caller to send, and a question is left for
    the model (`answer_id`); an emergency text the outage answer already gave is not sent again.
    Without `tell` the replies that were never sent are not kept.

    Raises:
        bot.errors.StoreError: the database is still unavailable (the message stays spooled).
    """
    now = now or utcnow()
    with uow:
        if uow.erased_messages.contains(msg.message_sid):
            return Replayed(stored=False)  # its sender asked to be erased after sending it
        known = uow.contacts.by_wa_id(msg.contact_key)
        last_inbound = known.last_inbound_at if known is not None else None
        welcomed = known is not None and known.welcomed_at is not None
    received = receive(msg, uow=uow, config=config, notify_staff=notify_staff, on_erase=on_erase,
                       now=now, understanding=understanding)
    reply = received.reply
    if reply.duplicate:
        return Replayed(stored=False)
    # What the webhook answered during the outage: the rules alone, on this message alone.
    outage = safety.assess(msg.text, sender=msg.sender)
    told = set(split_message(safety.emergency_reply(outage))) if outage.is_emergency else set()
    with uow:
        inbound = uow.messages.by_sid(msg.message_sid)
        if inbound is None:  # DELETE YES: nothing about them may remain, not even the reply
            return Replayed(stored=True, to=msg.sender, level=reply.level,
                            unrecorded=list(reply.bubbles) if tell else [],
                            alert_ids=list(reply.alert_ids))
        contact = _must(uow.contacts.get(inbound.contact_id))
        if last_inbound is not None and last_inbound > now:
            contact.last_inbound_at = last_inbound  # a later message came in meanwhile
        inbound.extra = {**(inbound.extra or {}), "spooled": True}
        send_ids: list[int] = []
        for index, row in enumerate(uow.messages.replies_to(inbound.id, status="twiml")):
            if row.body in told:
                continue  # the outage answer was this emergency text: it stays "twiml"
            if tell:
                row.status = "pending"
                row.idempotency_key = f"spool:{inbound.id}#{index}"
                send_ids.append(row.id)
            else:
                # Never sent, so not part of the conversation (nor of the model's history).
                uow.messages.remove(row)
                if not welcomed:
                    contact.welcomed_at = None  # the welcome (consent notice) is still due
        answer_id = received.answer_id if tell else None
        if received.answer_id is not None and not tell:
            inbound.extra = {**inbound.extra, "not_answered": "spooled_without_messenger"}
        uow.commit()
        contact_id, to = contact.id, contact.phone
    return Replayed(stored=True, contact_id=contact_id, to=to, level=reply.level,
                    send_ids=send_ids, answer_id=answer_id, alert_ids=list(reply.alert_ids))

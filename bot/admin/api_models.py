"""The staff API's request and response shapes, as pydantic models: the OpenAPI document is made
from them (bot/admin/openapi.py) and every request and response is checked against them.

Responses describe exactly what the console's `*_json` functions return (bot/admin/console.py):
every key, `X | None` where the value may be null, timestamps as ISO 8601 strings with a zone.
Response models forbid unknown keys, so a field added to the console without its model here
fails the response check (a 500 in a test) instead of drifting from the document.

Request bodies are strict (no "1" for 1, no "true" for true) and forbid unknown keys; each is at
least as strict as the console's own checks, so anything the document allows is accepted.
Query strings arrive as text, so query models coerce ("2" -> 2).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from bot.admin.console import MAX_NOTE, MAX_OUTCOME_NOTE, MAX_REPLY
from bot.admin.security import MIN_PASSWORD

MAX_PAGE = 200
MAX_PAGE_NUMBER = 1_000_000
MAX_ID = 2**31 - 1  # the database's integer

Level = Literal["info", "self_care", "routine", "urgent", "emergency"]
State = Literal["bot", "needs_human", "with_staff"]
Role = Literal["viewer", "clinician", "admin"]
EscalationStatus = Literal["open", "acknowledged", "resolved"]
EscalationKind = Literal["emergency", "self_harm", "human_requested", "urgent"]
Outcome = Literal["ambulance_called", "referred", "advised", "no_answer", "other"]
Priority = Literal["emergency", "human", "urgent"]
Language = Literal["en", "es", "pt", "fr", "sw", "hi"]
# What `cost_usd` says when some model call's price is not known (never a made-up $0).
Cost = float | Literal["unknown"]
# Idempotency keys: what the console accepts (1-64 letters, digits, - or _).
IdempotencyKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# What str.strip() and str.isspace() call whitespace, spelled out: regex engines (this check's,
# the document's readers', schemathesis's) disagree about `\s`, and the console uses isspace().
SPACE = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{SPACE}]"
EMAIL = f"^[^{SPACE}@]+@[^{SPACE}@]+$"


def _whole(value: Any) -> Any:
    # JSON Schema's integer includes 5.0; a strict model would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


RowId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole)]
# An event feed cursor: "<message id>.<escalation id>.<audit id>" (bot/admin/events.py).
# (Each part at most 20 digits: the feed refuses a cursor longer than 64 characters.)
Cursor = Annotated[str, Field(pattern=r"^[0-9]{1,20}[.][0-9]{1,20}[.][0-9]{1,20}$",
                              description="an event id: <message id>.<escalation id>.<audit id>")]


class Out(BaseModel):
    """A response shape: every key always present, no key that is not described."""

    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    """A JSON request body: exact types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _day(value: Any) -> Any:
    # Only 2026-01-31: pydantic alone would also read "0" as a Unix time and "20260131".
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date like 2026-01-31")
    return value


Day = Annotated[dt.date, BeforeValidator(_day)]


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    # An optional query parameter is simply left out; "default: null" would invite a literal
    # "null" in the query string.
    for prop in schema.get("properties", {}).values():
        if prop.get("default", "") is None:
            del prop["default"]


class Query(BaseModel):
    """Query-string parameters, coerced from text ("2" -> 2). A parameter not wanted is left out:
    an empty value is refused like any other that breaks the model, and so is an unknown
    parameter (most likely a misspelt one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_defaults)


# --- errors -------------------------------------------------------------------------------------


class Error(Out):
    """Every error under /admin/api: a stable code for programs and a sentence for people."""

    error: str = Field(description="a stable code, e.g. not_found, bad_request, conflict")
    reason: str = Field(description="what went wrong, for a person")


# --- query parameters ---------------------------------------------------------------------------


class PageQuery(Query):
    page: int = Field(1, ge=1, le=MAX_PAGE_NUMBER)
    per_page: int = Field(50, ge=1, le=MAX_PAGE)


class ConversationQuery(PageQuery):
    state: State | SkipJsonSchema[None] = None
    level: Level | SkipJsonSchema[None] = Field(
        None, description="the highest triage level in the conversation")
    since: Day | SkipJsonSchema[None] = Field(None, description="last activity from this day")
    until: Day | SkipJsonSchema[None] = Field(None, description="last activity up to this day")
    q: str | SkipJsonSchema[None] = Field(None, max_length=200, description="search the text")


class EscalationQuery(PageQuery):
    status: EscalationStatus | SkipJsonSchema[None] = Field(
        None, description="open and acknowledged ones when not given")


class AuditFilters(Query):
    """Filters of GET /audit and GET /audit.csv, every one optional."""

    staff_id: RowId | SkipJsonSchema[None] = Field(None, description="entries by this staff member")
    contact_id: RowId | SkipJsonSchema[None] = Field(
        None, description="entries about this conversation")
    action: str | SkipJsonSchema[None] = Field(
        None, max_length=48, description="an action code, e.g. staff.login_failed")
    since: Day | SkipJsonSchema[None] = Field(None, description="from this day (UTC)")
    until: Day | SkipJsonSchema[None] = Field(None, description="to this day, inclusive (UTC)")


class AuditQuery(PageQuery, AuditFilters):
    pass


class QuickReplyQuery(PageQuery):
    language: Language | SkipJsonSchema[None] = Field(
        None, description="also give each reply's text to insert for this language "
        "(English when it has none)")


class EventsQuery(Query):
    after: Cursor | SkipJsonSchema[None] = Field(
        None, description="the cursor; else the Last-Event-ID header; else from now on")


def _none_if_empty(value: Any) -> Any:
    return value or None


class EventsHeaders(BaseModel):
    # Spelt as werkzeug gives header names (the header itself is case-insensitive). An empty
    # one counts as none, as the feed reads it.
    last_event_id: Annotated[Cursor | SkipJsonSchema[None], BeforeValidator(_none_if_empty)] = (
        Field(None, alias="Last-Event-Id"))


class ExportQuery(Query):
    format: Literal["json", "csv"] = "json"


# --- request bodies -----------------------------------------------------------------------------


class ReplyBody(In):
    body: str = Field(min_length=1, max_length=MAX_REPLY, pattern=NOT_BLANK)
    idempotency_key: IdempotencyKey | None = Field(
        None, description="repeat it to retry without sending twice (or the header)")


class ReplyHeaders(BaseModel):
    idempotency_key: IdempotencyKey | SkipJsonSchema[None] = Field(None, alias="Idempotency-Key")


class StaffCreate(In):
    email: str = Field(max_length=254, pattern=EMAIL)
    name: str = Field("", max_length=200)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)


class StaffUpdate(In):
    role: Role | None = None
    active: bool | None = None
    name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=MIN_PASSWORD, max_length=1024)


class TokenCreate(In):
    label: str = Field("", max_length=100)


class ResolveBody(In):
    """How the escalation ended is required."""

    outcome: Outcome
    note: str | None = Field(None, max_length=MAX_OUTCOME_NOTE)


class ClaimBody(In):
    """No body (or no staff_id) takes the conversation yourself; admins may name someone."""

    staff_id: RowId | None = None


class NoteBody(In):
    """Staff-only text, never sent to the person."""

    body: str = Field(min_length=1, max_length=MAX_NOTE, pattern=NOT_BLANK)


class QuickReplyTexts(In):
    """A text per language; an empty text removes that language."""

    texts: dict[Language, Annotated[str, Field(max_length=MAX_REPLY)]] = Field(min_length=1)


# --- responses ----------------------------------------------------------------------------------


class Page(Out):
    page: int
    per_page: int
    total: int = Field(description="items on all pages")


class Me(Out):
    id: int | None
    email: str
    name: str
    role: Role


class Contact(Out):
    id: int
    wa_id: str
    phone: str
    profile_name: str | None
    country: str | None
    language: str | None
    state: State
    opted_out: bool
    last_inbound_at: AwareDatetime | None
    created_at: AwareDatetime


class TranscriptContact(Contact):
    in_window: bool = Field(description="inside WhatsApp's 24-hour window: free text may be sent")


class Media(Out):
    """An attachment the person sent (`url`), or the audio of a spoken reply (`spoken_by`; the
    clip's link expires, so none is kept). Keys that do not apply are left out."""

    url: str | None = None
    content_type: str | None = None
    spoken_by: str | None = Field(None, description="the voice that spoke a reply")


class Location(Out):
    latitude: float
    longitude: float
    address: str | None
    label: str | None


class Message(Out):
    id: int
    direction: Literal["in", "out"]
    body: str
    twilio_sid: str | None
    status: str
    error_code: str | None
    media: list[Media]
    location: Location | None
    button_text: str | None
    triage_level: str | None
    rule_ids: list[str]
    language: str | None
    model: str | None
    mode: str | None
    latency_ms: float | None
    staff_id: int | None
    created_at: AwareDatetime
    # A voice note: what was heard, in which language, by which transcriber (bot/voice).
    transcript: str | None
    transcript_language: str | None
    transcriber: str | None
    audio_seconds: float | None
    transcription_cost_usd: float | None
    transcription_error: str | None
    delivery_failed: bool = Field(description="Twilio reports the message failed or undelivered")
    delivery_error: str | None = Field(description="the delivery error code in words")


class ModelCall(Out):
    provider: str
    model: str
    perspective: str | None
    mode: str
    outcome: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    cost_usd: float | None


class GuardNote(Out):
    """What the safety layer did to the reply beside which it is shown, in words."""

    event_id: int
    kind: Literal["reply_repaired", "reply_ungrounded", "model_failed"]
    rule: str | None
    action: str | None
    excerpt: str | None
    model: str | None
    text: str


class LevelDrop(Out):
    """The triage level fell from an emergency on this (inbound) message."""

    from_: Literal["emergency"] = Field(alias="from")
    to: Level
    emergency_message_id: int
    emergency_at: AwareDatetime
    reason: Literal["resolved", "episode_ended", "within_episode"]
    text: str


class TranscriptMessage(Message):
    model_calls: list[ModelCall]
    perspectives: list[str]
    cost_usd: Cost | None = Field(description="null when no model was called")
    staff: str | None = Field(description="the name of the staff member who wrote it")
    guard: list[GuardNote]
    level_drop: LevelDrop | None


class Assignment(Out):
    """Who works a conversation."""

    id: int = Field(description="the staff member working the case")
    name: str | None
    assigned_at: AwareDatetime


class EscalationExcerpt(Out):
    id: int
    kind: str
    level: str | None
    status: EscalationStatus
    created_at: AwareDatetime
    excerpt: str | None


class Conversation(Contact):
    level: Level | None
    last_activity_at: AwareDatetime | None
    last_message: Message | None
    last_inbound: Message | None = Field(description="the person's latest message")
    priority: Priority | None = Field(description="the tier of its most pressing open escalation")
    open_escalations: int
    waiting_since: AwareDatetime | None = Field(
        description="when its oldest unresolved escalation was raised")
    waiting_seconds: int | None
    escalation: EscalationExcerpt | None
    assigned_to: Assignment | None
    failed_deliveries: int = Field(description="outgoing messages Twilio reports not delivered")


class Escalation(Out):
    id: int
    contact_id: int
    contact_name: str | None
    contact_state: State | None
    kind: str
    level: str | None
    rule_ids: list[str]
    status: EscalationStatus | Literal["logged"]
    excerpt: str | None = Field(description="the start of the message that raised it")
    created_at: AwareDatetime
    age_seconds: int
    acknowledged_at: AwareDatetime | None
    acknowledged_by: str | None
    resolved_at: AwareDatetime | None
    resolved_by: str | None
    outcome: Outcome | None
    outcome_note: str | None


class Note(Out):
    id: int
    contact_id: int
    staff_id: int | None
    staff: str | None
    body: str
    created_at: AwareDatetime


class Transcript(Out):
    contact: TranscriptContact
    messages: list[TranscriptMessage]
    escalations: list[Escalation]
    cost_usd: Cost
    notes: list[Note] = Field(description="internal notes, oldest first")
    assigned_to: Assignment | None


class TranscriptExport(Transcript):
    exported_at: AwareDatetime


class ConversationPage(Page):
    items: list[Conversation]


class MessagePage(Page):
    contact: TranscriptContact
    items: list[TranscriptMessage]


class EscalationPage(Page):
    items: list[Escalation]


class ReplySent(Out):
    """The stored messages and the escalations the reply answered."""

    message_ids: list[int]
    acknowledged: list[int] = Field(
        description="open escalations of the person this reply acknowledged")
    state: Literal["with_staff"]


class HandedBack(Out):
    state: State
    resolved_escalations: list[int]


class Counts(Out):
    contacts: int
    messages: int
    model_calls: int
    safety_events: int
    alerts: int


class Erased(Out):
    removed: Counts


class Staff(Out):
    id: int
    email: str
    name: str
    role: Role
    active: bool
    created_at: AwareDatetime
    last_login_at: AwareDatetime | None
    second_factor: bool = Field(description="TOTP is on")


class Token(Out):
    id: int
    staff_id: int
    prefix: str = Field(description="the token's first characters, to tell tokens apart")
    label: str
    created_at: AwareDatetime
    last_used_at: AwareDatetime | None
    revoked_at: AwareDatetime | None


class NewToken(Token):
    token: str = Field(description="the token itself: shown this once, only its hash is kept")
    email: str


class StaffWithTokens(Staff):
    tokens: list[Token]


class StaffPage(Page):
    items: list[StaffWithTokens]


class TokenPage(Page):
    items: list[Token]


class FailedJob(Out):
    id: str
    name: str
    args: list[Any]
    error: str
    failed_at: AwareDatetime | None
    attempts: int


class FailedJobPage(Page):
    items: list[FailedJob]


class AuditConcerns(Out):
    """Whom or what an entry is about."""

    staff_id: int | None
    contact_id: int | None
    contact_ref: str | None = Field(description="keyed hash of an erased contact")


class AuditEntry(Out):
    id: int
    created_at: AwareDatetime
    actor_id: int | None
    actor: str
    action: str
    contact_id: int | None
    contact_ref: str | None
    target: str | None
    ip: str | None
    detail: dict[str, Any]
    label: str = Field(description="the action in words")
    summary: str = Field(description="the details in words")
    concerns: AuditConcerns


class AuditPage(Page):
    items: list[AuditEntry]


class Claim(Out):
    contact_id: int
    assigned_to: Assignment


class NotePage(Page):
    items: list[Note]


class QuickReply(Out):
    name: str
    texts: dict[str, str] = Field(description="the text in each language that has one")
    language: str | None = Field(
        None, description="with ?language=: the language of `text` (en as fallback)")
    text: str | None = Field(None, description="with ?language=: the text to insert")


class QuickReplyPage(Page):
    items: list[QuickReply]


class QuickReplySaved(Out):
    name: str
    texts: dict[str, str]


class QuickReplyDeleted(Out):
    name: str
    removed: int = Field(description="the languages removed")


class ResetLink(Out):
    """The one-time password reset link, shown only this once."""

    staff_id: int
    email: str
    url: str = Field(description="the one-time link; only its token's sha256 is stored")
    expires_at: AwareDatetime


class TotpReset(Out):
    staff_id: int
    email: str
    was_on: bool = Field(description="whether a second factor was on before")


# --- live events ------------------------------------------------------------------------------


class MessageEventData(Out):
    id: int
    contact_id: int
    direction: Literal["in", "out"]
    level: str | None
    created_at: AwareDatetime


class EscalationEventData(Out):
    id: int
    contact_id: int
    kind: EscalationKind
    level: str | None
    status: str
    created_at: AwareDatetime


class CaseEventData(Out):
    """A staff change to a case, from the audit log."""

    audit_id: int
    action: str
    contact_id: int | None
    target: str | None
    created_at: AwareDatetime


class Summary(Out):
    """The counts the pages put in the tab title."""

    open_emergencies: int
    unacknowledged_emergencies: int
    open_escalations: int


class EventItem(Out):
    id: Cursor
    event: Literal["message", "escalation", "case", "summary"]
    data: MessageEventData | EscalationEventData | CaseEventData | Summary


class EventPoll(Out):
    """GET /events without `Accept: text/event-stream`: one poll. The stream sends the same
    events as SSE (`id:` the cursor, `event:` the kind, `data:` the JSON), each batch followed
    by a `summary`."""

    items: list[EventItem]
    last_event_id: Cursor
    summary: Summary

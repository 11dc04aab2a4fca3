"""Pydantic models of the case-work routes' requests and responses (claims, notes, outcomes,
replies that acknowledge, quick replies, live events, the triage fields of the inbox).

They describe exactly what `api.py` parses and answers (tests validate real responses against
them), so the OpenAPI document can be generated from them. Lists are paginated like every list
of the API (`page`, `per_page` in, `items`, `page`, `per_page`, `total` out); the event feed is a
cursor instead (`after` / `Last-Event-ID` in, `last_event_id` out).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[int, Field(ge=1, le=2147483647)]
Language = Literal["en", "es", "pt", "fr", "sw", "hi"]
Outcome = Literal["ambulance_called", "referred", "advised", "no_answer", "other"]
Priority = Literal["emergency", "human", "urgent"]
EscalationKind = Literal["emergency", "self_harm", "human_requested", "urgent"]
EscalationStatus = Literal["open", "acknowledged", "resolved"]
Cursor = Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", max_length=64,
                              description="an event id: <message id>.<escalation id>.<audit id>")]
QuickReplyName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,48}$")]

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageQuery(_Model):
    """`?page=&per_page=` of every list."""

    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(50, ge=1, le=200)


class Page(_Model, Generic[T]):
    """One page of a list and the size of the whole list."""

    items: list[T]
    page: int
    per_page: int
    total: int


# --- claims --------------------------------------------------------------------------------------


class ClaimRequest(_Model):
    """POST /contacts/{id}/claim: no body takes it yourself; admins may name someone else."""

    staff_id: Id | None = None


class Assignment(_Model):
    """Who works a conversation."""

    id: int
    name: str | None
    assigned_at: dt.datetime


class ClaimResponse(_Model):
    contact_id: int
    assigned_to: Assignment


# --- internal notes ------------------------------------------------------------------------------


class NoteCreate(_Model):
    """POST /contacts/{id}/notes: staff-only text, never sent to the person."""

    body: str = Field(min_length=1, max_length=4000)


class Note(_Model):
    id: int
    contact_id: int
    staff_id: int | None
    staff: str | None
    body: str
    created_at: dt.datetime


class NotePage(Page[Note]):
    """GET /contacts/{id}/notes: oldest first."""


# --- escalations ---------------------------------------------------------------------------------


class ResolveRequest(_Model):
    """POST /escalations/{id}/resolve: how it ended is required."""

    outcome: Outcome
    note: str | None = Field(None, max_length=500)


class Escalation(_Model):
    """An escalation as the queue and the resolve route answer it."""

    id: int
    contact_id: int
    contact_name: str | None
    contact_state: str | None
    kind: str
    level: str | None
    rule_ids: list[str]
    status: EscalationStatus
    excerpt: str | None = Field(description="the start of the message that raised it")
    created_at: dt.datetime
    age_seconds: int
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    outcome: Outcome | None
    outcome_note: str | None


# --- replies -------------------------------------------------------------------------------------


class ReplyResponse(_Model):
    """POST /contacts/{id}/reply: the stored messages and the escalations the reply answered."""

    message_ids: list[int]
    acknowledged: list[int] = Field(
        description="open escalations of the person this reply acknowledged")
    state: Literal["with_staff"]


# --- quick replies -------------------------------------------------------------------------------


class QuickReplyQuery(PageQuery):
    """GET /quick-replies: with `language`, each item also has the text to insert."""

    language: Language | None = None


class QuickReply(_Model):
    name: str
    texts: dict[str, str]
    language: str | None = Field(None, description="the language of `text` (en as fallback)")
    text: str | None = None


class QuickReplyPage(Page[QuickReply]):
    """GET /quick-replies: by name."""


class QuickReplySave(_Model):
    """PUT /quick-replies/{name}: a text per language; an empty text removes that language."""

    texts: dict[Language, Annotated[str, Field(max_length=4000)]] = Field(min_length=1)


class QuickReplySaved(_Model):
    name: str
    texts: dict[str, str]


class QuickReplyDeleted(_Model):
    name: str
    removed: int


# --- live events ---------------------------------------------------------------------------------


class EventsQuery(_Model):
    """GET /events: the cursor, else the `Last-Event-ID` header, else from now on."""

    after: Cursor | None = None


class MessageEventData(_Model):
    id: int
    contact_id: int
    direction: Literal["in", "out"]
    level: str | None
    created_at: dt.datetime


class EscalationEventData(_Model):
    id: int
    contact_id: int
    kind: EscalationKind
    level: str | None
    status: str
    created_at: dt.datetime


class CaseEventData(_Model):
    """A staff change to a case, from the audit log."""

    audit_id: int
    action: str
    contact_id: int | None
    target: str | None
    created_at: dt.datetime


class Summary(_Model):
    """The counts the pages put in the tab title."""

    open_emergencies: int
    unacknowledged_emergencies: int
    open_escalations: int


class EventItem(_Model):
    id: Cursor
    event: Literal["message", "escalation", "case", "summary"]
    data: MessageEventData | EscalationEventData | CaseEventData | Summary


class EventPoll(_Model):
    """GET /events without `Accept: text/event-stream`: one poll. The stream sends the same
    events as SSE (`id:` the cursor, `event:` the kind, `data:` the JSON), each batch followed
    by a `summary`."""

    items: list[EventItem]
    last_event_id: Cursor
    summary: Summary


# --- the inbox's triage fields -------------------------------------------------------------------


class EscalationExcerpt(_Model):
    id: int
    kind: str
    level: str | None
    status: EscalationStatus
    created_at: dt.datetime
    excerpt: str | None


class ConversationTriage(BaseModel):
    """What GET /conversations adds to each conversation for triage (besides the contact's own
    fields, `level`, `last_activity_at` and `last_message`)."""

    model_config = ConfigDict(extra="allow")

    priority: Priority | None
    open_escalations: int
    waiting_since: dt.datetime | None
    waiting_seconds: int | None
    escalation: EscalationExcerpt | None
    last_inbound: dict[str, Any] | None = Field(description="the person's latest message")
    assigned_to: Assignment | None


class ConversationPage(Page[ConversationTriage]):
    """GET /conversations: open emergencies, requests for a human, urgent cases (each longest
    waiting first), then the rest by latest activity."""


__all__ = [
    "Assignment",
    "ClaimRequest",
    "ClaimResponse",
    "ConversationPage",
    "ConversationTriage",
    "Escalation",
    "EscalationExcerpt",
    "EventItem",
    "EventPoll",
    "EventsQuery",
    "Note",
    "NoteCreate",
    "NotePage",
    "Page",
    "PageQuery",
    "QuickReply",
    "QuickReplyDeleted",
    "QuickReplyPage",
    "QuickReplyQuery",
    "QuickReplySave",
    "QuickReplySaved",
    "ReplyResponse",
    "ResolveRequest",
    "Summary",
]

"""Live updates for the staff console: server-sent events read from the database.

Every event is a row that already exists for its own reason: a message (`messages.id`), an
escalation raised (`safety_events.id`, escalation kinds), a staff change to a case
(`audit_log.id`, the actions in CASE_ACTIONS). So any process can serve any client: a stream asks
the database for rows above its cursor about once a second, and whatever process stored a row,
every stream sees it. Nothing is kept in process memory, which would miss the events of the other
gunicorn workers and hosts.

The cursor is the SSE event id, "<message id>.<escalation id>.<audit id>": the highest row of each
kind already sent. A stream ends after `duration_s` (a thread is never held for long); the
browser's EventSource reconnects by itself with `Last-Event-ID` and misses nothing. A client that
can't stream polls `events()` with the same cursor.

One caveat of ids as a cursor: on PostgreSQL a transaction that took a lower id can commit after
one with a higher id was sent, and its row is then never sent as an event. The pages treat events
as wake-ups and re-read their lists (which hold every committed row), and also refresh every
minute, so such a row shows at the next refresh.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request
from sqlalchemy import func, select

from bot.admin.console import Invalid, jsonable
from bot.store.models import Message, SafetyEvent
from bot.store.staff import AuditEntry

if TYPE_CHECKING:
    from bot.store.uow import SqlUnitOfWork

# Staff changes to a case that other screens must show (views and sign-ins are not events).
CASE_ACTIONS = (
    "conversation.reply",
    "conversation.handback",
    "conversation.claim",
    "conversation.assign",
    "case.note",
    "escalation.acknowledge",
    "escalation.resolve",
    "contact.erase",
    "contact.self_erase",
    "contact.retention_erase",
)
ESCALATION_KINDS = ("emergency", "self_harm", "human_requested", "urgent")
EMERGENCY_KINDS = ("emergency", "self_harm")
UNRESOLVED = ("open", "acknowledged")
RETRY_MS = 3000  # how long EventSource waits before it reconnects
BATCH = 200  # rows of each kind per poll; more wait for the next poll


class BadCursor(ValueError):
    """A Last-Event-ID or `after` that is not "<int>.<int>.<int>"."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The highest message, escalation and audit row ids a client has seen."""

    message: int = 0
    escalation: int = 0
    audit: int = 0

    def __str__(self) -> str:
        return f"{self.message}.{self.escalation}.{self.audit}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Read a cursor from its text form.

        Raises:
            BadCursor: the text is not three non-negative whole numbers joined by dots.
        """
        parts = text.strip().split(".")
        if len(text) > 64 or len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise BadCursor("the event id must look like 12.3.45")
        message, escalation, audit = (int(p) for p in parts)
        return cls(message, escalation, audit)

    def at_most(self, head: Cursor) -> Cursor:
        """This cursor, but never beyond the database's head (a cursor from another database)."""
        return Cursor(min(self.message, head.message), min(self.escalation, head.escalation),
                      min(self.audit, head.audit))


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its kind ("message", "escalation", "case", "summary"), data, and the cursor
    after it (the SSE id)."""

    kind: str
    data: dict[str, Any]
    cursor: Cursor

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.cursor), "event": self.kind, "data": self.data}

    def to_sse(self) -> str:
        payload = json.dumps(self.data, ensure_ascii=False, default=_default)
        return f"id: {self.cursor}\nevent: {self.kind}\ndata: {payload}\n\n"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


@dataclass
class EventFeed:
    """Reads events from the database; one per app (process), shared by the API and the pages.

    `max_streams` bounds the streams one process holds open, each a gunicorn thread for up to
    `duration_s`: beyond it a client is told to poll instead, so the webhook keeps its threads.
    """

    uow: Callable[[], SqlUnitOfWork]
    duration_s: float = 30.0
    poll_s: float = 1.0
    heartbeat_s: float = 10.0
    max_streams: int = 4
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_streams)

    def head(self) -> Cursor:
        """The cursor of the newest rows now: a new client starts here."""
        with self.uow() as uow:
            session = uow.session
            return Cursor(
                int(session.scalar(select(func.max(Message.id))) or 0),
                int(session.scalar(select(func.max(SafetyEvent.id))) or 0),
                int(session.scalar(select(func.max(AuditEntry.id))) or 0),
            )

    def summary(self, cursor: Cursor) -> Event:
        """What the tab title shows: unresolved emergencies and escalations."""
        with self.uow() as uow:
            def count(*where: Any) -> int:
                query = select(func.count()).select_from(SafetyEvent).where(*where)
                return int(uow.session.scalar(query) or 0)

            unresolved = SafetyEvent.status.in_(UNRESOLVED)
            data = {
                "open_emergencies": count(unresolved, SafetyEvent.kind.in_(EMERGENCY_KINDS)),
                "unacknowledged_emergencies": count(SafetyEvent.status == "open",
                                                    SafetyEvent.kind.in_(EMERGENCY_KINDS)),
                "open_escalations": count(unresolved, SafetyEvent.kind.in_(ESCALATION_KINDS)),
            }
        return Event("summary", data, cursor)

    def since(self, cursor: Cursor) -> list[Event]:
        """The events after `cursor`, oldest first within each kind (at most BATCH of each)."""
        events: list[Event] = []
        with self.uow() as uow:
            session = uow.session
            messages = session.execute(
                select(Message.id, Message.contact_id, Message.direction, Message.triage_level,
                       Message.created_at)
                .where(Message.id > cursor.message).order_by(Message.id).limit(BATCH)
            ).all()
            for mid, contact_id, direction, level, created in messages:
                cursor = Cursor(mid, cursor.escalation, cursor.audit)
                events.append(Event("message", {
                    "id": mid, "contact_id": contact_id, "direction": direction,
                    "level": level, "created_at": created,
                }, cursor))
            raised = session.execute(
                select(SafetyEvent.id, SafetyEvent.contact_id, SafetyEvent.kind,
                       SafetyEvent.level, SafetyEvent.status, SafetyEvent.created_at)
                .where(SafetyEvent.id > cursor.escalation,
                       SafetyEvent.kind.in_(ESCALATION_KINDS))
                .order_by(SafetyEvent.id).limit(BATCH)
            ).all()
            for eid, contact_id, kind, level, status, created in raised:
                cursor = Cursor(cursor.message, eid, cursor.audit)
                events.append(Event("escalation", {
                    "id": eid, "contact_id": contact_id, "kind": kind, "level": level,
                    "status": status, "created_at": created,
                }, cursor))
            changes = session.execute(
                select(AuditEntry.id, AuditEntry.action, AuditEntry.contact_id,
                       AuditEntry.target, AuditEntry.created_at)
                .where(AuditEntry.id > cursor.audit, AuditEntry.action.in_(CASE_ACTIONS))
                .order_by(AuditEntry.id).limit(BATCH)
            ).all()
            for aid, action, audited_contact, target, created in changes:
                cursor = Cursor(cursor.message, cursor.escalation, aid)
                events.append(Event("case", {
                    "audit_id": aid, "action": action, "contact_id": audited_contact,
                    "target": target, "created_at": created,
                }, cursor))
        return events

    def poll(self, cursor: Cursor | None) -> dict[str, Any]:
        """One JSON answer for a polling client: the events after `cursor` (from the head when
        None), the cursor to send next time, and the summary."""
        head = self.head()
        start = head if cursor is None else cursor.at_most(head)
        events = self.since(start)
        last = events[-1].cursor if events else start
        return {"items": [e.to_json() for e in events], "last_event_id": str(last),
                "summary": self.summary(last).data}

    def open_stream(self) -> bool:
        """Take one of this process's stream slots; False when all are taken."""
        return self._slots.acquire(blocking=False)

    def stream(self, cursor: Cursor | None, *, sleep: Callable[[float], None] = time.sleep
               ) -> Stream:
        """Return one bounded stream of SSE text; the caller has taken a slot (`open_stream`),
        which the stream gives back when it ends or the server closes it."""
        return Stream(self._events(cursor, sleep), self._slots.release)

    def _events(self, cursor: Cursor | None, sleep: Callable[[float], None]) -> Iterator[str]:
        """The retry delay and a summary (whose id is the starting cursor), then every `poll_s`
        the new events and a fresh summary, a comment line now and then so proxies keep the
        connection; ends after `duration_s`."""
        head = self.head()
        current = head if cursor is None else cursor.at_most(head)
        yield f"retry: {RETRY_MS}\n\n"
        yield self.summary(current).to_sse()
        started = last_write = time.monotonic()
        while time.monotonic() - started < self.duration_s:
            sleep(self.poll_s)
            events = self.since(current)
            if events:
                current = events[-1].cursor
                yield "".join(e.to_sse() for e in events) + self.summary(current).to_sse()
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= self.heartbeat_s:
                yield ": still here\n\n"
                last_write = time.monotonic()


class Stream:
    """A WSGI response body that gives its stream slot back exactly once: when it ends, or when
    the server closes it (the client went away), even if it was never iterated."""

    def __init__(self, chunks: Iterator[str], release: Callable[[], None]) -> None:
        self._chunks = chunks
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            try:
                close = getattr(self._chunks, "close", None)
                if close is not None:
                    close()
            finally:
                release()


def respond(feed: EventFeed) -> Response:
    """Answer GET .../events for the API and the pages alike (each authenticates first).

    `Accept: text/event-stream` (what EventSource sends) gets a bounded stream; anything else the
    JSON of one poll. The cursor is `Last-Event-ID` (sent by EventSource when it reconnects),
    else the `after` query parameter, else the head (only what happens from now on).

    Raises:
        Invalid: a malformed cursor.
    """
    raw = request.headers.get("Last-Event-ID") or request.args.get("after")
    try:
        cursor = Cursor.parse(raw) if raw else None
    except BadCursor as exc:
        raise Invalid(str(exc)) from None
    wanted = request.accept_mimetypes.best_match(["application/json", "text/event-stream"])
    if wanted != "text/event-stream":
        return jsonify(jsonable(feed.poll(cursor)))
    if not feed.open_stream():
        busy = jsonify(error="busy", reason="too many live streams on this server; poll instead")
        busy.status_code = 503
        busy.headers["Retry-After"] = "5"
        return busy
    response = Response(feed.stream(cursor), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


__all__ = ["BadCursor", "Cursor", "Event", "EventFeed", "Stream", "respond"]

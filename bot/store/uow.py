"""Unit of work and repositories over SQLAlchemy: the only place the pipeline's data goes through.

One unit of work per step of an inbound message: `with uow: ...; uow.commit()`; leaving the block
without commit rolls back (cosmicpython's pattern, on SQLAlchemy 2.0).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, delete, event, func, or_, select, update
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from bot.errors import StoreError
from bot.store import statements
from bot.store.casework import CaseAssignment, CaseNote
from bot.store.models import (
    Alert,
    Base,
    Contact,
    ErasedMessage,
    Message,
    ModelCallRow,
    SafetyEvent,
)
from bot.store.staff import (
    AuditEntry,
    AuditRepository,
    LoginAttemptRepository,
    StaffRepository,
)

log = logging.getLogger(__name__)

# A database that accepts connections and never answers must turn into a StoreError fast enough
# for the webhook to still answer the person within Twilio's 15 s (it aims for 5 s). libpq and
# psycopg count connect_timeout in whole seconds, 2 at the least.
CONNECT_TIMEOUT_S = 2
# Waiting for a free pooled connection: every connection stuck means the database is in trouble.
POOL_TIMEOUT_S = 2.0
# Server-side limit on one statement (a lock wait, a runaway query); reports and migrations that
# need longer pass statement_timeout_ms=None, or the URL sets `options=-c statement_timeout=...`.
STATEMENT_TIMEOUT_MS = 5000
# Sent data left unacknowledged this long (a partitioned network) fails the connection.
TCP_USER_TIMEOUT_MS = 10000
# SQLite's busy timeout: how long a writer waits for another writer's lock.
SQLITE_BUSY_S = 5.0


def make_engine(
    url: str, *, echo: bool = False, statement_timeout_ms: int | None = STATEMENT_TIMEOUT_MS
) -> Engine:
    """Create the engine with the settings each backend needs to behave under concurrency.

    Every wait is bounded: connecting, checking a connection out of the pool, each statement
    (PostgreSQL), a lock (SQLite). Settings given in the URL's query win over these defaults.
    """
    if url.startswith("sqlite"):
        busy_ms = int(SQLITE_BUSY_S * 1000)
        # hide_parameters: a database error never carries message text or names into a log.
        engine = create_engine(
            url, echo=echo, hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers (the admin, /readyz) run while a webhook writes; foreign keys are
            # off by default in SQLite and the erasure relies on ON DELETE CASCADE.
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        _queue_writers(engine)
        return engine
    given = make_url(url).query
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        defaults: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        }
        if statement_timeout_ms is not None:
            defaults["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        connect_args = {k: v for k, v in defaults.items() if k not in given}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         pool_timeout=POOL_TIMEOUT_S, connect_args=connect_args,
                         hide_parameters=True)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


_Mapped = TypeVar("_Mapped", Contact, Message)


def _persistent(session: Session, cls: type[_Mapped], row: Row[Any]) -> _Mapped:
    """The mapped object of a row a Core statement returned, in the session as if loaded."""
    values = row._mapping
    known: _Mapped | None = session.identity_map.get(session.identity_key(cls, values["id"]))
    if known is not None:  # loaded before in this session: it takes the new values
        for name, value in values.items():
            set_committed_value(known, name, value)
        return known
    obj = cls(**values)
    make_transient_to_detached(obj)  # clean, with its identity: no INSERT, no SELECT
    session.add(obj)
    return obj


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS_WRITE_TURN = "healthbot_write_turn"


class _WriteTurn:
    """One process's writers to one SQLite file, in a queue.

    SQLite lets one writer in at a time, and one that finds the file locked sleeps in its busy
    handler in growing steps (up to 100 ms) before it looks again: under load that is where a
    one-second p99 came from. Taking this lock where SQLite takes its write lock (the driver's
    BEGIN before the first INSERT/UPDATE/DELETE) makes the writers of this process wait their
    turn in a queue that wakes the next one at once; readers never take it (WAL lets them read).
    Other processes on the same file still meet the busy handler. A wait is bounded by the busy
    timeout, after which the writer goes on to SQLite's own lock, as before.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._owner: int | None = None

    def take(self) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            return False  # this thread already writes on another connection: SQLite decides
        if not self._lock.acquire(timeout=self.timeout_s):
            return False
        self._owner = me
        return True

    @property
    def taken(self) -> bool:
        return self._lock.locked()

    def give_back(self) -> None:
        self._owner = None
        self._lock.release()


_TURNS: weakref.WeakKeyDictionary[Engine, _WriteTurn] = weakref.WeakKeyDictionary()


def write_turn(engine: Engine) -> _WriteTurn | None:
    """The queue of this process's writers to a SQLite engine's file (None for other backends)."""
    return _TURNS.get(engine)


def _queue_writers(engine: Engine) -> None:
    turn = _TURNS[engine] = _WriteTurn(SQLITE_BUSY_S)

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if not info.get(_HOLDS_WRITE_TURN) and statement.lstrip()[:7].upper().startswith(_WRITES):
            info[_HOLDS_WRITE_TURN] = turn.take()

    def _end(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_WRITE_TURN, False):
            turn.give_back()

    # Given back after the transaction's COMMIT or ROLLBACK has run (the "commit" event comes
    # before it), when the connection goes back to the pool, or is dropped.
    def _ended(_dbapi: Any, record: Any = None, *_rest: Any) -> None:
        if record is not None:  # a detached connection has no record (and never wrote)
            _end(record.info)

    for name in ("checkin", "invalidate", "close", "close_detached"):
        event.listen(engine.pool, name, _ended)


# The session info key under which the secret that keys erased MessageSids' hashes is kept.
ERASURE_KEY = "healthbot_erasure_key"


def use_erasure_key(sessions: sessionmaker[Session], key: bytes) -> None:
    """Key the hashes of erased MessageSids with this secret (HEALTHBOT_SECRET_KEY)."""
    info = dict(sessions.kw.get("info") or {})
    info[ERASURE_KEY] = key
    sessions.configure(info=info)


def _iso_country(value: object) -> str | None:
    """Two ASCII capitals or nothing: a non-geographic (+882, +979) or unknown number has none."""
    if isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha():
        return value.upper()
    return None


class ContactRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def note_inbound(
        self, *, wa_id: str, phone: str, profile_name: str | None, country: str | None,
        now: dt.datetime,
    ) -> Contact:
        """Create the contact or record their new message, in one statement.

        INSERT ... ON CONFLICT DO UPDATE ... RETURNING: no read-then-write race between two
        first messages, and on PostgreSQL the row stays locked until the transaction ends, so
        one person's messages are received one after another, each seeing the one before.
        """
        row = self.session.connection().execute(
            statements.contact_upsert(_dialect(self.session)),
            {"wa_id": wa_id, "phone": phone, "profile_name": profile_name or None,
             "country": _iso_country(country), "now": now},
        ).one()
        return _persistent(self.session, Contact, row)

    def get(self, contact_id: int) -> Contact | None:
        return self.session.get(Contact, contact_id)

    def by_wa_id(self, wa_id: str) -> Contact | None:
        return self.session.scalars(select(Contact).where(Contact.wa_id == wa_id)).first()

    def list_page(
        self, *, limit: int, offset: int, state: str | None = None
    ) -> tuple[list[Contact], int]:
        query = select(Contact)
        if state:
            query = query.where(Contact.state == state)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Contact.last_inbound_at.desc().nulls_last(), Contact.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return list(rows), total

    def erase(self, contact: Contact) -> None:
        """Delete the contact and, through ON DELETE CASCADE, every row about them."""
        contact_id = contact.id
        # Remember (as keyed hashes) which deliveries were erased, so a replay stays erased.
        ErasedMessageRepository(self.session).remember(
            self.session.scalars(
                select(Message.twilio_sid).where(
                    Message.contact_id == contact_id,
                    Message.direction == "in",
                    Message.twilio_sid.is_not(None),
                )
            ).all()
        )
        # Explicit deletes as well as the cascade, so erasure doesn't depend on a backend setting.
        self.session.execute(delete(Alert).where(Alert.contact_id == contact_id))
        self.session.execute(delete(SafetyEvent).where(SafetyEvent.contact_id == contact_id))
        self.session.execute(delete(CaseNote).where(CaseNote.contact_id == contact_id))
        self.session.execute(
            delete(CaseAssignment).where(CaseAssignment.contact_id == contact_id))
        message_ids = select(Message.id).where(Message.contact_id == contact_id)
        self.session.execute(delete(ModelCallRow).where(ModelCallRow.message_id.in_(message_ids)))
        self.session.execute(
            delete(Message).where(Message.contact_id == contact_id).execution_options(
                synchronize_session=False
            )
        )
        # The audit log keeps its rows (with a keyed hash of the id) but not the id itself.
        self.session.execute(
            update(AuditEntry).where(AuditEntry.contact_id == contact_id).values(contact_id=None)
        )
        self.session.execute(delete(Contact).where(Contact.id == contact_id))
        self.session.expunge(contact)


class MessageRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_inbound(self, values: dict[str, Any]) -> Message | None:
        """Insert an inbound message in one statement; None when its MessageSid is stored already.

        The unique MessageSid decides (ON CONFLICT DO NOTHING), so two concurrent deliveries of
        one message can never both get through, and no savepoint is needed to find out.
        `values` has the columns of statements.INBOUND_COLUMNS (the rules' verdict may come
        later, as an update).
        """
        params = {name: values.get(name) for name in statements.INBOUND_COLUMNS}
        params["rule_ids"] = params["rule_ids"] or []  # the model's default: a list, not NULL
        row = self.session.connection().execute(
            statements.inbound_insert(_dialect(self.session)), params
        ).first()
        return None if row is None else _persistent(self.session, Message, row)

    def recent_texts(self, contact_id: int, *, limit: int) -> list[tuple[str, str]]:
        """(direction, body) of the contact's latest `limit` messages, oldest first: what the
        rules read, without loading whole rows."""
        rows = self.session.connection().execute(
            statements.RECENT_TEXTS, {"contact_id": contact_id, "limit": limit}).all()
        return [(d, b) for d, b in reversed(rows)]

    def add(self, message: Message) -> Message:
        self.session.add(message)
        self.session.flush()
        return message

    def get(self, message_id: int) -> Message | None:
        return self.session.get(Message, message_id)

    def by_sid(self, sid: str) -> Message | None:
        return self.session.scalars(select(Message).where(Message.twilio_sid == sid)).first()

    def by_idempotency_prefix(self, key: str) -> list[Message]:
        """Return the bubbles recorded under one outbound idempotency key ("key#0", "key#1"...)."""
        return list(
            self.session.scalars(
                select(Message)
                .where(Message.idempotency_key.startswith(f"{key}#", autoescape=True))
                .order_by(Message.id)
            ).all()
        )

    def recent(self, contact_id: int, *, limit: int, before_id: int | None = None) -> list[Message]:
        """Return up to `limit` of the contact's latest messages, oldest first."""
        query = select(Message).where(Message.contact_id == contact_id)
        if before_id is not None:
            query = query.where(Message.id < before_id)
        rows = self.session.scalars(query.order_by(Message.id.desc()).limit(limit)).all()
        return list(reversed(rows))

    def page(self, contact_id: int, *, limit: int, offset: int) -> tuple[list[Message], int]:
        query = select(Message).where(Message.contact_id == contact_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(query.order_by(Message.id).limit(limit).offset(offset)).all()
        return list(rows), total

    def last_for(self, contact_ids: Sequence[int]) -> dict[int, Message]:
        """Return each contact's latest message."""
        if not contact_ids:
            return {}
        latest = (
            select(func.max(Message.id))
            .where(Message.contact_id.in_(contact_ids))
            .group_by(Message.contact_id)
        )
        rows = self.session.scalars(select(Message).where(Message.id.in_(latest))).all()
        return {m.contact_id: m for m in rows}

    def remove(self, message: Message) -> None:
        """Delete one message row (a reply that was never sent)."""
        self.session.delete(message)
        self.session.flush()

    def replies_to(self, inbound_id: int, *, status: str | None = None) -> list[Message]:
        """The outbound rows answering one inbound message (of one status), in order."""
        query = select(Message).where(Message.reply_to_id == inbound_id,
                                      Message.direction == "out")
        if status is not None:
            query = query.where(Message.status == status)
        return list(self.session.scalars(query.order_by(Message.id)).all())

    def twiml_answer(self, sid: str, *, received_before: dt.datetime) -> list[str]:
        """The bubbles an inbound message was answered with in its TwiML, to send them again.

        Only for a message received before `received_before`: a copy arriving while the first
        delivery is still being answered is a concurrent duplicate and gets nothing, so the
        person is answered once; a later copy is Twilio retrying because it never got the answer.
        """
        inbound = self.by_sid(sid)
        if inbound is None or inbound.direction != "in":
            return []
        received = inbound.received_at or inbound.created_at
        if received is None or received > received_before:
            return []
        return [row.body for row in self.replies_to(inbound.id, status="twiml")]

    def search(self, text: str, *, limit: int = 50) -> list[Message]:
        pattern = f"%{text}%"
        return list(
            self.session.scalars(
                select(Message)
                .where(or_(Message.body.ilike(pattern)))
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
        )


@dataclass(frozen=True, slots=True)
class Episode:
    """An open escalation as the rules read it: a snapshot of its row, never written through."""

    id: int
    kind: str
    level: str | None
    rule_ids: list[Any]
    detail: dict[str, Any] | None


class SafetyEventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event_: SafetyEvent) -> SafetyEvent:
        self.session.add(event_)
        self.session.flush()
        return event_

    def open_episode(self, contact_id: int, *, since: dt.datetime) -> Episode | None:
        """The contact's most serious escalation that is not resolved and was raised since then."""
        rows = [Episode(*row) for row in self.session.connection().execute(
            statements.OPEN_EPISODES, {"contact_id": contact_id, "since": since})]
        rank = {"emergency": 2, "self_harm": 2, "urgent": 1}
        # An urgent flag raised only by a model's or a topic's hint (no rule named) describes the
        # answer, not the person's condition: it does not hold later messages at its level.
        assessed = [e for e in rows if e.kind != "urgent" or e.rule_ids]
        return max(assessed, key=lambda e: (rank[e.kind], e.id), default=None)

    def for_contact(self, contact_id: int) -> list[SafetyEvent]:
        return list(
            self.session.scalars(
                select(SafetyEvent)
                .where(SafetyEvent.contact_id == contact_id)
                .order_by(SafetyEvent.id)
            ).all()
        )


class ModelCallRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_all(self, rows: Sequence[ModelCallRow]) -> None:
        self.session.add_all(rows)


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, alert: Alert) -> Alert:
        self.session.add(alert)
        self.session.flush()
        return alert

    def due(self, now: dt.datetime, *, limit: int = 50) -> list[Alert]:
        return list(
            self.session.scalars(
                select(Alert)
                .where(Alert.status == "pending")
                .where(or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= now))
                .order_by(Alert.id)
                .limit(limit)
            ).all()
        )


class ErasedMessageRepository:
    """Keyed hashes of erased inbound MessageSids (HMAC-SHA256 under the erasure key)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def digest(self, sid: str) -> str | None:
        """The stored form of a MessageSid, or None when no erasure key is configured."""
        key = self.session.info.get(ERASURE_KEY)
        if not key:
            return None
        return hmac.new(key, f"erased_sid:{sid}".encode(), hashlib.sha256).hexdigest()

    def remember(self, sids: Iterable[str | None]) -> None:
        """Record these MessageSids as erased (in the caller's transaction)."""
        given = [s for s in sids if s]
        hashes = {h for h in (self.digest(s) for s in given) if h is not None}
        if not hashes:
            if given:
                log.warning("no erasure key configured: erased MessageSids are not remembered")
            return
        known = set(self.session.scalars(
            select(ErasedMessage.sid_hash).where(ErasedMessage.sid_hash.in_(hashes))
        ).all())
        self.session.add_all(ErasedMessage(sid_hash=h) for h in sorted(hashes - known))
        self.session.flush()

    def contains(self, sid: str) -> bool:
        """True when a message with this MessageSid was stored once and then erased."""
        digest = self.digest(sid)
        return digest is not None and self.session.connection().execute(
            statements.ERASED, {"sid_hash": digest}).first() is not None


class SqlUnitOfWork:
    """One transaction over the store, with a repository per table the pipeline uses."""

    contacts: ContactRepository
    messages: MessageRepository
    safety_events: SafetyEventRepository
    model_calls: ModelCallRepository
    alerts: AlertRepository
    erased_messages: ErasedMessageRepository
    staff: StaffRepository
    login_attempts: LoginAttemptRepository
    audit: AuditRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside a `with` block")
        return self._session

    def __enter__(self) -> SqlUnitOfWork:
        try:
            self._session = self._factory()
            self._session.connection()  # fail here, clearly, when the database is unreachable
        except (DBAPIError, PoolTimeout) as exc:
            self._session = None
            raise StoreError(f"database unavailable: {exc.__class__.__name__}") from exc
        self.contacts = ContactRepository(self._session)
        self.messages = MessageRepository(self._session)
        self.safety_events = SafetyEventRepository(self._session)
        self.model_calls = ModelCallRepository(self._session)
        self.alerts = AlertRepository(self._session)
        self.erased_messages = ErasedMessageRepository(self._session)
        self.staff = StaffRepository(self._session)
        self.login_attempts = LoginAttemptRepository(self._session)
        self.audit = AuditRepository(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        self._session = None
        if session is None:
            return
        # close() rolls back whatever was not committed; unlike rollback() it leaves loaded
        # attributes readable on the now-detached objects.
        session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise StoreError(f"commit failed: {exc.__class__.__name__}") from exc

    def flush(self) -> None:
        self.session.flush()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def create_schema_for_tests(engine: Engine) -> None:
    """Create tables straight from the models (tests only; real databases use migrations)."""
    Base.metadata.create_all(engine)

"""The statements every inbound message runs, built once and reused with new parameters.

Building a statement per call made SQLAlchemy walk it each time to find its cache key (a
profile of the webhook under load had about a third of its Python time in building and keying
statements). Built once, with bound parameters, the key is memoized on the object, the compiled
SQL comes from the engine's cache, and psycopg prepares it on the server after a few uses.
They are Core statements, run on the unit of work's connection: the ORM's handling of an
INSERT ... RETURNING cost about 0.4 ms more per statement than Core's (bot/store/uow.py turns
the returned row into the mapped object without another query).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.models import Base, Contact, ErasedMessage, Message, SafetyEvent

# Escalations that hold a person's later messages at their level (see open_episode).
EPISODE_KINDS = ("emergency", "self_harm", "urgent")
# The most recent open escalations looked at to find the most serious one.
EPISODE_SCAN = 20


def _insert(dialect: str, table: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """The backend's INSERT that takes ON CONFLICT (PostgreSQL and SQLite both have it)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for {dialect}")  # pragma: no cover


@cache
def contact_upsert(dialect: str) -> Any:
    """Create the contact or record their new message; RETURNING the row's columns.

    Parameters: wa_id, phone, profile_name (None keeps the one known), country, now.
    """
    insert = _insert(dialect, Contact).values(
        wa_id=bindparam("wa_id"), phone=bindparam("phone"),
        profile_name=bindparam("profile_name"), country=bindparam("country"),
        language_chosen=False, opted_out=False, state="bot",
        last_inbound_at=bindparam("now"), created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    return insert.on_conflict_do_update(
        index_elements=[Contact.wa_id],
        set_={
            "last_inbound_at": insert.excluded.last_inbound_at,
            "updated_at": insert.excluded.updated_at,
            "profile_name": func.coalesce(insert.excluded.profile_name, Contact.profile_name),
        },
    ).returning(*Contact.__table__.c)


# The columns an inbound message is inserted with; each is a parameter of inbound_insert.
INBOUND_COLUMNS = ("contact_id", "direction", "body", "twilio_sid", "status", "media",
                   "location", "button_text", "extra", "received_at", "created_at",
                   "triage_level", "rule_ids", "language")


@cache
def inbound_insert(dialect: str) -> Any:
    """Insert an inbound message unless its MessageSid is stored; RETURNING the row's columns
    (no row for a duplicate). Parameters: INBOUND_COLUMNS."""
    return (
        _insert(dialect, Message)
        .values({name: bindparam(name) for name in INBOUND_COLUMNS})
        .on_conflict_do_nothing(index_elements=[Message.twilio_sid])
        .returning(*Message.__table__.c)
    )


RECENT_TEXTS = (
    select(Message.direction, Message.body)
    .where(Message.contact_id == bindparam("contact_id"))
    .order_by(Message.id.desc())
    .limit(bindparam("limit", type_=Integer))
)

# The columns of store.uow.Episode, in its order.
OPEN_EPISODES = (
    select(SafetyEvent.id, SafetyEvent.kind, SafetyEvent.level, SafetyEvent.rule_ids,
           SafetyEvent.detail)
    .where(
        SafetyEvent.contact_id == bindparam("contact_id"),
        SafetyEvent.kind.in_(EPISODE_KINDS),
        SafetyEvent.status != "resolved",
        SafetyEvent.created_at >= bindparam("since"),
    )
    .order_by(SafetyEvent.id.desc())
    .limit(EPISODE_SCAN)
)

ERASED = select(ErasedMessage.sid_hash).where(ErasedMessage.sid_hash == bindparam("sid_hash"))

"""The conversation store's tables, as SQLAlchemy 2.0 typed models.

Business rules that must hold under concurrency live in the schema: one row per Twilio
MessageSid (idempotent webhooks), one contact per WhatsApp id, one outbound row per idempotency key.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Contact(Base):
    """A person who writes to the bot, keyed by their WhatsApp id."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(32), unique=True)
    phone: Mapped[str] = mapped_column(String(40))  # "whatsapp:+E164" as Twilio sends it
    profile_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    language_chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    welcomed_at: Mapped[dt.datetime | None]  # consent notice shown
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[dt.datetime | None]
    # "bot": the bot answers; "needs_human": flagged, waiting for staff; "with_staff": handed off.
    state: Mapped[str] = mapped_column(String(16), default="bot")
    delete_requested_at: Mapped[dt.datetime | None]
    last_inbound_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    """One WhatsApp message, inbound or outbound, with what the bot decided about it."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_contact_created", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" or "out"
    body: Mapped[str] = mapped_column(Text, default="")
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(16))
    media: Mapped[list[Any]] = mapped_column(default=list)  # [{"url", "content_type"}]
    location: Mapped[dict[str, Any] | None]  # {"latitude", "longitude", "address", "label"}
    button_text: Mapped[str | None] = mapped_column(String(256))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)  # Twilio fields we don't model
    triage_level: Mapped[str | None] = mapped_column(String(16))
    rule_ids: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    model: Mapped[str | None] = mapped_column(String(120))  # "provider/model" that answered
    mode: Mapped[str | None] = mapped_column(String(16))
    # The vetted passages an answer was built from (ids in bot/knowledge): the conversation's
    # active topic for the next turn, and what staff see the answer rested on.
    passage_ids: Mapped[list[Any]] = mapped_column(default=list)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # A voice note's transcript (also the body the pipeline read), the language it was heard in,
    # the `provider/model` that heard it, the audio's length and what hearing it cost (None:
    # unknown), for the console, the API and `healthbot costs`. Erased with the person.
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_language: Mapped[str | None] = mapped_column(String(16))
    transcriber: Mapped[str | None] = mapped_column(String(120))
    audio_seconds: Mapped[float | None] = mapped_column(Float)
    transcription_cost_usd: Mapped[float | None] = mapped_column(Float)
    transcription_ms: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[dt.datetime | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="messages")


class SafetyEvent(Base):
    """Something the safety layer did or found: an emergency, a flag for staff, a repaired reply."""

    __tablename__ = "safety_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    # "emergency", "urgent", "self_harm", "human_requested", "reply_repaired", "alert_failed"
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str | None] = mapped_column(String(16))
    rule_ids: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Escalations are worked by staff: "open" -> "acknowledged" -> "resolved"; others are "logged".
    status: Mapped[str] = mapped_column(String(16), default="logged")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Who worked the escalation in the staff console, and when. Plain ids, not foreign keys:
    # staff are never deleted, and adding a foreign key would make SQLite rebuild this table.
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(Integer)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(Integer)
    # How staff closed it: "ambulance_called", "referred", "advised", "no_answer", "other".
    outcome: Mapped[str | None] = mapped_column(String(24))
    outcome_note: Mapped[str | None] = mapped_column(String(500))


class ModelCallRow(Base):
    """One attempt at one model, kept with the reply it served, for cost and latency reports."""

    __tablename__ = "model_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(120))
    perspective: Mapped[str | None] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(24))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """A message to staff about a conversation; kept until sent, retried when sending fails."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    safety_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("safety_events.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(24))  # the Alerter's name: "webhook", "whatsapp"
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    next_attempt_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class ErasedMessage(Base):
    """A keyed hash of the MessageSid of an erased inbound message: what erasure remembers.

    Twilio may deliver a message again (a retry, or a replayed signed request) after the person
    who sent it was erased; the webhook refuses a MessageSid whose hash is here, so the old
    delivery can't bring them back. The hash is HMAC-SHA256 under HEALTHBOT_SECRET_KEY, like the
    audit log's: it links a delivery to an erasure without keeping the id itself.
    """

    __tablename__ = "erased_messages"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VoiceClip(Base):
    """A spoken reply waiting for Twilio to fetch it: reachable only by an unguessable token
    (its SHA-256 is the key), until `expires_at`; erased with the message it speaks."""

    __tablename__ = "voice_clips"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# The staff console's tables live in their own module; importing it here puts them on Base's
# metadata, so Alembic and create_all see every table.
from bot.store import casework as _casework  # noqa: E402, F401
from bot.store import staff as _staff  # noqa: E402, F401

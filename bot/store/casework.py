"""Working a case in the staff console: who has claimed a conversation, internal notes, and the
canned replies staff can insert, one text per language.

Notes are staff-only: nothing here is ever sent to the person. Assignments and notes belong to a
contact and go with it when it is erased (ON DELETE CASCADE, and explicit deletes in
`ContactRepository.erase`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class CaseAssignment(Base):
    """The staff member working a conversation now: at most one per contact."""

    __tablename__ = "case_assignments"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    # Plain ids, like safety_events.acknowledged_by_id: staff are never deleted.
    staff_id: Mapped[int] = mapped_column(Integer)
    assigned_by_id: Mapped[int | None] = mapped_column(Integer)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseNote(Base):
    """An internal note on a conversation, written by staff for staff; never sent."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QuickReply(Base):
    """One language's text of a canned staff reply, keyed by a short name ("call_now")."""

    __tablename__ = "quick_replies"
    __table_args__ = (UniqueConstraint("name", "language", name="uq_quick_replies_name_language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(48))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(Integer)

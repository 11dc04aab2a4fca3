"""The staff console's tables: staff accounts, their sessions and API tokens, login attempts, audit.

Secrets are never stored: passwords as argon2 hashes, session and API tokens as sha256 of a
high-entropy random value, login-attempt keys as a keyed hash. The audit log is append-only: its
repository has no update or delete, and on PostgreSQL a trigger refuses both (except the
`ON DELETE SET NULL` of `contact_id` when a contact is erased; `contact_ref` keeps a keyed hash).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.store.models import Base, utcnow

ROLES = ("viewer", "clinician", "admin")


class Staff(Base):
    """A person on the clinic's team who uses the console; never deleted, only deactivated."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))  # "viewer", "clinician" or "admin"
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]
    # The TOTP secret, encrypted with a key derived from the app secret (bot/admin/mfa.py). Set
    # but not yet enabled while the person is enrolling; never shown again once enabled.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[dt.datetime | None]
    # The last 30-second step whose code was accepted: a code can't be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)


class PasswordReset(Base):
    """A one-time link an admin made for someone to set a new password; stored as its sha256."""

    __tablename__ = "staff_password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))  # the admin's email, or "cli"
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class RecoveryCode(Base):
    """A single-use code that stands in for a TOTP code; stored as a keyed hash, shown once."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None]


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its sha256."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class ApiToken(Base):
    """A bearer token for the JSON API, shown once at creation and stored as its sha256."""

    __tablename__ = "staff_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    """One password attempt, counted per account and per IP to throttle guessing."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_created", "key", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "account:<hmac of the email>" or "ip:<hmac of the address>": what was typed is not kept.
    key: Mapped[str] = mapped_column(String(80))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to which conversation, when; appended, never changed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # Not a foreign key: the log must outlive any change to the staff table.
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(254))  # staff email, or "cli" / "retention"
    action: Mapped[str] = mapped_column(String(48), index=True)
    # Set to NULL when the contact is erased; contact_ref (HMAC of the id) stays.
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    contact_ref: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(120))  # "safety_event:12", "staff:3"
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StaffRepository:
    """Staff accounts, sessions and API tokens."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, staff_id: int) -> Staff | None:
        return self.session.get(Staff, staff_id)

    def by_email(self, email: str) -> Staff | None:
        return self.session.scalars(select(Staff).where(Staff.email == email.lower())).first()

    def add(self, staff: Staff) -> Staff:
        self.session.add(staff)
        self.session.flush()
        return staff

    def all(self) -> list[Staff]:
        return list(self.session.scalars(select(Staff).order_by(Staff.email)).all())

    def count_active_admins(self) -> int:
        query = select(func.count()).where(Staff.role == "admin", Staff.active.is_(True))
        return int(self.session.scalar(query) or 0)

    def add_session(self, row: StaffSession) -> StaffSession:
        self.session.add(row)
        self.session.flush()
        return row

    def session_by_hash(self, token_hash: str) -> StaffSession | None:
        query = select(StaffSession).where(StaffSession.token_hash == token_hash)
        return self.session.scalars(query).first()

    def end_session(self, token_hash: str) -> None:
        self.session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))

    def end_sessions_of(self, staff_id: int, *, keep_hash: str | None = None) -> None:
        """End every session of a staff member, except the one whose token hash is `keep_hash`."""
        query = delete(StaffSession).where(StaffSession.staff_id == staff_id)
        if keep_hash is not None:
            query = query.where(StaffSession.token_hash != keep_hash)
        self.session.execute(query)

    def add_reset(self, row: PasswordReset) -> PasswordReset:
        """Store a new reset link; any older unused link for the same person stops working."""
        self.session.execute(delete(PasswordReset).where(
            PasswordReset.staff_id == row.staff_id, PasswordReset.used_at.is_(None)))
        self.session.add(row)
        self.session.flush()
        return row

    def reset_by_hash(self, token_hash: str) -> PasswordReset | None:
        query = select(PasswordReset).where(PasswordReset.token_hash == token_hash)
        return self.session.scalars(query).first()

    def replace_recovery_codes(self, staff_id: int, hashes: list[str], now: dt.datetime) -> None:
        self.session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
        self.session.add_all(RecoveryCode(staff_id=staff_id, code_hash=h, created_at=now)
                             for h in hashes)
        self.session.flush()

    def unused_recovery_code(self, staff_id: int, code_hash: str) -> RecoveryCode | None:
        return self.session.scalars(select(RecoveryCode).where(
            RecoveryCode.staff_id == staff_id, RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None))).first()

    def claim_recovery_code(self, staff_id: int, code_hash: str, now: dt.datetime) -> bool:
        """Mark an unused recovery code used; False when there is none (or another took it)."""
        result = self.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.staff_id == staff_id, RecoveryCode.code_hash == code_hash,
                   RecoveryCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def claim_totp_step(self, staff_id: int, step: int) -> bool:
        """Record `step` as the last TOTP step used, only if it is later than the one stored.

        One conditional UPDATE: two requests racing with the same code can't both succeed.
        """
        result = self.session.execute(
            update(Staff)
            .where(Staff.id == staff_id,
                   or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def count_unused_recovery_codes(self, staff_id: int) -> int:
        query = select(func.count()).select_from(RecoveryCode).where(
            RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None))
        return int(self.session.scalar(query) or 0)

    def purge_expired_sessions(self, now: dt.datetime) -> None:
        self.session.execute(delete(StaffSession).where(StaffSession.expires_at < now))

    def add_token(self, token: ApiToken) -> ApiToken:
        self.session.add(token)
        self.session.flush()
        return token

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash)
        ).first()

    def get_token(self, token_id: int) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def tokens_of(self, staff_id: int) -> list[ApiToken]:
        return list(
            self.session.scalars(
                select(ApiToken).where(ApiToken.staff_id == staff_id).order_by(ApiToken.id)
            ).all()
        )


class LoginAttemptRepository:
    """Failed and successful logins, kept in the database so every process sees the same count."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: str, *, succeeded: bool, now: dt.datetime) -> None:
        self.session.add(LoginAttempt(key=key, succeeded=succeeded, created_at=now))
        self.session.flush()

    def failures_since(self, key: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
        """Return (failures after `since` and after the last success, the oldest such failure)."""
        last_ok = self.session.scalar(
            select(func.max(LoginAttempt.created_at)).where(
                LoginAttempt.key == key, LoginAttempt.succeeded.is_(True)
            )
        )
        start = max(since, last_ok) if last_ok is not None else since
        count, oldest = self.session.execute(
            select(func.count(), func.min(LoginAttempt.created_at)).where(
                LoginAttempt.key == key,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at > start,
            )
        ).one()
        if isinstance(oldest, dt.datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)  # an aggregate skips the column's type on SQLite
        return int(count or 0), oldest

    def recent_failures(
        self, key: str, since: dt.datetime
    ) -> tuple[int, dt.datetime | None, dt.datetime | None]:
        """Return (failures after `since` and after the last success, the first, the last)."""
        last_ok = self.session.scalar(
            select(func.max(LoginAttempt.created_at)).where(
                LoginAttempt.key == key, LoginAttempt.succeeded.is_(True),
                LoginAttempt.created_at > since,
            )
        )
        succeeded = _aware(last_ok)
        start = max(since, succeeded) if succeeded is not None else since
        count, first, last = self.session.execute(
            select(func.count(), func.min(LoginAttempt.created_at),
                   func.max(LoginAttempt.created_at)).where(
                LoginAttempt.key == key,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.created_at > start,
            )
        ).one()
        return int(count or 0), _aware(first), _aware(last)

    def purge_before(self, when: dt.datetime) -> None:
        self.session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < when))


def _aware(value: Any) -> dt.datetime | None:
    """An aggregate skips the column's type on SQLite: a naive datetime, or even a string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value if isinstance(value, dt.datetime) else None


class AuditRepository:
    """The audit log: append and read, nothing else."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, entry: AuditEntry) -> AuditEntry:
        self.session.add(entry)
        self.session.flush()
        return entry

    def page(
        self, *, limit: int, offset: int, action: str | None = None,
        contact_ref: str | None = None, actor_id: int | None = None,
        contact_id: int | None = None, since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> tuple[list[AuditEntry], int]:
        """Return one page of entries, newest first, and how many match; `until` is exclusive."""
        query = self._query(action=action, contact_ref=contact_ref, actor_id=actor_id,
                            contact_id=contact_id, since=since, until=until)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
        ).all()
        return list(rows), int(total)

    def matching(self, *, limit: int, **filters: Any) -> list[AuditEntry]:
        """Return up to `limit` entries matching the same filters as `page`, newest first."""
        query = self._query(**filters)
        return list(self.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))

    @staticmethod
    def _query(
        *, action: str | None = None, contact_ref: str | None = None,
        actor_id: int | None = None, contact_id: int | None = None,
        since: dt.datetime | None = None, until: dt.datetime | None = None,
    ) -> Any:
        query = select(AuditEntry)
        if action:
            query = query.where(AuditEntry.action == action)
        if contact_ref:
            query = query.where(AuditEntry.contact_ref == contact_ref)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        if contact_id is not None:
            query = query.where(AuditEntry.contact_id == contact_id)
        if since is not None:
            query = query.where(AuditEntry.created_at >= since)
        if until is not None:
            query = query.where(AuditEntry.created_at < until)
        return query

    def actions(self) -> list[str]:
        """Every action code that occurs in the log (an index covers the column)."""
        query = select(AuditEntry.action).distinct().order_by(AuditEntry.action)
        return list(self.session.scalars(query))

    def count_recent(
        self, actions: tuple[str, ...], since: dt.datetime, *, ip: str | None = None,
        actor_id: int | None = None, any_ip: bool = False,
    ) -> int:
        """Count entries of these actions since `since`, by one address or one staff member.

        Used to cap how fast refusals and failed sign-ins are written, so a flood of them can't
        fill the database; the created_at index keeps it to the last minute's rows.
        """
        query = select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(actions), AuditEntry.created_at >= since)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        elif not any_ip:
            query = query.where(AuditEntry.ip == ip)
        return int(self.session.scalar(query) or 0)

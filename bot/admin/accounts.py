"""Staff accounts: changing a password, admin-made one-time reset links, the TOTP second factor.

Like the rest of the console's service layer, each operation writes its audit entry in the
transaction of the change. Secrets are never stored in the clear: reset links as the sha256 of
a random token, recovery codes as keyed hashes, the TOTP secret encrypted (bot/admin/mfa.py).

    reset link:  admin -> create_reset (old password and every session end at once; an older
                 link stops working) -> the person opens /admin/reset/<token> -> use_reset
                 (single use, RESET_HOURS) -> they sign in with the new password (and their code)
    TOTP:        totp_start (a pending secret, shown as a QR code) -> totp_confirm(code)
                 (enabled; recovery codes shown once; other sessions end) -> each sign-in asks
                 for a code after the password
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from bot.admin import mfa
from bot.admin.console import Actor, BadCredentials, Conflict, Invalid, NotFound
from bot.admin.security import new_token, password_problem, token_hash
from bot.store.staff import PasswordReset, Staff

if TYPE_CHECKING:
    from bot.admin.console import Console
    from bot.store.uow import SqlUnitOfWork

RESET_HOURS = 24


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the enrolment page shows: the pending secret as a QR code, a URI and plain text."""

    secret: str
    uri: str
    qr: Markup


class Accounts:
    """Account operations over the console's store, clock, password hasher and secret."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def _staff(self, uow: SqlUnitOfWork, staff_id: int | None) -> Staff:
        staff = uow.staff.get(staff_id) if staff_id is not None else None
        if staff is None:
            raise NotFound(f"no staff member {staff_id}")
        return staff

    # --- passwords ------------------------------------------------------------------------

    def change_password(
        self, actor: Actor, *, current: str, new: str, keep_session: str | None
    ) -> None:
        """Change one's own password; every other session of the person ends.

        Raises:
            BadCredentials: the current password is wrong.
            Invalid: the new password is not acceptable, or is the current one.
        """
        if (problem := password_problem(new)) is not None:
            raise Invalid(problem)
        console = self.console
        with console.uow() as uow:
            staff = self._staff(uow, actor.staff_id)
            if not console.passwords.verify(staff.password_hash, current[:1024]):
                console._audit(uow, actor, "staff.password_change_failed",
                               target=f"staff:{staff.id}", detail={"reason": "wrong_password"})
                uow.commit()
                raise BadCredentials("the current password is wrong")
            if current == new:
                raise Invalid("choose a password different from the current one")
            staff.password_hash = console.passwords.hash(new)
            staff.password_changed_at = console.clock()
            uow.staff.end_sessions_of(
                staff.id, keep_hash=token_hash(keep_session) if keep_session else None)
            console._audit(uow, actor, "staff.password_change", target=f"staff:{staff.id}")
            uow.commit()

    def create_reset(self, actor: Actor, staff_id: int) -> dict[str, Any]:
        """Make a one-time link for someone to set a new password; the token is returned once.

        Their old password and every session stop working now (the reason for a reset is
        often that someone else may know it); their API tokens and second factor stay.

        Raises:
            NotFound: no such staff member.
            Conflict: the account is switched off.
        """
        console = self.console
        token = new_token()
        now = console.clock()
        with console.uow() as uow:
            staff = self._staff(uow, staff_id)
            if not staff.active:
                raise Conflict("the account is switched off; switch it on first")
            row = uow.staff.add_reset(PasswordReset(
                staff_id=staff.id, token_hash=token_hash(token), created_at=now,
                created_by=actor.email, expires_at=now + dt.timedelta(hours=RESET_HOURS)))
            staff.password_hash = None
            uow.staff.end_sessions_of(staff.id)
            console._audit(uow, actor, "staff.password_reset_link", target=f"staff:{staff.id}",
                           detail={"email": staff.email, "expires_at": row.expires_at.isoformat()})
            uow.commit()
            return {"staff_id": staff.id, "email": staff.email, "token": token,
                    "expires_at": row.expires_at}

    def reset_target(self, token: str) -> str:
        """Return the email a reset link is for, when the link can still be used.

        Raises:
            NotFound: unknown, used, replaced or expired link.
        """
        with self.console.uow() as uow:
            _row, staff = self._usable_reset(uow, token)
            return staff.email

    def use_reset(self, token: str, new: str, ip: str | None) -> str:
        """Set a new password through a reset link; the link is spent. Return the email.

        Raises:
            NotFound: unknown, used, replaced or expired link.
            Invalid: the new password is not acceptable.
        """
        if (problem := password_problem(new)) is not None:
            raise Invalid(problem)
        console = self.console
        with console.uow() as uow:
            row, staff = self._usable_reset(uow, token)
            now = console.clock()
            row.used_at = now
            staff.password_hash = console.passwords.hash(new)
            staff.password_changed_at = now
            uow.staff.end_sessions_of(staff.id)
            console._audit(uow, Actor(staff.id, staff.email, staff.role, staff.name, ip),
                           "staff.password_reset", target=f"staff:{staff.id}",
                           detail={"link_made_by": row.created_by})
            uow.commit()
            return staff.email

    def _usable_reset(self, uow: SqlUnitOfWork, token: str) -> tuple[PasswordReset, Staff]:
        row = uow.staff.reset_by_hash(token_hash(token)) if 20 <= len(token) <= 100 else None
        staff = uow.staff.get(row.staff_id) if row is not None else None
        if (row is None or staff is None or row.used_at is not None or not staff.active
                or row.expires_at <= self.console.clock()):
            raise NotFound("this link is not valid: it was used, replaced by a newer one, or "
                           "it expired. Ask an admin for a new one.")
        return row, staff

    # --- the second factor -----------------------------------------------------------------

    def totp_status(self, staff_id: int | None) -> dict[str, Any]:
        with self.console.uow() as uow:
            staff = self._staff(uow, staff_id)
            return {
                "enabled": staff.totp_enabled_at is not None,
                "enabled_at": staff.totp_enabled_at,
                "required": staff.role == "admin",
                "recovery_codes_left": uow.staff.count_unused_recovery_codes(staff.id),
                "password_changed_at": staff.password_changed_at,
            }

    def totp_start(self, actor: Actor, *, restart: bool = False) -> Enrolment:
        """Return the pending secret to enrol, making one when there is none (or on restart).

        Raises:
            Conflict: the second factor is already on.
        """
        console = self.console
        with console.uow() as uow:
            staff = self._staff(uow, actor.staff_id)
            if staff.totp_enabled_at is not None:
                raise Conflict("the second factor is already on")
            secret = None
            if staff.totp_secret is not None and not restart:
                try:
                    secret = mfa.unseal(console.secret, staff.totp_secret)
                except mfa.SecretUnreadable:
                    secret = None
            if secret is None:
                secret = mfa.new_secret()
                staff.totp_secret = mfa.seal(console.secret, secret)
                staff.totp_last_step = None
                uow.commit()
            uri = mfa.provisioning_uri(secret, staff.email)
            return Enrolment(secret=secret, uri=uri, qr=mfa.qr_svg(uri))

    def totp_confirm(self, actor: Actor, code: str, *, keep_session: str | None) -> list[str]:
        """Turn the second factor on once a code from the pending secret checks out.

        Returns the recovery codes, the only time they are shown. Every other session ends.

        Raises:
            Conflict: already on, or no enrolment was started.
            Invalid: the code does not match.
        """
        console = self.console
        now = console.clock()
        with console.uow() as uow:
            staff = self._staff(uow, actor.staff_id)
            if staff.totp_enabled_at is not None:
                raise Conflict("the second factor is already on")
            if staff.totp_secret is None:
                raise Conflict("start the enrolment first")
            try:
                secret = mfa.unseal(console.secret, staff.totp_secret)
            except mfa.SecretUnreadable:
                raise Conflict("start the enrolment again") from None
            step = mfa.matching_step(secret, code, now, staff.totp_last_step)
            if step is None or not uow.staff.claim_totp_step(staff.id, step):
                raise Invalid("that code does not match: check the phone's clock and try the "
                              "next code")
            staff.totp_enabled_at = now
            codes = mfa.new_recovery_codes()
            uow.staff.replace_recovery_codes(
                staff.id, [mfa.recovery_hash(console.secret, c) for c in codes], now)
            uow.staff.end_sessions_of(
                staff.id, keep_hash=token_hash(keep_session) if keep_session else None)
            console._audit(uow, actor, "staff.totp_enable", target=f"staff:{staff.id}",
                           detail={"recovery_codes": len(codes)})
            uow.commit()
            return codes

    def totp_disable(self, actor: Actor, *, password: str) -> None:
        """Turn one's own second factor off (not for admins, who must keep it).

        Raises:
            Conflict: an admin, or it is not on.
            BadCredentials: wrong password.
        """
        console = self.console
        with console.uow() as uow:
            staff = self._staff(uow, actor.staff_id)
            if staff.role == "admin":
                raise Conflict("admins must keep the second factor")
            if staff.totp_enabled_at is None:
                raise Conflict("the second factor is not on")
            if not console.passwords.verify(staff.password_hash, password[:1024]):
                raise BadCredentials("the password is wrong")
            self._clear_totp(uow, staff)
            console._audit(uow, actor, "staff.totp_disable", target=f"staff:{staff.id}")
            uow.commit()

    def totp_reset(self, actor: Actor, staff_id: int) -> dict[str, Any]:
        """Remove someone's second factor (a lost phone) and end their sessions.

        An admin so reset is sent to enrol again right after their next sign-in.

        Raises:
            NotFound: no such staff member.
        """
        console = self.console
        with console.uow() as uow:
            staff = self._staff(uow, staff_id)
            was_on = staff.totp_enabled_at is not None
            self._clear_totp(uow, staff)
            uow.staff.end_sessions_of(staff.id)
            console._audit(uow, actor, "staff.totp_reset", target=f"staff:{staff.id}",
                           detail={"email": staff.email, "was_on": was_on})
            uow.commit()
            return {"staff_id": staff.id, "email": staff.email, "was_on": was_on}

    def _clear_totp(self, uow: SqlUnitOfWork, staff: Staff) -> None:
        staff.totp_secret = None
        staff.totp_enabled_at = None
        staff.totp_last_step = None
        uow.staff.replace_recovery_codes(staff.id, [], self.console.clock())

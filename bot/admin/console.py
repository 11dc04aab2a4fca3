"""The staff console's service layer: what the JSON API, the pages and the CLI all call.

Every function takes the acting staff member (`Actor`) and writes the audit entry in the same
transaction as the change it records, so the log can't miss a change that happened.

Errors (all `ConsoleError`, each with an HTTP status the views map it to):

    ConsoleError
    ├── NotFound        404  no such contact, escalation, staff member or token
    ├── Invalid         400  the input is not acceptable (with the reason)
    ├── Forbidden       403  the role allows the route but not this use of it (assigning others)
    ├── Conflict        409  the change does not apply in the current state
    ├── Throttled       429  too many failed logins; `retry_after` seconds
    ├── BadCredentials  401  wrong email or password (never says which), or wrong code
    │   ├── SecondFactorNeeded  401  the password was right; now the TOTP code (`ticket`)
    │   └── SignInExpired       401  the code step's ticket is stale: sign in again
    └── SendRefused     409/502/503  a staff reply could not be sent: outside the 24-hour
                             window, Twilio not configured, or Twilio refused it
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import and_, case, delete, func, select

from bot.admin import mfa
from bot.admin.security import (
    TOKEN_PREFIX,
    Passwords,
    keyed_hash,
    new_token,
    password_problem,
    token_hash,
)
from bot.admin.transcript_notes import (
    FAILED_STATUSES,
    delivery_error_text,
    guard_notes,
    level_drops,
)
from bot.i18n import SUPPORTED, normalize_language
from bot.outbound import OutsideWindow, SendFailed, in_window
from bot.store.casework import CaseAssignment, CaseNote, QuickReply
from bot.store.models import Alert, Contact, Message, ModelCallRow, SafetyEvent, utcnow
from bot.store.staff import ROLES, ApiToken, AuditEntry, Staff, StaffSession

if TYPE_CHECKING:
    from bot.admin.audit_log import AuditFilter
    from bot.services import Services
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

ROLE_RANK = {"viewer": 1, "clinician": 2, "admin": 3}
STATES = ("bot", "needs_human", "with_staff")
LEVELS = ("info", "self_care", "routine", "urgent", "emergency")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}
ESCALATION_STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")
# Triage order of the inbox and the escalation queue: emergencies (and self-harm) first, then
# requests for a human, then urgent cases; everything else after them.
ESCALATION_TIER = {"emergency": 0, "self_harm": 0, "human_requested": 1, "urgent": 2}
TIER_NAMES = ("emergency", "human", "urgent")
NO_TIER = len(TIER_NAMES)
OUTCOMES = ("ambulance_called", "referred", "advised", "no_answer", "other")
MAX_REPLY = 4000
MAX_NOTE = 4000
MAX_OUTCOME_NOTE = 500
QUICK_REPLY_NAME = re.compile(r"[a-z0-9_]{1,48}")
# Login throttling. Per (account, address) pair, progressive delays: after PAIR_FREE_FAILURES
# failures in PAIR_WINDOW, each further try must wait PAIR_FIRST_DELAY, doubling with every
# failure up to PAIR_MAX_DELAY after the last one. A stranger guessing someone's password slows
# only themselves: the owner, from their own address, is never locked out. Per address (any
# accounts), MAX_IP_FAILURES in THROTTLE_WINDOW stop that address until the window passes.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_IP_FAILURES = 20
PAIR_WINDOW = dt.timedelta(hours=1)
PAIR_FREE_FAILURES = 5
PAIR_FIRST_DELAY = dt.timedelta(seconds=30)
PAIR_MAX_DELAY = dt.timedelta(minutes=15)
# Failures on one account from any addresses: a warning for staff to see, never a lock.
ACCOUNT_ALARM_FAILURES = 50
# Second-factor codes: the progressive delays above per (account, address), and per account
# from any addresses CODE_ACCOUNT_FAILURES in THROTTLE_WINDOW stop the account's code step (only
# someone who knows the password gets there). The step after the password lasts CODE_TICKET_S.
CODE_ACCOUNT_FAILURES = 10
CODE_TICKET_S = 300
# Failed sign-ins and 403 refusals are audited, but at most this many a minute per address
# (sign-ins) or per person (refusals), and FAILED_SIGN_IN_AUDIT_TOTAL a minute in all, so a
# flood of them can't fill the database; past that they are only counted in the log.
AUDIT_RATE_WINDOW = dt.timedelta(minutes=1)
FAILED_SIGN_IN_AUDIT_PER_IP = 10
FAILED_SIGN_IN_AUDIT_TOTAL = 300
REFUSAL_AUDIT_PER_PERSON = 10
# A spreadsheet runs a cell starting with these as a formula; exported text must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ConsoleError(Exception):
    status = 400
    code = "error"


class NotFound(ConsoleError):
    status, code = 404, "not_found"


class Invalid(ConsoleError):
    status, code = 400, "bad_request"


class Forbidden(ConsoleError):
    status, code = 403, "forbidden"


class Conflict(ConsoleError):
    status, code = 409, "conflict"


class BadCredentials(ConsoleError):
    status, code = 401, "bad_credentials"


class SecondFactorNeeded(BadCredentials):
    """The password was right and the account has a second factor: ask for the code next."""

    code = "code_needed"

    def __init__(self, ticket: str) -> None:
        super().__init__("enter the code from your authenticator app")
        self.ticket = ticket


class SignInExpired(BadCredentials):
    """The step between password and code took too long, or the password changed meanwhile."""

    code = "sign_in_expired"


class Throttled(ConsoleError):
    status, code = 429, "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def pair_delay(failures: int) -> dt.timedelta:
    """How long an (account, address) pair waits after its last failure, given its failures."""
    if failures < PAIR_FREE_FAILURES:
        return dt.timedelta(0)
    doublings = min(failures - PAIR_FREE_FAILURES, 16)
    return min(PAIR_FIRST_DELAY * int(2**doublings), PAIR_MAX_DELAY)


def _throttled(wait: dt.timedelta) -> NoReturn:
    seconds = max(1, math.ceil(wait.total_seconds()))
    when = f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"
    raise Throttled(f"too many failed sign-ins; try again in {when}", retry_after=seconds)


class SendRefused(ConsoleError):
    status, code = 409, "not_sent"

    def __init__(self, message: str, *, code: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a staff member (API token or session), or a command-line job."""

    staff_id: int | None
    email: str
    role: str
    name: str = ""
    ip: str | None = None
    # An admin signed in without a second factor: only the enrolment page is open to them.
    must_enrol: bool = False

    def can(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]


CLI_ACTOR = Actor(staff_id=None, email="cli", role="admin")
RETENTION_ACTOR = Actor(staff_id=None, email="retention", role="admin")
SELF_ERASE_ACTOR = Actor(staff_id=None, email="whatsapp", role="contact")


@dataclass(frozen=True, slots=True)
class InboxFilter:
    state: str | None = None
    level: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    q: str | None = None

    def check(self) -> None:
        """Raise Invalid for a value outside the known ones."""
        if self.state and self.state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}")
        if self.level and self.level not in LEVELS:
            raise Invalid(f"level must be one of {', '.join(LEVELS)}")
        if self.q is not None and len(self.q) > 200:
            raise Invalid("the search text is too long (200 characters at most)")


class Console:
    """The staff console's operations over the store."""

    def __init__(
        self,
        services: Services,
        secret: bytes,
        *,
        passwords: Passwords | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.services = services
        self.secret = secret
        self.passwords = passwords or Passwords()
        self.clock = clock

    def uow(self) -> SqlUnitOfWork:
        return self.services.uow()

    def contact_ref(self, contact_id: int) -> str:
        return keyed_hash(self.secret, "contact", contact_id)

    def _audit(
        self,
        uow: SqlUnitOfWork,
        actor: Actor,
        action: str,
        *,
        contact_id: int | None = None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        keep_contact_id: bool = True,
    ) -> None:
        uow.audit.append(
            AuditEntry(
                created_at=self.clock(),
                actor_id=actor.staff_id,
                actor=actor.email,
                action=action,
                contact_id=contact_id if keep_contact_id else None,
                contact_ref=self.contact_ref(contact_id) if contact_id is not None else None,
                target=target,
                ip=actor.ip,
                detail=detail or {},
            )
        )

    # --- staff, sessions and tokens -------------------------------------------------------

    def create_staff(
        self, actor: Actor, *, email: str, name: str, role: str, password: str
    ) -> dict[str, Any]:
        """Create a staff account.

        Raises:
            Invalid: malformed email, unknown role or weak password.
            Conflict: the email is taken.
        """
        email = email.strip().lower()
        if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
            raise Invalid("give a valid email address")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        if len(name) > 200:
            raise Invalid("the name is too long")
        problem = password_problem(password)
        if problem:
            raise Invalid(problem)
        with self.uow() as uow:
            if uow.staff.by_email(email) is not None:
                raise Conflict(f"there is already an account for {email}")
            staff = uow.staff.add(
                Staff(email=email, name=name.strip(), role=role,
                      password_hash=self.passwords.hash(password), created_at=self.clock())
            )
            self._audit(uow, actor, "staff.create", target=f"staff:{staff.id}",
                        detail={"email": email, "role": role})
            uow.commit()
            return staff_json(staff)

    def update_staff(
        self, actor: Actor, staff_id: int, *, role: str | None = None,
        active: bool | None = None, name: str | None = None, password: str | None = None,
    ) -> dict[str, Any]:
        """Change a staff member's role, name, password or whether the account may sign in.

        Raises:
            NotFound: no such staff member.
            Invalid: unknown role or weak password.
            Conflict: the change would leave no active admin.
        """
        if role is not None and role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        if name is not None and len(name) > 200:
            raise Invalid("the name is too long")
        if password is not None and (problem := password_problem(password)):
            raise Invalid(problem)
        with self.uow() as uow:
            staff = uow.staff.get(staff_id)
            if staff is None:
                raise NotFound(f"no staff member {staff_id}")
            changes: dict[str, Any] = {}
            if role is not None and role != staff.role:
                changes["role"] = [staff.role, role]
                staff.role = role
            if active is not None and active != staff.active:
                changes["active"] = [staff.active, active]
                staff.active = active
            if name is not None and name.strip() != staff.name:
                changes["name"] = [staff.name, name.strip()]
                staff.name = name.strip()
            if password is not None:
                changes["password"] = "changed"  # noqa: S105 - says that, never what
                staff.password_hash = self.passwords.hash(password)
                staff.password_changed_at = self.clock()
            uow.flush()
            was_admin = ("role" in changes and changes["role"][0] == "admin") or (
                "active" in changes and staff.role == "admin")
            if was_admin and uow.staff.count_active_admins() == 0:
                raise Conflict("the console must keep at least one active admin")
            if "active" in changes or "password" in changes or "role" in changes:
                uow.staff.end_sessions_of(staff.id)  # sign out everywhere on a security change
            if changes:
                self._audit(uow, actor, "staff.update", target=f"staff:{staff.id}",
                            detail={"email": staff.email, "changes": changes})
            uow.commit()
            return staff_json(staff)

    def list_staff(self) -> list[dict[str, Any]]:
        with self.uow() as uow:
            result = []
            for staff in uow.staff.all():
                item = staff_json(staff)
                item["tokens"] = [token_json(t) for t in uow.staff.tokens_of(staff.id)]
                result.append(item)
            return result

    def create_token(self, actor: Actor, staff_id: int, *, label: str = "") -> dict[str, Any]:
        """Create an API token for a staff member; the plain token is in the result, only once.

        Raises:
            NotFound: no such staff member.
            Invalid: label too long.
        """
        if len(label) > 100:
            raise Invalid("the label is too long (100 characters at most)")
        token = new_token(TOKEN_PREFIX)
        with self.uow() as uow:
            staff = uow.staff.get(staff_id)
            if staff is None:
                raise NotFound(f"no staff member {staff_id}")
            row = uow.staff.add_token(
                ApiToken(staff_id=staff.id, token_hash=token_hash(token), prefix=token[:12],
                         label=label.strip(), created_at=self.clock())
            )
            self._audit(uow, actor, "token.create", target=f"staff:{staff.id}",
                        detail={"email": staff.email, "token_id": row.id, "prefix": row.prefix})
            uow.commit()
            return token_json(row) | {"token": token, "email": staff.email}

    def revoke_token(self, actor: Actor, staff_id: int, token_id: int) -> dict[str, Any]:
        """Revoke one API token (idempotent).

        Raises:
            NotFound: no such token for that staff member.
        """
        with self.uow() as uow:
            row = uow.staff.get_token(token_id)
            if row is None or row.staff_id != staff_id:
                raise NotFound(f"no token {token_id} for staff member {staff_id}")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                self._audit(uow, actor, "token.revoke", target=f"staff:{staff_id}",
                            detail={"token_id": row.id, "prefix": row.prefix})
            uow.commit()
            return token_json(row)

    def token_actor(self, token: str, ip: str | None = None) -> Actor | None:
        """Return who an API token belongs to, or None when it is unknown, revoked or inactive."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        with self.uow() as uow:
            row = uow.staff.token_by_hash(token_hash(token))
            if row is None or row.revoked_at is not None:
                return None
            staff = uow.staff.get(row.staff_id)
            if staff is None or not staff.active:
                return None
            now = self.clock()
            # Write at most once a minute, so reads don't all turn into writes.
            if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
                row.last_used_at = now
                uow.commit()
            return Actor(staff.id, staff.email, staff.role, staff.name, ip)

    def login(self, email: str, password: str, ip: str | None) -> str:
        """Check a password login and open a session; return the session token for the cookie.

        Every failure is audited (rate-limited, see `_audit_failed_sign_in`); what was typed as
        the password never is, and an unknown email only as a keyed hash.

        Raises:
            Throttled: too many recent failures for this account or this address.
            SecondFactorNeeded: the password is right; `login_code` with its ticket goes on.
            BadCredentials: wrong email or password, or the account is inactive.
        """
        email = email.strip().lower()[:254]
        now = self.clock()
        pair_key = f"pair:{keyed_hash(self.secret, 'login-pair', email + chr(0) + (ip or ''))}"
        ip_key = f"ip:{keyed_hash(self.secret, 'login-ip', ip)}" if ip else None
        account_key = f"account:{keyed_hash(self.secret, 'login-account', email)}"
        with self.uow() as uow:
            try:
                self._check_throttle(uow, pair_key, ip_key, now)
            except Throttled:
                self._audit_failed_sign_in(uow, email, ip, "throttled", uow.staff.by_email(email))
                uow.commit()
                raise
            staff = uow.staff.by_email(email)
            password_ok = self.passwords.verify(staff.password_hash if staff else None, password)
            ok = password_ok and staff is not None and staff.active
            uow.login_attempts.add(pair_key, succeeded=ok, now=now)
            uow.login_attempts.add(account_key, succeeded=ok, now=now)
            if ip_key and not ok:
                uow.login_attempts.add(ip_key, succeeded=False, now=now)
            uow.login_attempts.purge_before(now - dt.timedelta(days=1))
            if not ok or staff is None:
                reason = ("unknown_account" if staff is None else
                          "wrong_password" if not password_ok else "inactive")
                self._audit_failed_sign_in(uow, email, ip, reason, staff)
                account_failures, _first, _last = uow.login_attempts.recent_failures(
                    account_key, now - THROTTLE_WINDOW)
                uow.commit()
                if account_failures and account_failures % ACCOUNT_ALARM_FAILURES == 0:
                    log.warning("%s failed sign-ins on one staff account in %s minutes, from "
                                "any addresses (each address is slowed on its own)",
                                account_failures, int(THROTTLE_WINDOW.total_seconds() // 60))
                raise BadCredentials("wrong email or password")
            if staff.password_hash and self.passwords.needs_rehash(staff.password_hash):
                staff.password_hash = self.passwords.hash(password)
            if staff.totp_enabled_at is not None:
                uow.commit()  # the attempt counts; the session waits for the code
                raise SecondFactorNeeded(self._ticket(staff))
            token = self._open_session(uow, staff, ip, now)
            uow.commit()
            return token

    def login_code(self, ticket: str, code: str, ip: str | None) -> str:
        """Finish a sign-in with the TOTP code (or a recovery code); return the session token.

        A code is good once: its time step is claimed in the same statement that checks it.

        Raises:
            Throttled: too many wrong codes for this account, or from this address.
            SignInExpired: the ticket expired or no longer applies.
            BadCredentials: the code is wrong or was used already.
        """
        now = self.clock()
        found = self._read_ticket(ticket)
        with self.uow() as uow:
            staff = uow.staff.get(found[0]) if found is not None else None
            if (found is None or staff is None or not staff.active
                    or staff.totp_enabled_at is None or found[1] != _password_fingerprint(staff)):
                raise SignInExpired("this sign-in expired; start again")
            pair_key = f"code-pair:{keyed_hash(self.secret, 'code-pair', f'{staff.id}:{ip}')}"
            account_key = f"code-account:{keyed_hash(self.secret, 'code-account', staff.id)}"
            try:
                self._check_throttle(uow, pair_key, None, now)
                failures, first, _last = uow.login_attempts.recent_failures(
                    account_key, now - THROTTLE_WINDOW)
                if failures >= CODE_ACCOUNT_FAILURES:
                    _throttled(THROTTLE_WINDOW - (now - first) if first else THROTTLE_WINDOW)
            except Throttled:
                self._audit_failed_sign_in(uow, staff.email, ip, "code_throttled", staff)
                uow.commit()
                raise
            how = self._second_factor(uow, staff, code, now)
            uow.login_attempts.add(pair_key, succeeded=how is not None, now=now)
            uow.login_attempts.add(account_key, succeeded=how is not None, now=now)
            if how is None:
                self._audit_failed_sign_in(uow, staff.email, ip, "wrong_code", staff)
                uow.commit()
                raise BadCredentials("wrong code, or a code that was already used")
            token = self._open_session(uow, staff, ip, now, second_factor=how)
            uow.commit()
            return token

    def _second_factor(
        self, uow: SqlUnitOfWork, staff: Staff, code: str, now: dt.datetime
    ) -> str | None:
        """Return "totp" or "recovery_code" when `code` is good (and claim it), else None."""
        if mfa.looks_like_recovery_code(code):
            claimed = uow.staff.claim_recovery_code(
                staff.id, mfa.recovery_hash(self.secret, code), now)
            return "recovery_code" if claimed else None
        if staff.totp_secret is None:
            return None
        try:
            secret = mfa.unseal(self.secret, staff.totp_secret)
        except mfa.SecretUnreadable:
            log.error("a staff member's TOTP secret can't be decrypted (the app secret changed?);"
                      " reset it with `healthbot staff reset-2fa`")
            return None
        step = mfa.matching_step(secret, code, now, staff.totp_last_step)
        if step is None or not uow.staff.claim_totp_step(staff.id, step):
            return None
        return "totp"

    def _ticket(self, staff: Staff) -> str:
        """Sign (staff id, a fingerprint of the password hash) for the code step to trust.

        A new password (a reset, a change) changes the fingerprint, so it voids every ticket.
        """
        return str(self._tickets().dumps([staff.id, _password_fingerprint(staff)]))

    def _read_ticket(self, ticket: str) -> tuple[int, str] | None:
        """Return (staff id, fingerprint) from a ticket that is genuine and recent, else None."""
        from itsdangerous import BadSignature

        if len(ticket) > 400:
            return None
        try:
            payload = self._tickets().loads(ticket, max_age=CODE_TICKET_S)
        except BadSignature:
            return None
        if (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], int)
                and isinstance(payload[1], str)):
            return payload[0], payload[1]
        return None

    def _tickets(self) -> Any:
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self.secret, salt="healthbot-login-code")

    def _open_session(
        self, uow: SqlUnitOfWork, staff: Staff, ip: str | None, now: dt.datetime,
        *, second_factor: str | None = None,
    ) -> str:
        """Start a session for a signed-in staff member; audited as `staff.login`."""
        staff.last_login_at = now
        token = new_token()
        hours = self.services.settings.staff_session_hours
        uow.staff.purge_expired_sessions(now)
        uow.staff.add_session(
            StaffSession(token_hash=token_hash(token), staff_id=staff.id, created_at=now,
                         expires_at=now + dt.timedelta(hours=hours))
        )
        self._audit(uow, Actor(staff.id, staff.email, staff.role, staff.name, ip),
                    "staff.login",
                    detail={"second_factor": second_factor} if second_factor else None)
        return token

    def _audit_failed_sign_in(
        self, uow: SqlUnitOfWork, email: str, ip: str | None, reason: str, staff: Staff | None
    ) -> None:
        """Audit a failed or throttled sign-in, unless too many were audited this minute.

        A known account is named; an unknown email is kept only as a short keyed hash (people
        type their password into the email box), enough to see one guess repeated.
        """
        since = self.clock() - AUDIT_RATE_WINDOW
        actions = ("staff.login_failed",)
        by_ip = uow.audit.count_recent(actions, since, ip=ip)
        in_all = uow.audit.count_recent(actions, since, any_ip=True)
        if by_ip >= FAILED_SIGN_IN_AUDIT_PER_IP or in_all >= FAILED_SIGN_IN_AUDIT_TOTAL:
            log.warning("a failed staff sign-in (%s) was not audited: more than %s this minute",
                        reason, FAILED_SIGN_IN_AUDIT_PER_IP if by_ip >= FAILED_SIGN_IN_AUDIT_PER_IP
                        else FAILED_SIGN_IN_AUDIT_TOTAL)
            return
        if staff is not None:
            who = Actor(staff.id, staff.email, staff.role, staff.name, ip)
            self._audit(uow, who, "staff.login_failed", target=f"staff:{staff.id}",
                        detail={"reason": reason})
        else:
            who = Actor(None, "unknown", "none", "", ip)
            self._audit(uow, who, "staff.login_failed", detail={
                "reason": reason, "email_ref": keyed_hash(self.secret, "login-email", email)[:16]})

    def record_refusal(self, actor: Actor, *, method: str, route: str, path: str,
                       needed: str) -> None:
        """Audit a 403: who asked for what, and the role it needed; capped per person a minute."""
        with self.uow() as uow:
            since = self.clock() - AUDIT_RATE_WINDOW
            if actor.staff_id is not None and uow.audit.count_recent(
                    ("access.refused",), since, actor_id=actor.staff_id
            ) >= REFUSAL_AUDIT_PER_PERSON:
                log.warning("a refused %s %s was not audited: more than %s this minute",
                            method, route, REFUSAL_AUDIT_PER_PERSON)
                return
            self._audit(uow, actor, "access.refused", detail={
                "method": method, "route": route, "path": path[:200], "needed": needed,
                "role": actor.role})
            uow.commit()

    @staticmethod
    def _check_throttle(uow: SqlUnitOfWork, pair_key: str, ip_key: str | None,
                        now: dt.datetime) -> None:
        """Raise Throttled while this pair must wait, or this address has failed too often."""
        failures, _first, last = uow.login_attempts.recent_failures(pair_key, now - PAIR_WINDOW)
        if failures >= PAIR_FREE_FAILURES and last is not None:
            delay = pair_delay(failures)
            if now < last + delay:
                _throttled(last + delay - now)
        if ip_key is not None:
            failures, first, _last = uow.login_attempts.recent_failures(
                ip_key, now - THROTTLE_WINDOW)
            if failures >= MAX_IP_FAILURES:
                _throttled(THROTTLE_WINDOW - (now - first) if first else THROTTLE_WINDOW)

    def session_actor(self, token: str, ip: str | None = None) -> Actor | None:
        """Return who a session token belongs to, or None when it is unknown or expired."""
        if len(token) > 200:
            return None
        with self.uow() as uow:
            row = uow.staff.session_by_hash(token_hash(token))
            if row is None or row.expires_at <= self.clock():
                return None
            staff = uow.staff.get(row.staff_id)
            if staff is None or not staff.active:
                return None
            return Actor(staff.id, staff.email, staff.role, staff.name, ip,
                         must_enrol=staff.role == "admin" and staff.totp_enabled_at is None)

    def logout(self, token: str, actor: Actor | None) -> None:
        with self.uow() as uow:
            uow.staff.end_session(token_hash(token))
            if actor is not None:
                self._audit(uow, actor, "staff.logout")
            uow.commit()

    # --- conversations ----------------------------------------------------------------------

    def inbox(
        self, filters: InboxFilter, *, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of conversations in triage order, and the total count.

        Open emergencies first, then requests for a human, then urgent cases, each longest
        waiting first (since its oldest unresolved escalation was raised); then the rest, latest
        activity first.

        Raises:
            Invalid: a filter value outside the known ones.
        """
        filters.check()
        rank = case(
            *((Message.triage_level == level, r) for level, r in LEVEL_RANK.items()), else_=0
        )
        stats = (
            select(
                Message.contact_id.label("contact_id"),
                func.max(rank).label("level_rank"),
                func.max(Message.created_at).label("last_at"),
            )
            .group_by(Message.contact_id)
            .subquery()
        )
        top, waiting = _open_escalations()
        last_activity = func.coalesce(stats.c.last_at, Contact.created_at)
        tier = func.coalesce(top.c.tier, NO_TIER)
        query = (
            select(Contact, stats.c.level_rank, last_activity.label("last_activity"),
                   top.c.tier, top.c.open_count, waiting.c.since, waiting.c.event_id)
            .outerjoin(stats, stats.c.contact_id == Contact.id)
            .outerjoin(top, top.c.contact_id == Contact.id)
            .outerjoin(waiting, waiting.c.contact_id == Contact.id)
        )
        if filters.state:
            query = query.where(Contact.state == filters.state)
        if filters.level:
            query = query.where(stats.c.level_rank == LEVEL_RANK[filters.level])
        if filters.since:
            query = query.where(last_activity >= _day_start(filters.since))
        if filters.until:
            query = query.where(last_activity < _day_start(filters.until) + dt.timedelta(days=1))
        if filters.q and filters.q.strip():
            text = filters.q.strip()
            matching = select(Message.contact_id).where(
                Message.body.icontains(text, autoescape=True)
            )
            query = query.where(
                Contact.id.in_(matching) | Contact.profile_name.icontains(text, autoescape=True)
            )
        with self.uow() as uow:
            total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = uow.session.execute(
                query.order_by(tier, waiting.c.since.asc().nulls_last(), last_activity.desc(),
                               Contact.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
            contacts = [row[0] for row in rows]
            ids = [c.id for c in contacts]
            last = uow.messages.last_for(ids)
            last_in = _last_inbound(uow, ids)
            events = {e.id: e for e in uow.session.scalars(select(SafetyEvent).where(
                SafetyEvent.id.in_({row[6] for row in rows if row[6] is not None}))).all()}
            excerpts = _bodies(uow, {e.message_id for e in events.values()})
            assigned = self._assignments(uow, ids)
            now = self.clock()
            failed = _failed_deliveries(uow, ids)
            items = []
            for contact, level_rank, activity, top_tier, open_count, since, event_id in rows:
                item = contact_json(contact)
                item["level"] = LEVELS[level_rank - 1] if level_rank else None
                item["last_activity_at"] = _aware(activity)
                found = last.get(contact.id)
                item["last_message"] = message_json(found) if found is not None else None
                inbound = last_in.get(contact.id)
                item["last_inbound"] = message_json(inbound) if inbound is not None else None
                item["priority"] = TIER_NAMES[top_tier] if top_tier is not None else None
                item["open_escalations"] = int(open_count or 0)
                since = _aware(since)
                item["waiting_since"] = since
                item["waiting_seconds"] = (
                    max(0, int((now - since).total_seconds())) if since else None)
                event = events.get(event_id) if event_id is not None else None
                item["escalation"] = None if event is None else {
                    "id": event.id, "kind": event.kind, "level": event.level,
                    "status": event.status, "created_at": event.created_at,
                    "excerpt": excerpts.get(event.message_id) if event.message_id else None,
                }
                item["assigned_to"] = assigned.get(contact.id)
                item["failed_deliveries"] = failed.get(contact.id, 0)
                items.append(item)
            return items, int(total)

    def transcript(self, actor: Actor, contact_id: int) -> dict[str, Any]:
        """Return the whole conversation with what the bot decided about each message; audited.

        Raises:
            NotFound: no such contact.
        """
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            result = self._transcript(uow, contact)
            self._audit(uow, actor, "transcript.view", contact_id=contact.id)
            uow.commit()
            return result

    def media_item(self, actor: Actor, message_id: int, index: int) -> dict[str, Any]:
        """Return one media item of an inbound message ({"url", "content_type"}); audited.

        Raises:
            NotFound: no such message, or it has no media item at `index`.
        """
        with self.uow() as uow:
            message = uow.messages.get(message_id)
            items = (message.media or []) if message is not None else []
            if message is None or message.direction != "in" or not 0 <= index < len(items):
                raise NotFound(f"no media {index} on message {message_id}")
            item = dict(items[index])
            self._audit(uow, actor, "media.view", contact_id=message.contact_id,
                        target=f"message:{message_id}/{index}")
            uow.commit()
            return item

    def _transcript(self, uow: SqlUnitOfWork, contact: Contact) -> dict[str, Any]:
        messages = list(
            uow.session.scalars(
                select(Message).where(Message.contact_id == contact.id).order_by(Message.id)
            ).all()
        )
        calls: dict[int, list[ModelCallRow]] = {}
        ids = [m.id for m in messages]
        if ids:
            for call in uow.session.scalars(
                select(ModelCallRow).where(ModelCallRow.message_id.in_(ids))
                .order_by(ModelCallRow.id)
            ).all():
                calls.setdefault(call.message_id, []).append(call)
        safety_rows = uow.safety_events.for_contact(contact.id)
        staff_names = self._staff_names(
            uow, _staff_ids(messages) | {e.resolved_by_id for e in safety_rows})
        guard = guard_notes(messages, safety_rows)
        drops = level_drops(messages, safety_rows, staff_names)
        items = []
        all_calls: list[ModelCallRow] = []
        for message in messages:
            item = message_json(message)
            rows = calls.get(message.id, [])
            all_calls.extend(rows)
            item["model_calls"] = [model_call_json(c) for c in rows]
            item["perspectives"] = sorted({c.perspective for c in rows if c.perspective})
            item["cost_usd"] = total_cost(rows) if rows else None
            staff_id = item["staff_id"]
            item["staff"] = staff_names.get(staff_id) if staff_id is not None else None
            item["guard"] = guard.get(message.id, [])
            item["level_drop"] = drops.get(message.id)
            items.append(item)
        events = [self._event_json(uow, e, contact) for e in safety_rows]
        now = self.clock()
        notes = list(uow.session.scalars(
            select(CaseNote).where(CaseNote.contact_id == contact.id).order_by(CaseNote.id)
        ).all())
        note_names = self._staff_names(uow, {n.staff_id for n in notes})
        return {
            "contact": contact_json(contact) | {"in_window": in_window(contact, now)},
            "messages": items,
            "escalations": events,
            "cost_usd": total_cost(all_calls),
            "notes": [note_json(n, note_names) for n in notes],
            "assigned_to": self._assignments(uow, [contact.id]).get(contact.id),
        }

    def reply(self, actor: Actor, contact_id: int, body: str, *, key: str) -> list[int]:
        """Send a staff reply (see `reply_case`); return the ids of the stored messages.

        Raises:
            NotFound, Invalid, SendRefused: as `reply_case`.
        """
        ids: list[int] = self.reply_case(actor, contact_id, body, key=key)["message_ids"]
        return ids

    def reply_case(self, actor: Actor, contact_id: int, body: str, *, key: str
                   ) -> dict[str, Any]:
        """Send a staff reply through the Messenger and take over the conversation; audited.

        A reply that goes out answers the person's open escalations: each becomes acknowledged
        by the sender, recorded on the reply (`extra.answers_escalations`) and in the audit log.
        Returns {"message_ids", "acknowledged"}.

        Raises:
            NotFound: no such contact.
            Invalid: empty or too long a reply, or a malformed idempotency key.
            SendRefused: outside the 24-hour window, Twilio not configured, or Twilio refused.
        """
        from bot.services import MessengerNotConfigured

        body = body.strip()
        if not body:
            raise Invalid("write a reply first")
        if len(body) > MAX_REPLY:
            raise Invalid(f"a reply has at most {MAX_REPLY} characters")
        if not key or len(key) > 64 or not key.replace("-", "").replace("_", "").isalnum():
            raise Invalid("the idempotency key must be 1-64 letters, digits, - or _")
        with self.uow() as uow:
            _contact(uow, contact_id)
            answering = [e.id for e in uow.safety_events.for_contact(contact_id)
                         if e.status == "open" and e.kind in ESCALATION_TIER]
        outcome, error = "sent", None
        ids: list[int] = []
        acknowledged: list[int] = []
        full_key = f"staff:{contact_id}:{key}"
        extra: dict[str, Any] = {"staff_id": actor.staff_id, "from": "staff"}
        if answering:
            extra["answers_escalations"] = answering
        try:
            ids = self.services.send_text(
                contact_id, body, key=full_key, extra=extra, mode="staff",
            )
        except MessengerNotConfigured as exc:
            outcome = "not_configured"
            error = SendRefused(
                "Replies can't be sent: Twilio is not configured on this server "
                f"({exc}).", code="messenger_not_configured", status=503,
            )
        except OutsideWindow:
            outcome = "outside_window"
            error = SendRefused(
                "Not sent: this person last wrote more than 24 hours ago, so WhatsApp only "
                "allows an approved template message. The reply is kept in the transcript "
                "as failed.", code="outside_window",
            )
        except SendFailed as exc:
            outcome = "send_failed"
            error = SendRefused(f"Twilio did not take the message: {exc}", code="send_failed",
                                status=502 if exc.retryable else 409)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        with self.uow() as uow:
            contact = uow.contacts.get(contact_id)
            if contact is None:
                raise NotFound(f"no contact {contact_id}")  # erased while we were sending
            refused = [m for m in (uow.messages.get(i) for i in ids)
                       if m is not None and m.status == "canceled"]
            if outcome == "sent" and refused:
                # The sender re-checks the contact just before sending (e.g. they sent STOP).
                reason = str((refused[0].extra or {}).get("not_sent", "refused"))
                outcome = "not_sent"
                error = SendRefused(
                    "Not sent: " + ("this person has opted out (STOP)." if reason == "opted_out"
                                    else f"{reason.replace('_', ' ')}."),
                    code="not_sent",
                )
            if outcome == "sent":
                # Replying takes the conversation: the bot stays quiet until it is handed back.
                contact.state = "with_staff"
                acknowledged = self._acknowledge_by_reply(uow, actor, answering, ids)
            else:  # the rows recorded before sending failed (kept in the transcript as failed)
                ids = [m.id for m in uow.messages.by_idempotency_prefix(full_key)]
            detail: dict[str, Any] = {"outcome": outcome, "message_ids": ids}
            if acknowledged:
                detail["acknowledged"] = acknowledged
            self._audit(uow, actor, "conversation.reply", contact_id=contact_id, detail=detail)
            uow.commit()
        if error is not None:
            raise error
        return {"message_ids": ids, "acknowledged": acknowledged}

    def _acknowledge_by_reply(
        self, uow: SqlUnitOfWork, actor: Actor, event_ids: list[int], message_ids: list[int]
    ) -> list[int]:
        """Mark the escalations a sent reply answers as acknowledged by its sender."""
        done = []
        now = self.clock()
        for event_id in event_ids:
            event = uow.session.get(SafetyEvent, event_id)
            if event is None or event.status != "open":
                continue  # someone acknowledged or resolved it meanwhile
            event.status = "acknowledged"
            event.acknowledged_at, event.acknowledged_by_id = now, actor.staff_id
            self._audit(uow, actor, "escalation.acknowledge", contact_id=event.contact_id,
                        target=f"safety_event:{event.id}",
                        detail={"from": "open", "to": "acknowledged", "kind": event.kind,
                                "by_reply": message_ids})
            done.append(event.id)
        return done

    def hand_back(self, actor: Actor, contact_id: int) -> dict[str, Any]:
        """Give the conversation back to the bot and resolve the request for a human; audited.

        Raises:
            NotFound: no such contact.
        """
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            previous = contact.state
            contact.state = "bot"
            resolved = []
            now = self.clock()
            for event in uow.safety_events.for_contact(contact.id):
                if event.kind == "human_requested" and event.status in ("open", "acknowledged"):
                    event.status, event.resolved_at = "resolved", now
                    event.resolved_by_id = actor.staff_id
                    resolved.append(event.id)
            # The bot has the conversation again: nobody is working it any more.
            uow.session.execute(
                delete(CaseAssignment).where(CaseAssignment.contact_id == contact.id))
            self._audit(uow, actor, "conversation.handback", contact_id=contact.id,
                        detail={"previous_state": previous, "resolved_escalations": resolved})
            uow.commit()
            return {"state": contact.state, "resolved_escalations": resolved}

    # --- working a case ----------------------------------------------------------------------

    def _assignments(
        self, uow: SqlUnitOfWork, contact_ids: list[int]
    ) -> dict[int, dict[str, Any]]:
        """Who works each of these conversations: {contact_id: {"id", "name", "assigned_at"}}."""
        if not contact_ids:
            return {}
        rows = uow.session.scalars(
            select(CaseAssignment).where(CaseAssignment.contact_id.in_(contact_ids))).all()
        names = self._staff_names(uow, {r.staff_id for r in rows})
        return {r.contact_id: {"id": r.staff_id, "name": names.get(r.staff_id),
                               "assigned_at": r.assigned_at} for r in rows}

    def claim(
        self, actor: Actor, contact_id: int, *, staff_id: int | None = None
    ) -> dict[str, Any]:
        """Take a conversation to work it, or (admins) give it to another clinician; audited.

        Raises:
            NotFound: no such contact or staff member.
            Forbidden: a non-admin assigning someone else.
            Invalid: the assignee can't work cases (inactive, or a viewer).
            Conflict: someone else has it and the actor is not an admin.
        """
        target = staff_id if staff_id is not None else actor.staff_id
        if target is None:
            raise Invalid("say who takes the conversation: staff_id")
        if target != actor.staff_id and not actor.can("admin"):
            raise Forbidden("only an admin can give a conversation to someone else")
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            staff = uow.staff.get(target)
            if staff is None:
                raise NotFound(f"no staff member {target}")
            if not staff.active or ROLE_RANK.get(staff.role, 0) < ROLE_RANK["clinician"]:
                raise Invalid(f"{staff.email} can't work cases (inactive, or a viewer)")
            row = uow.session.get(CaseAssignment, contact.id)
            previous = row.staff_id if row is not None else None
            if previous not in (None, target) and not actor.can("admin"):
                holder = self._staff_names(uow, {previous}).get(previous or 0, "someone")
                raise Conflict(f"{holder} is working this conversation; an admin can reassign it")
            now = self.clock()
            if row is None:
                row = CaseAssignment(contact_id=contact.id, staff_id=target,
                                     assigned_by_id=actor.staff_id, assigned_at=now)
                uow.session.add(row)
            elif previous != target:
                row.staff_id, row.assigned_by_id, row.assigned_at = target, actor.staff_id, now
            action = "conversation.claim" if target == actor.staff_id else "conversation.assign"
            self._audit(uow, actor, action, contact_id=contact.id, target=f"staff:{target}",
                        detail={"staff_id": target, "previous_staff_id": previous})
            uow.flush()
            result = {"contact_id": contact.id,
                      "assigned_to": self._assignments(uow, [contact.id])[contact.id]}
            uow.commit()
            return result

    def add_note(self, actor: Actor, contact_id: int, body: str) -> dict[str, Any]:
        """Keep an internal note on a conversation (never sent to the person); audited.

        Raises:
            NotFound: no such contact.
            Invalid: an empty or too long note.
        """
        body = body.strip()
        if not body:
            raise Invalid("write the note first")
        if len(body) > MAX_NOTE:
            raise Invalid(f"a note has at most {MAX_NOTE} characters")
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            note = CaseNote(contact_id=contact.id, staff_id=actor.staff_id, body=body,
                            created_at=self.clock())
            uow.session.add(note)
            uow.flush()
            # The audit entry says a note was written, not what: the note is the record.
            self._audit(uow, actor, "case.note", contact_id=contact.id,
                        target=f"case_note:{note.id}", detail={"chars": len(body)})
            result = note_json(note, self._staff_names(uow, {note.staff_id}))
            uow.commit()
            return result

    def notes(
        self, contact_id: int, *, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of a conversation's internal notes, oldest first.

        Raises:
            NotFound: no such contact.
        """
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            query = select(CaseNote).where(CaseNote.contact_id == contact.id)
            total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = uow.session.scalars(
                query.order_by(CaseNote.id).limit(per_page).offset((page - 1) * per_page)).all()
            names = self._staff_names(uow, {n.staff_id for n in rows})
            return [note_json(n, names) for n in rows], int(total)

    def quick_replies(
        self, *, language: str | None = None, page: int = 1, per_page: int = 200
    ) -> tuple[list[dict[str, Any]], int]:
        """Return canned replies by name with their texts; with `language`, also the text to
        insert for a person of that language (English when it has none).

        Raises:
            Invalid: an unsupported language.
        """
        if language is not None and language not in SUPPORTED:
            raise Invalid(f"language must be one of {', '.join(SUPPORTED)}")
        with self.uow() as uow:
            names_query = select(QuickReply.name).distinct()
            total = uow.session.scalar(
                select(func.count()).select_from(names_query.subquery())) or 0
            names = list(uow.session.scalars(
                names_query.order_by(QuickReply.name).limit(per_page)
                .offset((page - 1) * per_page)).all())
            rows = uow.session.scalars(
                select(QuickReply).where(QuickReply.name.in_(names))).all()
            texts: dict[str, dict[str, str]] = {name: {} for name in names}
            for row in rows:
                texts[row.name][row.language] = row.body
            items = []
            for name in names:
                item: dict[str, Any] = {"name": name, "texts": texts[name]}
                if language is not None:
                    chosen = language if language in texts[name] else "en"
                    item["language"] = chosen if chosen in texts[name] else None
                    item["text"] = texts[name].get(chosen)
                items.append(item)
            return items, int(total)

    def quick_replies_for(self, language: str | None) -> list[dict[str, Any]]:
        """The quick replies to offer in a reply box, in the person's language."""
        items, _ = self.quick_replies(language=normalize_language(language))
        return [i for i in items if i["text"]]

    def save_quick_reply(
        self, actor: Actor, name: str, texts: dict[str, str]
    ) -> dict[str, Any]:
        """Create or change a quick reply's texts (an empty text removes that language); audited.

        Raises:
            Invalid: a malformed name, an unsupported language, or too long a text.
            Conflict: no language would have a text left.
        """
        if not QUICK_REPLY_NAME.fullmatch(name):
            raise Invalid("a quick reply's name is 1-48 lower-case letters, digits or _")
        for language, text in texts.items():
            if language not in SUPPORTED:
                raise Invalid(f"language must be one of {', '.join(SUPPORTED)}")
            if not isinstance(text, str) or len(text) > MAX_REPLY:
                raise Invalid(f"each text is a string of at most {MAX_REPLY} characters")
        with self.uow() as uow:
            rows = {r.language: r for r in uow.session.scalars(
                select(QuickReply).where(QuickReply.name == name)).all()}
            now = self.clock()
            changed = []
            for language, text in sorted(texts.items()):
                text = text.strip()
                row = rows.get(language)
                if not text:
                    if row is not None:
                        uow.session.delete(row)
                        del rows[language]
                        changed.append(language)
                elif row is None:
                    rows[language] = QuickReply(name=name, language=language, body=text,
                                                updated_at=now, updated_by_id=actor.staff_id)
                    uow.session.add(rows[language])
                    changed.append(language)
                elif row.body != text:
                    row.body, row.updated_at, row.updated_by_id = text, now, actor.staff_id
                    changed.append(language)
            if not rows:  # what is stored decides: 409, like any state conflict
                raise Conflict("a quick reply needs a text in at least one language")
            self._audit(uow, actor, "quick_reply.save", target=f"quick_reply:{name}",
                        detail={"languages": changed})
            uow.commit()
            return {"name": name, "texts": {k: v.body for k, v in sorted(rows.items())}}

    def delete_quick_reply(self, actor: Actor, name: str) -> dict[str, Any]:
        """Remove a quick reply in every language; audited.

        Raises:
            NotFound: no quick reply of that name.
        """
        with self.uow() as uow:
            removed = int(uow.session.scalar(
                select(func.count()).where(QuickReply.name == name[:48])) or 0)
            uow.session.execute(delete(QuickReply).where(QuickReply.name == name[:48]))
            if not removed:
                raise NotFound(f"no quick reply {name[:48]!r}")
            self._audit(uow, actor, "quick_reply.delete", target=f"quick_reply:{name}",
                        detail={"languages": removed})
            uow.commit()
            return {"name": name, "removed": removed}

    # --- escalations -----------------------------------------------------------------------

    def escalations(
        self, status: str | None, *, page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Return escalations, most severe and then longest waiting first: open and
        acknowledged ones unless `status` says (resolved ones: latest first).

        Raises:
            Invalid: unknown status.
        """
        if status and status not in ESCALATION_STATUSES:
            raise Invalid(f"status must be one of {', '.join(ESCALATION_STATUSES)}")
        wanted = [status] if status else ["open", "acknowledged"]
        query = select(SafetyEvent).where(SafetyEvent.status.in_(wanted))
        with self.uow() as uow:
            total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
            order = ([SafetyEvent.id.desc()] if status == "resolved"
                     else [_tier_of_kind(), SafetyEvent.created_at, SafetyEvent.id])
            events = uow.session.scalars(
                query.order_by(*order).limit(per_page).offset((page - 1) * per_page)
            ).all()
            contacts = {
                c.id: c for c in uow.session.scalars(
                    select(Contact).where(Contact.id.in_({e.contact_id for e in events}))
                ).all()
            }
            items = [self._event_json(uow, e, contacts.get(e.contact_id)) for e in events]
            return items, int(total)

    def acknowledge(self, actor: Actor, event_id: int) -> dict[str, Any]:
        """Mark an open escalation as seen by this staff member; audited.

        Raises:
            NotFound: no such escalation.
            Conflict: it is not open.
        """
        return self._move(actor, event_id, "acknowledged", ("open",))

    def resolve(
        self, actor: Actor, event_id: int, *, outcome: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Close an open or acknowledged escalation with its outcome; audited.

        Raises:
            Invalid: no outcome, an unknown one, or too long a note.
            NotFound: no such escalation.
            Conflict: it is already resolved, or not an escalation.
        """
        if outcome not in OUTCOMES:
            raise Invalid(f"say how it ended: outcome must be one of {', '.join(OUTCOMES)}")
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_OUTCOME_NOTE:
            raise Invalid(f"the outcome note has at most {MAX_OUTCOME_NOTE} characters")
        return self._move(actor, event_id, "resolved", ("open", "acknowledged"),
                          outcome=outcome, note=note)

    def _move(
        self, actor: Actor, event_id: int, to: str, allowed_from: tuple[str, ...],
        *, outcome: str | None = None, note: str | None = None,
    ) -> dict[str, Any]:
        with self.uow() as uow:
            event = uow.session.get(SafetyEvent, event_id)
            if event is None or event.status not in ESCALATION_STATUSES:
                raise NotFound(f"no escalation {event_id}")
            if event.status not in allowed_from:
                raise Conflict(f"escalation {event_id} is {event.status}; it can't become {to}")
            now = self.clock()
            previous, event.status = event.status, to
            if to == "acknowledged":
                event.acknowledged_at, event.acknowledged_by_id = now, actor.staff_id
            else:
                event.resolved_at, event.resolved_by_id = now, actor.staff_id
                event.outcome, event.outcome_note = outcome, note
            verb = "acknowledge" if to == "acknowledged" else "resolve"
            detail: dict[str, Any] = {"from": previous, "to": to, "kind": event.kind}
            if outcome is not None:
                detail["outcome"] = outcome
            self._audit(uow, actor, f"escalation.{verb}", contact_id=event.contact_id,
                        target=f"safety_event:{event.id}", detail=detail)
            uow.flush()
            result = self._event_json(uow, event, uow.contacts.get(event.contact_id))
            uow.commit()
            return result

    def _event_json(
        self, uow: SqlUnitOfWork, event: SafetyEvent, contact: Contact | None
    ) -> dict[str, Any]:
        names = self._staff_names(uow, {event.acknowledged_by_id, event.resolved_by_id})
        excerpt = None
        if event.message_id is not None:
            message = uow.messages.get(event.message_id)
            excerpt = message.body[:200] if message is not None else None
        return {
            "id": event.id,
            "contact_id": event.contact_id,
            "contact_name": contact.profile_name if contact else None,
            "contact_state": contact.state if contact else None,
            "kind": event.kind,
            "level": event.level,
            "rule_ids": list(event.rule_ids or []),
            "status": event.status,
            "excerpt": excerpt,
            "created_at": event.created_at,
            "age_seconds": max(0, int((self.clock() - event.created_at).total_seconds())),
            "acknowledged_at": event.acknowledged_at,
            "acknowledged_by": _name(names, event.acknowledged_by_id),
            "resolved_at": event.resolved_at,
            "resolved_by": _name(names, event.resolved_by_id),
            "outcome": event.outcome,
            "outcome_note": event.outcome_note,
        }

    def _staff_names(self, uow: SqlUnitOfWork, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = uow.session.scalars(select(Staff).where(Staff.id.in_(wanted))).all()
        return {s.id: s.name or s.email for s in rows}

    # --- export, erasure, retention ----------------------------------------------------------

    def export(self, actor: Actor, contact_id: int, fmt: str) -> tuple[str, str]:
        """Return (content type, document) for one conversation, as JSON or CSV; audited.

        Raises:
            NotFound: no such contact.
            Invalid: unknown format.
        """
        import json

        if fmt not in ("json", "csv"):
            raise Invalid("format must be json or csv")
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            data = self._transcript(uow, contact)
            self._audit(uow, actor, "contact.export", contact_id=contact.id,
                        detail={"format": fmt, "messages": len(data["messages"])})
            uow.commit()
        data["exported_at"] = self.clock()
        if fmt == "json":
            return "application/json", json.dumps(jsonable(data), ensure_ascii=False, indent=2)
        out = io.StringIO()
        writer = csv.writer(out)
        columns = ["id", "created_at", "direction", "body", "status", "error_code",
                   "triage_level", "rule_ids", "model", "mode", "perspectives", "staff",
                   "cost_usd"]
        writer.writerow(columns)
        for item in data["messages"]:
            row = []
            for column in columns:
                value = item.get(column)
                if isinstance(value, list):
                    value = " ".join(str(v) for v in value)
                elif isinstance(value, dt.datetime):
                    value = value.isoformat()
                text = "" if value is None else str(value)
                row.append("'" + text if text.startswith(_FORMULA_START) else text)
            writer.writerow(row)
        return "text/csv; charset=utf-8", out.getvalue()

    def erase(self, actor: Actor, contact_id: int) -> dict[str, int]:
        """Delete every row about one contact; the audit entry keeps only keyed hashes.

        Raises:
            NotFound: no such contact.
        """
        with self.uow() as uow:
            contact = _contact(uow, contact_id)
            counts = _counts(uow, [contact.id])
            wa_ref = keyed_hash(self.secret, "wa_id", contact.wa_id)
            uow.contacts.erase(contact)
            self._audit(uow, actor, "contact.erase", contact_id=contact_id,
                        keep_contact_id=False, detail={"removed": counts, "wa_id_ref": wa_ref})
            uow.commit()
            return counts

    def record_self_erasure(self, uow: SqlUnitOfWork, contact: Contact) -> None:
        """Audit a person's own DELETE YES over WhatsApp, in the erasing transaction."""
        counts = _counts(uow, [contact.id])
        wa_ref = keyed_hash(self.secret, "wa_id", contact.wa_id)
        self._audit(uow, SELF_ERASE_ACTOR, "contact.self_erase", contact_id=contact.id,
                    keep_contact_id=False, detail={"removed": counts, "wa_id_ref": wa_ref})

    def retention(self, days: int, *, dry_run: bool) -> dict[str, int]:
        """Erase conversations whose last activity is older than `days`; return what went.

        Raises:
            Invalid: days < 1.
        """
        if days < 1:
            raise Invalid("days must be at least 1")
        cutoff = self.clock() - dt.timedelta(days=days)
        last_message = (
            select(Message.contact_id, func.max(Message.created_at).label("last_at"))
            .group_by(Message.contact_id)
            .subquery()
        )
        activity = func.coalesce(last_message.c.last_at, Contact.last_inbound_at,
                                 Contact.created_at)
        query = (
            select(Contact.id)
            .outerjoin(last_message, last_message.c.contact_id == Contact.id)
            .where(activity < cutoff)
        )
        with self.uow() as uow:
            ids = list(uow.session.scalars(query.order_by(Contact.id)).all())
            counts = _counts(uow, ids)
            if not dry_run:
                for contact_id in ids:
                    contact = uow.contacts.get(contact_id)
                    if contact is None:
                        continue
                    wa_ref = keyed_hash(self.secret, "wa_id", contact.wa_id)
                    uow.contacts.erase(contact)
                    self._audit(uow, RETENTION_ACTOR, "contact.retention_erase",
                                contact_id=contact_id, keep_contact_id=False,
                                detail={"days": days, "wa_id_ref": wa_ref})
                uow.commit()
            return counts

    def audit_page(
        self, *, page: int, per_page: int, action: str | None = None,
        filters: AuditFilter | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of the audit log, newest first, narrowed by `filters` (or `action`).

        Raises:
            Invalid: a filter value out of range.
        """
        from bot.admin.audit_log import AuditFilter

        filters = filters or AuditFilter(action=action or None)
        filters.check()
        with self.uow() as uow:
            rows, total = uow.audit.page(limit=per_page, offset=(page - 1) * per_page,
                                         **filters.query())
            return [audit_json(r) for r in rows], total


def _contact(uow: SqlUnitOfWork, contact_id: int) -> Contact:
    contact = uow.contacts.get(contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


def _counts(uow: SqlUnitOfWork, contact_ids: list[int]) -> dict[str, int]:
    """Count the rows that erasing these contacts removes, table by table."""
    if not contact_ids:
        return {"contacts": 0, "messages": 0, "model_calls": 0, "safety_events": 0, "alerts": 0}
    message_ids = select(Message.id).where(Message.contact_id.in_(contact_ids))

    def count(model: Any, *where: Any) -> int:
        return int(uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "contacts": count(Contact, Contact.id.in_(contact_ids)),
        "messages": count(Message, Message.contact_id.in_(contact_ids)),
        "model_calls": count(ModelCallRow, ModelCallRow.message_id.in_(message_ids)),
        "safety_events": count(SafetyEvent, SafetyEvent.contact_id.in_(contact_ids)),
        "alerts": count(Alert, Alert.contact_id.in_(contact_ids)),
    }


def _tier_of_kind() -> Any:
    return case(ESCALATION_TIER, value=SafetyEvent.kind, else_=NO_TIER)


def _open_escalations() -> tuple[Any, Any]:
    """Subqueries of each contact's unresolved escalations: its top tier (and how many), and
    when the oldest of that tier was raised (and its id)."""
    unresolved = (
        select(SafetyEvent.contact_id, _tier_of_kind().label("tier"),
               SafetyEvent.created_at, SafetyEvent.id)
        .where(SafetyEvent.status.in_(UNRESOLVED), SafetyEvent.kind.in_(ESCALATION_TIER))
        .subquery()
    )
    top = (
        select(unresolved.c.contact_id, func.min(unresolved.c.tier).label("tier"),
               func.count().label("open_count"))
        .group_by(unresolved.c.contact_id)
        .subquery()
    )
    waiting = (
        select(unresolved.c.contact_id, func.min(unresolved.c.created_at).label("since"),
               func.min(unresolved.c.id).label("event_id"))
        .join(top, and_(top.c.contact_id == unresolved.c.contact_id,
                        top.c.tier == unresolved.c.tier))
        .group_by(unresolved.c.contact_id)
        .subquery()
    )
    return top, waiting


def _last_inbound(uow: SqlUnitOfWork, contact_ids: list[int]) -> dict[int, Message]:
    """Each contact's latest message from the person (not the bot's last bubble)."""
    if not contact_ids:
        return {}
    latest = (
        select(func.max(Message.id))
        .where(Message.contact_id.in_(contact_ids), Message.direction == "in")
        .group_by(Message.contact_id)
    )
    rows = uow.session.scalars(select(Message).where(Message.id.in_(latest))).all()
    return {m.contact_id: m for m in rows}


def _bodies(uow: SqlUnitOfWork, message_ids: Iterable[int | None]) -> dict[int, str]:
    """The first 200 characters of each message: what raised an escalation."""
    wanted = {i for i in message_ids if i is not None}
    if not wanted:
        return {}
    rows = uow.session.execute(select(Message.id, Message.body).where(Message.id.in_(wanted)))
    return {i: (body or "")[:200] for i, body in rows}


def note_json(note: CaseNote, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": note.id,
        "contact_id": note.contact_id,
        "staff_id": note.staff_id,
        "staff": _name(names, note.staff_id),
        "body": note.body,
        "created_at": note.created_at,
    }


def _password_fingerprint(staff: Staff) -> str:
    return token_hash(staff.password_hash or "")[:16]


def _failed_deliveries(uow: SqlUnitOfWork, contact_ids: list[int]) -> dict[int, int]:
    """Count each conversation's outgoing messages that Twilio reports failed or undelivered."""
    if not contact_ids:
        return {}
    rows = uow.session.execute(
        select(Message.contact_id, func.count())
        .where(Message.contact_id.in_(contact_ids), Message.direction == "out",
               Message.status.in_(FAILED_STATUSES))
        .group_by(Message.contact_id)
    ).all()
    return {contact_id: int(count) for contact_id, count in rows}


def _failed(message: Message) -> bool:
    return message.direction == "out" and message.status in FAILED_STATUSES


def _name(names: dict[int, str], staff_id: int | None) -> str | None:
    return names.get(staff_id) if staff_id is not None else None


def _staff_ids(messages: Iterable[Message]) -> set[int | None]:
    return {_staff_id(m) for m in messages}


def _staff_id(message: Message) -> int | None:
    value = (message.extra or {}).get("staff_id")
    return value if isinstance(value, int) else None


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def total_cost(calls: Iterable[ModelCallRow]) -> float | str:
    """Sum the calls' cost in USD; "unknown" when any call's cost is unknown."""
    total = 0.0
    for call in calls:
        if call.cost_usd is None:
            return "unknown"
        total += call.cost_usd
    return round(total, 6)


def staff_json(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.id,
        "email": staff.email,
        "name": staff.name,
        "role": staff.role,
        "active": staff.active,
        "created_at": staff.created_at,
        "last_login_at": staff.last_login_at,
        "second_factor": staff.totp_enabled_at is not None,
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "staff_id": token.staff_id,
        "prefix": token.prefix,
        "label": token.label,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "wa_id": contact.wa_id,
        "phone": contact.phone,
        "profile_name": contact.profile_name,
        "country": contact.country,
        "language": contact.language,
        "state": contact.state,
        "opted_out": contact.opted_out,
        "last_inbound_at": contact.last_inbound_at,
        "created_at": contact.created_at,
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "body": message.body,
        "twilio_sid": message.twilio_sid,
        "status": message.status,
        "error_code": message.error_code,
        "media": message.media,
        "location": message.location,
        "button_text": message.button_text,
        "triage_level": message.triage_level,
        "rule_ids": list(message.rule_ids or []),
        "language": message.language,
        "model": message.model,
        "mode": message.mode,
        "latency_ms": message.latency_ms,
        "staff_id": _staff_id(message),
        "created_at": message.created_at,
        # A voice note: what was heard, in which language, by which transcriber (bot/voice).
        "transcript": message.transcript,
        "transcript_language": message.transcript_language,
        "transcriber": message.transcriber,
        "audio_seconds": message.audio_seconds,
        "transcription_cost_usd": message.transcription_cost_usd,
        "transcription_error": (message.extra or {}).get("transcription_error"),
        # Twilio said it did not arrive: flagged, with the error code in words.
        "delivery_failed": _failed(message),
        "delivery_error": delivery_error_text(message.error_code) if _failed(message) else None,
    }


def model_call_json(call: ModelCallRow) -> dict[str, Any]:
    return {
        "provider": call.provider,
        "model": call.model,
        "perspective": call.perspective,
        "mode": call.mode,
        "outcome": call.outcome,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "latency_ms": call.latency_ms,
        "cost_usd": call.cost_usd,
    }


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "created_at": entry.created_at,
        "actor_id": entry.actor_id,
        "actor": entry.actor,
        "action": entry.action,
        "contact_id": entry.contact_id,
        "contact_ref": entry.contact_ref,
        "target": entry.target,
        "ip": entry.ip,
        "detail": entry.detail,
    }


def jsonable(value: Any) -> Any:
    """Turn datetimes into ISO 8601 strings, recursively, for JSON documents."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


__all__ = [
    "ROLE_RANK",
    "Actor",
    "BadCredentials",
    "Conflict",
    "Console",
    "ConsoleError",
    "Forbidden",
    "InboxFilter",
    "Invalid",
    "NotFound",
    "SecondFactorNeeded",
    "SendRefused",
    "SignInExpired",
    "Throttled",
]

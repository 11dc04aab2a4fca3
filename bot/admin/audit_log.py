"""The audit log for people: each action code in words, each entry's details as a sentence,
the filters of the audit page and API, and the CSV export.

An action code the table below does not know (one added later) is still shown, filtered and
exported: its label is the code itself and its details are listed as "key: value".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bot.admin.console import Invalid

if TYPE_CHECKING:
    from bot.admin.console import Actor, Console

# The label of each action, in the order the filter lists them.
ACTION_LABELS: dict[str, str] = {
    "staff.login": "Signed in",
    "staff.login_failed": "Sign-in failed",
    "staff.logout": "Signed out",
    "access.refused": "Refused (role too low)",
    "transcript.view": "Read a conversation",
    "conversation.reply": "Replied to a person",
    "conversation.handback": "Handed a conversation back to the bot",
    "conversation.claim": "Claimed a conversation",
    "conversation.assign": "Assigned a conversation to someone",
    "case.note": "Wrote an internal note",
    "media.view": "Opened a photo or voice note",
    "escalation.acknowledge": "Acknowledged an escalation",
    "escalation.resolve": "Resolved an escalation",
    "contact.export": "Exported a conversation",
    "contact.erase": "Erased a person's data",
    "contact.self_erase": "A person erased their own data (DELETE)",
    "contact.retention_erase": "Erased by the retention rule",
    "staff.create": "Created a staff account",
    "staff.update": "Changed a staff account",
    "staff.password_change": "Changed their password",
    "staff.password_change_failed": "Password change refused (wrong current password)",
    "staff.password_reset_link": "Made a password reset link",
    "staff.password_reset": "Set a new password with a reset link",
    "staff.totp_enable": "Turned on the second factor",
    "staff.totp_disable": "Turned off the second factor",
    "staff.totp_reset": "Reset someone's second factor",
    "token.create": "Created an API token",
    "token.revoke": "Revoked an API token",
    "audit.export": "Exported the audit log",
    "quick_reply.save": "Saved a quick reply",
    "quick_reply.delete": "Removed a quick reply",
}
_REASONS = {
    "unknown_account": "no account with that email",
    "wrong_password": "wrong password",
    "inactive": "the account is switched off",
    "throttled": "too many failures: made to wait",
    "wrong_code": "wrong or reused second-factor code",
    "code_throttled": "too many wrong codes: made to wait",
}
CSV_MAX_ROWS = 100_000
# A spreadsheet runs a cell starting with these as a formula; exported text must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def action_choices(seen: Iterable[str]) -> list[tuple[str, str]]:
    """(code, label) for the filter: the known actions, then any other code found in the log."""
    extra = sorted(set(seen) - set(ACTION_LABELS))
    return [*ACTION_LABELS.items(), *((code, code) for code in extra)]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the audit view is narrowed to; every field is optional."""

    staff_id: int | None = None
    contact_id: int | None = None
    action: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive: the whole day

    def check(self) -> None:
        """Raise Invalid for a value out of range."""
        for name in ("staff_id", "contact_id"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 2147483647:
                raise Invalid(f"{name} must be a positive whole number")
        if self.action is not None and len(self.action) > 48:
            raise Invalid("action is at most 48 characters")
        if self.since and self.until and self.since > self.until:
            raise Invalid("the start date is after the end date")

    def query(self) -> dict[str, Any]:
        """The keyword arguments of AuditRepository.page / matching."""
        return {
            "actor_id": self.staff_id,
            "contact_id": self.contact_id,
            "action": self.action or None,
            "since": _day(self.since) if self.since else None,
            "until": _day(self.until) + dt.timedelta(days=1) if self.until else None,
        }

    def as_detail(self) -> dict[str, Any]:
        """The filter as plain values, for the audit entry of an export."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in asdict(self).items() if v is not None}

    @classmethod
    def parse(cls, args: Any) -> AuditFilter:
        """Build a filter from query arguments (a Mapping of strings); raise Invalid if bad."""
        found = cls(
            staff_id=_int(args.get("staff_id"), "staff_id"),
            contact_id=_int(args.get("contact_id"), "contact_id"),
            action=(args.get("action") or None),
            since=_date(args.get("since"), "since"),
            until=_date(args.get("until"), "until"),
        )
        found.check()
        return found


def _int(value: str | None, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 10:
        raise Invalid(f"{name} must be a positive whole number")
    return int(value)


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        if len(value) > 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-01-31") from None


def _day(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def describe(entry: dict[str, Any]) -> str:
    """Say in words what an entry's details hold; never the raw JSON."""
    action = entry["action"]
    detail: dict[str, Any] = entry.get("detail") or {}
    target = entry.get("target") or ""
    parts: list[str] = []
    if action == "staff.login_failed":
        parts.append(_REASONS.get(str(detail.get("reason")), str(detail.get("reason", ""))))
        if detail.get("email_ref"):
            parts.append(f"email typed (keyed hash) {detail['email_ref']}")
    elif action == "staff.login":
        if detail.get("second_factor") == "recovery_code":
            parts.append("with a recovery code")
        elif detail.get("second_factor"):
            parts.append("with a second-factor code")
    elif action == "access.refused":
        parts.append(f"{detail.get('method', '')} {detail.get('path', '')}".strip())
        parts.append(f"needs {detail.get('needed')}, has {detail.get('role')}")
    elif action == "staff.update":
        parts.extend(_changes(detail.get("changes") or {}))
        if detail.get("email"):
            parts.insert(0, str(detail["email"]))
    elif action in ("staff.create", "staff.password_reset_link", "staff.totp_reset"):
        if detail.get("email"):
            parts.append(str(detail["email"]))
        if detail.get("role"):
            parts.append(f"as {detail['role']}")
        if detail.get("expires_at"):
            parts.append(f"valid until {str(detail['expires_at'])[:16].replace('T', ' ')} UTC")
        if action == "staff.totp_reset":
            parts.append("it was on" if detail.get("was_on") else "it was not on")
    elif action == "staff.password_reset":
        parts.append(f"link made by {detail.get('link_made_by', 'an admin')}")
    elif action == "staff.totp_enable":
        parts.append(f"{detail.get('recovery_codes', 0)} recovery codes issued")
    elif action in ("token.create", "token.revoke"):
        parts.append(f"token {detail.get('prefix', '')}…")
        if detail.get("email"):
            parts.append(f"for {detail['email']}")
    elif action == "contact.export":
        parts.append(f"as {str(detail.get('format', '')).upper()}, "
                     f"{detail.get('messages', 0)} messages")
    elif action in ("contact.erase", "contact.self_erase", "contact.retention_erase"):
        removed = detail.get("removed") or {}
        if removed:
            parts.append(f"removed {removed.get('messages', 0)} messages, "
                         f"{removed.get('safety_events', 0)} safety events, "
                         f"{removed.get('alerts', 0)} alerts")
        if detail.get("days"):
            parts.append(f"no activity for {detail['days']} days")
    elif action == "conversation.reply":
        outcome = str(detail.get("outcome", ""))
        count = len(detail.get("message_ids") or [])
        parts.append(f"{outcome.replace('_', ' ')}, {count} message{'s' if count != 1 else ''}")
    elif action == "conversation.handback":
        parts.append(f"was {str(detail.get('previous_state', '')).replace('_', ' ')}")
        resolved = detail.get("resolved_escalations") or []
        if resolved:
            parts.append(f"resolved escalation {', '.join(str(r) for r in resolved)}")
    elif action.startswith("escalation."):
        parts.append(f"{str(detail.get('kind', '')).replace('_', ' ')}: "
                     f"{detail.get('from')} → {detail.get('to')}")
        if detail.get("outcome"):
            parts.append(f"outcome: {str(detail['outcome']).replace('_', ' ')}")
    elif action in ("conversation.claim", "conversation.assign"):
        parts.append(f"to staff {detail.get('staff_id')}")
        if detail.get("previous_staff_id"):
            parts.append(f"was staff {detail['previous_staff_id']}")
    elif action == "case.note":
        parts.append(f"{detail.get('chars', 0)} characters")  # the note itself is the record
    elif action in ("quick_reply.save", "quick_reply.delete"):
        parts.append(f"{target.split(':', 1)[-1]}")
        languages = detail.get("languages")
        if isinstance(languages, list) and languages:
            parts.append("languages " + ", ".join(languages))
    elif action == "media.view":
        parts.append(f"item {target.split('/', 1)[-1]} of message "
                     f"{target.split(':', 1)[-1].split('/', 1)[0]}")
    elif action == "audit.export":
        parts.append(f"{detail.get('rows', 0)} entries")
        filters = detail.get("filters") or {}
        if filters:
            parts.append("filtered by " + ", ".join(f"{k} {v}" for k, v in filters.items()))
    elif detail:
        parts.extend(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in detail.items())
    if target.startswith("safety_event:") and not action.startswith("escalation."):
        parts.append(f"escalation {target.split(':', 1)[1]}")
    return "; ".join(p for p in parts if p)


def _changes(changes: dict[str, Any]) -> list[str]:
    said = []
    for name, change in changes.items():
        if name == "password":
            said.append("password changed")
        elif name == "active" and isinstance(change, list) and len(change) == 2:
            said.append("switched on" if change[1] else "switched off")
        elif isinstance(change, list) and len(change) == 2:
            said.append(f"{name} {change[0]} → {change[1]}")
        else:
            said.append(f"{name}: {_plain(change)}")
    return said


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def concerns(entry: dict[str, Any]) -> dict[str, Any]:
    """Who or what an entry is about: a staff id, a contact id, or an erased contact's ref."""
    target = entry.get("target") or ""
    staff_id = int(target.split(":", 1)[1]) if target.startswith("staff:") and \
        target.split(":", 1)[1].isdigit() else None
    return {"staff_id": staff_id, "contact_id": entry.get("contact_id"),
            "contact_ref": entry.get("contact_ref")}


def readable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry plus its label, its summary and what it concerns (the page and the CSV)."""
    return entry | {"label": label(entry["action"]), "summary": describe(entry),
                    "concerns": concerns(entry)}


CSV_COLUMNS = ("id", "time_utc", "who", "who_staff_id", "action", "action_label", "summary",
               "contact_id", "contact_ref", "target", "ip")


def to_csv(entries: Iterable[dict[str, Any]]) -> str:
    """The entries as CSV with the same words as the page; cells can't run as formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        item = readable(entry)
        created = item["created_at"]
        values = [item["id"], created.isoformat() if isinstance(created, dt.datetime) else created,
                  item["actor"], item["actor_id"], item["action"], item["label"],
                  item["summary"], item["contact_id"], item["contact_ref"], item["target"],
                  item["ip"]]
        row = []
        for value in values:
            text = "" if value is None else str(value)
            row.append("'" + text if text.startswith(_FORMULA_START) else text)
        writer.writerow(row)
    return out.getvalue()


def export_csv(console: Console, actor: Actor, filters: AuditFilter) -> tuple[str, int]:
    """Return (CSV document, rows) of every entry the filter matches (at most CSV_MAX_ROWS).

    The export is itself audited, with the filter it used, in the transaction that read it.
    """
    from bot.admin.console import audit_json

    filters.check()
    with console.uow() as uow:
        rows = uow.audit.matching(limit=CSV_MAX_ROWS, **filters.query())
        entries = [audit_json(r) for r in rows]
        console._audit(uow, actor, "audit.export",
                       detail={"rows": len(entries), "filters": filters.as_detail()})
        uow.commit()
    return to_csv(entries), len(entries)


def people(console: Console) -> list[dict[str, Any]]:
    """The staff, for the "who" filter: id, and name or email."""
    with console.uow() as uow:
        return [{"id": s.id, "name": s.name or s.email, "email": s.email}
                for s in uow.staff.all()]


def known_actions(console: Console) -> list[tuple[str, str]]:
    with console.uow() as uow:
        return action_choices(uow.audit.actions())

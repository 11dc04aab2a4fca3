"""Sending outside a webhook response: record first, then send, so nothing is lost or doubled.

Every outbound message is a `Message` row with a unique idempotency key *before* it is handed to
the `Messenger`. A retried job (or a worker that died mid-send) finds the row: if it already has
a Twilio SID it is not sent again. The WhatsApp 24-hour window is checked before any free-form
text: outside it only an approved template may go, or the caller gets `OutsideWindow`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.bubbles import split_message
from bot.store.models import Contact, Message, utcnow

if TYPE_CHECKING:
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=24)
# Statuses in the order a message moves through them; callbacks may arrive out of order, so the
# store keeps the most advanced one. failed/undelivered are final.
STATUS_RANK = {
    "pending": 0,  # recorded by us, not yet accepted by Twilio
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "delivered": 5,
    "read": 6,
}
FINAL_STATUSES = frozenset({"failed", "undelivered", "canceled"})
# Twilio error 21610: the recipient unsubscribed (replied STOP to WhatsApp, blocked the sender).
UNSUBSCRIBED = 21610


class OutsideWindow(Exception):
    """Free-form text can't be sent: the contact's last message is older than 24 hours."""


class SendFailed(Exception):
    """Twilio refused or could not take the message; `retryable` says whether to try again.

    `code` is Twilio's error code; None means Twilio gave no answer (network error, timeout), so
    the message may or may not have been accepted.
    """

    def __init__(self, message: str, *, code: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Template:
    """An approved WhatsApp template (Twilio Content API) for use outside the 24-hour window."""

    content_sid: str  # HX + 32 hex
    variables: Mapping[str, str]


class Messenger(Protocol):
    """Sends one WhatsApp message through the provider; returns (provider SID, initial status)."""

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]: ...

    def send_template(
        self, to: str, template: Template, *, status_callback: str | None
    ) -> tuple[str, str]: ...


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the provider has on record: what reconciliation matches a row against."""

    sid: str
    status: str
    body: str
    created_at: dt.datetime | None


@runtime_checkable
class SentLookup(Protocol):
    """A Messenger that can list what it recently sent to someone (to reconcile unknown sends)."""

    def find_sent(self, to: str, since: dt.datetime) -> list[SentMessage]: ...


# Decides, just before a row is sent, whether it still may be: returns why not, or None.
SendCheck = Callable[[Contact, Message], str | None]
# The approved template to send a row as when the 24-hour window has closed, if there is one.
TemplateFor = Callable[[Message], Template | None]


def in_window(contact: Contact, now: dt.datetime) -> bool:
    """True when free-form messages may be sent: the contact wrote within the last 24 hours."""
    last = contact.last_inbound_at
    return last is not None and now - last < WINDOW


def advance_status(current: str, new: str) -> str:
    """Return the status to keep when a callback says `new`: the most advanced one wins."""
    if current in FINAL_STATUSES:
        return current
    if new in FINAL_STATUSES:
        return new
    if STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1):
        return new
    return current


def record_outbound(
    uow: SqlUnitOfWork,
    contact: Contact,
    body: str,
    *,
    idempotency_key: str,
    now: dt.datetime | None = None,
    reply_to_id: int | None = None,
    extra: Mapping[str, Any] | None = None,
    **fields: Any,
) -> list[Message]:
    """Record the bubbles of one outbound text as pending rows (idempotent on the key).

    Returns the existing rows when this key was recorded before, so a retried job never makes a
    second copy. The caller commits, then sends the rows that have no SID yet.
    """
    existing = uow.messages.by_idempotency_prefix(idempotency_key)
    if existing:
        return existing
    now = now or utcnow()
    rows = []
    for index, bubble in enumerate(split_message(body)):
        rows.append(
            uow.messages.add(
                Message(
                    contact_id=contact.id,
                    direction="out",
                    body=bubble,
                    status="pending",
                    idempotency_key=f"{idempotency_key}#{index}",
                    reply_to_id=reply_to_id,
                    extra=dict(extra or {}),
                    created_at=now,
                    **fields,
                )
            )
        )
    return rows


def send_recorded(
    uow_factory: Any,
    messenger: Messenger,
    message_ids: list[int],
    *,
    status_callback: str | None,
    template: Template | None = None,
    now: dt.datetime | None = None,
    template_for: TemplateFor | None = None,
    may_send: SendCheck | None = None,
) -> list[str]:
    """Send recorded rows that have no SID yet, in order; store each SID as soon as it is known.

    Before each send the row is marked "sending" (committed) with the time of the attempt. A row
    found still "sending" without a SID was being sent when a worker died or Twilio gave no
    answer: if the messenger can look up what it sent (`SentLookup`), a message to that number
    since the attempt with the same body (for a template: containing the row's text, its
    variable) and a SID we don't know yet is taken as this row's, and nothing is sent again;
    if it can't, the row is sent again (a rare duplicate is better than a lost health message).
    `may_send` re-checks the contact just before sending (opted out, handed to staff): a refused
    row is "canceled" with the reason in `extra["not_sent"]`. Outside the 24-hour window a row
    goes as `template_for(row)` if that gives a template.

    Raises:
        OutsideWindow: free-form text, the contact's window has closed and there is no template.
        SendFailed: Twilio refused a message; rows sent before it keep their SIDs. When the
            refusal is final, the rest of the batch is canceled too.
    """
    sids = []
    for position, message_id in enumerate(message_ids):
        with uow_factory() as uow:
            row = uow.messages.get(message_id)
            if row is None or row.twilio_sid is not None:
                if row is not None and row.twilio_sid:
                    sids.append(row.twilio_sid)
                continue  # already sent by an earlier try: never send twice
            if row.status in FINAL_STATUSES:
                continue  # refused or canceled by an earlier try: the reason is on the row
            contact = uow.contacts.get(row.contact_id)
            if contact is None:
                continue  # erased meanwhile: nothing to send to
            when = now or utcnow()
            reason = may_send(contact, row) if may_send is not None else None
            if reason is not None:
                row.status = "canceled"
                row.extra = {**(row.extra or {}), "not_sent": reason}
                uow.commit()
                log.info("outbound message %s not sent: %s", row.id, reason)
                continue
            chosen = template
            if chosen is None and not in_window(contact, when):
                chosen = template_for(row) if template_for is not None else None
                if chosen is None:
                    row.status, row.error_code = "failed", "63016"
                    row.extra = {**(row.extra or {}), "not_sent": "outside_window"}
                    uow.commit()
                    _cancel_rest(uow_factory, message_ids[position + 1:], "outside_window")
                    raise OutsideWindow(
                        f"contact {contact.id} last wrote at {contact.last_inbound_at}; free-form "
                        "text outside the 24-hour window needs an approved template"
                    )
            to, body = contact.phone, row.body
            if row.status == "sending":
                found = _reconcile(uow, messenger, row, to, body, chosen is not None)
                if found is not None:
                    uow.commit()
                    sids.append(found)
                    continue
            row.status = "sending"
            row.extra = {**(row.extra or {}), "send_started_at": when.isoformat(),
                         "sent_as": "template" if chosen is not None else "text"}
            uow.commit()
        try:
            if chosen is not None:
                sid, status = messenger.send_template(to, chosen, status_callback=status_callback)
            else:
                sid, status = messenger.send_text(to, body, status_callback=status_callback)
        except SendFailed as exc:
            _record_refusal(uow_factory, message_id, exc)
            if not exc.retryable:
                _cancel_rest(uow_factory, message_ids[position + 1:], f"earlier bubble failed: "
                             f"{exc.code}")
            raise
        with uow_factory() as uow:
            row = uow.messages.get(message_id)
            if row is not None:
                row.twilio_sid = sid
                # The row had no SID, so no callback can have moved it on: start from pending.
                row.status = advance_status("pending", status)
                uow.commit()
        sids.append(sid)
    return sids


def _reconcile(
    uow: SqlUnitOfWork, messenger: Messenger, row: Message, to: str, body: str, template: bool
) -> str | None:
    """Find the provider's copy of a row whose earlier send has an unknown outcome; store it."""
    if not isinstance(messenger, SentLookup):
        log.warning("outbound message %s may have been sent already; this messenger can't "
                    "check, so it is sent again", row.id)
        return None
    started = (row.extra or {}).get("send_started_at")
    since = dt.datetime.fromisoformat(started) if started else row.created_at
    for sent in messenger.find_sent(to, since):
        # A template's text is its variable "1" inside the approved wording; free text is exact.
        matches = body.strip() in sent.body if template else sent.body.strip() == body.strip()
        if not matches:
            continue
        if uow.messages.by_sid(sent.sid) is not None:
            continue  # that one is another row's
        row.twilio_sid = sent.sid
        row.status = advance_status("pending", sent.status or "queued")
        row.extra = {**(row.extra or {}), "reconciled": True}
        log.info("outbound message %s was already sent as %s; not sending again", row.id, sent.sid)
        return sent.sid
    return None


def _record_refusal(uow_factory: Any, message_id: int, exc: SendFailed) -> None:
    """Store what Twilio said; a refusal is a known outcome, no answer at all is not."""
    with uow_factory() as uow:
        row = uow.messages.get(message_id)
        if row is None:
            return
        if exc.code is None:
            return  # no answer: the row stays "sending", and the next try reconciles it
        row.error_code = str(exc.code)
        row.status = "pending" if exc.retryable else "failed"
        if not exc.retryable:
            row.extra = {**(row.extra or {}), "error": str(exc)[:300]}
        if exc.code == UNSUBSCRIBED:
            contact = uow.contacts.get(row.contact_id)
            if contact is not None and not contact.opted_out:
                # WhatsApp says they unsubscribed: treat it as STOP, so nothing more is tried.
                contact.opted_out, contact.opted_out_at = True, utcnow()
        uow.commit()


def _cancel_rest(uow_factory: Any, message_ids: list[int], reason: str) -> None:
    """Cancel the bubbles after a final failure: half an answer must not trickle out later."""
    if not message_ids:
        return
    with uow_factory() as uow:
        for message_id in message_ids:
            row = uow.messages.get(message_id)
            if row is not None and row.twilio_sid is None and row.status not in FINAL_STATUSES:
                row.status = "canceled"
                row.extra = {**(row.extra or {}), "not_sent": reason}
        uow.commit()

"""`POST /twilio/status`: Twilio's status callbacks for the messages we sent through REST.

Signed like the inbound webhook and checked the same way. Callbacks arrive out of order and
repeat, so the stored status only ever moves forward (`bot.outbound.advance_status`), in one
conditional UPDATE so two concurrent callbacks can't move it back. An emergency text that ends
failed or undelivered raises a staff alert, and so does a staff alert sent through Twilio
(recognised by the `alert_contact` query parameter of its callback URL). An unknown MessageSid
still gets 200 (Twilio would retry otherwise) and is logged. During a database outage the
callback gets a 503 within STATUS_BUDGET_S, never a 500.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select, update

from bot import metrics
from bot.outbound import FINAL_STATUSES, STATUS_RANK, advance_status
from bot.store.models import Message, SafetyEvent, utcnow
from bot.webhook.deadline import run_within
from bot.webhook.views import bad_request, verify_signature

if TYPE_CHECKING:
    from bot.services import Services
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio_status", __name__, url_prefix="/twilio")

KNOWN_STATUSES = frozenset(STATUS_RANK) | FINAL_STATUSES | {"sending"}


def services() -> Services:
    return current_app.extensions["bot"]  # type: ignore[no-any-return]


def statuses_before(new: str) -> list[str]:
    """The stored statuses a callback saying `new` may replace: those it is more advanced than."""
    return sorted(s for s in KNOWN_STATUSES if s != new and advance_status(s, new) == new)


# Twilio does not wait long for a status callback; a hung database gets a 503 by then.
STATUS_BUDGET_S = 4.0


@blueprint.post("/status")
def status_callback() -> Response:
    verify_signature()
    started = time.monotonic()
    svc = services()
    form = request.form.to_dict()
    args = request.args.to_dict()
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    new = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or not new:
        return bad_request("status callback without MessageSid or MessageStatus")
    expected_account = svc.settings.twilio_account_sid
    account = form.get("AccountSid")
    if expected_account and account and account != expected_account:
        return Response("AccountSid does not match this deployment\n", status=403)
    metrics.observe_delivery_status(new)
    # During an outage (down, hung, unmigrated) this raises, and the app answers 503.
    alert_ids = run_within(started + STATUS_BUDGET_S,
                           lambda: _record_status(svc, sid, new, form, args), name="twilio-status")
    svc.dispatch_alerts(alert_ids)
    return Response(status=200)


def _record_status(
    svc: Services, sid: str, new: str, form: dict[str, str], args: dict[str, str]
) -> list[int]:
    """Move the stored status forward; return the staff alerts a failure raised."""
    error_code = (form.get("ErrorCode") or "").strip()[:16] or None
    alert_ids: list[int] = []
    with svc.uow() as uow:
        values: dict[str, object] = {"status": new}
        if error_code and new in FINAL_STATUSES:
            values["error_code"] = error_code
        moved = uow.session.execute(
            update(Message)
            .where(Message.twilio_sid == sid, Message.status.in_(statuses_before(new)))
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        row = uow.messages.by_sid(sid)
        if row is None:
            if args.get("alert_contact"):
                alert_ids = _staff_alert_status(svc, uow, sid, new, error_code, form, args)
            else:
                log.warning("status %r for unknown MessageSid %s ignored", new, sid)
            uow.commit()
            return alert_ids
        if moved:
            uow.session.refresh(row)
            if new in ("failed", "undelivered"):
                from bot.jobs import delivery_failed

                alert_ids = delivery_failed(svc, uow, row)
        uow.commit()
    return alert_ids


def _staff_alert_status(
    svc: Services, uow: SqlUnitOfWork, sid: str, status: str, error_code: str | None,
    form: dict[str, str], args: dict[str, str],
) -> list[int]:
    """A staff alert sent through Twilio was not delivered: tell staff another way, once."""
    if status not in ("failed", "undelivered"):
        return []
    try:
        contact_id = int(args.get("alert_contact", ""))
    except ValueError:
        return []
    reason = args.get("reason", "")
    contact = uow.contacts.get(contact_id)
    if contact is None:
        return []
    already = uow.session.scalar(
        select(SafetyEvent.id).where(SafetyEvent.contact_id == contact_id,
                                     SafetyEvent.kind == "delivery_failed",
                                     SafetyEvent.detail["sid"].as_string() == sid))
    if already is not None:
        return []  # Twilio repeats callbacks
    event = uow.safety_events.add(SafetyEvent(
        contact_id=contact_id,
        kind="delivery_failed",
        detail={"sid": sid, "status": status, "error_code": error_code, "what": "staff_alert",
                "to": form.get("To"), "alert_reason": reason},
        status="open",
        created_at=utcnow(),
    ))
    log.error("staff alert %s about contact %s was %s (%s)", sid, contact_id, status, error_code)
    if reason == "delivery_failed":
        return []  # an alert about a failed alert that failed too: stop, don't loop
    return svc.alerts.create(uow, contact, event, f"a staff alert ({reason}) was {status}")

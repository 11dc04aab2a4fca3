"""Telling staff, reliably: alerts are rows first, then sent; a failed send is retried, never lost.

Two real adapters of the `Alerter` port: a signed JSON webhook POST, and a WhatsApp/SMS message to
on-call numbers through Twilio. `StaffAlerts` records one `Alert` row per channel inside the
message's transaction, sends after commit, and retries with backoff until sent or given up
(given-up alerts stay visible as `failed`, with a safety event for staff).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import or_, update

from bot.ports import Alerter, StaffAlert
from bot.store.models import Alert, Contact, SafetyEvent, utcnow

if TYPE_CHECKING:
    from bot.store.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# How long a worker may take to send one alert before another may try it (see _claim).
CLAIM_LEASE = dt.timedelta(minutes=2)
SIGNATURE_HEADER = "X-Healthbot-Signature"
TIMESTAMP_HEADER = "X-Healthbot-Timestamp"


class AlertSendError(Exception):
    """An alert could not be delivered this time."""


def sign_payload(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "timestamp.body", so a receiver can reject replays and forgeries."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookAlerter:
    """POST the alert as signed JSON to a URL the organisation runs (a pager, Slack relay...)."""

    name = "webhook"

    def __init__(self, url: str, secret: str, client: httpx.Client) -> None:
        self.url = url
        self.secret = secret
        self.client = client

    def send(self, alert: StaffAlert) -> None:
        body = json.dumps({"type": "healthbot.alert", **asdict(alert)}, default=list).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_payload(self.secret, timestamp, body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as exc:
            raise AlertSendError(f"webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise AlertSendError(f"webhook answered HTTP {response.status_code}")


class TwilioAlerter:
    """Message the on-call numbers (`whatsapp:+...` for WhatsApp, `+...` for SMS)."""

    name = "twilio"

    def __init__(self, client: Any, from_whatsapp: str, numbers: Sequence[str],
                 from_sms: str | None = None, *, status_callback: str | None = None) -> None:
        self.client = client
        self.from_whatsapp = from_whatsapp
        self.from_sms = from_sms
        self.numbers = list(numbers)
        # Twilio reports there if an alert is not delivered after all (bot/webhook/status.py).
        self.status_callback = status_callback

    def send(self, alert: StaffAlert) -> None:
        from urllib.parse import urlencode

        from twilio.base.exceptions import TwilioException

        text = format_alert(alert)
        failures = []
        for number in self.numbers:
            sender = self.from_whatsapp if number.startswith("whatsapp:") else self.from_sms
            if sender is None:
                failures.append(f"{number}: no SMS sender configured")
                continue
            extra: dict[str, str] = {}
            if self.status_callback:
                query = urlencode({"alert_contact": alert.contact_id, "reason": alert.reason})
                extra["status_callback"] = f"{self.status_callback}?{query}"
            try:
                self.client.messages.create(to=number, from_=sender, body=text, **extra)
            except TwilioException as exc:
                failures.append(f"{number}: {exc}")
        if failures:
            raise AlertSendError("; ".join(failures)[:480])


def format_alert(alert: StaffAlert) -> str:
    """The short text on-call staff read on their phone."""
    rules = ", ".join(alert.rule_ids) or "-"
    lines = [
        f"[healthbot] {alert.reason.upper()} ({alert.level}) from {alert.phone}",
        f"Rules: {rules}",
        f"Message: {alert.excerpt}",
    ]
    if alert.admin_url:
        lines.append(f"Open: {alert.admin_url}")
    return "\n".join(lines)[:1500]


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try: 30 s, 1 min, 2 min... capped at 30 min."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 1800))


class StaffAlerts:
    """Create alert rows in the caller's transaction; deliver them after it commits."""

    def __init__(
        self,
        alerters: Sequence[Alerter],
        uow_factory: Callable[[], SqlUnitOfWork],
        *,
        admin_base_url: str | None = None,
        submit: Callable[[Callable[[], None]], None] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.alerters = {a.name: a for a in alerters}
        self.uow_factory = uow_factory
        self.admin_base_url = admin_base_url
        # How delivery runs: inline by default; the app hands a thread pool or a queue.
        self.submit = submit or (lambda job: job())
        self.clock = clock

    def create(
        self, uow: SqlUnitOfWork, contact: Contact, event: SafetyEvent, excerpt: str
    ) -> list[int]:
        """Record one pending alert per channel for this safety event; return their ids."""
        payload = StaffAlert(
            contact_id=contact.id,
            phone=contact.phone,
            level=event.level or "",
            rule_ids=list(event.rule_ids or []),
            excerpt=excerpt,
            reason=event.kind,
            admin_url=(
                f"{self.admin_base_url}/admin/contacts/{contact.id}"
                if self.admin_base_url else None
            ),
        )
        ids = []
        for name in self.alerters:
            row = uow.alerts.add(
                Alert(
                    contact_id=contact.id,
                    safety_event_id=event.id,
                    channel=name,
                    payload=asdict(payload) | {"rule_ids": list(payload.rule_ids)},
                    created_at=self.clock(),
                )
            )
            ids.append(row.id)
        return ids

    def dispatch(self, alert_ids: Sequence[int]) -> None:
        """Deliver these alerts now, through the configured executor."""
        if alert_ids:
            ids = list(alert_ids)
            self.submit(lambda: self.deliver(ids))

    def deliver(self, alert_ids: Sequence[int]) -> None:
        """Try each pending alert once; failures are recorded with the time of the next try."""
        for alert_id in alert_ids:
            self._deliver_one(alert_id)

    def retry_due(self) -> int:
        """Deliver every pending alert whose next try is due; return how many were tried."""
        with self.uow_factory() as uow:
            ids = [a.id for a in uow.alerts.due(self.clock())]
        self.deliver(ids)
        return len(ids)

    def _claim(self, alert_id: int) -> bool:
        """Take a lease on a due pending alert; False when another worker holds or sent it.

        One conditional UPDATE decides, so two workers (or a dispatch racing `retry_due`) never
        both send the same alert. A worker that dies holding the lease loses it after
        CLAIM_LEASE, and `retry_due` tries the alert again.
        """
        now = self.clock()
        with self.uow_factory() as uow:
            claimed = uow.session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.status == "pending",
                       or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= now))
                .values(next_attempt_at=now + CLAIM_LEASE)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            uow.commit()
        return bool(claimed)

    def _deliver_one(self, alert_id: int) -> None:
        if not self._claim(alert_id):
            return
        with self.uow_factory() as uow:
            alert = uow.session.get(Alert, alert_id)
            if alert is None or alert.status != "pending":
                return
            alerter = self.alerters.get(alert.channel)
            payload = dict(alert.payload)
            alert.attempts += 1
            try:
                if alerter is None:
                    raise AlertSendError(f"channel {alert.channel!r} is not configured any more")
                alerter.send(StaffAlert(**payload))
            except Exception as exc:
                alert.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if alert.attempts >= MAX_ATTEMPTS:
                    alert.status = "failed"
                    uow.safety_events.add(
                        SafetyEvent(
                            contact_id=alert.contact_id,
                            kind="alert_failed",
                            detail={"alert_id": alert.id, "channel": alert.channel,
                                    "error": alert.last_error},
                            status="open",
                            created_at=self.clock(),
                        )
                    )
                else:
                    alert.next_attempt_at = self.clock() + backoff(alert.attempts)
                log.warning("alert %s via %s failed (attempt %s): %s",
                            alert.id, alert.channel, alert.attempts, alert.last_error)
            else:
                alert.status = "sent"
                alert.sent_at = self.clock()
            uow.commit()

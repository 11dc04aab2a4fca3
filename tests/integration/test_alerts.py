"""Staff alerts: the two real adapters, retries that never lose an alert, and the whole path."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException

from bot.alerts import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertSendError,
    StaffAlerts,
    TwilioAlerter,
    WebhookAlerter,
    backoff,
    format_alert,
)
from bot.ports import StaffAlert
from bot.store.models import Alert, Contact, SafetyEvent, utcnow
from bot.store.uow import SqlUnitOfWork, make_engine, session_factory
from tests.helpers import make_settings, signed_post, twilio_form

SECRET = "alert-secret"
ALERT = StaffAlert(contact_id=7, phone="whatsapp:+254712345678", level="emergency",
                   rule_ids=["chest_pain"], excerpt="crushing chest pain", reason="emergency",
                   admin_url="https://bot.example.org/admin/contacts/7")


class Receiver:
    """A local HTTP endpoint standing in for the organisation's pager / chat relay."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_webhook_alert_is_signed_json(receiver: Receiver, http: httpx.Client) -> None:
    WebhookAlerter(receiver.url, SECRET, http).send(ALERT)
    ((headers, body),) = receiver.requests
    payload = json.loads(body)
    assert payload["type"] == "healthbot.alert"
    assert payload["phone"] == ALERT.phone and payload["rule_ids"] == ["chest_pain"]
    expected = hmac.new(SECRET.encode(), headers[TIMESTAMP_HEADER].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"


def test_webhook_alert_failures_raise(http: httpx.Client) -> None:
    refusing = Receiver(status=500)
    try:
        with pytest.raises(AlertSendError, match="HTTP 500"):
            WebhookAlerter(refusing.url, SECRET, http).send(ALERT)
    finally:
        refusing.close()
    with pytest.raises(AlertSendError, match="unreachable"):
        WebhookAlerter("http://127.0.0.1:1/alerts", SECRET, http).send(ALERT)


class FakeMessages:
    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.fail_for = fail_for or set()
        self.created: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> object:
        if kwargs["to"] in self.fail_for:
            raise TwilioRestException(400, "https://api.twilio.com", "refused", code=21610)
        self.created.append(kwargs)
        return object()


class FakeTwilio:
    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.messages = FakeMessages(fail_for)


def test_twilio_alert_goes_to_every_oncall_number_on_its_channel() -> None:
    client = FakeTwilio()
    alerter = TwilioAlerter(client, "whatsapp:+14155238886",
                            ["whatsapp:+254700000001", "+254700000002"], from_sms="+15005550006")
    alerter.send(ALERT)
    sent = [(m["to"], m["from_"]) for m in client.messages.created]
    assert sent == [("whatsapp:+254700000001", "whatsapp:+14155238886"),
                    ("+254700000002", "+15005550006")]
    assert client.messages.created[0]["body"] == format_alert(ALERT)
    assert "crushing chest pain" in format_alert(ALERT)


def test_twilio_alert_reports_the_numbers_that_failed() -> None:
    client = FakeTwilio(fail_for={"+254700000002"})
    alerter = TwilioAlerter(client, "whatsapp:+14155238886",
                            ["whatsapp:+254700000001", "+254700000002"], from_sms=None)
    with pytest.raises(AlertSendError, match=r"\+254700000002"):
        alerter.send(ALERT)


class Flaky:
    """An alerter that fails a set number of times, then works."""

    name = "webhook"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[StaffAlert] = []

    def send(self, alert: StaffAlert) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise AlertSendError("pager down")
        self.sent.append(alert)


@pytest.fixture
def store(migrated_database_url: str) -> Iterator[Any]:
    engine = make_engine(migrated_database_url)
    sessions = session_factory(engine)
    yield lambda: SqlUnitOfWork(sessions)
    engine.dispose()


def _seed_alert(store: Any, alerts: StaffAlerts) -> int:
    with store() as uow:
        contact = uow.contacts.note_inbound(wa_id="254712345678", phone="whatsapp:+254712345678",
                                            profile_name=None, country="KE", now=utcnow())
        event = uow.safety_events.add(SafetyEvent(contact_id=contact.id, kind="emergency",
                                                  level="emergency", rule_ids=["chest_pain"],
                                                  status="open"))
        (alert_id,) = alerts.create(uow, contact, event, "crushing chest pain")
        uow.commit()
    return alert_id


def test_a_failing_alert_is_retried_with_backoff_until_sent(store: Any) -> None:
    now = [dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)]
    alerter = Flaky(failures=2)
    alerts = StaffAlerts([alerter], store, clock=lambda: now[0])
    alert_id = _seed_alert(store, alerts)

    alerts.dispatch([alert_id])
    with store() as uow:
        row = uow.session.get(Alert, alert_id)
        assert (row.status, row.attempts, row.last_error) == ("pending", 1,
                                                              "AlertSendError: pager down")
        assert row.next_attempt_at == now[0] + backoff(1)
    assert alerts.retry_due() == 0  # not due yet: nothing is hammered
    now[0] += backoff(1)
    assert alerts.retry_due() == 1
    now[0] += backoff(2)
    assert alerts.retry_due() == 1
    with store() as uow:
        row = uow.session.get(Alert, alert_id)
        assert (row.status, row.attempts) == ("sent", 3) and row.sent_at == now[0]
    assert [a.excerpt for a in alerter.sent] == ["crushing chest pain"]


def test_an_alert_that_never_gets_through_is_kept_and_raised_to_staff(store: Any) -> None:
    now = [dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)]
    alerts = StaffAlerts([Flaky(failures=10_000)], store, clock=lambda: now[0])
    alert_id = _seed_alert(store, alerts)
    alerts.dispatch([alert_id])
    for _ in range(MAX_ATTEMPTS + 2):
        now[0] += dt.timedelta(hours=1)
        alerts.retry_due()
    with store() as uow:
        row = uow.session.get(Alert, alert_id)
        assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
        kinds = [e.kind for e in uow.session.scalars(select(SafetyEvent).order_by(SafetyEvent.id))]
        assert kinds == ["emergency", "alert_failed"]


def test_emergency_through_the_webhook_alerts_staff(tmp_path: Path, migrated_database_url: str,
                                                   receiver: Receiver) -> None:
    from bot.app import create_app

    settings = make_settings(tmp_path, migrated_database_url,
                             HEALTHBOT_ALERT_WEBHOOK_URL=receiver.url,
                             HEALTHBOT_ALERT_WEBHOOK_SECRET=SECRET)
    app = create_app(settings, upgrade_db=False, background=False)
    try:
        response = signed_post(app.test_client(),
                               twilio_form("my husband collapsed and is not breathing"))
        assert response.status_code == 200
        ((_headers, body),) = receiver.requests
        payload = json.loads(body)
        assert payload["reason"] == "emergency" and payload["level"] == "emergency"
        assert payload["phone"] == "whatsapp:+254712345678" and payload["rule_ids"]
        assert payload["admin_url"].startswith("https://bot.example.org/admin/contacts/")
        with app.extensions["bot"].uow() as uow:
            alert = uow.session.scalars(select(Alert)).one()
            assert alert.status == "sent" and alert.channel == "webhook"
            contact = uow.session.scalars(select(Contact)).one()
            assert alert.contact_id == contact.id
    finally:
        app.extensions["bot"].close()

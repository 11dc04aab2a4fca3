"""`POST /twilio/status`: signed, keeps the most advanced status, alerts on failed emergencies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.outbound import record_outbound
from bot.store.models import Alert, Contact, Message, SafetyEvent, utcnow
from tests.delivery.delivery_fakes import FakeMessenger
from tests.delivery.test_alert_claims import CountingAlerter
from tests.helpers import ACCOUNT_SID, make_settings, signed_post

PATH = "/twilio/status"


@pytest.fixture(scope="module")
def alerter() -> CountingAlerter:
    return CountingAlerter(delay_s=0)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, module_database_url: str,
        alerter: CountingAlerter) -> Iterator[Any]:
    """One app per backend for the module; each test uses its own MessageSids."""
    from bot.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("status"), module_database_url,
                             TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    application = create_app(settings, messenger=FakeMessenger(), alerters=[alerter],
                             upgrade_db=True, background=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["bot"].close()


def sent_row(app: Any, sid: str, *, level: str | None = None, status: str = "queued") -> int:
    with app.extensions["bot"].uow() as uow:
        contact = uow.contacts.by_wa_id("254712345678")
        if contact is None:
            contact = Contact(wa_id="254712345678", phone="whatsapp:+254712345678",
                              last_inbound_at=utcnow())
            uow.session.add(contact)
            uow.flush()
        (row,) = record_outbound(uow, contact, "Call 112 now.", idempotency_key=f"k:{sid}",
                                 triage_level=level)
        row.twilio_sid, row.status = sid, status
        uow.commit()
        return row.id


def callback(client: Any, sid: str, status: str, **extra: str) -> Any:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": ACCOUNT_SID, "From": "whatsapp:+14155238886",
            "To": "whatsapp:+254712345678", "ApiVersion": "2010-04-01",
            "ChannelPrefix": "whatsapp", **extra}
    return signed_post(client, form, path=PATH)


def row(app: Any, message_id: int) -> Message:
    with app.extensions["bot"].uow() as uow:
        found: Message | None = uow.messages.get(message_id)
        assert found is not None
        return found


def test_statuses_move_forward_and_never_back(app: Any) -> None:
    client = app.test_client()
    message_id = sent_row(app, "SM" + "1" * 32)
    for status in ("sent", "read", "delivered", "sending"):  # out of order, as Twilio warns
        assert callback(client, "SM" + "1" * 32, status).status_code == 200
    assert row(app, message_id).status == "read"


def test_failed_is_final_and_keeps_the_error_code(app: Any) -> None:
    client = app.test_client()
    message_id = sent_row(app, "SM" + "2" * 32)
    callback(client, "SM" + "2" * 32, "undelivered", ErrorCode="63016")
    callback(client, "SM" + "2" * 32, "delivered")
    found = row(app, message_id)
    assert (found.status, found.error_code) == ("undelivered", "63016")


def test_unknown_sid_is_acknowledged_and_ignored(app: Any) -> None:
    response = callback(app.test_client(), "SM" + "9" * 32, "delivered")
    assert response.status_code == 200


def test_unsigned_or_malformed_callbacks_are_refused(app: Any) -> None:
    client = app.test_client()
    assert client.post(PATH, data={"MessageSid": "SMx", "MessageStatus": "sent"}).status_code == 403
    response = signed_post(client, {"AccountSid": ACCOUNT_SID}, path=PATH)
    assert response.status_code == 400


def test_a_failed_emergency_text_alerts_staff_once(app: Any, alerter: CountingAlerter) -> None:
    client = app.test_client()
    before = len(alerter.sent)
    message_id = sent_row(app, "SM" + "3" * 32, level="emergency")
    callback(client, "SM" + "3" * 32, "failed", ErrorCode="63018")
    callback(client, "SM" + "3" * 32, "failed", ErrorCode="63018")  # Twilio repeats itself
    with app.extensions["bot"].uow() as uow:
        events = list(uow.session.scalars(
            select(SafetyEvent).where(SafetyEvent.kind == "delivery_failed",
                                      SafetyEvent.message_id == message_id)))
        alerts = list(uow.session.scalars(
            select(Alert).where(Alert.safety_event_id == events[0].id)))
    assert len(events) == 1 and events[0].detail["error_code"] == "63018"
    assert len(alerts) == 1 and alerts[0].status == "sent"
    assert [a.reason for a in alerter.sent[before:]] == ["delivery_failed"]


def test_a_failed_ordinary_answer_raises_no_alert(app: Any, alerter: CountingAlerter) -> None:
    before = len(alerter.sent)
    sent_row(app, "SM" + "4" * 32, level="info")
    callback(app.test_client(), "SM" + "4" * 32, "undelivered", ErrorCode="63016")
    assert len(alerter.sent) == before


def test_concurrent_callbacks_keep_the_most_advanced(app: Any) -> None:
    message_id = sent_row(app, "SM" + "5" * 32)
    statuses = ["sending", "sent", "delivered", "read", "sent", "delivered", "sending", "sent"]
    barrier = threading.Barrier(len(statuses))

    def post(status: str) -> None:
        client = app.test_client()
        barrier.wait()
        assert callback(client, "SM" + "5" * 32, status).status_code == 200

    threads = [threading.Thread(target=post, args=(s,)) for s in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert row(app, message_id).status == "read"


def staff_alert_contact(app: Any) -> int:
    with app.extensions["bot"].uow() as uow:
        contact = Contact(wa_id="254799000111", phone="whatsapp:+254799000111")
        uow.session.add(contact)
        uow.commit()
        return contact.id


def test_an_undelivered_staff_alert_raises_another_alert_once(
    app: Any, alerter: CountingAlerter
) -> None:
    client = app.test_client()
    contact_id = staff_alert_contact(app)
    before = len(alerter.sent)
    path = f"{PATH}?alert_contact={contact_id}&reason=emergency"
    for _ in range(2):  # Twilio repeats itself
        form = {"MessageSid": "SM" + "6" * 32, "MessageStatus": "undelivered",
                "ErrorCode": "63024", "AccountSid": ACCOUNT_SID, "To": "whatsapp:+447700900999"}
        assert signed_post(client, form, path=path).status_code == 200
    assert [a.reason for a in alerter.sent[before:]] == ["delivery_failed"]
    # An alert about a failed alert that fails too raises no third one: no loop.
    form = {"MessageSid": "SM" + "7" * 32, "MessageStatus": "failed",
            "AccountSid": ACCOUNT_SID}
    signed_post(client, form, path=f"{PATH}?alert_contact={contact_id}&reason=delivery_failed")
    assert len(alerter.sent) == before + 1
    with app.extensions["bot"].uow() as uow:
        events = list(uow.session.scalars(select(SafetyEvent).where(
            SafetyEvent.contact_id == contact_id, SafetyEvent.kind == "delivery_failed")))
    assert len(events) == 2 and all(e.detail["what"] == "staff_alert" for e in events)


def test_twilio_alerter_asks_for_status_callbacks() -> None:
    from twilio.rest import Client

    from bot.alerts import TwilioAlerter
    from bot.ports import StaffAlert
    from tests.delivery.delivery_fakes import CannedHttpClient

    http = CannedHttpClient(201, {"sid": "SM" + "8" * 32, "status": "queued"})
    alerter = TwilioAlerter(Client(ACCOUNT_SID, "token", http_client=http),
                            "whatsapp:+14155238886", ["whatsapp:+447700900999"],
                            status_callback="https://bot.example.org/twilio/status")
    alerter.send(StaffAlert(contact_id=42, phone="whatsapp:+1", level="emergency", rule_ids=[],
                            excerpt="chest pain", reason="emergency"))
    assert http.requests[0]["data"]["StatusCallback"] == (
        "https://bot.example.org/twilio/status?alert_contact=42&reason=emergency")

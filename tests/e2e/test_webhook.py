"""The webhook over HTTP (Flask's test client), on SQLite and PostgreSQL, with the offline model."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from typing import Any

from sqlalchemy import func, select

from bot.store.models import Contact, Message, SafetyEvent
from tests.helpers import ACCOUNT_SID, PUBLIC_URL, TEST_TOKEN, signed_post, twilio_form


def bubbles(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response"
    found = [m.text or "" for m in root.iter("Message")]
    assert all(b.strip() for b in found), "an empty <Message/> must never be sent"
    return found


def count(app: Any, model: type, **where: Any) -> int:
    with app.extensions["bot"].uow() as uow:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(uow.session.scalar(query) or 0)


def test_first_message_gets_welcome_and_an_answer_and_both_turns_are_stored(
    app: Any, client: Any
) -> None:
    replies = bubbles(signed_post(client, twilio_form("How do I make oral rehydration solution?")))
    assert len(replies) >= 2
    welcome, answer = replies[0], "\n".join(replies[1:])
    assert "STOP" in welcome and "DELETE" in welcome
    assert "112" in welcome or "999" in welcome  # Kenya's emergency number, from the sender
    assert "salt" in answer.lower() and "sugar" in answer.lower()
    assert count(app, Message, direction="in") == 1
    assert count(app, Message, direction="out") == len(replies)
    with app.extensions["bot"].uow() as uow:
        contact = uow.session.scalars(select(Contact)).one()
        assert contact.country == "KE"
        assert contact.welcomed_at is not None
        assert contact.last_inbound_at is not None
        out = uow.session.scalars(select(Message).where(Message.direction == "out")).all()
        model = app.extensions["bot"].chat_model
        # the welcome is our own text; the answer names the model that wrote it
        assert out[0].model is None
        assert {m.model for m in out[1:]} == {f"{model.provider}/{model.model}"}


def test_second_message_has_no_welcome(client: Any) -> None:
    bubbles(signed_post(client, twilio_form("hello")))
    replies = bubbles(signed_post(client, twilio_form("what helps a sore throat?")))
    assert not any("DELETE" in r and "STOP" in r for r in replies)


def test_missing_or_wrong_signature_is_403_and_nothing_stored(app: Any, client: Any) -> None:
    form = twilio_form("hello")
    assert client.post("/twilio/whatsapp", data=form).status_code == 403
    forged = signed_post(client, form, token="not-the-token")
    assert forged.status_code == 403
    other_url = signed_post(client, form, public_url="https://evil.example.org")
    assert other_url.status_code == 403
    tampered = dict(form)
    signature = signed_post.__globals__["sign"](TEST_TOKEN, PUBLIC_URL + "/twilio/whatsapp", form)
    tampered["Body"] = "changed"
    response = client.post("/twilio/whatsapp", data=tampered,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert count(app, Message) == 0
    assert count(app, Contact) == 0


def test_malformed_webhooks_get_400_with_a_reason(app: Any, client: Any) -> None:
    no_from = twilio_form("hi")
    del no_from["From"]
    no_sid = twilio_form("hi")
    for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
        del no_sid[key]
    oversize = twilio_form("x" * 1700)
    for form, word in ((no_from, "From"), (no_sid, "MessageSid"), (oversize, "Body")):
        response = signed_post(client, form)
        assert response.status_code == 400
        assert word in response.get_data(as_text=True)
    assert count(app, Message) == 0


def test_huge_request_is_refused_before_parsing(client: Any) -> None:
    response = signed_post(client, twilio_form("hi", Padding="x" * 100_000))
    assert response.status_code == 413


def test_wrong_account_sid_is_refused(client: Any) -> None:
    response = signed_post(client, twilio_form("hi", AccountSid="AC" + "9" * 32))
    assert response.status_code == 403


def test_duplicate_delivery_is_stored_once_and_answered_once(app: Any, client: Any) -> None:
    form = twilio_form("I have a mild headache", sid="SM" + "d" * 32)
    first = bubbles(signed_post(client, form))
    second = bubbles(signed_post(client, form))
    assert first and second == []
    assert count(app, Message, direction="in") == 1
    assert count(app, Message, direction="out") == len(first)


def test_concurrent_duplicate_posts_answer_once(app: Any) -> None:
    """Eight concurrent deliveries of one MessageSid: one answer, one stored inbound row."""
    form = twilio_form("my back hurts after lifting", sid="SM" + "c" * 32)
    barrier = threading.Barrier(8)
    results: list[list[str]] = []
    lock = threading.Lock()

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        got = bubbles(signed_post(client, form))
        with lock:
            results.append(got)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = [r for r in results if r]
    assert len(results) == 8 and len(answered) == 1
    assert count(app, Message, direction="in") == 1


def test_emergency_gets_fixed_text_with_the_number_first_and_is_flagged(
    app: Any, client: Any
) -> None:
    replies = bubbles(signed_post(
        client, twilio_form("my father has crushing chest pain and is sweating",
                            sender="whatsapp:+447700900123")))
    assert "999" in replies[0]  # UK; the emergency text comes before the welcome
    assert "DELETE" in replies[-1]
    with app.extensions["bot"].uow() as uow:
        contact = uow.session.scalars(select(Contact)).one()
        assert contact.state == "bot"  # flagged by the open escalation, not silenced
        event = uow.session.scalars(select(SafetyEvent)).one()
        assert event.kind == "emergency" and event.status == "open"
        inbound = uow.session.scalars(select(Message).where(Message.direction == "in")).one()
        assert inbound.triage_level == "emergency" and inbound.rule_ids
        out = uow.session.scalars(select(Message).where(Message.direction == "out")).all()
        assert all(m.model is None for m in out)  # no model wrote the emergency answer


def test_emergency_in_spanish_from_mexico(client: Any) -> None:
    replies = bubbles(signed_post(
        client, twilio_form("mi bebe tiene convulsiones y no responde",
                            sender="whatsapp:+5215512345678")))
    assert "911" in replies[0]


def test_media_and_location_are_stored_and_explained(app: Any, client: Any) -> None:
    media = twilio_form(
        "", NumMedia="1", MessageType="image",
        MediaUrl0=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
    )
    replies = bubbles(signed_post(client, media))
    assert replies
    location = twilio_form("", Latitude="-1.29", Longitude="36.82", Address="Nairobi",
                           MessageType="location")
    replies_loc = bubbles(signed_post(client, location))
    assert replies_loc
    with app.extensions["bot"].uow() as uow:
        rows = uow.session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)).all()
        assert rows[0].media == [{"url": media["MediaUrl0"], "content_type": "image/jpeg"}]
        assert rows[1].location is not None and rows[1].location["address"] == "Nairobi"


def test_stop_silences_until_start(app: Any, client: Any) -> None:
    bubbles(signed_post(client, twilio_form("hello")))
    assert bubbles(signed_post(client, twilio_form("STOP")))
    assert bubbles(signed_post(client, twilio_form("what helps a cough?"))) == []
    assert bubbles(signed_post(client, twilio_form("Start")))
    assert bubbles(signed_post(client, twilio_form("what helps a cough?")))
    assert count(app, Message, direction="in") == 5


def test_opted_out_person_still_gets_emergency_text(client: Any) -> None:
    bubbles(signed_post(client, twilio_form("hello")))
    bubbles(signed_post(client, twilio_form("stop")))
    replies = bubbles(signed_post(client, twilio_form("my son swallowed rat poison")))
    assert replies and ("112" in replies[0] or "999" in replies[0])


def test_human_hands_off_and_the_bot_goes_quiet(app: Any, client: Any) -> None:
    bubbles(signed_post(client, twilio_form("hello")))
    assert bubbles(signed_post(client, twilio_form("HUMAN")))
    assert bubbles(signed_post(client, twilio_form("what helps a cough?"))) == []
    with app.extensions["bot"].uow() as uow:
        assert uow.session.scalars(select(Contact)).one().state == "needs_human"
        kinds = [e.kind for e in uow.session.scalars(select(SafetyEvent))]
        assert "human_requested" in kinds


def test_delete_asks_for_confirmation_then_erases_everything(app: Any, client: Any) -> None:
    bubbles(signed_post(client, twilio_form("I have a fever")))
    ask = bubbles(signed_post(client, twilio_form("DELETE")))
    assert ask and count(app, Contact) == 1
    done = bubbles(signed_post(client, twilio_form("delete yes")))
    assert done
    for model in (Contact, Message, SafetyEvent):
        assert count(app, model) == 0


def test_urgent_answer_leads_with_the_notice_and_does_not_repeat_it(app: Any, client: Any
                                                                    ) -> None:
    import safety

    bubbles(signed_post(client, twilio_form("hello")))
    replies = bubbles(signed_post(client, twilio_form(
        "I have had a fever for 4 days and a bad headache", sender="whatsapp:+254712345678")))
    text = "\n\n".join(replies)
    assert text.startswith(safety.urgent_notice("en"))
    assert text.count(safety.care_advice("urgent", "en")) <= 1
    with app.extensions["bot"].uow() as uow:
        events = [e.kind for e in uow.session.scalars(select(SafetyEvent))]
    assert "urgent" in events


def test_self_erasure_is_audited_without_the_number_or_id(app: Any, client: Any) -> None:
    from bot.store.staff import AuditEntry

    bubbles(signed_post(client, twilio_form("I have a fever")))
    with app.extensions["bot"].uow() as uow:
        contact_id = uow.session.scalars(select(Contact)).one().id
    bubbles(signed_post(client, twilio_form("DELETE")))
    bubbles(signed_post(client, twilio_form("delete yes")))
    with app.extensions["bot"].uow() as uow:
        entry = uow.session.scalars(select(AuditEntry)).one()
        assert entry.action == "contact.self_erase" and entry.actor == "whatsapp"
        assert entry.contact_id is None and entry.contact_ref
        text = repr((entry.contact_ref, entry.detail, entry.target))
    assert "254712345678" not in text and f"{contact_id}" != entry.contact_ref


def test_delete_can_be_cancelled(app: Any, client: Any) -> None:
    bubbles(signed_post(client, twilio_form("hi")))
    bubbles(signed_post(client, twilio_form("borrar")))
    assert bubbles(signed_post(client, twilio_form("cancel")))
    assert count(app, Contact) == 1


def test_commands_answer_in_the_command_language(client: Any) -> None:
    from bot import i18n

    replies = bubbles(signed_post(client, twilio_form("AYUDA", sender="whatsapp:+5215512345678")))
    assert i18n.t("help", "es") in replies
    assert i18n.t("welcome", "es", emergency_hint="911") in replies


def test_healthz_and_readyz(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["migrations"] == "head"


def test_admin_api_needs_the_token_and_pages(app: Any, client: Any) -> None:
    from bot.admin.console import CLI_ACTOR

    console = app.extensions["healthbot_console"]
    staff = console.create_staff(CLI_ACTOR, email="viewer@clinic.example.org", name="",
                                 role="viewer", password="a long enough password")
    token = console.create_token(CLI_ACTOR, staff["id"])["token"]

    for i in range(3):
        bubbles(signed_post(client, twilio_form(f"hello {i}", sender=f"whatsapp:+25471234567{i}")))
    assert client.get("/admin/api/conversations").status_code == 401
    wrong = client.get("/admin/api/conversations", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    page = client.get("/admin/api/conversations?per_page=2", headers=auth).get_json()
    assert page["total"] == 3 and len(page["items"]) == 2
    contact_id = page["items"][0]["id"]
    messages = client.get(f"/admin/api/contacts/{contact_id}/messages", headers=auth).get_json()
    assert messages["items"][0]["direction"] == "in"
    assert client.get("/admin/api/contacts/999/messages", headers=auth).status_code == 404
    assert client.get("/admin/api/conversations?page=0", headers=auth).status_code == 400

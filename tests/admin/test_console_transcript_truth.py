"""The transcript tells staff what the safety layer and the delivery did, not only what was said:
guard repairs beside the answer they changed, a level that fell after an emergency, failed
deliveries (in the inbox too), and WhatsApp's formatting, on both database backends."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ModelUnavailable
from bot.ports import CallRecord, ChatRequest, ChatResponse
from bot.store.models import Contact, Message, SafetyEvent, utcnow
from tests.admin.support import (
    CLI_ACTOR,
    FakeMessenger,
    bearer,
    console,
    fast_hashing,
    login,
    make_staff,
    seed_contact,
)
from tests.helpers import ACCOUNT_SID, make_settings, signed_post, twilio_form

PHONE = "whatsapp:+254711000222"
# What a model talked into playing doctor writes; the reply guard must take most of it out.
UNSAFE_DRAFT = (
    "You definitely have malaria. "
    "Take amoxicillin 500 mg three times a day for 7 days. "
    "Drink plenty of water and rest."
)
EMERGENCY = ("my husband has crushing chest pain spreading to his left arm and he is sweating "
             "a lot")
CALM = "thank you, he is fine now. I have a mild headache since this morning, what can I take?"


class ScriptedModel:
    """Answers with the best vetted passage plus `extra` (so the answer is grounded and only the
    extra sentences are the guard's business), with `draft` instead when set, or fails like a
    provider that is down."""

    provider = "fake"
    model = "scripted"

    def __init__(self) -> None:
        self.extra = ""
        self.draft: str | None = None
        self.fail = False

    def complete(self, request: ChatRequest) -> ChatResponse:
        if self.fail:
            raise ModelUnavailable("provider down for the test")
        now = time.monotonic()
        call = CallRecord(provider=self.provider, model=self.model, outcome="ok", latency_ms=1.0,
                          started_at=now, ended_at=now)
        passage = request.passages[0].text if request.passages else "Rest and drink water."
        text = self.draft if self.draft is not None else f"{passage}\n\n{self.extra}".strip()
        return ChatResponse(text=text, provider=self.provider, model=self.model,
                            calls=(call,), urgency="self_care")


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def app(tmp_path: Path, database_url: str, model: ScriptedModel) -> Iterator[Any]:
    """The real app on each backend, answering with the scripted model, sending to a fake."""
    from bot.app import create_app

    application = create_app(make_settings(tmp_path, database_url), chat_model=model,
                             messenger=FakeMessenger(), upgrade_db=True, background=False)
    application.config["TESTING"] = True
    fast_hashing(application)
    yield application
    application.extensions["bot"].close()


def _transcript(client: Any, auth: dict[str, str], phone: str = PHONE) -> dict[str, Any]:
    found = client.get("/admin/api/conversations?per_page=200", headers=auth).get_json()
    [contact_id] = [c["id"] for c in found["items"] if c["phone"] == phone]
    data: dict[str, Any] = client.get(f"/admin/api/contacts/{contact_id}", headers=auth).get_json()
    return data


def _article(html: str, message_id: int) -> str:
    """The HTML of one message's <article> on the transcript page."""
    match = re.search(rf'<article [^>]*id="m{message_id}">(.*?)</article>', html, re.DOTALL)
    assert match is not None, f"no article for message {message_id}"
    return match.group(1)


def _page_client(app: Any) -> Any:
    client = app.test_client()
    _, email, _ = make_staff(app, "viewer")
    assert login(client, email).status_code == 302
    return client


def _answer_to(messages: list[dict[str, Any]], body: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The person's message with this body, and the answer to it: the last message sent
    before they wrote again (a first contact's welcome goes before the answer)."""
    [asked] = [m for m in messages if m["body"] == body]
    after = messages[messages.index(asked) + 1:]
    sent = [m for m in after[:next((i for i, m in enumerate(after) if m["direction"] == "in"),
                                   len(after))]]
    return asked, sent[-1]


def test_guard_repairs_are_shown_beside_the_answer_they_changed(
    app: Any, model: ScriptedModel
) -> None:
    client = app.test_client()
    auth = bearer(make_staff(app, "viewer")[2])
    signed_post(client, twilio_form("hello", sender=PHONE))
    model.extra = "Take amoxicillin 500 mg three times a day for 7 days."
    question = "my child has had a fever since yesterday, what should I do?"
    reply = signed_post(client, twilio_form(question, sender=PHONE)).get_data(as_text=True)
    assert "500 mg" not in reply

    data = _transcript(client, auth)
    asked, answer = _answer_to(data["messages"], question)
    [note] = answer["guard"]
    assert note == {
        "event_id": note["event_id"], "kind": "reply_repaired", "rule": "prescription_dose",
        "action": "removed_sentence", "model": "fake/scripted",
        "excerpt": "Take amoxicillin 500 mg three times a day for 7 days.",
        "text": "The safety guard removed a prescription-medicine dose.",
    }
    # Only the answer carries it: not the question, not the earlier turns.
    assert all(m["guard"] == [] for m in data["messages"] if m["id"] != answer["id"])

    html = _page_client(app).get(f"/admin/contacts/{data['contact']['id']}").get_data(as_text=True)
    article = _article(html, answer["id"])
    assert "The safety guard removed a prescription-medicine dose." in article
    assert "rule: prescription_dose" in article
    assert "not sent: <q>Take amoxicillin 500 mg three times a day for 7 days.</q>" in article
    assert "safety guard" not in _article(html, asked["id"])


def test_an_ungrounded_answer_and_what_its_draft_held_are_shown(
    app: Any, model: ScriptedModel
) -> None:
    client = app.test_client()
    auth = bearer(make_staff(app, "viewer")[2])
    model.draft = UNSAFE_DRAFT
    question = "what do I have? I have had a mild fever since yesterday"
    signed_post(client, twilio_form(question, sender=PHONE))

    data = _transcript(client, auth)
    _asked, answer = _answer_to(data["messages"], question)
    notes = {n["rule"]: n for n in answer["guard"]}
    ungrounded = notes.pop("ungrounded")
    assert ungrounded["kind"] == "reply_ungrounded"
    assert ungrounded["action"] == "replaced_by_passage"
    assert re.fullmatch(r"The model's answer did not rest on the vetted passages \(support "
                        r"[0-9.]+\); the vetted passage [a-z_.]+ was sent instead\.",
                        ungrounded["text"]), ungrounded["text"]
    assert {"certain_diagnosis", "prescription_dose"} <= set(notes)
    assert notes["certain_diagnosis"]["text"] == (
        "In the model's draft, which was not sent, the safety guard found a sentence stating a "
        "diagnosis as certain.")
    html = _page_client(app).get(f"/admin/contacts/{data['contact']['id']}").get_data(as_text=True)
    article = _article(html, answer["id"])
    assert "did not rest on the vetted passages" in article
    assert "not sent: <q>You definitely have malaria.</q>" in article


def test_a_failed_model_and_its_fallback_are_shown(app: Any, model: ScriptedModel) -> None:
    client = app.test_client()
    auth = bearer(make_staff(app, "viewer")[2])
    signed_post(client, twilio_form("hello", sender=PHONE))
    model.fail = True
    question = "I have a mild cough, what can I do at home?"
    signed_post(client, twilio_form(question, sender=PHONE))

    data = _transcript(client, auth)
    _asked, answer = _answer_to(data["messages"], question)
    [note] = answer["guard"]
    assert note["kind"] == "model_failed" and note["action"] == "safe_fallback"
    assert note["text"] == ("The model failed (ModelUnavailable: provider down for the test); "
                            "the safety layer's fallback text was sent instead.")
    html = _page_client(app).get(f"/admin/contacts/{data['contact']['id']}").get_data(as_text=True)
    assert "The model failed (ModelUnavailable" in _article(html, answer["id"])


def test_a_level_falling_after_a_resolved_emergency_is_marked(app: Any) -> None:
    client = app.test_client()
    _, _, token = make_staff(app, "clinician")
    auth = bearer(token)
    signed_post(client, twilio_form(EMERGENCY, sender=PHONE))
    follow_up = "is it normal?"
    signed_post(client, twilio_form(follow_up, sender=PHONE))
    data = _transcript(client, auth)
    levels = {m["body"]: m["triage_level"] for m in data["messages"] if m["direction"] == "in"}
    assert levels == {EMERGENCY: "emergency", follow_up: "emergency"}  # the episode holds it
    assert all(m["level_drop"] is None for m in data["messages"])

    [event] = [e for e in data["escalations"] if e["kind"] == "emergency"]
    assert client.post(f"/admin/api/escalations/{event['id']}/resolve", headers=auth,
                       json={"outcome": "ambulance_called"}).status_code == 200
    signed_post(client, twilio_form(CALM, sender=PHONE))

    data = _transcript(client, auth)
    [emergency] = [m for m in data["messages"] if m["body"] == EMERGENCY]
    [calm] = [m for m in data["messages"] if m["body"] == CALM]
    assert calm["triage_level"] in ("info", "self_care", "routine")
    drop = calm["level_drop"]
    assert drop["from"] == "emergency" and drop["to"] == calm["triage_level"]
    assert drop["reason"] == "resolved" and drop["emergency_message_id"] == emergency["id"]
    level = calm["triage_level"].replace("_", " ")
    assert re.fullmatch(rf"Level fell from emergency to {level} after Clinician resolved the "
                        r"emergency escalation [0-9]+ s before this message\.", drop["text"]), \
        drop["text"]
    assert [m["id"] for m in data["messages"] if m["level_drop"]] == [calm["id"]]

    html = _page_client(app).get(f"/admin/contacts/{data['contact']['id']}").get_data(as_text=True)
    marker = html.index(f'id="drop{calm["id"]}"')
    assert html.index(f'id="m{emergency["id"]}"') < marker < html.index(f'id="m{calm["id"]}"')
    assert f"Level fell from emergency to {level} after Clinician resolved" in html
    assert f'href="#m{emergency["id"]}"' in html


def test_a_level_falling_after_the_episode_window_is_marked(app: Any) -> None:
    now = utcnow()
    earlier = now - dt.timedelta(hours=30)
    with app.extensions["bot"].uow() as uow:
        contact = Contact(wa_id="254711000333", phone="whatsapp:+254711000333", country="KE",
                          language="en", created_at=earlier, updated_at=now,
                          last_inbound_at=now)
        uow.session.add(contact)
        uow.session.flush()
        rows = [
            Message(contact_id=contact.id, direction="in", body="she is not breathing",
                    status="received", triage_level="emergency", created_at=earlier),
            Message(contact_id=contact.id, direction="in", body="HUMAN", status="received",
                    created_at=earlier + dt.timedelta(minutes=5)),  # a command: no level
            Message(contact_id=contact.id, direction="in", body="what helps a sore throat?",
                    status="received", triage_level="self_care", created_at=now),
            Message(contact_id=contact.id, direction="in", body="and honey?", status="received",
                    triage_level="self_care", created_at=now),
        ]
        uow.session.add_all(rows)
        uow.session.flush()
        uow.session.add(SafetyEvent(contact_id=contact.id, message_id=rows[0].id,
                                    kind="emergency", level="emergency", status="open",
                                    created_at=earlier))
        uow.commit()
        ids = [r.id for r in rows]
        contact_id = contact.id
    data = console(app).transcript(CLI_ACTOR, contact_id)
    drops = {m["id"]: m["level_drop"] for m in data["messages"] if m["level_drop"]}
    assert list(drops) == [ids[2]]  # where it fell: not the command, not every message after
    assert drops[ids[2]]["reason"] == "episode_ended"
    assert drops[ids[2]]["text"] == (
        "Level fell from emergency to self care 30 h after the emergency: the bot holds a "
        "follow-up at the emergency level for 24 h only.")


def test_failed_deliveries_are_explained_and_marked_in_the_inbox(app: Any) -> None:
    client = app.test_client()
    _, email, token = make_staff(app, "clinician")
    auth = bearer(token)
    signed_post(client, twilio_form("hello", sender=PHONE))
    signed_post(client, twilio_form("hello", sender="whatsapp:+254711000444"))
    contact_id = _transcript(client, auth)["contact"]["id"]
    for key in ("k1", "k2"):
        response = client.post(f"/admin/api/contacts/{contact_id}/reply", headers=auth,
                               json={"body": f"Reply {key} from the nurse", "idempotency_key": key})
        assert response.status_code == 201, response.get_json()
    sids = {m["body"]: m["twilio_sid"] for m in _transcript(client, auth)["messages"]}
    for body, status, code in (("Reply k1 from the nurse", "undelivered", "63016"),
                               ("Reply k2 from the nurse", "failed", "12345")):
        form = {"MessageSid": sids[body], "SmsSid": sids[body], "MessageStatus": status,
                "SmsStatus": status, "ErrorCode": code, "AccountSid": ACCOUNT_SID,
                "From": "whatsapp:+14155238886", "To": PHONE, "ApiVersion": "2010-04-01"}
        assert signed_post(client, form, path="/twilio/status").status_code == 200

    messages = {m["body"]: m for m in _transcript(client, auth)["messages"]}
    first, second = messages["Reply k1 from the nurse"], messages["Reply k2 from the nurse"]
    assert first["delivery_failed"] is True and first["error_code"] == "63016"
    assert first["delivery_error"].startswith("outside WhatsApp's 24-hour window")
    assert second["delivery_failed"] is True and second["delivery_error"] == "Twilio error 12345"
    assert all(not m["delivery_failed"] and m["delivery_error"] is None
               for body, m in messages.items() if not body.startswith("Reply k"))
    paged = client.get(f"/admin/api/contacts/{contact_id}/messages", headers=auth).get_json()
    assert sum(m["delivery_failed"] for m in paged["items"]) == 2

    inbox = client.get("/admin/api/conversations", headers=auth).get_json()["items"]
    counts = {c["phone"]: c["failed_deliveries"] for c in inbox}
    assert counts == {PHONE: 2, "whatsapp:+254711000444": 0}

    pages = app.test_client()
    assert login(pages, email).status_code == 302
    html = pages.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    article = _article(html, first["id"])
    assert "Not delivered (undelivered, error 63016): outside WhatsApp&#39;s 24-hour window" \
        in article
    assert "Not delivered (failed, error 12345): Twilio error 12345." in _article(
        html, second["id"])
    rows = re.findall(r'<li class="row[ "][^>]*>(.*?)</li>',
                      pages.get("/admin/").get_data(as_text=True), re.DOTALL)
    marked = {("+254711000222" in r, "delivery failed ×2" in r) for r in rows}
    assert marked == {(True, True), (False, False)}


def test_whatsapp_formatting_is_rendered_and_nothing_else(app: Any) -> None:
    body = ("*Fever* since _yesterday_ <script>alert(1)</script>\n* cough\n* ~rash~ `none`\n"
            "2*3*4 snake_case_name *unclosed")
    ids = seed_contact(app, body=body, escalation=None)
    html = _page_client(app).get(f"/admin/contacts/{ids['contact_id']}").get_data(as_text=True)
    article = _article(html, ids["inbound_id"])
    assert ('<div class="body"><strong>Fever</strong> since <em>yesterday</em> '
            "&lt;script&gt;alert(1)&lt;/script&gt;"
            '<ul class="wa-list"><li>cough</li><li><s>rash</s> <code>none</code></li></ul>'
            "2*3*4 snake_case_name *unclosed</div>") in article
    assert "<script>" not in html
    # The bot's answer (the other direction) is formatted the same way.
    assert "Give fluids. <strong>Fever</strong>" in _article(html, ids["answer_id"])

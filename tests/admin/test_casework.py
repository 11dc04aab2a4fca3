"""Working a case through the API, on SQLite and PostgreSQL: triage order of the inbox and the
queue, claims, internal notes (never sent), outcomes, replies that acknowledge, quick replies per
language."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from bot import i18n
from bot.admin.quick_replies import NAMES, default_texts
from bot.store.models import Message, SafetyEvent, utcnow
from bot.store.staff import AuditEntry
from tests.admin.support import bearer, console, csrf_of, login, make_staff, seed_contact
from tests.unit.test_spanish_register import tu_forms

LOCALES = Path(i18n.__file__).parent / "locales"


def _actions(app: Any) -> list[str]:
    with app.extensions["bot"].uow() as uow:
        return list(uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _add_inbound(app: Any, contact_id: int, body: str, *, at: dt.datetime | None = None) -> int:
    with app.extensions["bot"].uow() as uow:
        row = Message(contact_id=contact_id, direction="in", body=body, status="received",
                      created_at=at or utcnow())
        uow.session.add(row)
        uow.commit()
        return row.id


def _add_event(app: Any, contact_id: int, message_id: int, kind: str, *,
               at: dt.datetime) -> int:
    with app.extensions["bot"].uow() as uow:
        event = SafetyEvent(contact_id=contact_id, message_id=message_id, kind=kind,
                            level="emergency" if kind == "emergency" else "urgent",
                            status="open", created_at=at)
        uow.session.add(event)
        uow.commit()
        return event.id


def test_inbox_and_queue_are_in_triage_order(console_app: Any) -> None:
    client = console_app.test_client()
    auth = bearer(make_staff(console_app, "viewer")[2])
    now = utcnow()
    # Created in the reverse of triage order, and the rest is the latest activity.
    urgent = seed_contact(console_app, name="U", escalation="urgent", level="urgent",
                          created=now - dt.timedelta(minutes=50))
    human = seed_contact(console_app, name="H", escalation="human_requested",
                         created=now - dt.timedelta(minutes=40))
    late_emergency = seed_contact(console_app, name="E2", escalation="emergency",
                                  level="emergency", body="not breathing",
                                  created=now - dt.timedelta(minutes=5))
    early_emergency = seed_contact(console_app, name="E1", escalation="emergency",
                                   level="emergency", body="collapsed",
                                   created=now - dt.timedelta(minutes=30))
    rest = seed_contact(console_app, name="R", escalation=None, created=now)
    resolved = seed_contact(console_app, name="X", escalation="emergency",
                            created=now - dt.timedelta(hours=2))
    with console_app.extensions["bot"].uow() as uow:
        row = uow.session.get(SafetyEvent, resolved["event_id"])
        assert row is not None
        row.status = "resolved"
        uow.commit()

    items = client.get("/admin/api/conversations", headers=auth).get_json()["items"]
    assert [i["id"] for i in items] == [
        early_emergency["contact_id"], late_emergency["contact_id"], human["contact_id"],
        urgent["contact_id"], rest["contact_id"], resolved["contact_id"]]
    assert [i["priority"] for i in items] == [
        "emergency", "emergency", "human", "urgent", None, None]
    first = items[0]
    assert 29 * 60 <= first["waiting_seconds"] <= 31 * 60
    assert first["open_escalations"] == 1
    assert first["escalation"]["excerpt"] == "collapsed"
    # The row's message is what the person wrote, though the bot's answer came after it.
    assert first["last_message"]["direction"] == "out"
    assert first["last_inbound"]["direction"] == "in"
    assert first["last_inbound"]["body"] == "collapsed"
    assert items[4]["waiting_seconds"] is None and items[4]["escalation"] is None

    queue = client.get("/admin/api/escalations", headers=auth).get_json()["items"]
    assert [e["id"] for e in queue] == [
        early_emergency["event_id"], late_emergency["event_id"], human["event_id"],
        urgent["event_id"]]


def test_two_escalations_of_one_person_are_told_apart_by_their_excerpts(
    sqlite_app: Any,
) -> None:
    client = sqlite_app.test_client()
    auth = bearer(make_staff(sqlite_app, "viewer")[2])
    now = utcnow()
    ids = seed_contact(sqlite_app, escalation="urgent", body="fever for four days",
                       created=now - dt.timedelta(hours=1))
    later = _add_inbound(sqlite_app, ids["contact_id"], "now she is having a fit")
    second = _add_event(sqlite_app, ids["contact_id"], later, "emergency", at=now)
    queue = client.get("/admin/api/escalations", headers=auth).get_json()["items"]
    assert [(e["id"], e["excerpt"]) for e in queue] == [
        (second, "now she is having a fit"), (ids["event_id"], "fever for four days")]
    [row] = client.get("/admin/api/conversations", headers=auth).get_json()["items"]
    assert row["priority"] == "emergency" and row["open_escalations"] == 2
    assert row["escalation"]["excerpt"] == "now she is having a fit"
    assert row["last_inbound"]["body"] == "now she is having a fit"


def test_claim_and_assign(console_app: Any) -> None:
    client = console_app.test_client()
    nurse_id, _, nurse = make_staff(console_app, "clinician")
    other_id, _, other = make_staff(console_app, "clinician")
    viewer_id, _, _ = make_staff(console_app, "viewer")
    admin_id, _, admin = make_staff(console_app, "admin")
    contact_id = seed_contact(console_app)["contact_id"]
    url = f"/admin/api/contacts/{contact_id}/claim"

    taken = client.post(url, headers=bearer(nurse))
    assert taken.status_code == 200, taken.get_json()
    assert taken.get_json()["assigned_to"]["id"] == nurse_id
    assert client.post(url, headers=bearer(nurse)).status_code == 200  # again: still hers
    refused = client.post(url, headers=bearer(other))
    assert refused.status_code == 409 and "Clinician" in refused.get_json()["reason"]
    assert client.post(url, headers=bearer(other),
                       json={"staff_id": other_id}).status_code == 409
    assert client.post(url, headers=bearer(nurse),
                       json={"staff_id": other_id}).status_code == 403  # not an admin
    assert client.post(url, headers=bearer(admin),
                       json={"staff_id": viewer_id}).status_code == 400  # can't work cases
    assert client.post(url, headers=bearer(admin),
                       json={"staff_id": 999999}).status_code == 404
    moved = client.post(url, headers=bearer(admin), json={"staff_id": other_id})
    assert moved.status_code == 200 and moved.get_json()["assigned_to"]["id"] == other_id
    transcript = client.get(f"/admin/api/contacts/{contact_id}", headers=bearer(admin))
    assert transcript.get_json()["assigned_to"]["id"] == other_id
    [row] = client.get("/admin/api/conversations", headers=bearer(admin)).get_json()["items"]
    assert row["assigned_to"]["id"] == other_id
    with console_app.extensions["bot"].uow() as uow:
        entries = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["conversation.claim", "conversation.assign"]))
            .order_by(AuditEntry.id)).all()
        assert [(e.action, e.actor_id, e.detail["staff_id"]) for e in entries] == [
            ("conversation.claim", nurse_id, nurse_id),
            ("conversation.claim", nurse_id, nurse_id),
            ("conversation.assign", admin_id, other_id)]
    # Handing back to the bot ends the claim.
    client.post(f"/admin/api/contacts/{contact_id}/handback", headers=bearer(other))
    transcript = client.get(f"/admin/api/contacts/{contact_id}", headers=bearer(admin))
    assert transcript.get_json()["assigned_to"] is None


def test_notes_are_kept_audited_shown_and_never_sent(console_app: Any, messenger: Any) -> None:
    client = console_app.test_client()
    nurse_id, _, nurse = make_staff(console_app, "clinician")
    viewer = make_staff(console_app, "viewer")[2]
    contact_id = seed_contact(console_app)["contact_id"]
    url = f"/admin/api/contacts/{contact_id}/notes"
    for n in range(3):
        made = client.post(url, headers=bearer(nurse), json={"body": f"  called, no answer {n} "})
        assert made.status_code == 201, made.get_json()
    assert made.get_json()["body"] == "called, no answer 2"
    assert made.get_json()["staff"] == "Clinician"
    assert client.post(url, headers=bearer(nurse), json={"body": "   "}).status_code == 400
    assert client.post(url, headers=bearer(viewer), json={"body": "x"}).status_code == 403
    assert messenger.sent == []  # nothing went to the person
    with console_app.extensions["bot"].uow() as uow:
        staff_rows = uow.session.scalars(select(Message).where(
            Message.contact_id == contact_id, Message.mode == "staff")).all()
        assert staff_rows == []
    page = client.get(f"{url}?page=2&per_page=2", headers=bearer(viewer)).get_json()
    assert page["total"] == 3 and page["page"] == 2 and page["per_page"] == 2
    assert [n["body"] for n in page["items"]] == ["called, no answer 2"]
    transcript = client.get(f"/admin/api/contacts/{contact_id}", headers=bearer(viewer))
    assert [n["staff_id"] for n in transcript.get_json()["notes"]] == [nurse_id] * 3
    assert _actions(console_app).count("case.note") == 3
    with console_app.extensions["bot"].uow() as uow:
        entry = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "case.note")).first()
        assert entry is not None and "no answer" not in str(entry.detail)
    # The page shows the note in the transcript, marked as never sent.
    pages = console_app.test_client()
    login(pages, make_staff(console_app, "clinician")[1])
    html = pages.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert html.count('class="msg note-msg"') == 3 and "not sent" in html
    posted = pages.post(f"/admin/contacts/{contact_id}/notes",
                        data={"csrf_token": csrf_of(pages), "note": "from the page"},
                        follow_redirects=True)
    assert "never sent" in posted.get_data(as_text=True)
    assert messenger.sent == []


def test_resolving_needs_an_outcome(console_app: Any) -> None:
    client = console_app.test_client()
    auth = bearer(make_staff(console_app, "clinician")[2])
    event_id = seed_contact(console_app, escalation="emergency")["event_id"]
    url = f"/admin/api/escalations/{event_id}/resolve"
    missing = client.post(url, headers=auth)
    assert missing.status_code == 400 and "outcome" in missing.get_json()["reason"]
    assert client.post(url, headers=auth, json={"outcome": "cured"}).status_code == 400
    assert client.post(url, headers=auth, json={"outcome": "other",
                                                "note": "x" * 501}).status_code == 400
    with console_app.extensions["bot"].uow() as uow:
        row = uow.session.get(SafetyEvent, event_id)
        assert row is not None and row.status == "open"  # nothing changed
    done = client.post(url, headers=auth, json={"outcome": "referred",
                                                "note": " sent to the district hospital "})
    assert done.status_code == 200
    assert done.get_json()["outcome"] == "referred"
    assert done.get_json()["outcome_note"] == "sent to the district hospital"
    with console_app.extensions["bot"].uow() as uow:
        entry = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "escalation.resolve")).one()
        assert entry.detail["outcome"] == "referred"
    # The page's form says so too, and keeps the escalation open without one.
    pages = console_app.test_client()
    login(pages, make_staff(console_app, "clinician")[1])
    other = seed_contact(console_app, escalation="urgent")["event_id"]
    page = pages.post(f"/admin/escalations/{other}/resolve",
                      data={"csrf_token": csrf_of(pages)}, follow_redirects=True)
    assert "say how it ended" in page.get_data(as_text=True)
    page = pages.post(f"/admin/escalations/{other}/resolve",
                      data={"csrf_token": csrf_of(pages), "outcome": "no_answer"},
                      follow_redirects=True)
    assert "resolved: no answer" in page.get_data(as_text=True)


def test_a_reply_acknowledges_the_open_escalations_it_answers(
    console_app: Any, messenger: Any,
) -> None:
    client = console_app.test_client()
    nurse_id, _, nurse = make_staff(console_app, "clinician")
    ids = seed_contact(console_app, escalation="emergency", level="emergency")
    url = f"/admin/api/contacts/{ids['contact_id']}/reply"
    sent = client.post(url, headers=bearer(nurse), json={"body": "Call 999 now, I am here."})
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["acknowledged"] == [ids["event_id"]]
    assert len(messenger.sent) == 1
    with console_app.extensions["bot"].uow() as uow:
        event = uow.session.get(SafetyEvent, ids["event_id"])
        assert event is not None and event.status == "acknowledged"
        assert event.acknowledged_by_id == nurse_id and event.acknowledged_at is not None
        [reply] = uow.session.scalars(select(Message).where(Message.mode == "staff")).all()
        assert reply.extra["answers_escalations"] == [ids["event_id"]]
        entry = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "escalation.acknowledge")).one()
        assert entry.detail["by_reply"] == sent.get_json()["message_ids"]
        logged = uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "conversation.reply")).one()
        assert logged.detail["acknowledged"] == [ids["event_id"]]
    again = client.post(url, headers=bearer(nurse), json={"body": "Are they breathing?"})
    assert again.get_json()["acknowledged"] == []  # already acknowledged: nothing to record


def test_a_refused_reply_acknowledges_nothing(console_app: Any, messenger: Any) -> None:
    client = console_app.test_client()
    old = utcnow() - dt.timedelta(days=2)
    ids = seed_contact(console_app, escalation="emergency", created=old, last_inbound=old)
    auth = bearer(make_staff(console_app, "clinician")[2])
    refused = client.post(f"/admin/api/contacts/{ids['contact_id']}/reply", headers=auth,
                          json={"body": "Hello?"})
    assert refused.status_code == 409 and messenger.sent == []
    with console_app.extensions["bot"].uow() as uow:
        event = uow.session.get(SafetyEvent, ids["event_id"])
        assert event is not None and event.status == "open"


def test_quick_replies_in_the_persons_language(console_app: Any) -> None:
    client = console_app.test_client()
    viewer = bearer(make_staff(console_app, "viewer")[2])
    admin = bearer(make_staff(console_app, "admin")[2])
    listed = client.get("/admin/api/quick-replies", headers=viewer).get_json()
    assert listed["total"] == len(NAMES) and listed["page"] == 1
    for item in listed["items"]:
        assert set(item["texts"]) == set(i18n.SUPPORTED), item["name"]
    spanish = client.get("/admin/api/quick-replies?language=es", headers=viewer).get_json()
    by_name = {i["name"]: i for i in spanish["items"]}
    assert by_name["call_emergency"]["language"] == "es"
    assert by_name["call_emergency"]["text"] == default_texts("es")["call_emergency"]
    assert client.get("/admin/api/quick-replies?language=xx", headers=viewer).status_code == 400

    # Admins manage them; a language without its own text gets English.
    url = "/admin/api/quick-replies/bring_card"
    made = client.put(url, headers=admin, json={"texts": {"en": "Please bring the child's "
                                                          "health card.", "sw": ""}})
    assert made.status_code == 200 and made.get_json()["texts"] == {
        "en": "Please bring the child's health card."}
    assert client.put(url, headers=viewer, json={"texts": {"en": "x"}}).status_code == 403
    assert client.put("/admin/api/quick-replies/Bad%20Name", headers=admin,
                      json={"texts": {"en": "x"}}).status_code == 400
    assert client.put(url, headers=admin, json={"texts": {"xx": "x"}}).status_code == 400
    hindi = client.get("/admin/api/quick-replies?language=hi&per_page=200",
                       headers=viewer).get_json()
    card = next(i for i in hindi["items"] if i["name"] == "bring_card")
    assert card["language"] == "en" and card["text"].startswith("Please bring")
    assert client.delete(url, headers=admin).get_json()["removed"] == 1
    assert client.delete(url, headers=admin).status_code == 404
    managed = [a for a in _actions(console_app) if a.startswith("quick_reply.")]
    assert managed == ["quick_reply.save", "quick_reply.delete"]

    # The reply box offers them in the person's language.
    pages = console_app.test_client()
    login(pages, make_staff(console_app, "clinician")[1])
    contact_id = seed_contact(console_app)["contact_id"]
    with console_app.extensions["bot"].uow() as uow:
        contact = uow.contacts.get(contact_id)
        assert contact is not None
        contact.language = "sw"
        uow.commit()
    html = pages.get(f"/admin/contacts/{contact_id}").get_data(as_text=True)
    assert 'data-name="call_emergency" data-language="sw"' in html
    assert default_texts("sw")["call_emergency"] in html


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_quick_reply_catalogs_are_complete(language: str) -> None:
    with (LOCALES / "quick_replies.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert template == set(NAMES)
    texts = default_texts(language)
    assert set(texts) == set(NAMES)
    english = default_texts("en")
    for name, text in texts.items():
        assert text.strip() and "{" not in text, (language, name)
        if language != "en":
            assert text != english[name], f"{language}: {name} is untranslated"
    # Each says when to get care: the emergency number, or a health worker.
    care = {"en": "emergency", "es": "emergencia", "fr": "urgence", "pt": "emergência",
            "sw": "dharura", "hi": "आपातकाल"}[language]
    for name in ("call_emergency", "see_clinic_today", "ask_update", "calling_you", "closing"):
        assert care in texts[name].lower(), (language, name)


def test_spanish_quick_replies_use_usted() -> None:
    for name, text in default_texts("es").items():
        assert tu_forms(text) == [], name


def test_admins_manage_quick_replies_on_their_page(sqlite_app: Any) -> None:
    pages = sqlite_app.test_client()
    login(pages, make_staff(sqlite_app, "admin")[1])
    html = pages.get("/admin/quick-replies").get_data(as_text=True)
    assert default_texts("hi")["closing"] in html and html.count("quick-reply-card") == len(NAMES)
    texts = {f"text_{lang}": default_texts(lang)["closing"] for lang in i18n.SUPPORTED}
    saved = pages.post("/admin/quick-replies", data={
        "csrf_token": csrf_of(pages), "name": "closing", **texts,
        "text_es": "Gracias por escribirnos. Si algo le preocupa, consulte hoy con personal de "
                   "salud; en una emergencia, llame al número de emergencias."},
        follow_redirects=True)
    assert "Quick reply closing saved." in saved.get_data(as_text=True)
    items, _ = console(sqlite_app).quick_replies(language="es")
    closing = next(i for i in items if i["name"] == "closing")
    assert closing["text"].startswith("Gracias por escribirnos. Si algo le preocupa")
    assert closing["texts"]["fr"] == default_texts("fr")["closing"]  # others unchanged
    bad = pages.post("/admin/quick-replies", data={"csrf_token": csrf_of(pages),
                                                   "name": "Not A Name", "text_en": "x"},
                     follow_redirects=True)
    assert "lower-case letters" in bad.get_data(as_text=True)
    gone = pages.post("/admin/quick-replies/closing/delete",
                      data={"csrf_token": csrf_of(pages)}, follow_redirects=True)
    assert "Quick reply closing removed." in gone.get_data(as_text=True)
    assert "closing" not in {i["name"] for i in console(sqlite_app).quick_replies()[0]}
    viewer = sqlite_app.test_client()
    login(viewer, make_staff(sqlite_app, "clinician")[1])
    assert viewer.get("/admin/quick-replies").status_code == 403

"""The staff console end to end over HTTP, on SQLite and PostgreSQL: handoff, escalations, inbox,
transcript, export, erasure, audit, retention."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from bot.admin.security import keyed_hash
from bot.store.models import Contact, Message, SafetyEvent, utcnow
from bot.store.staff import AuditEntry, AuditRepository
from tests.admin.support import bearer, console, make_staff, seed_contact
from tests.helpers import signed_post, twilio_form

PHONE = "whatsapp:+254711222333"


def _audit_actions(app: Any) -> list[str]:
    with app.extensions["bot"].uow() as uow:
        return list(uow.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def _contact(app: Any, contact_id: int) -> Contact:
    with app.extensions["bot"].uow() as uow:
        contact: Contact | None = uow.contacts.get(contact_id)
        assert contact is not None
        return contact


def test_handoff_reply_quiet_bot_and_hand_back(console_app: Any, messenger: Any) -> None:
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "clinician")
    auth = bearer(token)
    signed_post(client, twilio_form("hello", sender=PHONE))
    signed_post(client, twilio_form("HUMAN", sender=PHONE))

    queue = client.get("/admin/api/escalations", headers=auth).get_json()
    [event] = [e for e in queue["items"] if e["kind"] == "human_requested"]
    assert event["status"] == "open" and event["age_seconds"] >= 0
    contact_id = event["contact_id"]
    assert client.post(f"/admin/api/escalations/{event['id']}/acknowledge",
                       headers=auth).get_json()["acknowledged_by"] == "Clinician"
    assert client.post(f"/admin/api/escalations/{event['id']}/acknowledge",
                       headers=auth).status_code == 409

    response = client.post(f"/admin/api/contacts/{contact_id}/reply", headers=auth,
                           json={"body": "Hello Amina, this is nurse Wanjiru.",
                                 "idempotency_key": "k1"})
    assert response.status_code == 201, response.get_json()
    assert messenger.sent == [(PHONE, "Hello Amina, this is nurse Wanjiru.")]
    # The same key again sends nothing twice.
    again = client.post(f"/admin/api/contacts/{contact_id}/reply", headers=auth,
                        json={"body": "Hello Amina, this is nurse Wanjiru.",
                              "idempotency_key": "k1"})
    assert again.status_code == 201 and len(messenger.sent) == 1
    assert _contact(console_app, contact_id).state == "with_staff"

    transcript = client.get(f"/admin/api/contacts/{contact_id}", headers=auth).get_json()
    staff_reply = transcript["messages"][-1]
    assert staff_reply["direction"] == "out" and staff_reply["staff"] == "Clinician"
    assert staff_reply["status"] == "queued" and staff_reply["mode"] == "staff"

    # With staff, the bot stays quiet; an emergency still gets the fixed text.
    quiet = signed_post(client, twilio_form("what helps a sore throat?", sender=PHONE))
    assert "<Message" not in quiet.get_data(as_text=True)

    back = client.post(f"/admin/api/contacts/{contact_id}/handback", headers=auth).get_json()
    assert back == {"state": "bot", "resolved_escalations": [event["id"]]}
    with console_app.extensions["bot"].uow() as uow:
        row = uow.session.get(SafetyEvent, event["id"])
        assert row is not None and row.status == "resolved" and row.resolved_by_id is not None
        assert row.acknowledged_at is not None and row.resolved_at is not None
    answered = signed_post(client, twilio_form("what helps a sore throat?", sender=PHONE))
    assert "<Message" in answered.get_data(as_text=True)
    actions = _audit_actions(console_app)
    for action in ("escalation.acknowledge", "conversation.reply", "transcript.view",
                   "conversation.handback"):
        assert action in actions


def test_reply_outside_the_window_or_without_twilio_is_a_clear_refusal(
    console_app: Any, messenger: Any, tmp_path: Any
) -> None:
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "clinician")
    old = seed_contact(console_app, last_inbound=utcnow() - dt.timedelta(days=2))
    response = client.post(f"/admin/api/contacts/{old['contact_id']}/reply",
                           headers=bearer(token), json={"body": "Are you better?"})
    assert response.status_code == 409
    assert response.get_json()["error"] == "outside_window"
    assert messenger.sent == []
    assert _contact(console_app, old["contact_id"]).state == "bot"  # not taken: nothing went
    with console_app.extensions["bot"].uow() as uow:
        failed = uow.session.scalars(
            select(Message).where(Message.contact_id == old["contact_id"],
                                  Message.mode == "staff")).one()
        assert failed.status == "failed"

    # The page says it in words, not a 500.
    from tests.admin.support import login

    _, email, _ = make_staff(console_app, "clinician")
    login(client, email)
    from tests.admin.support import csrf_of

    page = client.post(f"/admin/contacts/{old['contact_id']}/reply",
                       data={"body": "Are you better?", "csrf_token": csrf_of(client)},
                       follow_redirects=True)
    assert page.status_code == 200
    assert "more than 24 hours ago" in page.get_data(as_text=True)

    stopped = seed_contact(console_app)
    with console_app.extensions["bot"].uow() as uow:
        row = uow.contacts.get(stopped["contact_id"])
        assert row is not None
        row.opted_out = True
        uow.commit()
    response = client.post(f"/admin/api/contacts/{stopped['contact_id']}/reply",
                           headers=bearer(token), json={"body": "Are you better?"})
    assert response.status_code == 409 and "opted out" in response.get_json()["reason"]
    assert messenger.sent == [] and _contact(console_app, stopped["contact_id"]).state == "bot"

    console_app.extensions["bot"].messenger = None  # as on a server without Twilio credentials
    fresh = seed_contact(console_app)
    response = client.post(f"/admin/api/contacts/{fresh['contact_id']}/reply",
                           headers=bearer(token), json={"body": "Hello"})
    assert response.status_code == 503
    assert response.get_json()["error"] == "messenger_not_configured"
    page = client.post(f"/admin/contacts/{fresh['contact_id']}/reply",
                       data={"body": "Hello", "csrf_token": csrf_of(client)},
                       follow_redirects=True)
    assert page.status_code == 200 and "not configured" in page.get_data(as_text=True)


def test_transcript_shows_levels_rules_models_perspectives_and_cost(sqlite_app: Any) -> None:
    console_app = sqlite_app
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "viewer")
    known = seed_contact(console_app, costs=(0.001, 0.002, 0.0005))
    unknown = seed_contact(console_app, costs=(0.001, None))
    data = client.get(f"/admin/api/contacts/{known['contact_id']}",
                      headers=bearer(token)).get_json()
    answer = data["messages"][1]
    assert answer["triage_level"] == "routine" and answer["rule_ids"] == ["fever.child"]
    assert answer["model"] == "openai/gpt-test" and answer["mode"] == "contemplate"
    assert answer["perspectives"] == ["clinician", "pharmacist", "triage_nurse"]
    assert answer["cost_usd"] == pytest.approx(0.0035)
    assert data["cost_usd"] == pytest.approx(0.0035)
    data = client.get(f"/admin/api/contacts/{unknown['contact_id']}",
                      headers=bearer(token)).get_json()
    assert data["cost_usd"] == "unknown" and data["messages"][1]["cost_usd"] == "unknown"


def test_inbox_filters_by_state_level_date_and_text(console_app: Any) -> None:
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "viewer")
    auth = bearer(token)
    old = utcnow() - dt.timedelta(days=10)
    a = seed_contact(console_app, level="emergency", state="needs_human", body="chest pain")
    b = seed_contact(console_app, level="self_care", body="a 50% cough_drop question",
                     created=old, last_inbound=old, escalation=None)

    def ids(query: str) -> set[int]:
        response = client.get(f"/admin/api/conversations?{query}", headers=auth)
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert ids("") == {a["contact_id"], b["contact_id"]}
    assert ids("state=needs_human") == {a["contact_id"]}
    assert ids("level=emergency") == {a["contact_id"]}
    assert ids("level=self_care") == {b["contact_id"]}
    assert ids(f"since={(utcnow() - dt.timedelta(days=1)).date()}") == {a["contact_id"]}
    assert ids(f"until={(old + dt.timedelta(days=1)).date()}") == {b["contact_id"]}
    assert ids("q=CHEST") == {a["contact_id"]}
    assert ids("q=50%25") == {b["contact_id"]}  # % is text, not a wildcard
    assert ids("q=_") == {b["contact_id"]}
    first = client.get("/admin/api/conversations", headers=auth).get_json()["items"][0]
    assert first["level"] == "emergency" and first["last_message"]["direction"] == "out"
    assert client.get("/admin/api/conversations?level=fatal", headers=auth).status_code == 400
    assert client.get("/admin/api/conversations?since=yesterday",
                      headers=auth).status_code == 400


def test_escalation_queue_and_transitions_record_who_and_when(sqlite_app: Any) -> None:
    console_app = sqlite_app
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "clinician")
    auth = bearer(token)
    ids = seed_contact(console_app, escalation="emergency")
    event_id = ids["event_id"]
    assert [e["id"] for e in client.get("/admin/api/escalations",
                                         headers=auth).get_json()["items"]] == [event_id]
    resolved = client.post(f"/admin/api/escalations/{event_id}/resolve", headers=auth,
                           json={"outcome": "ambulance_called"})
    assert resolved.get_json()["status"] == "resolved"
    assert resolved.get_json()["resolved_by"] == "Clinician"
    assert client.post(f"/admin/api/escalations/{event_id}/resolve",
                       headers=auth, json={"outcome": "advised"}).status_code == 409
    assert client.post(f"/admin/api/escalations/{event_id}/acknowledge",
                       headers=auth).status_code == 409
    assert client.get("/admin/api/escalations", headers=auth).get_json()["items"] == []
    done = client.get("/admin/api/escalations?status=resolved", headers=auth).get_json()
    assert [e["id"] for e in done["items"]] == [event_id]
    assert client.post("/admin/api/escalations/999999/resolve", headers=auth,
                       json={"outcome": "advised"}).status_code == 404


def test_export_json_and_csv_are_complete_and_audited(sqlite_app: Any) -> None:
    console_app = sqlite_app
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "admin")
    ids = seed_contact(console_app, body="=HYPERLINK(\"http://evil\")")
    exported = client.get(f"/admin/api/contacts/{ids['contact_id']}/export?format=json",
                          headers=bearer(token))
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    document = json.loads(exported.get_data(as_text=True))
    assert document["contact"]["id"] == ids["contact_id"]
    assert len(document["messages"]) == 2 and document["messages"][1]["model_calls"]
    as_csv = client.get(f"/admin/api/contacts/{ids['contact_id']}/export?format=csv",
                        headers=bearer(token))
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert [r["direction"] for r in rows] == ["in", "out"]
    assert rows[0]["body"].startswith("'=")  # a spreadsheet must not run the person's text
    assert client.get(f"/admin/api/contacts/{ids['contact_id']}/export?format=xml",
                      headers=bearer(token)).status_code == 400
    assert _audit_actions(console_app).count("contact.export") == 2


def _text_values(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value) if value is not None else ""


def test_erasure_leaves_nothing_about_the_person_in_any_table(
    console_app: Any, messenger: Any
) -> None:
    client = console_app.test_client()
    _, _, admin = make_staff(console_app, "admin")
    phone, other = "whatsapp:+254700111222", "whatsapp:+254799888777"
    for body in ("hello", "HUMAN", "my baby is not breathing", "what helps a sore throat?"):
        signed_post(client, twilio_form(body, sender=phone))
    signed_post(client, twilio_form("hello", sender=other))
    with console_app.extensions["bot"].uow() as uow:
        contact = uow.contacts.by_wa_id(phone.removeprefix("whatsapp:+"))
        assert contact is not None
        contact_id, wa_id = contact.id, contact.wa_id
    auth = bearer(admin)
    assert client.post(f"/admin/api/contacts/{contact_id}/reply", headers=auth,
                       json={"body": "A nurse is calling you now."}).status_code == 201
    client.get(f"/admin/api/contacts/{contact_id}", headers=auth)
    events = client.get("/admin/api/escalations", headers=auth).get_json()["items"]
    for event in events:
        if event["contact_id"] == contact_id:
            client.post(f"/admin/api/escalations/{event['id']}/acknowledge", headers=auth)

    erased = client.delete(f"/admin/api/contacts/{contact_id}", headers=auth)
    assert erased.status_code == 200, erased.get_json()
    removed = erased.get_json()["removed"]
    assert removed["contacts"] == 1 and removed["messages"] >= 8 and removed["safety_events"] >= 2

    engine = console_app.extensions["bot"].engine
    inspector = inspect(engine)
    needles = [phone, wa_id, phone.removeprefix("whatsapp:")]
    found: list[str] = []
    with engine.connect() as conn:
        for table in inspector.get_table_names():
            columns = inspector.get_columns(table)
            contact_columns = {c["name"] for c in columns if c["name"] == "contact_id"}
            for fk in inspector.get_foreign_keys(table):
                if fk["referred_table"] == "contacts":
                    contact_columns.update(fk["constrained_columns"])
            if table == "contacts":
                contact_columns.add("id")
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    if column in contact_columns and value == contact_id:
                        found.append(f"{table}.{column} = {contact_id}")
                    blob = _text_values(value)
                    if any(n in blob for n in needles):
                        found.append(f"{table}.{column} mentions the number")
                    if isinstance(value, dict | list | str) and (
                        f'"contact_id": {contact_id}' in blob
                        or f'"contact_id":{contact_id}' in blob
                    ):
                        found.append(f"{table}.{column} refers to contact {contact_id}")
    assert found == []

    # The other person is untouched, and the log records the erasure with keyed hashes only.
    assert client.get("/admin/api/conversations", headers=auth).get_json()["total"] == 1
    secret = console(console_app).secret
    with console_app.extensions["bot"].uow() as uow:
        entry = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contact.erase")).one()
        assert entry.contact_id is None
        assert entry.contact_ref == keyed_hash(secret, "contact", contact_id)
        assert entry.detail["wa_id_ref"] == keyed_hash(secret, "wa_id", wa_id)
        # Earlier entries about them are kept, linked by the same hash, without the id.
        history = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.contact_ref == entry.contact_ref)).all()
        assert {e.action for e in history} >= {"transcript.view", "conversation.reply",
                                               "contact.erase"}
        assert all(e.contact_id is None for e in history)


def test_the_audit_log_is_append_only(console_app: Any) -> None:
    assert not {"update", "delete", "remove", "edit"} & set(dir(AuditRepository))
    ids = seed_contact(console_app)
    _, _, token = make_staff(console_app, "admin")
    client = console_app.test_client()
    client.get(f"/admin/api/contacts/{ids['contact_id']}", headers=bearer(token))
    log = client.get("/admin/api/audit", headers=bearer(token)).get_json()
    assert log["items"][0]["action"] == "transcript.view"
    assert log["items"][0]["contact_id"] == ids["contact_id"]
    assert {"staff.create", "token.create"} <= {e["action"] for e in log["items"]}
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)("/admin/api/audit", headers=bearer(token))
        assert response.status_code == 405
    # The database itself refuses to change or remove an entry.
    engine = console_app.extensions["bot"].engine
    for statement in ("UPDATE audit_log SET actor = 'someone else'",
                      "UPDATE audit_log SET contact_id = NULL, action = 'nothing'",
                      "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_log")) == log["total"]


def test_retention_removes_only_old_conversations_and_counts_them(console_app: Any) -> None:
    long_ago = utcnow() - dt.timedelta(days=400)
    old = seed_contact(console_app, created=long_ago, last_inbound=long_ago)
    recent = seed_contact(console_app)
    dry = console(console_app).retention(365, dry_run=True)
    assert dry == {"contacts": 1, "messages": 2, "model_calls": 2, "safety_events": 1,
                   "alerts": 0}
    assert _contact(console_app, old["contact_id"]) is not None
    assert console(console_app).retention(365, dry_run=False) == dry
    with console_app.extensions["bot"].uow() as uow:
        assert uow.contacts.get(old["contact_id"]) is None
        assert uow.contacts.get(recent["contact_id"]) is not None
    assert "contact.retention_erase" in _audit_actions(console_app)
    assert console(console_app).retention(365, dry_run=False)["contacts"] == 0


def test_a_person_erasing_themselves_keeps_the_audit_log_but_not_their_id(
    console_app: Any,
) -> None:
    """DELETE YES from WhatsApp erases through the same repository; the log allows it."""
    client = console_app.test_client()
    _, _, token = make_staff(console_app, "viewer")
    signed_post(client, twilio_form("hello", sender=PHONE))
    with console_app.extensions["bot"].uow() as uow:
        found = uow.contacts.by_wa_id(PHONE.removeprefix("whatsapp:+"))
        assert found is not None
        contact_id = found.id
    client.get(f"/admin/api/contacts/{contact_id}", headers=bearer(token))
    signed_post(client, twilio_form("DELETE", sender=PHONE))
    signed_post(client, twilio_form("DELETE YES", sender=PHONE))
    with console_app.extensions["bot"].uow() as uow:
        assert uow.contacts.get(contact_id) is None
        [view] = uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "transcript.view")).all()
        assert view.contact_id is None
        assert view.contact_ref == keyed_hash(console(console_app).secret, "contact", contact_id)

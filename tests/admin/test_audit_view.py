"""The audit log: failed sign-ins and 403 refusals are recorded (capped, never the password),
and the audit view reads in words, filters by person, conversation, action and dates, pages,
and exports what it shows as CSV (itself audited), on the pages and the API alike."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from sqlalchemy import select

from bot.admin.api_models import AuditPage
from bot.admin.audit_log import ACTION_LABELS, CSV_COLUMNS
from bot.admin.console import (
    CLI_ACTOR,
    FAILED_SIGN_IN_AUDIT_PER_IP,
    REFUSAL_AUDIT_PER_PERSON,
    Actor,
)
from bot.store.models import utcnow
from bot.store.staff import AuditEntry
from tests.admin.support import (
    PASSWORD,
    bearer,
    console,
    csrf_of,
    login,
    make_staff,
    seed_contact,
)

SECRET_GUESS = "hunter2-is-my-password"


def _entries(app: Any, action: str) -> list[AuditEntry]:
    with app.extensions["bot"].uow() as uow:
        return list(uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _admin(app: Any) -> tuple[Any, int, str, str]:
    staff_id, email, token = make_staff(app, "admin")
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client, staff_id, email, token


def test_failed_sign_ins_are_audited_without_the_password(console_app: Any) -> None:
    staff_id, email, _ = make_staff(console_app, "viewer")
    client = console_app.test_client()
    assert login(client, "Nobody@Clinic.example.org", SECRET_GUESS).status_code == 401
    assert login(client, email, SECRET_GUESS).status_code == 401
    for _ in range(4):
        login(client, email, SECRET_GUESS)
    assert login(client, email).status_code == 429  # throttled: also recorded
    console(console_app).update_staff(CLI_ACTOR, staff_id, active=False)
    other = console_app.test_client()
    assert login(other, email, REMOTE_ADDR="10.9.9.9").status_code == 401
    failed = _entries(console_app, "staff.login_failed")
    reasons = [e.detail["reason"] for e in failed]
    assert reasons == ["unknown_account"] + ["wrong_password"] * 5 + ["throttled", "inactive"]
    unknown = failed[0]
    assert unknown.actor == "unknown" and unknown.actor_id is None and unknown.ip == "127.0.0.1"
    assert len(unknown.detail["email_ref"]) == 16
    assert all(e.actor == email and e.actor_id == staff_id for e in failed[1:])
    assert failed[-1].ip == "10.9.9.9"
    with console_app.extensions["bot"].uow() as uow:
        everything = json.dumps([[e.actor, e.target, e.detail] for e in
                                 uow.session.scalars(select(AuditEntry))]).lower()
    assert SECRET_GUESS not in everything and PASSWORD not in everything
    assert "nobody@clinic" not in everything


def test_failed_sign_ins_from_one_address_are_audited_at_a_capped_rate(
    console_app: Any,
) -> None:
    client = console_app.test_client()
    for i in range(FAILED_SIGN_IN_AUDIT_PER_IP + 5):
        assert login(client, f"guess{i}@clinic.example.org", SECRET_GUESS).status_code == 401
    assert len(_entries(console_app, "staff.login_failed")) == FAILED_SIGN_IN_AUDIT_PER_IP
    # Another address is not held back by the first one's flood.
    login(console_app.test_client(), "someone@clinic.example.org", SECRET_GUESS,
          REMOTE_ADDR="10.1.1.1")
    assert len(_entries(console_app, "staff.login_failed")) == FAILED_SIGN_IN_AUDIT_PER_IP + 1


def test_403_refusals_are_audited_on_the_api_and_the_pages_at_a_capped_rate(
    console_app: Any,
) -> None:
    viewer_id, email, token = make_staff(console_app, "viewer")
    api = console_app.test_client()
    response = api.delete("/admin/api/contacts/999999", headers=bearer(token))
    assert response.status_code == 403
    page = console_app.test_client()
    login(page, email)
    assert page.get("/admin/staff").status_code == 403
    assert page.post("/admin/staff", data={"csrf_token": csrf_of(page),
                                           "email": "x@clinic.example.org"}).status_code == 403
    refused = _entries(console_app, "access.refused")
    assert [(e.actor_id, e.detail["method"], e.detail["route"], e.detail["needed"],
             e.detail["role"]) for e in refused] == [
        (viewer_id, "DELETE", "admin_api.erase", "admin", "viewer"),
        (viewer_id, "GET", "admin_pages.staff", "admin", "viewer"),
        (viewer_id, "POST", "admin_pages.staff_create", "admin", "viewer"),
    ]
    assert refused[0].detail["path"] == "/admin/api/contacts/999999"
    assert refused[0].contact_id is None  # a refused id is not taken as a real conversation
    # An unknown token is a 401, not a refusal of a person: nothing to attribute, nothing kept.
    assert api.get("/admin/api/staff", headers=bearer("hbt_" + "y" * 43)).status_code == 401
    for _ in range(REFUSAL_AUDIT_PER_PERSON + 5):
        assert api.get("/admin/api/staff", headers=bearer(token)).status_code == 403
    assert len(_entries(console_app, "access.refused")) == REFUSAL_AUDIT_PER_PERSON


def _seed_history(app: Any) -> dict[str, Any]:
    """Entries on three days, by two people, about two conversations."""
    desk = console(app)
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    nurse_id, nurse_email, _ = make_staff(app, "clinician")
    other_id, other_email, _ = make_staff(app, "clinician")
    first = seed_contact(app, name="Amina")["contact_id"]
    seeded = seed_contact(app, name="Baraka")
    second = seeded["contact_id"]
    nurse = Actor(nurse_id, nurse_email, "clinician", "Nurse", "10.0.0.7")
    other = Actor(other_id, other_email, "clinician", "Other", "10.0.0.8")
    try:
        desk.clock = lambda: today - dt.timedelta(days=2)
        desk.transcript(nurse, first)
        desk.clock = lambda: today - dt.timedelta(days=1)
        desk.transcript(other, second)
        desk.hand_back(nurse, second)
        desk.clock = lambda: today
        desk.transcript(nurse, second)
    finally:
        desk.clock = utcnow
    return {"today": today.date(), "nurse_id": nurse_id, "other_id": other_id,
            "first": first, "second": second, "nurse_email": nurse_email,
            "event_id": seeded["event_id"]}


def test_the_audit_page_reads_in_words_and_filters(console_app: Any) -> None:
    client, _, admin_email, _ = _admin(console_app)
    seen = _seed_history(console_app)
    html = client.get("/admin/audit").get_data(as_text=True)
    for words in ("Read a conversation", "Handed a conversation back to the bot", "Signed in",
                  "was bot", f'href="/admin/contacts/{seen["second"]}"'):
        assert words in html, words
    assert '{"' not in html and "&#34;" not in html  # no raw JSON anywhere
    # The action filter is a list of actions in words, not a code to type.
    assert '<option value="staff.login_failed">Sign-in failed</option>' in html
    assert f'<option value="{seen["nurse_id"]}">Clinician ({seen["nurse_email"]})</option>' in html

    def rows(query: str) -> list[str]:
        page = client.get(f"/admin/audit?{query}")
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
        return [r for r in body.split("<tr>")[1:] if "No entries match" not in r]

    assert len(rows(f"staff_id={seen['nurse_id']}")) == 3
    assert len(rows(f"staff_id={seen['nurse_id']}&action=transcript.view")) == 2
    assert len(rows(f"contact_id={seen['second']}")) == 3
    assert len(rows(f"contact_id={seen['first']}&action=conversation.handback")) == 0
    day = seen["today"]
    yesterday = (day - dt.timedelta(days=1)).isoformat()
    assert len(rows(f"action=transcript.view&since={yesterday}&until={yesterday}")) == 1
    assert len(rows(f"action=transcript.view&until={yesterday}")) == 2
    assert len(rows(f"action=transcript.view&since={day.isoformat()}")) == 1
    assert any(admin_email in r for r in rows("action=staff.login"))
    for bad in ("since=yesterday", "contact_id=abc", f"since={day}&until={yesterday}"):
        assert client.get(f"/admin/audit?{bad}").status_code == 400, bad


def test_the_audit_page_pages_and_keeps_its_filters(sqlite_app: Any) -> None:
    client, staff_id, _, _ = _admin(sqlite_app)
    contact = seed_contact(sqlite_app)["contact_id"]
    desk = console(sqlite_app)
    reader = Actor(staff_id, "reader@clinic.example.org", "admin", "Reader", None)
    for _ in range(55):
        desk.transcript(reader, contact)
    first = client.get(f"/admin/audit?contact_id={contact}").get_data(as_text=True)
    assert "55 entries" in first and "page 1 of 2" in first
    assert f'href="?contact_id={contact}&amp;page=2"' in first
    second = client.get(f"/admin/audit?contact_id={contact}&page=2").get_data(as_text=True)
    assert second.count('title="transcript.view">Read a conversation<') == 5


def test_csv_export_holds_the_filtered_view_and_is_audited(console_app: Any) -> None:
    client, admin_id, _, token = _admin(console_app)
    seen = _seed_history(console_app)
    # A value a spreadsheet would run as a formula stays text.
    console(console_app).create_staff(CLI_ACTOR, email="=cmd@clinic.example.org", name="",
                                      role="viewer", password=PASSWORD)
    page = client.get(f"/admin/audit?staff_id={seen['nurse_id']}").get_data(as_text=True)
    assert f'href="/admin/audit.csv?staff_id={seen["nurse_id"]}"' in page
    response = client.get(f"/admin/audit.csv?staff_id={seen['nurse_id']}")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(table[0].keys()) == CSV_COLUMNS
    assert [(r["action"], r["contact_id"]) for r in table] == [
        ("transcript.view", str(seen["second"])),
        ("conversation.handback", str(seen["second"])),
        ("transcript.view", str(seen["first"])),
    ]
    assert table[0]["action_label"] == "Read a conversation"
    assert table[1]["summary"] == f"was bot; resolved escalation {seen['event_id']}"
    assert table[0]["who"] == seen["nurse_email"]
    assert table[0]["ip"] == "10.0.0.7" and table[0]["time_utc"].startswith(
        seen["today"].isoformat())
    created = list(csv.DictReader(io.StringIO(
        client.get("/admin/audit.csv?action=staff.create").get_data(as_text=True))))
    assert any(r["summary"].startswith("'=cmd@clinic.example.org") for r in created)
    exports = _entries(console_app, "audit.export")
    assert [(e.actor_id, e.detail) for e in exports] == [
        (admin_id, {"rows": 3, "filters": {"staff_id": seen["nurse_id"]}}),
        (admin_id, {"rows": len(created), "filters": {"action": "staff.create"}}),
    ]
    # The API: the same filters, the entries in words, and the same CSV.
    api = console_app.test_client()
    listed = api.get(f"/admin/api/audit?contact_id={seen['second']}&action=transcript.view",
                     headers=bearer(token))
    body = AuditPage.model_validate(listed.get_json())
    assert body.total == 2 and {e.label for e in body.items} == {"Read a conversation"}
    assert {e.concerns.contact_id for e in body.items} == {seen["second"]}
    since = seen["today"].isoformat()
    exported = api.get(f"/admin/api/audit.csv?action=transcript.view&since={since}",
                       headers=bearer(token))
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [r["contact_id"] for r in rows] == [str(seen["second"])]
    assert _entries(console_app, "audit.export")[-1].detail == {
        "rows": 1, "filters": {"action": "transcript.view", "since": since}}
    assert api.get("/admin/api/audit?since=2026-13-01", headers=bearer(token)).status_code == 400


def test_every_action_the_console_writes_has_a_label(console_app: Any) -> None:
    """Walk the main flows, then check no entry in the log falls back to its bare code."""
    client, _, _, _ = _admin(console_app)
    seen = _seed_history(console_app)
    desk = console(console_app)
    ids = seed_contact(console_app)
    desk.acknowledge(CLI_ACTOR, ids["event_id"])
    desk.resolve(CLI_ACTOR, ids["event_id"], outcome="referred")
    nurse_id, nurse_email, _ = make_staff(console_app, "clinician")
    nurse = Actor(nurse_id, nurse_email, "clinician", "Nurse", "10.0.0.9")
    desk.claim(nurse, ids["contact_id"])
    desk.claim(CLI_ACTOR, ids["contact_id"], staff_id=seen["other_id"])
    desk.add_note(nurse, ids["contact_id"], "Called back, no answer")
    desk.save_quick_reply(CLI_ACTOR, "audit_walk", {"en": "We are calling you now."})
    desk.delete_quick_reply(CLI_ACTOR, "audit_walk")
    desk.export(CLI_ACTOR, seen["first"], "csv")
    desk.erase(CLI_ACTOR, seen["first"])
    client.get("/admin/audit.csv")
    login(console_app.test_client(), "nobody@clinic.example.org", SECRET_GUESS)
    with console_app.extensions["bot"].uow() as uow:
        actions = set(uow.audit.actions())
    assert actions - set(ACTION_LABELS) == set()
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "removed 2 messages, 1 safety events, 0 alerts" in html
    assert "human requested: open → acknowledged" in html
    assert "outcome: referred" in html
    assert "Claimed a conversation" in html and "Wrote an internal note" in html
    assert "Called back" not in html  # the audit says a note was written, never what it says
    assert "no account with that email" in html
    assert "erased person" in html

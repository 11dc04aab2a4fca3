"""The console's pages render what staff need, on a phone too, and their forms do the work."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bot.store.models import utcnow
from tests.admin.support import csrf_of, login, make_staff, seed_contact


def _admin_client(app: Any) -> Any:
    client = app.test_client()
    _, email, _ = make_staff(app, "admin")
    assert login(client, email).status_code == 302
    return client


def test_inbox_lists_filters_and_searches(sqlite_app: Any) -> None:
    client = _admin_client(sqlite_app)
    seed_contact(sqlite_app, name="Amina", level="emergency", state="needs_human",
                 body="chest pain since morning")
    long_ago = utcnow() - dt.timedelta(days=30)
    seed_contact(sqlite_app, name="Baraka", level="self_care", body="sore throat",
                 created=long_ago, last_inbound=long_ago, escalation=None)
    html = client.get("/admin/").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "Amina" in html and "Baraka" in html and "needs human" in html
    assert html.index("Amina") < html.index("Baraka")  # escalated first, then latest activity
    only = client.get("/admin/?level=emergency").get_data(as_text=True)
    assert "Amina" in only and "Baraka" not in only
    found = client.get("/admin/?q=THROAT").get_data(as_text=True)
    assert "Baraka" in found and "Amina" not in found
    since = (utcnow() - dt.timedelta(days=1)).date().isoformat()
    recent = client.get(f"/admin/?since={since}").get_data(as_text=True)
    assert "Amina" in recent and "Baraka" not in recent
    bad = client.get("/admin/?since=someday")
    assert bad.status_code == 400 and "date like" in bad.get_data(as_text=True)


def test_text_from_people_is_escaped(sqlite_app: Any) -> None:
    client = _admin_client(sqlite_app)
    ids = seed_contact(sqlite_app, name="<b>x</b>", body="<script>alert(1)</script>")
    html = client.get(f"/admin/contacts/{ids['contact_id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    response = client.get("/admin/")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_export_and_erase_from_the_transcript_page(sqlite_app: Any) -> None:
    client = _admin_client(sqlite_app)
    ids = seed_contact(sqlite_app, name="Chiku")
    page = client.get(f"/admin/contacts/{ids['contact_id']}").get_data(as_text=True)
    assert "Export JSON" in page and "Erase" in page
    exported = client.get(f"/admin/contacts/{ids['contact_id']}/export.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert "my child has a fever" in exported.get_data(as_text=True)
    unconfirmed = client.post(f"/admin/contacts/{ids['contact_id']}/erase",
                              data={"csrf_token": csrf_of(client), "confirm": "yes"},
                              follow_redirects=True)
    assert "Type ERASE" in unconfirmed.get_data(as_text=True)
    erased = client.post(f"/admin/contacts/{ids['contact_id']}/erase",
                         data={"csrf_token": csrf_of(client), "confirm": "ERASE"},
                         follow_redirects=True)
    assert "Erased: 2 messages" in erased.get_data(as_text=True)
    assert client.get(f"/admin/contacts/{ids['contact_id']}").status_code == 404
    audit = client.get("/admin/audit?action=contact.erase").get_data(as_text=True)
    assert "contact.erase" in audit and "keyed hash" in audit


def test_staff_page_creates_accounts_and_shows_a_token_once(sqlite_app: Any) -> None:
    client = _admin_client(sqlite_app)
    created = client.post("/admin/staff", data={
        "csrf_token": csrf_of(client), "email": "new.nurse@clinic.example.org",
        "name": "New Nurse", "role": "clinician", "password": "a long enough password",
    }, follow_redirects=True)
    assert "Account created for new.nurse@clinic.example.org" in created.get_data(as_text=True)
    weak = client.post("/admin/staff", data={
        "csrf_token": csrf_of(client), "email": "weak@clinic.example.org", "role": "viewer",
        "password": "short"}, follow_redirects=True)
    assert "at least 12 characters" in weak.get_data(as_text=True)
    page = client.get("/admin/staff").get_data(as_text=True)
    staff_id = re.search(r'/admin/staff/(\d+)/tokens" class="inline">\s*'
                         r'<input type="hidden" name="csrf_token" value="[^"]+">\s*'
                         r'<input name="label"', page)
    assert staff_id is not None
    shown = client.post(f"/admin/staff/{staff_id.group(1)}/tokens",
                        data={"csrf_token": csrf_of(client), "label": "phone"})
    token = re.search(r'<code id="new-token">(hbt_[^<]+)</code>', shown.get_data(as_text=True))
    assert token is not None
    assert token.group(1) not in client.get("/admin/staff").get_data(as_text=True)
    assert client.get("/admin/api/me", headers={
        "Authorization": f"Bearer {token.group(1)}"}).status_code == 200

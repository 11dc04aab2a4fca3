"""Live events (GET /admin/api/events and the pages' /admin/events), on SQLite and PostgreSQL:
the server-sent-event format, who may read them, resuming from Last-Event-ID, the JSON poll, the
bound on open streams, and two app instances (two gunicorn workers) sharing one database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin.events import Cursor, EventFeed
from tests.admin.support import FakeMessenger, bearer, fast_hashing, login, make_staff
from tests.helpers import signed_post, twilio_form

SSE = {"Accept": "text/event-stream"}
EMERGENCY = "my baby is not breathing"


def _feed(app: Any, *, duration: float = 0.6) -> EventFeed:
    feed: EventFeed = app.extensions["healthbot_events"]
    feed.duration_s, feed.poll_s, feed.heartbeat_s = duration, 0.1, 0.25
    return feed


def _parse(text: str) -> list[dict[str, Any]]:
    """Split an event stream into its events (comments and the retry line kept as fields)."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        events.append(fields)
    return events


def _stream(client: Any, url: str, headers: dict[str, str]) -> tuple[Any, str]:
    response = client.get(url, headers={**SSE, **headers}, buffered=False)
    try:
        text = b"".join(response.response).decode()
    finally:
        response.close()
    return response, text


def test_stream_format_and_resume(console_app: Any) -> None:
    _feed(console_app)
    client = console_app.test_client()
    auth = bearer(make_staff(console_app, "viewer")[2])
    response, text = _stream(client, "/admin/api/events", auth)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    events = _parse(text)
    assert events[0] == {"retry": "3000"}
    summary = events[1]
    assert summary["event"] == "summary"
    assert summary["data"] == {"open_emergencies": 0, "unacknowledged_emergencies": 0,
                               "open_escalations": 0}
    start = summary["id"]
    assert Cursor.parse(start) == EventFeed(console_app.extensions["bot"].uow).head()
    assert any(e.get("comment") == "still here" for e in events[2:])  # the heartbeat

    # Something happens while nobody listens; resuming from the last id delivers it, in order.
    signed_post(client, twilio_form(EMERGENCY, sender="whatsapp:+254722000111"))
    _, text = _stream(client, "/admin/api/events", {**auth, "Last-Event-ID": start})
    events = [e for e in _parse(text) if "event" in e]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "summary" and "message" in kinds and "escalation" in kinds
    inbound = next(e for e in events if e["event"] == "message")
    assert inbound["data"]["direction"] == "in" and inbound["data"]["level"] == "emergency"
    assert "body" not in inbound["data"]  # events say what changed; the API says what it is
    raised = next(e for e in events if e["event"] == "escalation")
    assert raised["data"]["kind"] == "emergency" and raised["data"]["status"] == "open"
    assert events[-1]["event"] == "summary" and events[-1]["data"]["open_emergencies"] == 1
    ids = [Cursor.parse(e["id"]) for e in events[1:]]
    assert ids == sorted(ids, key=lambda c: (c.message, c.escalation, c.audit))
    assert all(c.message > Cursor.parse(start).message for c in ids)

    # From the last id on, nothing is sent twice.
    _, text = _stream(client, "/admin/api/events", {**auth, "Last-Event-ID": events[-1]["id"]})
    assert [e["event"] for e in _parse(text) if "event" in e] == ["summary"]


def test_events_need_the_same_authorisation_as_the_api(sqlite_app: Any) -> None:
    _feed(sqlite_app)
    client = sqlite_app.test_client()
    refused = client.get("/admin/api/events", headers=SSE)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/admin/api/events", headers={**SSE, **bearer("hbt_" + "x" * 43)}
                      ).status_code == 401
    # The pages' stream takes the session cookie, not a token, and the API no cookie.
    _, email, token = make_staff(sqlite_app, "viewer")
    page = client.get("/admin/events", headers={**SSE, **bearer(token)})
    assert page.status_code == 302 and "/admin/login" in page.headers["Location"]
    login(client, email)
    response, text = _stream(client, "/admin/events", {})
    assert response.status_code == 200 and "event: summary" in text
    assert client.get("/admin/api/events", headers=SSE).status_code == 401
    assert client.get("/admin/api/events", headers={**bearer(token), "Last-Event-ID": "x"}
                      ).status_code == 400


def test_json_poll_is_the_fallback(console_app: Any) -> None:
    client = console_app.test_client()
    auth = bearer(make_staff(console_app, "viewer")[2])
    first = client.get("/admin/api/events", headers=auth).get_json()
    assert first["items"] == [] and first["summary"]["open_emergencies"] == 0
    signed_post(client, twilio_form(EMERGENCY, sender="whatsapp:+254722000222"))
    clinician = bearer(make_staff(console_app, "clinician")[2])
    contact_id = client.get("/admin/api/conversations", headers=auth).get_json()["items"][0]["id"]
    client.post(f"/admin/api/contacts/{contact_id}/notes", headers=clinician,
                json={"body": "calling her now"})
    after = first["last_event_id"]
    polled = client.get(f"/admin/api/events?after={after}", headers=auth).get_json()
    kinds = [i["event"] for i in polled["items"]]
    assert "message" in kinds and "escalation" in kinds and "case" in kinds
    note = next(i for i in polled["items"] if i["event"] == "case")
    assert note["data"]["action"] == "case.note" and note["data"]["contact_id"] == contact_id
    assert polled["summary"]["open_emergencies"] == 1
    # Sign-ins and transcript views are not events.
    client.get(f"/admin/api/contacts/{contact_id}", headers=auth)
    again = client.get(f"/admin/api/events?after={polled['last_event_id']}", headers=auth)
    assert again.get_json()["items"] == []


def test_streams_are_bounded_per_process(sqlite_app: Any) -> None:
    feed = _feed(sqlite_app, duration=5)
    feed.max_streams = 1
    feed.__post_init__()  # one slot
    client = sqlite_app.test_client()
    auth = bearer(make_staff(sqlite_app, "viewer")[2])
    held = client.get("/admin/api/events", headers={**SSE, **auth}, buffered=False)
    busy = client.get("/admin/api/events", headers={**SSE, **auth})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert busy.get_json()["error"] == "busy"
    assert client.get("/admin/api/events", headers=auth).status_code == 200  # polling works
    held.close()  # the client went away before reading anything: the slot comes back
    response, text = _stream(client, "/admin/api/events?", auth)
    assert response.status_code == 200 and "event: summary" in text


@pytest.fixture
def second_app(tmp_path: Path, database_url: str, console_app: Any) -> Iterator[Any]:
    """Another instance of the app on the same database, like a second gunicorn worker."""
    from bot.app import create_app
    from tests.helpers import make_settings

    other = create_app(make_settings(tmp_path / "b", database_url), upgrade_db=True,
                       background=False, messenger=FakeMessenger())
    fast_hashing(other)
    yield other
    other.extensions["bot"].close()


def test_a_stream_on_one_instance_sees_what_another_stored(
    console_app: Any, second_app: Any,
) -> None:
    _feed(second_app, duration=3.0)
    auth = bearer(make_staff(console_app, "viewer")[2])  # the token is in the shared database
    reader = second_app.test_client()
    start = reader.get("/admin/api/events", headers=auth).get_json()["last_event_id"]
    received: list[str] = []

    def listen() -> None:
        received.append(_stream(reader, "/admin/api/events",
                                {**auth, "Last-Event-ID": start})[1])

    thread = threading.Thread(target=listen)
    thread.start()
    time.sleep(0.5)  # the stream is open and polling
    writer = console_app.test_client()
    assert signed_post(writer, twilio_form(EMERGENCY, sender="whatsapp:+254722000333")
                       ).status_code == 200
    thread.join(timeout=20)
    assert not thread.is_alive()
    events = [e for e in _parse(received[0]) if "event" in e]
    raised = [e for e in events if e["event"] == "escalation"]
    assert raised and raised[0]["data"]["kind"] == "emergency"
    assert events[-1]["data"]["open_emergencies"] == 1

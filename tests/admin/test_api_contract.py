"""The staff API's contract beyond what schemathesis generates: JSON errors for every failure under
/admin/api (and HTML kept for the pages), the answers' shapes checked against their models, lists
paginated, request models no looser than the console."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.admin import api_models
from bot.admin.auth import requires
from bot.store.models import Message, utcnow
from tests.admin.support import FakeMessenger, bearer, make_staff, seed_contact


def _is_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    api_models.Error.model_validate(body)
    return body


def test_unknown_paths_and_wrong_methods_answer_json(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "admin")
    for path in ("/admin/api/nope", "/admin/api", "/admin/api/contacts/1/nope"):
        assert _is_error(client.get(path), 404)["error"] == "not_found"
        _is_error(client.get(path, headers=bearer(token)), 404)
    refused = client.put("/admin/api/me", headers=bearer(token))
    assert _is_error(refused, 405)["error"] == "method_not_allowed"
    assert "GET" in refused.headers["Allow"]
    # An id beyond the database's integer names nothing: 404, even where the path takes
    # another method (werkzeug's own int converter would answer 405 there).
    assert _is_error(client.delete("/admin/api/contacts/99999999999", headers=bearer(token)),
                     404)["error"] == "not_found"
    _is_error(client.post("/admin/api/staff/0/tokens", headers=bearer(token), json={}), 404)


def test_the_pages_and_the_rest_of_the_app_keep_html_errors(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    for path in ("/admin/nope", "/nope", "/admin/apix"):
        response = client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html", path
    assert client.put("/healthz").mimetype == "text/html"


def test_bodies_that_are_not_json_objects_are_refused_in_json(
    sqlite_app: Any, messenger: FakeMessenger
) -> None:
    client = sqlite_app.test_client()
    ids = seed_contact(sqlite_app)
    _, _, token = make_staff(sqlite_app, "admin")
    url = f"/admin/api/contacts/{ids['contact_id']}/reply"
    auth = bearer(token)
    json_type = {**auth, "Content-Type": "application/json"}
    assert "not valid JSON" in _is_error(client.post(url, headers=json_type, data="{"),
                                         400)["reason"]
    assert "JSON object" in _is_error(client.post(url, headers=auth, json=["hi"]), 400)["reason"]
    assert "body" in _is_error(client.post(url, headers=auth), 400)["reason"]
    _is_error(client.post(url, headers=auth, data={"body": "hi"}), 415)
    assert _is_error(client.post(url, headers=auth, json={"body": "x" * 70_000}),
                     413)["error"] == "too_large"
    # Fields: exact types, no unknown keys, and nothing the console would refuse anyway.
    for body in ({"body": 5}, {"body": "hi", "extra": 1}, {"body": " \u3000\x1c"},
                 {"body": "hi", "idempotency_key": "no spaces please"}):
        _is_error(client.post(url, headers=auth, json=body), 400)
    assert messenger.sent == []


def test_a_refused_field_is_named_but_its_value_never_echoed(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "admin")
    body = _is_error(client.post("/admin/api/staff", headers=bearer(token), json={
        "email": "new@clinic.example.org", "role": "viewer", "password": "sekrit-pw"}), 400)
    assert "password" in body["reason"] and "sekrit" not in body["reason"]
    assert "active" in _is_error(client.patch(
        "/admin/api/staff/1", headers=bearer(token), json={"active": "false"}), 400)["reason"]


def test_query_parameters_are_checked_against_their_models(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "admin")
    auth = bearer(token)
    for query in ("per_page=201", "page=0", "page=x", "until=0", "since=20260131", "state=",
                  "levle=urgent", "q=" + "x" * 201):
        _is_error(client.get(f"/admin/api/conversations?{query}", headers=auth), 400)
    assert client.get("/admin/api/conversations?since=2026-01-31&per_page=200",
                      headers=auth).status_code == 200


def test_every_list_pages_with_page_per_page_and_total(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    staff_id, _, token = make_staff(sqlite_app, "admin")
    auth = bearer(token)
    for _ in range(2):
        make_staff(sqlite_app, "viewer")
        client.post(f"/admin/api/staff/{staff_id}/tokens", headers=auth, json={"label": "x"})
    first = client.get("/admin/api/staff?per_page=2", headers=auth).get_json()
    second = client.get("/admin/api/staff?per_page=2&page=2", headers=auth).get_json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {s["id"] for s in first["items"]}.isdisjoint(s["id"] for s in second["items"])
    tokens = client.get(f"/admin/api/staff/{staff_id}/tokens?per_page=2&page=2",
                        headers=auth).get_json()
    assert tokens["total"] == 3 and len(tokens["items"]) == 1 and tokens["page"] == 2
    _is_error(client.get("/admin/api/staff/999999/tokens", headers=auth), 404)
    jobs = client.get("/admin/api/failed-jobs?per_page=1", headers=auth).get_json()
    assert jobs == {"items": [], "page": 1, "per_page": 1, "total": 0}
    audit = client.get("/admin/api/audit?per_page=1&action=token.create", headers=auth)
    assert audit.get_json()["total"] == 5 and len(audit.get_json()["items"]) == 1  # 3 + 2 tokens


def test_the_transcript_carries_every_field_of_a_message(sqlite_app: Any) -> None:
    ids = seed_contact(sqlite_app)
    with sqlite_app.extensions["bot"].uow() as uow:
        uow.session.add(Message(
            contact_id=ids["contact_id"], direction="in", body="", status="received",
            twilio_sid="MM" + "1" * 32, language="sw", created_at=utcnow(),
            media=[{"url": "https://api.twilio.com/m/1", "content_type": "image/jpeg"}],
            location={"latitude": -1.29, "longitude": 36.82, "address": None, "label": "Home"},
            button_text="Yes"))
        uow.commit()
    _, _, token = make_staff(sqlite_app, "viewer")
    client = sqlite_app.test_client()
    response = client.get(f"/admin/api/contacts/{ids['contact_id']}", headers=bearer(token))
    assert response.status_code == 200
    data = api_models.Transcript.model_validate(response.get_json())
    inbound, answer, photo = data.messages
    assert inbound.twilio_sid and inbound.language == "en" and inbound.rule_ids == ["fever.child"]
    assert [c.perspective for c in answer.model_calls] == ["triage_nurse", "clinician"]
    assert answer.cost_usd == pytest.approx(0.003) and answer.model == "openai/gpt-test"
    assert photo.media[0].content_type == "image/jpeg" and photo.location is not None
    assert data.escalations[0].excerpt == "my child has a fever"
    assert data.escalations[0].rule_ids == []


def test_an_answer_outside_its_model_is_a_logged_json_500(
    sqlite_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A state the models don't know (as a new console feature would store before its model is
    # updated): the inbox refuses to answer outside its document rather than drift from it.
    seed_contact(sqlite_app, state="archived")
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "viewer")
    with caplog.at_level(logging.ERROR, logger="bot.admin.openapi"):
        body = _is_error(client.get("/admin/api/conversations", headers=bearer(token)), 500)
    assert body["error"] == "server_error"
    assert "items.0.state" in caplog.text and "/admin/api/conversations" in caplog.text
    assert "archived" not in caplog.text  # field names only: the values are health data


def test_a_failure_is_a_logged_json_500(
    sqlite_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production (TESTING re-raises)

    @requires("viewer")
    def broken() -> Any:
        raise RuntimeError("the inbox broke")

    sqlite_app.add_url_rule("/admin/api/broken", "admin_api.broken", broken)
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "viewer")
    with caplog.at_level(logging.ERROR):
        body = _is_error(client.get("/admin/api/broken", headers=bearer(token)), 500)
    assert body == {"error": "server_error", "reason": "the server failed; the error is logged"}
    assert "the inbox broke" in caplog.text


def test_bodies_optional_or_required_as_documented(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    staff_id, _, token = make_staff(sqlite_app, "admin")
    ids = seed_contact(sqlite_app, escalation="urgent")
    auth = bearer(token)
    document = client.get("/admin/api/openapi.json").get_json()
    # A claim for oneself takes no body; the document says so. Other bodies are required.
    claim = document["paths"]["/admin/api/contacts/{contact_id}/claim"]["post"]["requestBody"]
    assert claim["required"] is False
    tokens = document["paths"]["/admin/api/staff/{staff_id}/tokens"]["post"]
    assert tokens["requestBody"]["required"] is True
    taken = client.post(f"/admin/api/contacts/{ids['contact_id']}/claim", headers=auth)
    assert taken.status_code == 200 and taken.get_json()["assigned_to"]["id"] == staff_id
    # 5.0 is an integer to JSON Schema, so to the API too; "5" is not.
    assert client.post(f"/admin/api/contacts/{ids['contact_id']}/claim", headers=auth,
                       json={"staff_id": float(staff_id)}).status_code == 200
    _is_error(client.post(f"/admin/api/contacts/{ids['contact_id']}/claim", headers=auth,
                          json={"staff_id": str(staff_id)}), 400)
    # A missing body that has required fields is refused, naming them.
    missing = _is_error(client.post(f"/admin/api/escalations/{ids['event_id']}/resolve",
                                    headers=auth), 400)
    assert "outcome" in missing["reason"]
    _is_error(client.post(f"/admin/api/staff/{staff_id}/tokens", headers=auth), 400)


def test_state_and_range_answers(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, _, token = make_staff(sqlite_app, "admin")
    auth = bearer(token)
    # Removing the last language of a quick reply conflicts with what is stored: 409, not 400.
    url = "/admin/api/quick-replies/contract_check"
    _is_error(client.put(url, headers=auth, json={"texts": {"en": ""}}), 409)
    assert client.put(url, headers=auth, json={"texts": {"en": "Hi", "fr": "Salut"}}
                      ).status_code == 200
    assert client.put(url, headers=auth, json={"texts": {"fr": ""}}).get_json()["texts"] == {
        "en": "Hi"}
    _is_error(client.put(url, headers=auth, json={"texts": {"en": " "}}), 409)
    # A date range that ends before it starts holds no entries (the pages refuse it instead).
    empty = client.get("/admin/api/audit?since=2026-02-02&until=2026-02-01", headers=auth)
    assert empty.status_code == 200 and empty.get_json()["items"] == []
    assert empty.get_json()["total"] == 0
    assert client.get("/admin/api/audit?since=2020-01-01", headers=auth).get_json()["total"] > 0
    csv = client.get("/admin/api/audit.csv?since=2026-02-02&until=2026-02-01", headers=auth)
    assert csv.status_code == 200 and csv.get_data(as_text=True).count("\n") == 1
    # An empty Last-Event-ID counts as none; a malformed one is refused.
    assert client.get("/admin/api/events", headers={**auth, "Last-Event-ID": ""}
                      ).status_code == 200
    _is_error(client.get("/admin/api/events", headers={**auth, "Last-Event-ID": "1.2"}), 400)

"""The case-work models (bot/admin/api_models.py) describe the routes exactly: real answers
validate against them (no field missing, none unknown), and what they refuse the API refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.admin import api_models as m
from tests.admin.support import bearer, make_staff, seed_contact
from tests.helpers import signed_post, twilio_form


def test_answers_validate_against_the_models(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    admin = bearer(make_staff(sqlite_app, "admin")[2])
    start = m.EventPoll.model_validate(
        client.get("/admin/api/events", headers=admin).get_json())
    signed_post(client, twilio_form("my baby is not breathing", sender="whatsapp:+254733000111"))
    ids = seed_contact(sqlite_app, escalation="urgent", level="urgent")
    contact = ids["contact_id"]

    page = m.ConversationPage.model_validate(
        client.get("/admin/api/conversations", headers=admin).get_json())
    assert page.items[0].priority == "emergency" and page.items[0].escalation is not None
    m.Claim.model_validate(
        client.post(f"/admin/api/contacts/{contact}/claim", headers=admin,
                    json=m.ClaimBody().model_dump(exclude_none=True)).get_json())
    note = m.NoteBody(body="called back")
    m.Note.model_validate(client.post(f"/admin/api/contacts/{contact}/notes", headers=admin,
                                      json=note.model_dump()).get_json())
    m.NotePage.model_validate(client.get(f"/admin/api/contacts/{contact}/notes?per_page=5",
                                         headers=admin).get_json())
    m.ReplySent.model_validate(client.post(f"/admin/api/contacts/{contact}/reply",
                                               headers=admin, json={"body": "Hello"}).get_json())
    queue = client.get("/admin/api/escalations", headers=admin).get_json()["items"]
    for item in queue:
        m.Escalation.model_validate(item)
    resolve = m.ResolveBody(outcome="advised", note="see the clinic today")
    done = m.Escalation.model_validate(client.post(
        f"/admin/api/escalations/{ids['event_id']}/resolve", headers=admin,
        json=resolve.model_dump()).get_json())
    assert done.outcome == "advised"
    m.QuickReplyPage.model_validate(
        client.get("/admin/api/quick-replies?language=fr", headers=admin).get_json())
    save = m.QuickReplyTexts(texts={"en": "Bring the health card.", "fr": ""})
    m.QuickReplySaved.model_validate(client.put("/admin/api/quick-replies/card", headers=admin,
                                                json=save.model_dump()).get_json())
    m.QuickReplyDeleted.model_validate(
        client.delete("/admin/api/quick-replies/card", headers=admin).get_json())
    polled = m.EventPoll.model_validate(client.get(
        f"/admin/api/events?after={start.last_event_id}", headers=admin).get_json())
    assert {i.event for i in polled.items} >= {"message", "escalation", "case"}


@pytest.mark.parametrize(("model", "body", "route"), [
    (m.ResolveBody, {}, "/admin/api/escalations/{event}/resolve"),
    (m.ResolveBody, {"outcome": "fine"}, "/admin/api/escalations/{event}/resolve"),
    (m.NoteBody, {"body": ""}, "/admin/api/contacts/{contact}/notes"),
    (m.QuickReplyTexts, {"texts": {"xx": "hello"}}, "/admin/api/quick-replies/card"),
])
def test_what_the_models_refuse_the_api_refuses(
    sqlite_app: Any, model: Any, body: dict[str, Any], route: str,
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(body)
    client = sqlite_app.test_client()
    admin = bearer(make_staff(sqlite_app, "admin")[2])
    ids = seed_contact(sqlite_app, escalation="urgent")
    url = route.format(event=ids["event_id"], contact=ids["contact_id"])
    method = client.put if "quick-replies" in route else client.post
    assert method(url, headers=admin, json=body).status_code == 400

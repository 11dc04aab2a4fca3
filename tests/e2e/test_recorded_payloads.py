"""Recorded-shape Twilio payloads (text, photo, voice note, location, button, ad referral) go
through the real webhook: each is stored with what it carried and answered with something."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.models import Message
from tests.helpers import signed_post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"


def load(name: str) -> dict[str, str]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text("utf-8")))


def stored(app: Any, sid: str) -> Message:
    with app.extensions["bot"].uow() as uow:
        row = uow.session.scalars(select(Message).where(Message.twilio_sid == sid)).one()
        uow.session.expunge(row)
        return row


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_every_recorded_payload_is_stored_and_answered(app: Any, client: Any, name: str) -> None:
    form = load(name)
    response = signed_post(client, form)
    assert response.status_code == 200, response.get_data(as_text=True)
    bubbles = [m.text for m in ET.fromstring(response.get_data(as_text=True)).iter("Message")]
    assert bubbles and all(b and b.strip() for b in bubbles)
    row = stored(app, form["MessageSid"])
    assert row.body == form["Body"]
    # fields we don't model are kept for the record, never dropped
    for key in ("MessageType", "ApiVersion"):
        assert row.extra[key] == form[key]


def test_media_is_stored_and_the_bot_says_it_cannot_look(app: Any, client: Any) -> None:
    for name, kind in (("image", "image/jpeg"), ("voice_note", "audio/ogg")):
        form = load(name)
        text = signed_post(client, form).get_data(as_text=True)
        row = stored(app, form["MessageSid"])
        assert row.media == [{"url": form["MediaUrl0"], "content_type": kind}]
        assert "MediaUrl0" not in row.extra
        assert text.count("<Message>") >= 1


def test_location_and_button_and_referral_fields(app: Any, client: Any) -> None:
    location = load("location")
    signed_post(client, location)
    row = stored(app, location["MessageSid"])
    assert row.location == {"latitude": pytest.approx(51.51322977399644),
                            "longitude": pytest.approx(-0.2197976373036567),
                            "address": "187 Freston Road, London", "label": "The Harrow Club"}
    button = load("button_reply")
    reply = signed_post(client, button).get_data(as_text=True)
    row = stored(app, button["MessageSid"])
    assert row.button_text == "Tengo fiebre"
    assert row.extra["ButtonPayload"] == "symptom_fever"
    assert "fiebre" in reply.lower()  # the tapped button's text is what gets answered, in Spanish
    ad = load("click_to_whatsapp_ad")
    signed_post(client, ad)
    assert stored(app, ad["MessageSid"]).extra["ReferralHeadline"] == "Clinic open day"

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.schemas import InboundMessage
from tests.helpers import twilio_form


def test_parses_a_recorded_text_message_and_keeps_unknown_fields() -> None:
    form = twilio_form("I have a headache", ChannelMetadata='{"type":"whatsapp"}')
    msg = InboundMessage.model_validate(form)
    assert msg.text == "I have a headache"
    assert msg.phone == "+254712345678"
    assert msg.contact_key == "254712345678"
    assert msg.extra_fields()["ChannelMetadata"] == '{"type":"whatsapp"}'
    assert msg.extra_fields()["MessageType"] == "text"


def test_media_fields_are_collected() -> None:
    form = twilio_form(
        "", NumMedia="2",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        MediaContentType0="image/jpeg",
        MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
        MediaContentType1="audio/ogg",
    )
    msg = InboundMessage.model_validate(form)
    assert [m.content_type for m in msg.media] == ["image/jpeg", "audio/ogg"]
    assert "MediaUrl0" not in msg.extra_fields()


def test_location_and_button() -> None:
    form = twilio_form("", Latitude="-1.2921", Longitude="36.8219", Address="Nairobi",
                       ButtonText="Yes, book")
    msg = InboundMessage.model_validate(form)
    assert msg.location is not None and msg.location.latitude == pytest.approx(-1.2921)
    assert msg.text == "Yes, book"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"From": ""}, "From"),
        ({"From": "whatsapp:+12"}, "From"),
        ({"From": "whatsapp:hello"}, "From"),
        ({"MessageSid": ""}, "MessageSid"),
        ({"Body": "x" * 1601}, "Body"),
        ({"NumMedia": "many"}, "NumMedia"),
        ({"Latitude": "200", "Longitude": "1"}, "Latitude"),
    ],
)
def test_malformed_input_is_rejected_with_the_field_named(change: dict[str, str],
                                                          field: str) -> None:
    form = twilio_form("hi") | change
    with pytest.raises(ValidationError) as info:
        InboundMessage.model_validate(form)
    assert field in str(info.value)


def test_missing_from_is_rejected() -> None:
    form = twilio_form("hi")
    del form["From"]
    with pytest.raises(ValidationError, match="From"):
        InboundMessage.model_validate(form)

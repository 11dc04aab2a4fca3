"""Contract tests: the real twilio client, through our messenger, against Prism (Twilio's spec).

Prism validates each request against Twilio's OpenAPI description (required fields, SID patterns,
URI formats, Basic auth) and answers with the spec's examples. Error codes it does not know
(63016, 63018, 21617, 21610) are covered in test_messenger.py with a canned HttpClient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from bot.messenger import TwilioMessenger
from bot.outbound import SendFailed, Template
from bot.twilio_client import make_client

pytestmark = pytest.mark.prism

ACCOUNT = "AC" + "0123456789abcdef" * 2
FROM = "whatsapp:+14155238886"
TO = "whatsapp:+254712345678"


@pytest.fixture
def prism_messenger(prism_url: str) -> Iterator[TwilioMessenger]:
    client = make_client(ACCOUNT, "auth-token", base_url=prism_url)
    yield TwilioMessenger(client, FROM)
    session = client.http_client.session
    if session is not None:
        session.close()


def test_send_text_is_accepted_by_the_spec(prism_messenger: TwilioMessenger) -> None:
    sid, status = prism_messenger.send_text(
        TO, "Drink small sips of ORS often.", status_callback="https://bot.example.org/twilio/status"
    )
    assert sid.startswith("SM") and len(sid) == 34
    assert status == "queued"  # the spec's example; Prism doesn't echo our values


def test_send_template_is_accepted_by_the_spec(prism_messenger: TwilioMessenger) -> None:
    template = Template("HX" + "0123456789abcdef" * 2, {"1": "Your answer is ready"})
    sid, _status = prism_messenger.send_template(TO, template, status_callback=None)
    assert sid.startswith("SM")


def test_a_malformed_content_sid_is_refused_for_good(prism_messenger: TwilioMessenger) -> None:
    with pytest.raises(SendFailed) as caught:
        prism_messenger.send_template(TO, Template("HXnot-a-sid", {}), status_callback=None)
    assert caught.value.retryable is False  # 422: no retry can fix the request


def test_a_status_callback_that_is_not_a_uri_is_refused(prism_messenger: TwilioMessenger) -> None:
    with pytest.raises(SendFailed):
        prism_messenger.send_text(TO, "hi", status_callback="not a url")


def test_find_sent_parses_the_list_response(prism_messenger: TwilioMessenger) -> None:
    found = prism_messenger.find_sent(TO, dt.datetime(2019, 5, 1, tzinfo=dt.UTC))
    assert found and all(m.sid[:2] in ("SM", "MM") and len(m.sid) == 34 for m in found)
    assert all(m.created_at is None or m.created_at.tzinfo is not None for m in found)


def test_wrong_account_sid_is_refused(prism_url: str) -> None:
    client = make_client("AC" + "z" * 32, "auth-token", base_url=prism_url)
    try:
        with pytest.raises(SendFailed) as caught:
            TwilioMessenger(client, FROM).send_text(TO, "hi", status_callback=None)
        assert caught.value.retryable is False
    finally:
        if client.http_client.session is not None:
            client.http_client.session.close()

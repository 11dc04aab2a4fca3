"""TwilioMessenger on the official twilio client, with a fake HttpClient giving Twilio errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError
from twilio.rest import Client

from bot.messenger import RATE_LIMIT_BACKOFF_S, TwilioMessenger
from bot.outbound import SendFailed, Template
from tests.delivery.delivery_fakes import CannedHttpClient, twilio_error

ACCOUNT = "AC" + "1" * 32
FROM = "whatsapp:+14155238886"
TO = "whatsapp:+254712345678"
CALLBACK = "https://bot.example.org/twilio/status"


def messenger(http: CannedHttpClient) -> TwilioMessenger:
    return TwilioMessenger(Client(ACCOUNT, "token", http_client=http), FROM)


def created(sid: str = "SM" + "a" * 32, status: str = "queued") -> dict[str, object]:
    return {"sid": sid, "status": status, "to": TO, "from": FROM, "body": "x"}


def test_send_text_posts_to_from_body_and_status_callback() -> None:
    http = CannedHttpClient(201, created())
    sid, status = messenger(http).send_text(TO, "hello", status_callback=CALLBACK)
    assert (sid, status) == ("SM" + "a" * 32, "queued")
    request = http.requests[0]
    assert request["method"] == "POST"
    assert request["url"].endswith(f"/Accounts/{ACCOUNT}/Messages.json")
    assert request["data"]["To"] == TO and request["data"]["From"] == FROM
    assert request["data"]["Body"] == "hello"
    assert request["data"]["StatusCallback"] == CALLBACK


def test_send_template_uses_content_sid_and_variables_as_a_json_string() -> None:
    http = CannedHttpClient(201, created())
    template = Template("HX" + "b" * 32, {"1": "Ana", "2": "3pm"})
    messenger(http).send_template(TO, template, status_callback=None)
    data = http.requests[0]["data"]
    assert data["ContentSid"] == "HX" + "b" * 32
    assert isinstance(data["ContentVariables"], str)
    assert json.loads(data["ContentVariables"]) == {"1": "Ana", "2": "3pm"}
    assert "Body" not in data and "StatusCallback" not in data


def test_messaging_service_is_sent_when_configured() -> None:
    http = CannedHttpClient(201, created())
    client = Client(ACCOUNT, "token", http_client=http)
    TwilioMessenger(client, FROM, messaging_service_sid="MG" + "c" * 32).send_text(
        TO, "hi", status_callback=None)
    assert http.requests[0]["data"]["MessagingServiceSid"] == "MG" + "c" * 32


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, 63016, False),  # outside the 24-hour window
        (400, 21617, False),  # body too long
        (400, 21658, False),  # a content variable too long
        (400, 21610, False),  # recipient unsubscribed
        (429, 63018, True),  # channel rate limit
        (429, 20429, True),  # API rate limit
        (503, 20500, True),  # Twilio down
        (400, 21211, False),  # invalid To: trying again won't help
    ],
)
def test_twilio_errors_map_to_send_failed(status: int, code: int, retryable: bool) -> None:
    http = CannedHttpClient(status, twilio_error(code, status))
    with pytest.raises(SendFailed) as caught:
        messenger(http).send_text(TO, "hello", status_callback=None)
    assert caught.value.code == code
    assert caught.value.retryable is retryable
    if code in (63018, 20429):
        assert caught.value.retry_after == RATE_LIMIT_BACKOFF_S


def test_network_error_is_retryable_with_unknown_outcome() -> None:
    http = CannedHttpClient(error=RequestsConnectionError("connection reset"))
    with pytest.raises(SendFailed) as caught:
        messenger(http).send_text(TO, "hello", status_callback=None)
    # No code: Twilio may or may not have the message, so the row must be reconciled.
    assert caught.value.retryable and caught.value.code is None


def test_find_sent_lists_recent_messages_to_the_recipient() -> None:
    now = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)
    page = {
        "messages": [
            {"sid": "SM" + "1" * 32, "status": "sent", "body": "new",
             "date_created": "Sun, 29 Nov 2026 09:00:05 +0000", "to": TO, "from": FROM},
            {"sid": "SM" + "2" * 32, "status": "delivered", "body": "old",
             "date_created": "Sat, 28 Nov 2026 09:00:00 +0000", "to": TO, "from": FROM},
        ],
        "next_page_uri": None, "page": 0, "page_size": 20,
    }
    http = CannedHttpClient(200, page)
    found = messenger(http).find_sent(TO, now)
    assert [m.sid for m in found] == ["SM" + "1" * 32]
    assert found[0].body == "new" and found[0].status == "sent"
    request = http.requests[0]
    assert request["method"] == "GET"
    assert request["params"]["To"] == TO and request["params"]["From"] == FROM


def test_a_failed_lookup_is_retryable() -> None:
    http = CannedHttpClient(500, twilio_error(20500, 500))
    with pytest.raises(SendFailed) as caught:
        messenger(http).find_sent(TO, dt.datetime.now(dt.UTC))
    assert caught.value.retryable


def test_form_encoding_of_a_long_unicode_body() -> None:
    http = CannedHttpClient(201, created())
    body = "Olá, 👍 " * 100
    messenger(http).send_text(TO, body, status_callback=None)
    assert http.requests[0]["data"]["Body"] == body

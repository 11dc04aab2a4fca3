from __future__ import annotations

import pytest

from bot.webhook.signature import is_valid_signature, public_request_url, sign

# twilio-python's own test vector (tests/unit/test_request_validator.py).
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_matches_twilio_test_vector() -> None:
    assert sign("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    assert is_valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("wrong", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL.replace("https", "http"), VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", "https://mycompany.com/myapp.php", VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL + "/", VECTOR_PARAMS, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL, {**VECTOR_PARAMS, "Digits": "9"}, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL, {**VECTOR_PARAMS, "Extra": "x"}, VECTOR_SIGNATURE),
        ("12345", VECTOR_URL, VECTOR_PARAMS, None),
        ("12345", VECTOR_URL, VECTOR_PARAMS, ""),
        ("12345", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE[:-2]),
    ],
)
def test_rejects_any_difference(token: str, url: str, params: dict[str, str],
                                signature: str | None) -> None:
    assert not is_valid_signature(token, url, params, signature)


def test_explicit_default_port_is_accepted_both_ways() -> None:
    signature = sign("12345", "https://mycompany.com:443/myapp.php", VECTOR_PARAMS)
    assert is_valid_signature("12345", "https://mycompany.com/myapp.php", VECTOR_PARAMS, signature)
    signature = sign("12345", "https://mycompany.com/myapp.php", VECTOR_PARAMS)
    assert is_valid_signature(
        "12345", "https://mycompany.com:443/myapp.php", VECTOR_PARAMS, signature
    )


@pytest.mark.parametrize(
    ("base", "full_path", "expected"),
    [
        ("https://bot.example.org", "/twilio/whatsapp?", "https://bot.example.org/twilio/whatsapp"),
        ("https://bot.example.org/", "/twilio/whatsapp?t=7",
         "https://bot.example.org/twilio/whatsapp?t=7"),
        ("https://x.ngrok.app/clinic", "/twilio/whatsapp?",
         "https://x.ngrok.app/clinic/twilio/whatsapp"),
        ("http://127.0.0.1:5000", "/twilio/whatsapp?", "http://127.0.0.1:5000/twilio/whatsapp"),
    ],
)
def test_public_request_url(base: str, full_path: str, expected: str) -> None:
    assert public_request_url(base, full_path) == expected

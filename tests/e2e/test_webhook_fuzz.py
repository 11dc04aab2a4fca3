"""Fuzz the webhook with signed random forms: no input may cost a 5xx, on either backend.

NUL bytes and other control characters, text in any script, fields up to and past the size
limits, odd and non-geographic numbers, unknown extra fields and malformed media or location
fields, all correctly signed: the answer is TwiML (200), a reasoned 400, or 413, never a 5xx.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store.uow import make_engine, session_factory
from tests.helpers import ACCOUNT_SID, signed_post

# Any character a form can carry: everything but lone surrogates, which UTF-8 can't encode.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
CONTROL = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\u0085", "\u2028",
                           "\ufeff", "\ufffe", "\uffff", "\r\n", "\t"])


@st.composite
def odd_text(draw: st.DrawFn, max_size: int = 300) -> str:
    """Text with NUL bytes and control characters spliced in; now and then over `max_size`."""
    parts = draw(st.lists(st.one_of(st.text(ANY_CHAR, max_size=12), CONTROL), max_size=8))
    text = "".join(parts)
    if draw(st.booleans()):  # long, up to the field's limit
        text += draw(st.text(ANY_CHAR, min_size=max_size // 2, max_size=max_size // 2))
    oversize = draw(st.integers(0, 9)) == 9
    return text + "x" * max_size if oversize else text[:max_size]


# Mostly valid, so most forms reach the store and the pipeline; some of everything else.
VALID_NUMBERS = st.one_of(
    st.sampled_from(["+254712345678", "+882160001234", "+8835100012345", "+979123456789",
                     "+881612345678", "+870773111632", "+999123456789", "+800123456",
                     "+447700900123", "+5215512345678"]),
    st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True),  # any E.164 length
)
NUMBERS = st.one_of(VALID_NUMBERS, VALID_NUMBERS, VALID_NUMBERS,
                    st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),
                    st.text(ANY_CHAR, max_size=30))
WHATSAPP = st.builds(lambda number: "whatsapp:" + number, VALID_NUMBERS)
SENDERS = st.one_of(
    WHATSAPP, WHATSAPP, WHATSAPP,
    st.builds(lambda prefix, number: prefix + number,
              st.sampled_from(["", "whatsapp:", "sms:", "messenger:", "whatsapp:+"]), NUMBERS),
)
VALID_SID = st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True)
MESSAGE_SIDS = st.one_of(VALID_SID, VALID_SID, VALID_SID, odd_text(max_size=80))
BODIES = st.one_of(
    odd_text(),
    st.sampled_from(["STOP", "HUMAN", "DELETE", "delete yes", "my baby is not breathing",
                     "AYUDA", "start", ""]),
    st.text(ANY_CHAR, min_size=1500, max_size=1700),  # around Twilio's 1,600-character cap
)
SMALL_INTS = st.one_of(st.integers(0, 3).map(str), st.integers(-5, 20).map(str),
                       st.text(ANY_CHAR, max_size=4))
COORDINATES = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                        st.text(ANY_CHAR, max_size=8))

FORMS = st.builds(
    lambda fixed, optional, extra: {**extra, **optional, **fixed},
    st.fixed_dictionaries({
        "MessageSid": MESSAGE_SIDS,
        "From": SENDERS,
        "Body": BODIES,
        "AccountSid": st.just(ACCOUNT_SID),
    }),
    st.fixed_dictionaries({}, optional={
        "ProfileName": odd_text(max_size=200),
        "WaId": st.one_of(st.from_regex(r"[0-9]{6,15}", fullmatch=True), odd_text(max_size=40)),
        "NumMedia": SMALL_INTS,
        "MediaUrl0": odd_text(max_size=200),
        "MediaContentType0": odd_text(max_size=40),
        "Latitude": COORDINATES,
        "Longitude": COORDINATES,
        "Address": odd_text(max_size=500),
        "ButtonText": odd_text(max_size=256),
        "ButtonPayload": odd_text(max_size=256),
        "To": SENDERS,
        "Padding": st.integers(1, 70_000).map(lambda n: "x" * n),  # up to past the 64 KB cap
    }),
    st.dictionaries(st.text(ANY_CHAR, min_size=1, max_size=30), odd_text(max_size=100),
                    max_size=6),
)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])


def check(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    # Correctly signed, right account: refused only for a reason (400) or its size (413).
    assert response.status_code in (200, 400, 413), response.status_code
    if response.status_code == 200:
        root = ET.fromstring(response.get_data(as_text=True))
        assert root.tag == "Response"
        assert all((m.text or "").strip() for m in root.iter("Message"))


@FUZZ
@given(form=FORMS)
def test_signed_random_forms_never_get_a_5xx(client: Any, form: dict[str, str]) -> None:
    check(signed_post(client, form))


@settings(FUZZ, max_examples=60)
@given(form=FORMS)
def test_signed_random_forms_during_an_outage_are_answered_and_spooled(
    app: Any, form: dict[str, str]
) -> None:
    services = app.extensions["bot"]
    working = services.sessions
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    services.sessions = session_factory(dead)
    try:
        response = signed_post(app.test_client(), form)
    finally:
        services.sessions = working
        dead.dispose()
    check(response)
    for path in (services.settings.instance_dir / "spool").glob("*.json"):
        assert isinstance(json.loads(path.read_text("utf-8"))["form"], dict)

"""The answer's language: the message's words first, then the sender's country."""

from __future__ import annotations

import pytest

from bot.understanding.language import reply_language


@pytest.mark.parametrize(
    ("text", "previous", "country", "expected"),
    [
        ("bom dia", None, "BR", "pt"),  # no marker word: Brazil decides
        ("mambo", None, "KE", "sw"),
        ("ok", None, "SN", "fr"),
        ("ok", "es", "SN", "es"),  # the language they wrote in before wins over the country
        ("my baby has a fever since yesterday", None, "BR", "en"),  # the words decide
        ("mi bebé tiene fiebre desde ayer", None, "US", "es"),
        ("abeg my pikin dey hot since yesterday", None, "NG", "en"),  # Pidgin: English
        ("bachche ko bukhar hai kya karu", None, "IN", "hi"),  # Hinglish: Hindi
        ("hi", None, "IN", "en"),
        ("", None, "MX", "es"),
        ("", None, None, "en"),
    ],
)
def test_reply_language(text: str, previous: str | None, country: str | None,
                        expected: str) -> None:
    assert reply_language(text, previous=previous, country=country) == expected


def test_english_small_talk_does_not_switch_a_conversation_in_another_language() -> None:
    from bot.understanding import smalltalk
    from bot.understanding.language import conversation_language

    ok = smalltalk.detect("ok thanks")
    assert conversation_language("ok thanks", ok, previous="es", country="MX") == "es"
    assert conversation_language("ok thanks", ok, previous=None, country="MX") == "en"
    obrigado = smalltalk.detect("obrigado")
    assert conversation_language("obrigado", obrigado, previous="en", country="US") == "pt"

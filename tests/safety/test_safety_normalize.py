"""Normalisation: accents, caps, repeated letters, emoji, apostrophes, Devanagari kept intact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I CAN'T BREATHE", "i cant breathe"),
        ("helppp meee", "help me"),
        ("Não consigo respirar", "nao consigo respirar"),
        ("douleur à la poitrine", "douleur a la poitrine"),
        ("niño con fiebre", "nino con fiebre"),
        ("my 👶 has 🤒", "my baby has fever"),
        ("🩸🩸", "blood blood"),
        ("😵 she fell", "faint she fell"),
        ("my 👶🏽 is hot", "my baby is hot"),
        ("chest—pain!!!", "chest pain"),
        ("  lots   of   space ", "lots of space"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_devanagari_vowel_signs_survive() -> None:
    # Stripping combining marks from Devanagari would turn "सांस नहीं" into broken consonants.
    assert normalize("सांस नहीं आ रही") == "सांस नहीं आ रही"
    assert normalize("बच्चे को बुखार है") == "बच्चे को बुखार है"


def test_devanagari_variants_fold() -> None:
    assert normalize("साँस") == normalize("सांस")
    assert normalize("ज़हर") == normalize("जहर")


def test_clause_breaks_are_kept_on_request() -> None:
    assert normalize("no fever. chest pain", keep_breaks=True) == "no fever | chest pain"
    assert normalize("no fever. chest pain") == "no fever chest pain"


@given(st.text(max_size=200))
def test_normalize_is_total_and_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()


def test_decimal_marks_and_devanagari_digits_become_plain_numbers() -> None:
    assert normalize("temp 38.5 °C", keep_breaks=True) == "temp 38 5 c"
    assert normalize("39,8 de fiebre", keep_breaks=True) == "39 8 de fiebre"
    assert normalize("३८.५", keep_breaks=True) == "38 5"
    assert normalize("fever. 3 days", keep_breaks=True) == "fever | 3 days"

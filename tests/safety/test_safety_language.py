"""Language detection by script and marker words, deterministic, always one of LANGUAGES."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safety.language import detect_language
from safety.types import LANGUAGES


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("my son has a fever since yesterday", "en"),
        ("mi hijo tiene fiebre desde ayer", "es"),
        ("meu filho esta com febre desde ontem", "pt"),
        ("mon fils a de la fievre depuis hier", "fr"),
        ("mtoto wangu ana homa tangu jana", "sw"),
        ("mere bete ko kal se bukhar hai", "hi"),
        ("मेरे बेटे को कल से बुखार है", "hi"),
        ("saans nahi aa rahi", "hi"),
        ("siwezi kupumua tafadhali", "sw"),
        ("quero me matar", "pt"),
        ("o que e um avc?", "pt"),
    ],
)
def test_detect(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_default_when_no_evidence() -> None:
    assert detect_language("ok 👍", default="fr") == "fr"
    assert detect_language("") == "en"


@given(st.text(max_size=120))
def test_always_a_known_language_and_deterministic(text: str) -> None:
    first = detect_language(text)
    assert first in LANGUAGES
    assert detect_language(text) == first

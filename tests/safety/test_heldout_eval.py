"""A held-out evaluation set written apart from the rules, in styles the main set lacks.

`heldout_eval.jsonl` holds clinical-vignette phrasing ("A 67-year-old man presents with..."),
long real-patient questions (typos, numbers like "39.8" or "SpO2 88%", mixed languages) and
non-emergency look-alikes (past events, topic questions, chronic stable symptoms), labelled
from NHS, WHO IMCI / maternal danger signs, CDC and MedlinePlus guidance. Cases whose note
starts with "set2" ... "set14" were later fresh batches, each scored untouched (before any rule
was changed for it) and only then added here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from safety.evaluation import evaluate, format_report, load_cases
from safety.types import LANGUAGES, TriageLevel

HELDOUT_SET = Path(__file__).with_name("heldout_eval.jsonl")


@pytest.fixture(scope="module")
def cases() -> list[dict[str, object]]:
    return load_cases(HELDOUT_SET)


@pytest.fixture(scope="module")
def result(cases: list[dict[str, object]]) -> dict[str, object]:
    return evaluate(cases)


def test_size_and_languages(cases: list[dict[str, object]]) -> None:
    assert len(cases) >= 300
    per_lang = Counter(str(c["language"]) for c in cases)
    for lang in LANGUAGES:
        assert per_lang[lang] >= 40, (lang, per_lang[lang])


def test_styles_and_levels_present(cases: list[dict[str, object]]) -> None:
    labels = {c["label"] for c in cases}
    assert labels == {lvl.value for lvl in TriageLevel}
    hindi = [str(c["text"]) for c in cases if c["language"] == "hi"]
    devanagari = [t for t in hindi if any("\u0900" <= ch <= "\u097f" for ch in t)]
    assert len(devanagari) >= 10 and len(hindi) - len(devanagari) >= 10
    assert sum(1 for c in cases if str(c.get("note", "")).startswith("set2")) >= 60


def test_emergency_recall_is_perfect(result: dict[str, object]) -> None:
    assert result["emergency_recall"] == 1.0, format_report(result)


def test_over_escalation_is_low(result: dict[str, object]) -> None:
    assert isinstance(result["over_escalation"], float)
    assert result["over_escalation"] < 0.10, format_report(result)


def test_per_language_recall(result: dict[str, object]) -> None:
    per_language = result["per_language"]
    assert isinstance(per_language, dict)
    for lang in LANGUAGES:
        assert per_language[lang]["emergency_recall"] == 1.0, lang

"""The labelled evaluation set: size, coverage, and the safety bar the rules must meet."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from safety.evaluation import evaluate, format_report, load_cases
from safety.types import LANGUAGES, TriageLevel

EVAL_SET = Path(__file__).with_name("triage_eval.jsonl")


@pytest.fixture(scope="module")
def cases() -> list[dict[str, object]]:
    return load_cases(EVAL_SET)


@pytest.fixture(scope="module")
def result(cases: list[dict[str, object]]) -> dict[str, object]:
    return evaluate(cases)


def test_size_and_languages(cases: list[dict[str, object]]) -> None:
    assert len(cases) >= 400
    per_lang = Counter(str(c["language"]) for c in cases)
    for lang in LANGUAGES:
        assert per_lang[lang] >= 50, (lang, per_lang[lang])


def test_every_level_and_history_present(cases: list[dict[str, object]]) -> None:
    labels = {c["label"] for c in cases}
    assert labels == {lvl.value for lvl in TriageLevel}
    assert sum(1 for c in cases if c.get("history")) >= 12


def test_hindi_has_both_scripts(cases: list[dict[str, object]]) -> None:
    hindi = [str(c["text"]) for c in cases if c["language"] == "hi"]
    devanagari = [t for t in hindi if any("\u0900" <= ch <= "\u097f" for ch in t)]
    assert len(devanagari) >= 20
    assert len(hindi) - len(devanagari) >= 20


def test_emergency_recall_is_perfect(result: dict[str, object]) -> None:
    assert result["emergency_recall"] == 1.0, format_report(result)


def test_over_escalation_is_low(result: dict[str, object]) -> None:
    assert isinstance(result["over_escalation"], float)
    assert result["over_escalation"] < 0.10, format_report(result)


def test_per_language_bar(result: dict[str, object]) -> None:
    per_language = result["per_language"]
    assert isinstance(per_language, dict)
    for lang in LANGUAGES:
        assert per_language[lang]["emergency_recall"] == 1.0, lang
        assert per_language[lang]["over_escalation"] < 0.10, lang

"""evaluate() figures on a tiny hand-made set, with a fake assess function."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from safety.evaluation import evaluate, format_report, load_cases
from safety.types import Assessment, EmergencyContact, RuleHit, TriageLevel

CASES = [
    {"text": "e1", "label": "emergency", "language": "en"},
    {"text": "e2", "label": "emergency", "language": "es"},
    {"text": "u1", "label": "urgent", "language": "en", "acceptable_labels": ["emergency"]},
    {"text": "s1", "label": "self_care", "language": "en"},
]
PREDICTED = {"e1": "emergency", "e2": "urgent", "u1": "emergency", "s1": "emergency"}


def fake(
    text: str,
    *,
    history: Sequence[str] = (),
    sender: str | None = None,
    language: str | None = None,
) -> Assessment:
    lvl = TriageLevel(PREDICTED[text])
    return Assessment(lvl, (), lvl.rank >= 3, EmergencyContact(None, None), language or "en")


def test_figures() -> None:
    result = evaluate(CASES, assess_fn=fake)
    assert result["n"] == 4
    assert result["emergency_recall"] == 0.5
    assert result["over_escalation"] == 0.5  # u1 is acceptable, s1 is not
    assert result["accuracy"] == 0.5
    assert result["confusion"]["self_care"] == {"emergency": 1}
    assert result["per_language"]["es"]["emergency_recall"] == 0.0
    assert [m["text"] for m in result["misses"]] == ["e2", "s1"]
    assert "misses (2)" in format_report(result)


def test_load_cases_rejects_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a"}\n', "utf-8")
    with pytest.raises(ValueError, match="label"):
        load_cases(path)
    path.write_text('{"text": "a", "label": "emergency"}\n\n', "utf-8")
    assert load_cases(path) == [{"text": "a", "label": "emergency"}]


# A second opinion that flags some messages: the figures must count which layer caught what.
LAYER_CASES = [
    {"text": "e1", "label": "emergency", "language": "en"},  # rules and semantic
    {"text": "e2", "label": "emergency", "language": "es"},  # semantic only
    {"text": "e3", "label": "emergency", "language": "en"},  # rules only
    {"text": "e4", "label": "emergency", "language": "en"},  # neither
    {"text": "s1", "label": "self_care", "language": "en"},  # semantic raises it: over-escalation
    {"text": "u1", "label": "urgent", "language": "en", "acceptable_labels": ["emergency"]},
    {"text": "s2", "label": "self_care", "language": "en"},  # semantic says urgent: no over-esc.
]
RULES_SAY = {"e1": "emergency", "e2": "urgent", "e3": "emergency", "e4": "info",
             "s1": "self_care", "u1": "urgent", "s2": "self_care"}
SEMANTIC_SAYS = {"e1": "emergency", "e2": "emergency", "s1": "emergency", "u1": "emergency",
                 "s2": "urgent"}


def fake_rules(
    text: str,
    *,
    history: Sequence[str] = (),
    sender: str | None = None,
    language: str | None = None,
) -> Assessment:
    lvl = TriageLevel(RULES_SAY[text])
    return Assessment(lvl, (), lvl.rank >= 3, EmergencyContact(None, None), language or "en")


def fake_second_opinion(text: str) -> list[RuleHit]:
    level = SEMANTIC_SAYS.get(text)
    if level is None:
        return []
    return [RuleHit("semantic:cardiac", TriageLevel(level), "cardiac", "en", "an exemplar")]


def test_second_opinion_raises_and_is_counted_by_layer() -> None:
    result = evaluate(LAYER_CASES, assess_fn=fake_rules, second_opinion=fake_second_opinion)
    assert result["emergency_recall"] == 0.75  # e1, e2, e3 of 4
    assert result["rules_alone"]["emergency_recall"] == 0.5  # e1, e3
    assert result["caught_by_layer"] == {"both": 1, "rules": 1, "semantic": 1, "neither": 1}
    # s1 counts; u1 may be an emergency; s2 was only raised to urgent.
    assert result["over_escalated_by_layer"] == {"both": 0, "rules": 0, "semantic": 1}
    assert result["over_escalation"] == pytest.approx(1 / 3)
    assert result["rules_alone"]["over_escalation"] == 0.0
    assert result["confusion"]["self_care"] == {"emergency": 1, "urgent": 1}
    assert result["per_language"]["es"]["emergency_recall"] == 1.0
    s1 = next(m for m in result["misses"] if m["text"] == "s1")
    assert s1["rule_ids"] == ["semantic:cardiac"]
    report = format_report(result)
    assert "semantic only 1" in report and "rules only 1" in report
    assert "rules alone:      recall 0.500" in report


def test_without_a_second_opinion_the_result_has_no_layer_fields() -> None:
    result = evaluate(LAYER_CASES, assess_fn=fake_rules)
    assert result["emergency_recall"] == 0.5
    assert not {"rules_alone", "caught_by_layer", "over_escalated_by_layer"} & set(result)
    assert "caught by" not in format_report(result)

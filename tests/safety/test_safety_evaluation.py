"""evaluate() figures on a tiny hand-made set, with a fake assess function."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from safety.evaluation import evaluate, format_report, load_cases
from safety.types import Assessment, EmergencyContact, TriageLevel

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

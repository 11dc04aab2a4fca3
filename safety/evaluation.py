"""Measure the triage rules on a labelled JSONL set: recall of emergencies, over-escalation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from safety.triage import assess
from safety.types import Assessment, TriageLevel

AssessFn = Callable[..., Assessment]
_EMERGENCY = TriageLevel.EMERGENCY.value


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read one case per non-empty line: {"text", "label"} plus optional fields."""
    cases: list[dict[str, Any]] = []
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        case = json.loads(line)
        if not isinstance(case, dict) or "text" not in case or "label" not in case:
            raise ValueError(f"{path}:{number}: each line needs 'text' and 'label'")
        TriageLevel(case["label"])  # an unknown label must fail loudly, not count as a miss
        for extra in case.get("acceptable_labels") or []:
            TriageLevel(extra)
        cases.append(case)
    return cases


def _figures(rows: Sequence[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    emergencies = [(c, p) for c, p in rows if c["label"] == _EMERGENCY]
    others = [(c, p) for c, p in rows if c["label"] != _EMERGENCY]
    correct = sum(1 for c, p in rows if p == c["label"] or p in (c.get("acceptable_labels") or []))
    confusion: dict[str, dict[str, int]] = {}
    for c, p in rows:
        confusion.setdefault(c["label"], {}).setdefault(p, 0)
        confusion[c["label"]][p] += 1
    over = sum(
        1
        for c, p in others
        if p == _EMERGENCY and _EMERGENCY not in (c.get("acceptable_labels") or [])
    )
    return {
        "n": len(rows),
        "emergency_n": len(emergencies),
        "emergency_recall": (
            sum(1 for _, p in emergencies if p == _EMERGENCY) / len(emergencies)
            if emergencies
            else 1.0
        ),
        "over_escalation": over / len(others) if others else 0.0,
        "accuracy": correct / len(rows) if rows else 0.0,
        "confusion": confusion,
    }


def evaluate(cases: Iterable[dict[str, Any]], assess_fn: AssessFn = assess) -> dict[str, Any]:
    """Assess every case and return overall and per-language figures plus the failures."""
    rows: list[tuple[dict[str, Any], str]] = []
    misses: list[dict[str, Any]] = []
    for case in cases:
        result = assess_fn(
            case["text"],
            history=tuple(case.get("history") or ()),
            sender=case.get("sender"),
            language=case.get("language"),
        )
        predicted = result.level.value
        rows.append((case, predicted))
        acceptable = set(case.get("acceptable_labels") or ()) | {case["label"]}
        missed = case["label"] == _EMERGENCY and predicted != _EMERGENCY
        over = case["label"] != _EMERGENCY and predicted == _EMERGENCY
        if (missed or over) and predicted not in acceptable:
            misses.append({**case, "predicted": predicted, "rule_ids": list(result.rule_ids)})
    result_dict = _figures(rows)
    languages = sorted({str(c.get("language") or "?") for c, _ in rows})
    result_dict["per_language"] = {
        lang: _figures([(c, p) for c, p in rows if str(c.get("language") or "?") == lang])
        for lang in languages
    }
    result_dict["misses"] = misses
    return result_dict


def format_report(result: dict[str, Any]) -> str:
    """Render an evaluation result as a short plain-text report."""
    lines = [
        f"cases: {result['n']}  emergencies: {result['emergency_n']}",
        f"emergency recall: {result['emergency_recall']:.3f}",
        f"over-escalation:  {result['over_escalation']:.3f}",
        f"accuracy:         {result['accuracy']:.3f}",
        "",
        "per language:  n  recall  over-esc  accuracy",
    ]
    for lang, fig in result["per_language"].items():
        lines.append(
            f"  {lang:<4} {fig['n']:>6}  {fig['emergency_recall']:.3f}   "
            f"{fig['over_escalation']:.3f}     {fig['accuracy']:.3f}"
        )
    lines += ["", "confusion (label -> predicted: count):"]
    for label, row in sorted(result["confusion"].items()):
        cells = ", ".join(f"{p}: {n}" for p, n in sorted(row.items()))
        lines.append(f"  {label:<10} {cells}")
    if result["misses"]:
        lines += ["", f"misses ({len(result['misses'])}):"]
        for miss in result["misses"]:
            lines.append(
                f"  [{miss.get('language', '?')}] {miss['label']} -> {miss['predicted']}: "
                f"{miss['text'][:90]!r} {miss.get('rule_ids', [])}"
            )
    return "\n".join(lines)

"""Measure the triage rules on a labelled JSONL set: recall of emergencies, over-escalation.

With a second opinion (any callable from a message's text to extra RuleHits, such as the
semantic red-flag detector, passed in by the caller so this package stays a pure leaf), the
scored level is the rules' raised by its hits (`Assessment.with_hits`), and the result says
which layer caught each emergency and which raised each over-escalation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from safety.triage import assess
from safety.types import Assessment, RuleHit, TriageLevel

AssessFn = Callable[..., Assessment]
SecondOpinion = Callable[[str], Sequence[RuleHit]]
_EMERGENCY = TriageLevel.EMERGENCY.value
# Which layer put a case at emergency: both, one of them, or neither.
LAYERS = ("both", "rules", "semantic", "neither")


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


def _layer(by_rules: bool, by_second: bool) -> str:
    if by_rules and by_second:
        return "both"
    return "rules" if by_rules else "semantic" if by_second else "neither"


def evaluate(
    cases: Iterable[dict[str, Any]],
    assess_fn: AssessFn = assess,
    second_opinion: SecondOpinion | None = None,
) -> dict[str, Any]:
    """Assess every case and return overall and per-language figures plus the failures.

    With `second_opinion`, the figures are for the rules raised by its hits, and the result adds
    `rules_alone` (the figures without it), `caught_by_layer` (emergencies: both, rules,
    semantic, neither) and `over_escalated_by_layer` (non-emergencies raised to emergency).
    """
    rows: list[tuple[dict[str, Any], str]] = []
    rules_rows: list[tuple[dict[str, Any], str]] = []
    misses: list[dict[str, Any]] = []
    caught = dict.fromkeys(LAYERS, 0)
    raised = dict.fromkeys(LAYERS[:3], 0)
    for case in cases:
        rules = assess_fn(
            case["text"],
            history=tuple(case.get("history") or ()),
            sender=case.get("sender"),
            language=case.get("language"),
        )
        extra = tuple(second_opinion(case["text"])) if second_opinion is not None else ()
        result = rules.with_hits(extra)
        predicted = result.level.value
        rows.append((case, predicted))
        rules_rows.append((case, rules.level.value))
        acceptable = set(case.get("acceptable_labels") or ()) | {case["label"]}
        if second_opinion is not None:
            layer = _layer(rules.is_emergency,
                           any(h.level is TriageLevel.EMERGENCY for h in extra))
            if case["label"] == _EMERGENCY:
                caught[layer] += 1
            elif layer != "neither" and _EMERGENCY not in acceptable:
                raised[layer] += 1
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
    if second_opinion is not None:
        alone = _figures(rules_rows)
        del alone["confusion"]
        result_dict["rules_alone"] = alone
        result_dict["caught_by_layer"] = caught
        result_dict["over_escalated_by_layer"] = raised
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
    if "caught_by_layer" in result:
        alone, caught = result["rules_alone"], result["caught_by_layer"]
        raised = result["over_escalated_by_layer"]
        lines += [
            "",
            f"rules alone:      recall {alone['emergency_recall']:.3f}  "
            f"over-escalation {alone['over_escalation']:.3f}",
            f"emergencies caught by: both {caught['both']}, rules only {caught['rules']}, "
            f"semantic only {caught['semantic']}, neither {caught['neither']}",
            f"over-escalations raised by: both {raised['both']}, rules only {raised['rules']}, "
            f"semantic only {raised['semantic']}",
        ]
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

"""Run a labelled set through the configured model path and measure triage, latency and cost.

Each case goes the way the pipeline takes a message: the rules assess it first; an emergency is
answered by the fixed text and no model runs; otherwise the model (single or contemplating, any
provider) answers, and the final level is the most cautious of the rules' level and the model's
urgency. So single and contemplating modes, and providers, can be compared on one set:

    healthbot eval cases.jsonl --model openai/gpt-4o-mini --mode single
    healthbot eval cases.jsonl --model openai/gpt-4o-mini --mode contemplate

The cases are the rules evaluation's JSONL (safety/evaluation.py): one object per line with
`text` and `label` (info, self_care, routine, urgent, emergency), and optionally `id`,
`acceptable_labels`, `history` (earlier messages of the same person), `sender` (whatsapp:+E164,
for the country) and `language`. A level in `acceptable_labels` counts as correct, as it does for
the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.costs import format_usd as _usd
from bot.costs import percentile
from bot.errors import ModelError
from bot.knowledge import KnowledgeBase
from bot.llm.factory import build_chat_model
from bot.ports import ChatMessage, ChatModel, ChatRequest, ChatResponse
from bot.prompting import system_prompt
from safety.evaluation import load_cases as safety_load_cases
from safety.triage import assess
from safety.types import TriageLevel, max_level


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled message."""

    id: str
    text: str
    expected: TriageLevel
    acceptable: tuple[TriageLevel, ...] = ()  # other levels a clinician would also accept
    history: tuple[str, ...] = ()
    sender: str | None = None
    language: str | None = None

    def accepts(self, level: TriageLevel) -> bool:
        """True when `level` is the label or one of the acceptable labels."""
        return level is self.expected or level in self.acceptable


def case_from(data: dict[str, Any], index: int) -> Case:
    """Build a Case from one of safety.evaluation's case dicts (the `index`-th, 1-based)."""
    history = data.get("history") or ()
    if isinstance(history, str):
        history = (history,)
    sender, language = data.get("sender"), data.get("language")
    return Case(
        id=str(data.get("id") or index),
        text=str(data["text"]),
        expected=TriageLevel(data["label"]),
        acceptable=tuple(TriageLevel(x) for x in data.get("acceptable_labels") or ()),
        history=tuple(str(h) for h in history),
        sender=str(sender) if sender else None,
        language=str(language) if language else None,
    )


def load_cases(path: Path, *, limit: int | None = None) -> list[Case]:
    """Read the rules evaluation's JSONL format (safety.evaluation.load_cases), at most `limit`.

    Raises:
        ValueError: a line is not JSON, lacks `text` or `label`, or has an unknown level.
    """
    rows = safety_load_cases(path)[:limit]
    return [case_from(row, index) for index, row in enumerate(rows, start=1)]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What the rules and the model path concluded about one case, and what it cost."""

    id: str
    expected: TriageLevel
    rules_level: TriageLevel
    final_level: TriageLevel
    model_ran: bool
    model_urgency: str | None = None
    mode: str | None = None  # the response's mode: single, contemplate, offline, fallback
    answered_by: str | None = None  # provider/model of the reply
    latency_ms: float | None = None
    cost_usd: float | None = None  # None when a successful call had no price
    calls: int = 0
    failed_calls: int = 0
    error: str | None = None

    acceptable: tuple[TriageLevel, ...] = ()

    @property
    def rules_correct(self) -> bool:
        return self.rules_level is self.expected or self.rules_level in self.acceptable

    @property
    def correct(self) -> bool:
        return self.final_level is self.expected or self.final_level in self.acceptable

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-able dict."""
        return {
            "id": self.id,
            "expected": self.expected.value,
            "rules_level": self.rules_level.value,
            "model_urgency": self.model_urgency,
            "final_level": self.final_level.value,
            "rules_correct": self.rules_correct,
            "correct": self.correct,
            "model_ran": self.model_ran,
            "mode": self.mode,
            "answered_by": self.answered_by,
            "latency_ms": self.latency_ms,
            "cost_usd": self.cost_usd,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "error": self.error,
        }


def _cost(response: ChatResponse) -> float | None:
    total = 0.0
    for call in response.calls:
        if call.cost_usd is None:
            if call.outcome == "ok":
                return None  # a priced-nowhere model: unknown, never $0
            continue  # a refused attempt is not billed
        total += call.cost_usd
    return total


def _model_level(urgency: str | None) -> TriageLevel | None:
    try:
        return TriageLevel(urgency) if urgency else None
    except ValueError:
        return None  # a word we don't know can't lower anything; the rules' level stands


def run_case(
    case: Case,
    model: ChatModel,
    *,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> CaseResult:
    """Assess one case with the rules, then (unless it is an emergency) with the model."""
    assessment = assess(case.text, history=case.history, sender=case.sender, language=case.language)
    rules = assessment.level
    if assessment.is_emergency:
        # The pipeline answers emergencies with fixed text: no model runs, nothing is spent.
        return CaseResult(
            case.id, case.expected, rules, rules, model_ran=False, acceptable=case.acceptable
        )
    messages = tuple(ChatMessage("user", h) for h in case.history if h.strip())
    started = clock()
    request = ChatRequest(
        system=system_prompt(assessment.language, rules.value),
        messages=(*messages, ChatMessage("user", case.text)),
        language=assessment.language,
        deadline=started + deadline_s,
        triage_level=rules.value,
    )
    try:
        response = model.complete(request)
    except ModelError as exc:
        return CaseResult(
            case.id,
            case.expected,
            rules,
            rules,
            model_ran=True,
            latency_ms=(clock() - started) * 1000.0,
            error=f"{type(exc).__name__}: {exc}",
            acceptable=case.acceptable,
        )
    latency_ms = (clock() - started) * 1000.0
    return CaseResult(
        case.id,
        case.expected,
        rules,
        max_level(rules, _model_level(response.urgency)),
        model_ran=True,
        model_urgency=response.urgency,
        mode=response.mode,
        answered_by=response.label,
        latency_ms=latency_ms,
        cost_usd=_cost(response),
        calls=len(response.calls),
        failed_calls=sum(1 for c in response.calls if c.outcome != "ok"),
        acceptable=case.acceptable,
    )


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


@dataclass(frozen=True, slots=True)
class ModelEvalResult:
    """Per-case results and the overall figures for one model path."""

    model: str
    mode: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """Accuracy, emergency recall, under/over-triage, latency and cost over all cases."""
        cases = self.cases
        ran = [c for c in cases if c.model_ran]
        emergencies = [c for c in cases if c.expected is TriageLevel.EMERGENCY]
        latencies = [c.latency_ms for c in ran if c.latency_ms is not None]
        # Emergencies answered by fixed text cost $0; unknown-cost cases stay out of the mean.
        known = [0.0 if not c.model_ran else c.cost_usd for c in cases]
        costs = [c for c in known if c is not None]
        return {
            "cases": len(cases),
            "model_ran": len(ran),
            "rules_accuracy": _rate(sum(c.rules_correct for c in cases), len(cases)),
            "accuracy": _rate(sum(c.correct for c in cases), len(cases)),
            "emergencies": len(emergencies),
            "rules_emergency_recall": _rate(
                sum(c.rules_level is TriageLevel.EMERGENCY for c in emergencies), len(emergencies)
            ),
            "emergency_recall": _rate(
                sum(c.final_level is TriageLevel.EMERGENCY for c in emergencies), len(emergencies)
            ),
            "under_triage": sum(c.final_level.rank < c.expected.rank for c in cases),
            "over_triage": sum(c.final_level.rank > c.expected.rank for c in cases),
            "errors": sum(1 for c in cases if c.error),
            "fallbacks": sum(1 for c in ran if c.mode == "fallback"),
            "latency_p50_ms": percentile(latencies, 50),
            "latency_p95_ms": percentile(latencies, 95),
            "cost_total_usd": sum(costs),
            "cost_mean_usd": (sum(costs) / len(costs)) if costs else None,
            "unknown_cost_cases": len(known) - len(costs),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole result as one JSON-able dict."""
        return {
            "model": self.model,
            "mode": self.mode,
            "summary": self.summary,
            "cases": [c.to_json() for c in self.cases],
        }


def evaluate_model(
    cases: Iterable[Case],
    model: ChatModel,
    *,
    label: str,
    mode: str,
    deadline_s: float = 25.0,
    clock: Callable[[], float] = time.monotonic,
) -> ModelEvalResult:
    """Run every case through the model path, one at a time so latencies are not contended."""
    results = [run_case(c, model, deadline_s=deadline_s, clock=clock) for c in cases]
    return ModelEvalResult(model=label, mode=mode, cases=results)


def evaluate_configured(
    cases: Sequence[Case],
    settings: Settings,
    *,
    model: str | None = None,
    mode: str | None = None,
    knowledge: KnowledgeBase | None = None,
) -> ModelEvalResult:
    """Build the model path from settings (overridden by `model`/`mode`), run the cases, close.

    Raises:
        bot.config.ConfigError: the overridden settings don't make a usable model.
    """
    update: dict[str, Any] = {}
    if model is not None:
        update["model"] = model
    if mode is not None:
        update["mode"] = mode
    configured = settings.model_copy(update=update)
    chat_model, closers = build_chat_model(configured, knowledge=knowledge or KnowledgeBase.load())
    try:
        return evaluate_model(
            cases,
            chat_model,
            label=configured.model,
            mode=configured.mode,
            deadline_s=configured.answer_deadline_s,
        )
    finally:
        for close in reversed(closers):
            close()


# ---------------------------------------------------------------------------- text output


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_model_report(result: ModelEvalResult) -> str:
    """Per-case rows and the overall figures as plain text."""
    s = result.summary
    lines = [
        f"Model path: {result.model}, {result.mode} mode "
        f"({s['cases']} cases, the model ran on {s['model_ran']}; emergencies get fixed text)",
        "",
        f"{'id':<16} {'expected':<10} {'rules':<10} {'model':<10} {'final':<10} {'ok':<3} "
        f"{'answered as':<12} {'ms':>7} {'cost':>10}",
    ]
    for c in result.cases:
        answered = c.mode or ("error" if c.error else "fixed text")
        lines.append(
            f"{c.id[:16]:<16} {c.expected.value:<10} {c.rules_level.value:<10} "
            f"{(c.model_urgency or '-')[:10]:<10} {c.final_level.value:<10} "
            f"{'yes' if c.correct else 'NO':<3} {answered:<12} {_ms(c.latency_ms):>7} "
            f"{_usd(c.cost_usd if c.model_ran else 0.0):>10}"
        )
    rules_hits = sum(c.rules_correct for c in result.cases)
    hits = sum(c.correct for c in result.cases)
    lines += [
        "",
        f"triage accuracy:   rules {rules_hits}/{s['cases']} ({_pct(s['rules_accuracy'])}), "
        f"model path {hits}/{s['cases']} ({_pct(s['accuracy'])})",
        f"emergency recall:  rules {_pct(s['rules_emergency_recall'])}, "
        f"model path {_pct(s['emergency_recall'])} (of {s['emergencies']} emergency cases)",
        f"under-triage: {s['under_triage']}   over-triage: {s['over_triage']}   "
        f"model errors: {s['errors']}   fell back: {s['fallbacks']}",
        f"latency p50/p95:   {_ms(s['latency_p50_ms'])} / {_ms(s['latency_p95_ms'])} ms "
        "(cases where the model ran)",
        f"cost per case:     mean {_usd(s['cost_mean_usd'])}, total {_usd(s['cost_total_usd'])}"
        + (
            f" ({s['unknown_cost_cases']} case(s) of unknown cost left out)"
            if s["unknown_cost_cases"]
            else ""
        ),
    ]
    return "\n".join(lines)

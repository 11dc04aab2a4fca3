"""`healthbot eval-answers`: does the bot grasp what each message asks, across turns?

Each case is a conversation of user turns; the harness plays them through the same pieces the
pipeline uses (reply language, the rules' subject, small talk, retrieval with the previous
answer's passage) and scores the last turn:

- top-1 / top-3: the answered passage (or one of the three best) is among the expected ones;
- follow-up accuracy: top-1 on the cases whose last turn needs the earlier ones;
- small-talk accuracy: the intent is the expected one (and no card is sent);
- reply language: the language the answer would be written in is the expected one.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safety
from bot.understanding import smalltalk
from bot.understanding.language import conversation_language
from bot.understanding.service import Understanding


@dataclass(slots=True)
class CaseResult:
    id: str
    kind: str
    language: str
    expected: list[str]
    answered: str | None  # passage id, "intent:<name>", "already_answered" or None (no answer)
    top3: list[str]
    language_ok: bool
    ms: float

    @property
    def top1_ok(self) -> bool:
        if not self.expected:
            # Nothing vetted answers it: right is no card, i.e. the honest "I don't know" or a
            # small-talk reply (which also says what the bot is for); wrong is an unrelated card.
            return self.answered is None or self.answered.startswith("intent:")
        return self.answered in self.expected

    @property
    def top3_ok(self) -> bool:
        return any(p in self.expected for p in self.top3) or self.top1_ok


@dataclass(slots=True)
class _Tally:
    n: int = 0
    top1: int = 0
    top3: int = 0
    lang: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, r: CaseResult) -> None:
        self.n += 1
        self.top1 += r.top1_ok
        self.top3 += r.top3_ok
        self.lang += r.language_ok
        self.by_kind[r.kind][0] += r.top1_ok
        self.by_kind[r.kind][1] += 1

    def figures(self) -> dict[str, Any]:
        def share(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        kinds = {k: share(ok, n) for k, (ok, n) in sorted(self.by_kind.items())}
        return {
            "cases": self.n,
            "top1": share(self.top1, self.n),
            "top3": share(self.top3, self.n),
            "question_top1": kinds.get("question"),
            "follow_up_accuracy": kinds.get("follow_up"),
            "smalltalk_accuracy": kinds.get("smalltalk"),
            "reply_language": share(self.lang, self.n),
        }


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file of conversations (see tests/understanding/README.md)."""
    cases = []
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        case = json.loads(line)
        if not case.get("turns") or "expect" not in case:
            raise ValueError(f"{path}:{number}: a case needs `turns` and `expect`")
        cases.append(case)
    return cases


def run_case(understanding: Understanding, case: dict[str, Any]) -> CaseResult:
    """Play one conversation and read its last turn as the pipeline would."""
    sender = case.get("sender")
    country = safety.country_of(sender) if sender else None
    language: str | None = None
    earlier: list[str] = []
    last_passages: list[str] = []
    answered: str | None = None
    top3: list[str] = []
    started = time.perf_counter()
    for turn in case["turns"]:
        started = time.perf_counter()
        talk = smalltalk.detect(turn)
        language = conversation_language(turn, talk, previous=language, country=country)
        assessment = safety.assess(turn, history=earlier, sender=sender, language=language)
        if talk is not None and assessment.level.rank <= safety.TriageLevel.SELF_CARE.rank:
            answered, top3 = f"intent:{talk.intent}", []
        else:
            understood = understanding.understand(
                turn, earlier=earlier, last_passages=last_passages,
                subject=assessment.subject, language=assessment.language,
            )
            top3 = [h.passage.id for h in understood.passages]
            if understood.intent:
                answered = f"intent:{understood.intent}"
            elif understood.already_answered:
                answered = "already_answered"
            else:
                answered = top3[0] if top3 else None
            if understood.passages:
                last_passages = [understood.passages[0].passage.id]
        earlier.append(turn)
    expect = case["expect"]
    expected = (
        [f"intent:{expect['intent']}"] if "intent" in expect else list(expect.get("passages", []))
    )
    return CaseResult(
        id=str(case.get("id", "")),
        kind=str(case.get("kind", "question")),
        language=str(case.get("language", "")),
        expected=expected,
        answered=answered,
        top3=top3,
        language_ok=language == case.get("reply_language", language),
        ms=(time.perf_counter() - started) * 1000,
    )


def evaluate(understanding: Understanding, cases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Score every case; overall and per language figures plus the misses."""
    results = [run_case(understanding, case) for case in cases]
    overall = _Tally()
    per_language: dict[str, _Tally] = defaultdict(_Tally)
    for r in results:
        overall.add(r)
        per_language[r.language].add(r)
    times = sorted(r.ms for r in results)
    return {
        "semantic": understanding.semantic,
        "overall": overall.figures(),
        "languages": {lang: t.figures() for lang, t in sorted(per_language.items())},
        "last_turn_ms": {"p50": _pct(times, 0.5), "p95": _pct(times, 0.95)},
        "misses": [
            {"id": r.id, "kind": r.kind, "language": r.language, "expected": r.expected,
             "answered": r.answered, "top3": r.top3}
            for r in results if not r.top1_ok
        ],
    }


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def format_report(result: dict[str, Any], *, misses: int = 0) -> str:
    """A plain-text table of the figures."""
    head = ("lang", "cases", "top1", "top3", "question", "follow_up", "smalltalk", "reply_lang")
    keys = ("cases", "top1", "top3", "question_top1", "follow_up_accuracy", "smalltalk_accuracy",
            "reply_language")
    rows = [head]
    for name, figures in [*result["languages"].items(), ("ALL", result["overall"])]:
        rows.append((name, *("-" if figures[k] is None else str(figures[k]) for k in keys)))
    width = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) for r in rows]
    mode = "semantic + lexical" if result["semantic"] else "lexical only"
    lines.insert(0, f"retrieval: {mode}; last turn p50 {result['last_turn_ms']['p50']} ms, "
                    f"p95 {result['last_turn_ms']['p95']} ms")
    for miss in result["misses"][:misses]:
        lines.append(f"MISS {miss['id']} ({miss['kind']}): expected {miss['expected']} "
                     f"got {miss['answered']} top3 {miss['top3']}")
    return "\n".join(lines)

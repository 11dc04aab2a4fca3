"""Cost and latency of model answers, from the stored model calls, and a monthly projection.

Every model call (ModelCallRow) is stored with the first bubble of the reply it served, so an
"answer" is one outbound message with at least one model call. Reported per day (UTC), per
conversation (contact), per mode (single, contemplate, offline, fallback) and per provider/model:

- cost: the sum of the known call costs. A successful call with no cost (a model missing from
  prices.yaml) is *unknown*, never zero: it is counted separately, and an answer that contains
  one has an unknown cost. Failed attempts without a cost are counted as failed, not as unknown
  (providers do not bill refused requests; a timed-out call may have been billed: a known gap).
- latency: p50/p95 of the answer's end-to-end latency (Message.latency_ms, what the person waits),
  and p50/p95 of single call latencies.
- projection: mean cost per answered message (answers of known cost only) x messages per month,
  at today's prices and at `price_factor` times today's prices. Without a volume, the observed
  answers per day x 30 is used. It assumes every message needs a model answer (emergencies and
  commands cost nothing), so it errs high.
- voice notes: per transcriber, how many were heard, their minutes, the known transcription
  cost, the cost per minute and the p50/p95 time to hear one (Message.transcription_*). A
  transcriber with no row in bot/voice/transcribe_prices.yaml has an unknown cost, never $0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Message, ModelCallRow, utcnow

DAYS_PER_MONTH = 30.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class CallFact:
    """One stored model call with what the report groups it by."""

    message_id: int
    contact_id: int
    day: dt.date
    mode: str
    provider: str
    model: str
    perspective: str | None
    outcome: str
    cost_usd: float | None
    latency_ms: float
    answer_latency_ms: float | None

    @property
    def unknown_cost(self) -> bool:
        return self.outcome == "ok" and self.cost_usd is None


@dataclass(frozen=True, slots=True)
class Answer:
    """One answered message: its calls summed."""

    message_id: int
    contact_id: int
    day: dt.date
    mode: str
    calls: tuple[CallFact, ...]
    latency_ms: float | None

    @property
    def known_cost(self) -> float:
        return sum(c.cost_usd for c in self.calls if c.cost_usd is not None)

    @property
    def cost_known(self) -> bool:
        return not any(c.unknown_cost for c in self.calls)


@dataclass(frozen=True, slots=True)
class Group:
    """Totals for one day, conversation, mode or model."""

    key: str
    answers: int
    calls: int
    failed_calls: int
    unknown_cost_calls: int
    answers_unknown_cost: int
    cost_usd: float  # the known part
    mean_cost_usd: float | None  # per answer of fully known cost
    p50_ms: float | None
    p95_ms: float | None
    call_p50_ms: float | None
    call_p95_ms: float | None

    def to_json(self) -> dict[str, Any]:
        """The group as a JSON-able dict."""
        return {
            "key": self.key,
            "answers": self.answers,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "unknown_cost_calls": self.unknown_cost_calls,
            "answers_unknown_cost": self.answers_unknown_cost,
            "cost_usd": self.cost_usd,
            "mean_cost_usd": self.mean_cost_usd,
            "latency_p50_ms": self.p50_ms,
            "latency_p95_ms": self.p95_ms,
            "call_latency_p50_ms": self.call_p50_ms,
            "call_latency_p95_ms": self.call_p95_ms,
        }


def _group(key: str, answers: Sequence[Answer], calls: Sequence[CallFact]) -> Group:
    known = [a for a in answers if a.cost_known]
    answer_latencies = [a.latency_ms for a in answers if a.latency_ms is not None]
    call_latencies = [c.latency_ms for c in calls]
    return Group(
        key=key,
        answers=len(answers),
        calls=len(calls),
        failed_calls=sum(1 for c in calls if c.outcome != "ok"),
        unknown_cost_calls=sum(1 for c in calls if c.unknown_cost),
        answers_unknown_cost=len(answers) - len(known),
        cost_usd=sum(c.cost_usd for c in calls if c.cost_usd is not None),
        mean_cost_usd=(sum(a.known_cost for a in known) / len(known)) if known else None,
        p50_ms=percentile(answer_latencies, 50),
        p95_ms=percentile(answer_latencies, 95),
        call_p50_ms=percentile(call_latencies, 50),
        call_p95_ms=percentile(call_latencies, 95),
    )


@dataclass(frozen=True, slots=True)
class Projection:
    """The monthly bill for a message volume, at today's prices and at a lower price level."""

    messages_per_month: float
    volume_source: str  # "given" or "observed"
    mean_cost_per_answer_usd: float | None
    monthly_usd: float | None
    price_factor: float
    monthly_at_factor_usd: float | None
    unknown_share: float  # share of answers whose cost is unknown (not in the mean)

    def to_json(self) -> dict[str, Any]:
        """The projection as a JSON-able dict."""
        return {
            "messages_per_month": self.messages_per_month,
            "volume_source": self.volume_source,
            "mean_cost_per_answer_usd": self.mean_cost_per_answer_usd,
            "monthly_usd": self.monthly_usd,
            "price_factor": self.price_factor,
            "monthly_at_price_factor_usd": self.monthly_at_factor_usd,
            "answers_unknown_cost_share": self.unknown_share,
        }


@dataclass(frozen=True, slots=True)
class CostReport:
    """The whole report: totals, breakdowns and the projection."""

    since: dt.datetime
    until: dt.datetime
    days: int
    total: Group
    by_day: list[Group] = field(default_factory=list)
    by_conversation: list[Group] = field(default_factory=list)
    by_mode: list[Group] = field(default_factory=list)
    by_model: list[Group] = field(default_factory=list)
    projection: Projection | None = None
    # Voice notes heard, per transcriber, then "total" last (empty when none were heard).
    transcription: list[TranscriptionGroup] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON-able dict."""
        return {
            "transcription": [g.to_json() for g in self.transcription],
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "days": self.days,
            "total": self.total.to_json(),
            "by_day": [g.to_json() for g in self.by_day],
            "by_conversation": [g.to_json() for g in self.by_conversation],
            "by_mode": [g.to_json() for g in self.by_mode],
            "by_model": [g.to_json() for g in self.by_model],
            "projection": self.projection.to_json() if self.projection else None,
        }


@dataclass(frozen=True, slots=True)
class TranscriptionGroup:
    """Voice notes heard by one transcriber (or all): minutes, cost, cost per minute, time."""

    key: str
    voice_notes: int
    seconds: float  # of the notes whose length is known
    unknown_cost: int  # notes heard at an unknown price (not counted as $0)
    cost_usd: float  # the known part
    usd_per_minute: float | None  # known cost / minutes of the notes of known cost
    p50_ms: float | None
    p95_ms: float | None

    def to_json(self) -> dict[str, Any]:
        """The group as a JSON-able dict."""
        return {
            "key": self.key,
            "voice_notes": self.voice_notes,
            "minutes": self.seconds / 60.0,
            "unknown_cost_notes": self.unknown_cost,
            "cost_usd": self.cost_usd,
            "usd_per_minute": self.usd_per_minute,
            "transcription_p50_ms": self.p50_ms,
            "transcription_p95_ms": self.p95_ms,
        }


def load_transcriptions(
    session: Session, since: dt.datetime, until: dt.datetime
) -> list[TranscriptionGroup]:
    """Voice notes heard in [since, until): per transcriber, then the total."""
    rows = session.execute(
        select(Message.transcriber, Message.audio_seconds, Message.transcription_cost_usd,
               Message.transcription_ms)
        .where(Message.transcriber.is_not(None), Message.created_at >= since,
               Message.created_at < until)
    ).all()
    by: dict[str, list[tuple[float | None, float | None, float | None]]] = defaultdict(list)
    for name, seconds, cost, ms in rows:
        by[str(name)].append((seconds, cost, ms))
    groups = [_transcription_group(k, v) for k, v in sorted(by.items())]
    if groups:
        groups.append(_transcription_group("total", [r for v in by.values() for r in v]))
    return groups


def _transcription_group(
    key: str, rows: Sequence[tuple[float | None, float | None, float | None]]
) -> TranscriptionGroup:
    known = [(s, c) for s, c, _ in rows if c is not None and s]
    known_minutes = sum(s for s, _ in known) / 60.0
    latencies = [ms for _, _, ms in rows if ms is not None]
    return TranscriptionGroup(
        key=key,
        voice_notes=len(rows),
        seconds=sum(s for s, _, _ in rows if s),
        unknown_cost=sum(1 for _, c, _ in rows if c is None),
        cost_usd=sum(c for _, c, _ in rows if c is not None),
        usd_per_minute=(sum(c for _, c in known) / known_minutes) if known_minutes else None,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
    )


def load_calls(session: Session, since: dt.datetime, until: dt.datetime) -> list[CallFact]:
    """The model calls of replies created in [since, until), with their conversation and day."""
    stmt = (
        select(
            ModelCallRow.message_id,
            Message.contact_id,
            Message.created_at,
            ModelCallRow.mode,
            ModelCallRow.provider,
            ModelCallRow.model,
            ModelCallRow.perspective,
            ModelCallRow.outcome,
            ModelCallRow.cost_usd,
            ModelCallRow.latency_ms,
            Message.latency_ms,
        )
        .join(Message, Message.id == ModelCallRow.message_id)
        .where(Message.created_at >= since, Message.created_at < until)
        .order_by(Message.created_at, ModelCallRow.id)
    )
    facts: list[CallFact] = []
    for row in session.execute(stmt):
        created: dt.datetime = row[2]
        facts.append(
            CallFact(
                message_id=row[0],
                contact_id=row[1],
                day=created.astimezone(dt.UTC).date(),
                mode=row[3],
                provider=row[4],
                model=row[5],
                perspective=row[6],
                outcome=row[7],
                cost_usd=row[8],
                latency_ms=row[9],
                answer_latency_ms=row[10],
            )
        )
    return facts


def _answers(calls: Iterable[CallFact]) -> list[Answer]:
    by_message: dict[int, list[CallFact]] = defaultdict(list)
    for call in calls:
        by_message[call.message_id].append(call)
    answers = []
    for message_id, group in by_message.items():
        first = group[0]
        answers.append(
            Answer(
                message_id=message_id,
                contact_id=first.contact_id,
                day=first.day,
                mode=first.mode,
                calls=tuple(group),
                latency_ms=first.answer_latency_ms,
            )
        )
    return answers


def _breakdown(
    answers: Sequence[Answer],
    answer_key: Callable[[Answer], Hashable],
    label: Callable[[Any], str] = str,
) -> list[Group]:
    buckets: dict[Hashable, list[Answer]] = defaultdict(list)
    for answer in answers:
        buckets[answer_key(answer)].append(answer)
    return [
        _group(label(key), group, [c for a in group for c in a.calls])
        for key, group in buckets.items()
    ]


def _by_model(calls: Sequence[CallFact], answers: Sequence[Answer]) -> list[Group]:
    """Per provider/model: the calls it made, and the answers it took part in."""
    calls_by: dict[str, list[CallFact]] = defaultdict(list)
    answers_by: dict[str, dict[int, Answer]] = defaultdict(dict)
    answer_of = {a.message_id: a for a in answers}
    for call in calls:
        key = f"{call.provider}/{call.model}"
        calls_by[key].append(call)
        answers_by[key][call.message_id] = answer_of[call.message_id]
    groups = [_group(k, list(answers_by[k].values()), v) for k, v in calls_by.items()]
    # Answer latency means little per model in a mixed answer; the call latency is what counts.
    return sorted(groups, key=lambda g: -g.calls)


def project(
    total: Group,
    *,
    days: float,
    volume: float | None,
    price_factor: float,
) -> Projection:
    """Project the monthly bill from the observed mean cost per answered message."""
    if volume is None:
        per_day = total.answers / days if days > 0 else 0.0
        messages, source = per_day * DAYS_PER_MONTH, "observed"
    else:
        messages, source = float(volume), "given"
    mean = total.mean_cost_usd
    monthly = None if mean is None else mean * messages
    return Projection(
        messages_per_month=messages,
        volume_source=source,
        mean_cost_per_answer_usd=mean,
        monthly_usd=monthly,
        price_factor=price_factor,
        monthly_at_factor_usd=None if monthly is None else monthly * price_factor,
        unknown_share=(total.answers_unknown_cost / total.answers) if total.answers else 0.0,
    )


def cost_report(
    session: Session,
    *,
    days: int = 30,
    volume: float | None = None,
    price_factor: float = 0.2,
    now: dt.datetime | None = None,
) -> CostReport:
    """Build the report over the last `days` days (UTC) of stored model calls.

    Raises:
        ValueError: days < 1, a negative volume or a non-positive price factor.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if volume is not None and volume < 0:
        raise ValueError("volume must not be negative")
    if price_factor <= 0:
        raise ValueError("price factor must be positive")
    until = now or utcnow()
    since = until - dt.timedelta(days=days)
    calls = load_calls(session, since, until)
    answers = _answers(calls)
    total = _group("total", answers, calls)
    by_day = sorted(_breakdown(answers, lambda a: a.day.isoformat()), key=lambda g: g.key)
    by_conversation = sorted(
        _breakdown(answers, lambda a: a.contact_id, lambda k: f"contact {k}"),
        key=lambda g: (-g.cost_usd, -g.answers, g.key),
    )
    by_mode = sorted(_breakdown(answers, lambda a: a.mode), key=lambda g: -g.answers)
    return CostReport(
        since=since,
        until=until,
        days=days,
        total=total,
        by_day=by_day,
        by_conversation=by_conversation,
        by_mode=by_mode,
        by_model=_by_model(calls, answers),
        projection=project(total, days=days, volume=volume, price_factor=price_factor),
        transcription=load_transcriptions(session, since, until),
    )


# ---------------------------------------------------------------------------- text output


def format_usd(value: float | None, *, at_least: bool = False) -> str:
    """Dollars for people: cents above $1, three significant digits below, "unknown" for None."""
    if value is None:
        return "unknown"
    # "≥": part of the spend is of unknown price, so the known sum is only a lower bound.
    prefix = "≥$" if at_least else "$"
    if value == 0:
        return prefix + "0"
    if abs(value) >= 1:
        return f"{prefix}{value:,.2f}"
    # Per-answer costs are fractions of a cent: no exponent, enough decimals to show them.
    decimals = max(4, 2 - math.floor(math.log10(abs(value))))
    return prefix + f"{value:.{decimals}f}".rstrip("0").rstrip(".")


_usd = format_usd


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


_HEADER = (
    f"{'':<28} {'answers':>7} {'calls':>6} {'failed':>6} {'unk.cost':>8} "
    f"{'cost':>11} {'mean/answer':>11} {'p50 ms':>8} {'p95 ms':>8}"
)


def _row(group: Group, *, call_latency: bool = False) -> str:
    p50 = group.call_p50_ms if call_latency else group.p50_ms
    p95 = group.call_p95_ms if call_latency else group.p95_ms
    return (
        f"{group.key[:28]:<28} {group.answers:>7} {group.calls:>6} {group.failed_calls:>6} "
        f"{group.unknown_cost_calls:>8} "
        f"{_usd(group.cost_usd, at_least=group.unknown_cost_calls > 0):>11} "
        f"{_usd(group.mean_cost_usd):>11} {_ms(p50):>8} {_ms(p95):>8}"
    )


def format_report(report: CostReport, *, top: int = 10) -> str:
    """The report as aligned plain-text tables."""
    lines = [
        f"Model cost and latency, {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M}"
        f" UTC ({report.days} days)",
        "cost = known cost; unk.cost = successful calls of unknown price (not counted as $0);",
        "p50/p95 = end-to-end answer latency (per model: single call latency).",
        "",
        _HEADER,
        _row(report.total),
    ]
    sections: list[tuple[str, list[Group], bool]] = [
        ("per mode", report.by_mode, False),
        ("per provider/model", report.by_model, True),
        ("per day", report.by_day, False),
        (f"per conversation (top {top} by cost)", report.by_conversation[:top], False),
    ]
    for title, groups, call_latency in sections:
        lines += ["", title + ":"]
        lines += [_row(g, call_latency=call_latency) for g in groups] or ["  (none)"]
    if len(report.by_conversation) > top:
        lines.append(f"  … {len(report.by_conversation) - top} more conversations (see --json)")
    if report.transcription:
        lines += ["", "voice notes (transcription):",
                  f"{'':<28} {'notes':>7} {'minutes':>8} {'unk.cost':>8} {'cost':>11} "
                  f"{'$/minute':>10} {'p50 ms':>8} {'p95 ms':>8}"]
        for group in report.transcription:
            lines.append(
                f"{group.key[:28]:<28} {group.voice_notes:>7} {group.seconds / 60:>8.2f} "
                f"{group.unknown_cost:>8} "
                f"{_usd(group.cost_usd, at_least=group.unknown_cost > 0):>11} "
                f"{_usd(group.usd_per_minute):>10} {_ms(group.p50_ms):>8} {_ms(group.p95_ms):>8}"
            )
    projection = report.projection
    if projection is not None:
        source = "given" if projection.volume_source == "given" else "observed rate"
        mean, today = "mean cost per answered message:", "at today's prices:"
        cheaper = f"at {projection.price_factor:g} x today's prices:"
        lines += [
            "",
            f"projection for {projection.messages_per_month:,.0f} answered messages/month "
            f"({source}):",
            f"  {mean:<34}{_usd(projection.mean_cost_per_answer_usd)}",
            f"  {today:<34}{_usd(projection.monthly_usd)} / month",
            f"  {cheaper:<34}{_usd(projection.monthly_at_factor_usd)} / month",
        ]
        if projection.unknown_share:
            lines.append(
                f"  note: {projection.unknown_share:.0%} of answers used a model of unknown "
                "price and are left out of the mean; add its row to bot/llm/prices.yaml"
            )
    return "\n".join(lines)

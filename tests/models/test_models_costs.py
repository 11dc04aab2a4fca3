"""`healthbot costs`: cost and latency per day, conversation, mode and model; the projection."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import main
from bot.costs import cost_report, format_report, percentile
from bot.store import migrate
from bot.store.models import Contact, Message, ModelCallRow
from bot.store.uow import make_engine, session_factory

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate.upgrade(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _answer(
    session: Session,
    contact: Contact,
    when: dt.datetime,
    mode: str,
    latency_ms: float,
    calls: list[tuple[str, str, str | None, str, float | None, float]],
) -> None:
    """Store one outbound reply and its model calls: (provider, model, perspective, outcome,
    cost, latency)."""
    message = Message(contact_id=contact.id, direction="out", body="reply", status="sent",
                      mode=mode, latency_ms=latency_ms, created_at=when)
    session.add(message)
    session.flush()
    for provider, model, perspective, outcome, cost, latency in calls:
        session.add(ModelCallRow(
            message_id=message.id, provider=provider, model=model, perspective=perspective,
            mode=mode, outcome=outcome, latency_ms=latency, cost_usd=cost,
            input_tokens=100, output_tokens=50, created_at=when,
        ))


def seed(engine: Engine, now: dt.datetime) -> tuple[int, int]:
    """Two conversations, four answers in the window (one of unknown cost), one outside it."""
    with session_factory(engine)() as session:
        amina = Contact(wa_id="254700000001", phone="whatsapp:+254700000001")
        juan = Contact(wa_id="5215500000002", phone="whatsapp:+5215500000002")
        session.add_all([amina, juan])
        session.flush()
        day1, day2 = now - dt.timedelta(days=2), now - dt.timedelta(days=1)
        _answer(session, amina, day1, "single", 900.0,
                [("openai", "gpt-4o-mini", None, "ok", 0.001, 800.0)])
        _answer(session, amina, day2, "contemplate", 2000.0, [
            ("openai", "gpt-4o-mini", "triage_nurse", "ok", 0.0005, 1000.0),
            ("openai", "gpt-4o-mini", "clinician", "ok", 0.0005, 1200.0),
            ("openai", "gpt-4o-mini", "pharmacist", "ok", 0.0005, 1100.0),
            ("openai", "gpt-4o-mini", "synthesis", "ok", 0.0007, 600.0),
        ])
        _answer(session, juan, day2, "fallback", 300.0, [
            ("openai", "gpt-4o-mini", None, "unavailable", None, 100.0),
            ("offline", "kb-1", None, "ok", 0.0, 2.0),
        ])
        _answer(session, juan, day2, "single", 700.0,
                [("groq", "llama-3.1-8b-instant", None, "ok", None, 650.0)])
        _answer(session, juan, now - dt.timedelta(days=40), "offline", 5.0,
                [("offline", "kb-1", None, "ok", 0.0, 3.0)])
        session.commit()
        return amina.id, juan.id


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)


def test_report_totals_breakdowns_and_unknown_costs(engine: Engine) -> None:
    amina, juan = seed(engine, NOW)
    with session_factory(engine)() as session:
        report = cost_report(session, days=30, volume=10_000, price_factor=0.2, now=NOW)
    total = report.total
    assert (total.answers, total.calls, total.failed_calls) == (4, 8, 1)
    # The groq call has no price: unknown, never $0, and its answer stays out of the mean.
    assert (total.unknown_cost_calls, total.answers_unknown_cost) == (1, 1)
    assert total.cost_usd == pytest.approx(0.0032)
    assert total.mean_cost_usd == pytest.approx(0.0032 / 3)
    assert total.p50_ms == pytest.approx(800.0)  # answers: 300, 700, 900, 2000

    modes = {g.key: g for g in report.by_mode}
    assert set(modes) == {"single", "contemplate", "fallback"}  # the 40-day-old one is out
    assert modes["contemplate"].calls == 4 and modes["contemplate"].cost_usd == pytest.approx(
        0.0022)
    assert modes["contemplate"].p50_ms == 2000.0
    assert modes["single"].answers == 2 and modes["single"].answers_unknown_cost == 1
    assert modes["single"].mean_cost_usd == pytest.approx(0.001)
    assert modes["fallback"].failed_calls == 1 and modes["fallback"].cost_usd == 0.0

    assert [g.key for g in report.by_day] == ["2026-11-18", "2026-11-19"]
    assert [g.answers for g in report.by_day] == [1, 3]

    conversations = report.by_conversation
    assert [g.key for g in conversations] == [f"contact {amina}", f"contact {juan}"]
    assert conversations[0].cost_usd == pytest.approx(0.0032)
    assert conversations[1].unknown_cost_calls == 1

    models = {g.key: g for g in report.by_model}
    assert models["openai/gpt-4o-mini"].calls == 6
    assert models["openai/gpt-4o-mini"].failed_calls == 1
    assert models["groq/llama-3.1-8b-instant"].mean_cost_usd is None
    assert models["openai/gpt-4o-mini"].call_p95_ms is not None

    projection = report.projection
    assert projection is not None and projection.volume_source == "given"
    assert projection.monthly_usd == pytest.approx(0.0032 / 3 * 10_000)
    assert projection.monthly_at_factor_usd == pytest.approx(0.0032 / 3 * 10_000 * 0.2)
    assert projection.unknown_share == pytest.approx(0.25)

    text = format_report(report)
    assert "per mode:" in text and "per conversation" in text and "per day:" in text
    assert "unknown" in text and "25% of answers used a model of unknown price" in text

    # Without a volume, the observed rate (answers per day x 30) is projected.
    with session_factory(engine)() as session:
        observed = cost_report(session, days=10, now=NOW).projection
    assert observed is not None and observed.volume_source == "observed"
    assert observed.messages_per_month == pytest.approx(4 / 10 * 30)


def test_an_empty_window_then_only_unknown_costs(engine: Engine) -> None:
    with session_factory(engine)() as session:
        empty = cost_report(session, days=7, now=NOW)
        assert empty.total.answers == 0 and empty.total.mean_cost_usd is None
        assert "(none)" in format_report(empty)

        contact = Contact(wa_id="1", phone="whatsapp:+1")
        session.add(contact)
        session.flush()
        _answer(session, contact, NOW - dt.timedelta(hours=1), "single", 500.0,
                [("groq", "mystery", None, "ok", None, 400.0)])
        session.commit()
        report = cost_report(session, days=1, volume=1000, now=NOW)
    # Nothing of known cost: the bill is unknown, not $0.
    assert report.projection is not None and report.projection.monthly_usd is None
    assert "unknown / month" in format_report(report)


def test_the_costs_command(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, dt.datetime.now(dt.UTC))
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"DATABASE_URL": database_url, "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    runner = CliRunner()
    result = runner.invoke(
        main, ["costs", "--days", "30", "--volume", "10000", "--price-factor", "0.2", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["answers"] == 4
    assert data["projection"]["monthly_usd"] == pytest.approx(0.0032 / 3 * 10_000)
    assert data["projection"]["monthly_at_price_factor_usd"] == pytest.approx(
        0.0032 / 3 * 10_000 * 0.2)
    assert {g["key"] for g in data["by_mode"]} == {"single", "contemplate", "fallback"}

    text = runner.invoke(main, ["costs", "--volume", "10000"], env=env)
    assert text.exit_code == 0, text.output
    assert "projection for 10,000 answered messages/month (given)" in text.output

    bad = runner.invoke(main, ["costs", "--price-factor", "0"], env=env)
    assert bad.exit_code == 2


def test_the_costs_command_on_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(main, ["costs"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "healthbot db upgrade" in result.output

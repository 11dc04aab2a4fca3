"""`healthbot costs` counts voice notes: minutes, cost, cost per minute, time to hear one."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bot.cli import main
from bot.costs import cost_report, format_report
from bot.store import migrate
from bot.store.models import Contact, Message
from bot.store.uow import make_engine, session_factory
from bot.voice.transcribe import cost_of

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate.upgrade(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def seed(engine: Engine, now: dt.datetime) -> None:
    """Three whisper-1 notes (30 s, 90 s, 60 s), one of an unpriced model, one too old."""
    notes = [("openai/whisper-1", 30.0, 800.0), ("openai/whisper-1", 90.0, 1500.0),
             ("openai/whisper-1", 60.0, 1000.0), ("groq/new-model", 45.0, 400.0)]
    with session_factory(engine)() as session:
        contact = Contact(wa_id="254700000009", phone="whatsapp:+254700000009")
        session.add(contact)
        session.flush()
        for index, (name, seconds, ms) in enumerate(notes):
            session.add(Message(
                contact_id=contact.id, direction="in", body="heard", status="received",
                twilio_sid=f"MM{index}", transcript="heard", transcriber=name,
                audio_seconds=seconds, transcription_cost_usd=cost_of(name, seconds),
                transcription_ms=ms, created_at=now - dt.timedelta(hours=index + 1)))
        session.add(Message(
            contact_id=contact.id, direction="in", body="old", status="received",
            twilio_sid="MMold", transcript="old", transcriber="openai/whisper-1",
            audio_seconds=600.0, transcription_cost_usd=0.06, transcription_ms=1.0,
            created_at=now - dt.timedelta(days=60)))
        session.commit()


def test_transcription_minutes_cost_and_cost_per_minute(engine: Engine) -> None:
    seed(engine, NOW)
    with session_factory(engine)() as session:
        report = cost_report(session, days=30, now=NOW)
    by = {g.key: g for g in report.transcription}
    whisper, unknown, total = by["openai/whisper-1"], by["groq/new-model"], by["total"]
    assert (whisper.voice_notes, whisper.seconds, whisper.unknown_cost) == (3, 180.0, 0)
    assert whisper.cost_usd == pytest.approx(0.018)  # 3 minutes at $0.006
    assert whisper.usd_per_minute == pytest.approx(0.006)
    assert whisper.p50_ms == 1000.0
    assert (unknown.unknown_cost, unknown.cost_usd, unknown.usd_per_minute) == (1, 0.0, None)
    assert (total.voice_notes, total.unknown_cost) == (4, 1)
    assert total.usd_per_minute == pytest.approx(0.006)  # over the notes of known cost only
    text = format_report(report)
    assert "voice notes (transcription):" in text
    line = next(x for x in text.splitlines() if x.startswith("openai/whisper-1"))
    assert "3.00" in line and "$0.018" in line and "$0.006" in line
    voice = text[text.index("voice notes (transcription):"):]
    assert "≥$0.018" in next(x for x in voice.splitlines() if x.startswith("total "))


def test_the_costs_command_shows_voice_notes(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, dt.datetime.now(dt.UTC))
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": database_url, "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    result = CliRunner().invoke(main, ["costs", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {g["key"]: g for g in json.loads(result.output)["transcription"]}
    assert rows["openai/whisper-1"]["minutes"] == pytest.approx(3.0)
    assert rows["openai/whisper-1"]["usd_per_minute"] == pytest.approx(0.006)

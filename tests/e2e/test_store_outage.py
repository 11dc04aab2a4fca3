"""A database outage loses nothing: the message is spooled, the person still gets a safe answer."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from bot.store.models import Message, SafetyEvent
from bot.store.uow import session_factory
from tests.helpers import signed_post, twilio_form


def _break_database(app: Any) -> Any:
    services = app.extensions["bot"]
    working = services.sessions
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 1})
    services.sessions = session_factory(dead)
    return working, dead


def test_outage_spools_and_still_answers_then_replay_stores(app: Any, client: Any,
                                                           monkeypatch: Any) -> None:
    services = app.extensions["bot"]
    working, dead = _break_database(app)
    try:
        ordinary = signed_post(client, twilio_form("I have a sore throat", sid="SM" + "a" * 32))
        urgent = signed_post(client, twilio_form("my baby is having convulsions",
                                                 sid="SM" + "b" * 32))
    finally:
        services.sessions = working
        dead.dispose()
    assert ordinary.status_code == 200 and urgent.status_code == 200
    assert "<Message>" in ordinary.get_data(as_text=True)
    assert "112" in urgent.get_data(as_text=True) or "999" in urgent.get_data(as_text=True)
    spool = services.settings.instance_dir / "spool"
    assert sorted(p.name for p in spool.glob("*.json")) == [
        "SM" + "a" * 32 + ".json", "SM" + "b" * 32 + ".json"]
    with services.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Message)) == 0

    # The database is back: the replay stores both and puts the emergency in front of staff.
    from bot import cli

    settings = services.settings
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    result = CliRunner().invoke(cli.main, ["db", "replay-spool"])
    assert result.exit_code == 0, result.output
    assert "2 stored" in result.output
    assert not list(spool.glob("*.json"))
    with services.uow() as uow:
        rows = uow.session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)).all()
        assert [r.twilio_sid for r in rows] == ["SM" + "a" * 32, "SM" + "b" * 32]
        # Without Twilio credentials nobody can be told: no reply is recorded as if it were sent,
        # except the emergency text the outage answer itself gave.
        out = uow.session.scalars(select(Message).where(Message.direction == "out")).all()
        assert all(m.status == "twiml" and m.triage_level == "emergency" for m in out)
        events = uow.session.scalars(select(SafetyEvent)).all()
        assert [e.kind for e in events] == ["emergency"] and events[0].status == "open"
    # replaying again is harmless
    assert "0 stored" in CliRunner().invoke(cli.main, ["db", "replay-spool"]).output


def test_readyz_reports_an_unreachable_database(app: Any, client: Any) -> None:
    services = app.extensions["bot"]
    working_engine = services.engine
    services.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                    connect_args={"connect_timeout": 1})
    try:
        response = client.get("/readyz")
    finally:
        services.engine.dispose()
        services.engine = working_engine
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200

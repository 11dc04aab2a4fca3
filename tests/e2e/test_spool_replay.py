"""Replaying the spool runs the whole receive path: commands count, and people are told.

Fault 4 of issue 11: STOP, DELETE YES and HUMAN sent during an outage were replayed as plain
messages: the person stayed opted in, was not erased, and staff were not asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import safety
from bot import cli, i18n
from bot.store.models import Contact, ErasedMessage, Message, SafetyEvent
from bot.store.staff import AuditEntry
from bot.store.uow import make_engine, session_factory
from tests.e2e.faults import RecordingAlerter, RecordingMessenger
from tests.helpers import make_settings, signed_post, twilio_form

ASKS, STOPS, HUMAN, ERASED, URGENT = (f"whatsapp:+25470000000{i}" for i in range(1, 6))
EMERGENCY = "my baby is not breathing"


@pytest.fixture
def outage_app(tmp_path: Path, migrated_database_url: str) -> Iterator[Any]:
    from bot.app import create_app

    application = create_app(make_settings(tmp_path, migrated_database_url), upgrade_db=False,
                             background=False, alerters=[RecordingAlerter()])
    application.config["TESTING"] = True
    yield application
    application.extensions["bot"].close()


def texts_to(messenger: RecordingMessenger, to: str) -> list[str]:
    return [body for address, body in messenger.texts if address == to]


def replay(app: Any, monkeypatch: pytest.MonkeyPatch, messenger: RecordingMessenger | None,
           alerter: RecordingAlerter) -> str:
    settings = app.extensions["bot"].settings
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    monkeypatch.setattr("bot.services.build_messenger", lambda _settings: messenger)
    monkeypatch.setattr("bot.services.build_alerters", lambda _settings, _http: [alerter])
    result = CliRunner().invoke(cli.main, ["db", "replay-spool"])
    assert result.exit_code == 0, result.output
    return result.output


def test_replay_applies_commands_and_tells_each_person(
    outage_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = outage_app.extensions["bot"]
    client = outage_app.test_client()
    assert signed_post(client, twilio_form("I have a fever", sender=ERASED)).status_code == 200

    working = services.sessions
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    services.sessions = session_factory(dead)
    try:
        for text, sender in [("what helps a cough?", ASKS), ("hello", STOPS), ("STOP", STOPS),
                             ("HUMAN", HUMAN), ("DELETE", ERASED), ("delete yes", ERASED),
                             (EMERGENCY, URGENT)]:
            response = signed_post(client, twilio_form(text, sender=sender))
            assert response.status_code == 200 and "<Message>" in response.get_data(as_text=True)
    finally:
        services.sessions = working
        dead.dispose()
    spool = services.settings.instance_dir / "spool"
    assert len(list(spool.glob("*.json"))) == 7

    messenger, alerter = RecordingMessenger(), RecordingAlerter()
    output = replay(outage_app, monkeypatch, messenger, alerter)
    assert "7 stored" in output and "7 replied to through Twilio" in output
    assert not list(spool.glob("*.json"))

    with services.uow() as uow:
        contacts = {c.phone: c for c in uow.session.scalars(select(Contact))}
        # STOP opted them out, and they were told so.
        assert contacts[STOPS].opted_out
        assert i18n.t("stopped", "en") in texts_to(messenger, STOPS)
        # HUMAN put the conversation in front of staff, who were alerted.
        assert contacts[HUMAN].state == "needs_human"
        kinds = {(e.contact_id, e.kind) for e in uow.session.scalars(select(SafetyEvent))}
        assert (contacts[HUMAN].id, "human_requested") in kinds
        assert i18n.t("human_requested", "en", emergency_hint="999") in texts_to(messenger, HUMAN)
        # DELETE YES erased everything about them, audited, and they were told.
        assert ERASED not in contacts
        assert uow.session.scalar(select(ErasedMessage.sid_hash).limit(1)) is not None
        actions = [a.action for a in uow.session.scalars(select(AuditEntry))]
        assert "contact.self_erase" in actions
        assert texts_to(messenger, ERASED)[-1] == i18n.t("deleted", "en")
        # A question gets its answer now.
        assert len(texts_to(messenger, ASKS)) >= 2  # the welcome, then the answer
        # An emergency is escalated; its text went out in the outage answer, not again now.
        assert (contacts[URGENT].id, "emergency") in kinds
        outage_text = safety.emergency_reply(safety.assess(EMERGENCY, sender=URGENT))
        assert outage_text not in texts_to(messenger, URGENT)
        # Every inbound message left was replayed (the one stored before was erased).
        replayed = uow.session.scalars(select(Message).where(Message.direction == "in")).all()
        assert len(replayed) == 5 and all(m.extra.get("spooled") for m in replayed)
    reasons = sorted(a.reason for a in alerter.sent)
    assert reasons == ["emergency", "human_requested"]

    # Replaying again changes nothing and tells nobody twice.
    again = RecordingMessenger()
    assert "0 stored" in replay(outage_app, monkeypatch, again, RecordingAlerter())
    assert again.texts == []


def test_replayed_old_delivery_of_an_erased_person_stays_erased(
    outage_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message spooled before its sender's erasure is not stored when replayed after it."""
    from bot.webhook.spool import spool_inbound

    services = outage_app.extensions["bot"]
    client = outage_app.test_client()
    old = twilio_form("I have a fever", sender=ERASED)
    assert signed_post(client, old).status_code == 200
    signed_post(client, twilio_form("DELETE", sender=ERASED))
    signed_post(client, twilio_form("delete yes", sender=ERASED))
    spool_inbound(services.settings.instance_dir, old)  # e.g. a copy spooled by another worker

    output = replay(outage_app, monkeypatch, RecordingMessenger(), RecordingAlerter())
    assert "0 stored, 1 already stored or erased" in output
    with services.uow() as uow:
        assert uow.session.scalars(select(Contact)).all() == []

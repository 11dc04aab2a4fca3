"""The webhook's fast path: one transaction and a handful of statements per message, on both
backends; SQLite's writers of one process wait their turn in a queue, not in the busy handler.

How fast it is, is measured by bench/bench_http.py; these tests hold the shape that makes it so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from bot.pipeline import receive
from bot.schemas import InboundMessage
from bot.store.models import Contact, Message, utcnow
from bot.store.uow import (
    SqlUnitOfWork,
    create_schema_for_tests,
    make_engine,
    session_factory,
    write_turn,
)
from tests.helpers import signed_post, twilio_form


@contextmanager
def counting(engine: Any) -> Iterator[dict[str, Any]]:
    seen: dict[str, Any] = {"statements": [], "commits": 0}

    def statement(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen["statements"].append(" ".join(sql.split())[:60])

    def commit(_conn: Any) -> None:
        seen["commits"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def test_a_question_costs_one_transaction_and_five_statements(app: Any, client: Any) -> None:
    sender = "whatsapp:+447700900461"
    signed_post(client, twilio_form("hello", sender=sender))  # first contact: the welcome
    services = app.extensions["bot"]
    with counting(services.engine) as seen:
        response = signed_post(client, twilio_form("can I take paracetamol for a headache?",
                                                   sender=sender))
        stored, commits = seen["statements"][:], seen["commits"]
    assert response.status_code == 200
    assert commits == 2, stored  # the message received; the answer stored (offline, inline)
    # Receiving: is it erased, the contact upserted, the history, the episode, the message
    # inserted with the rules' verdict; then the inline answer (read, then write its reply).
    first = stored[:5]
    assert [s.split(" ")[0] for s in first] == ["SELECT", "INSERT", "SELECT", "SELECT",
                                                "INSERT"], stored
    assert "contacts" in first[1] and "messages" in first[4]
    with services.uow() as uow:
        message = uow.session.scalars(select(Message).where(
            Message.direction == "in").order_by(Message.id.desc())).first()
        assert message is not None and message.triage_level and message.language == "en"
        contact = uow.contacts.by_wa_id("447700900461")
        assert contact is not None and contact.last_inbound_at is not None
    # The receive step alone, exactly: those five statements and one commit, nothing more.
    msg = InboundMessage.model_validate(twilio_form("and for a fever?", sender=sender))
    with counting(services.engine) as seen:
        received = receive(msg, uow=services.uow(), config=services.pipeline_config,
                           understanding=services.receive_understanding)
    assert received.answer_id is not None
    assert [s.split(" ")[0] for s in seen["statements"]] == [
        "SELECT", "INSERT", "SELECT", "SELECT", "INSERT"], seen["statements"]
    assert seen["commits"] == 1


def test_a_duplicate_delivery_changes_nothing(app: Any, client: Any) -> None:
    form = twilio_form("I have a sore throat", sender="whatsapp:+447700900462")
    first = signed_post(client, form)
    services = app.extensions["bot"]
    with services.uow() as uow:
        before = uow.contacts.by_wa_id("447700900462")
        assert before is not None
        seen_at = before.last_inbound_at
        count = uow.session.scalar(select(func.count()).select_from(Message))
    again = signed_post(client, form)
    assert first.status_code == again.status_code == 200
    with services.uow() as uow:
        after = uow.contacts.by_wa_id("447700900462")
        assert after is not None and after.last_inbound_at == seen_at  # rolled back whole
        assert uow.session.scalar(select(func.count()).select_from(Message)) == count


def test_profile_name_is_kept_when_a_message_has_none(app: Any, client: Any) -> None:
    sender = "whatsapp:+447700900463"
    signed_post(client, twilio_form("hello", sender=sender, ProfileName="Amina"))
    signed_post(client, twilio_form("thanks", sender=sender, ProfileName=""))
    with app.extensions["bot"].uow() as uow:
        contact = uow.contacts.by_wa_id("447700900463")
        assert contact is not None and contact.profile_name == "Amina"
    signed_post(client, twilio_form("ok", sender=sender, ProfileName="Amina K"))
    with app.extensions["bot"].uow() as uow:
        contact = uow.contacts.by_wa_id("447700900463")
        assert contact is not None and contact.profile_name == "Amina K"


# --- SQLite: the writers' queue ---------------------------------------------------------------


@pytest.fixture
def sqlite_uow(tmp_path: Path) -> Iterator[tuple[Any, SqlUnitOfWork]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    create_schema_for_tests(engine)
    yield engine, SqlUnitOfWork(session_factory(engine))
    engine.dispose()


def test_readers_never_take_the_write_turn(sqlite_uow: tuple[Any, SqlUnitOfWork]) -> None:
    engine, uow = sqlite_uow
    turn = write_turn(engine)
    assert turn is not None
    with uow:
        uow.session.execute(text("SELECT 1"))
        assert not turn.taken
    assert not turn.taken


def test_the_turn_is_given_back_after_commit_rollback_and_errors(
    sqlite_uow: tuple[Any, SqlUnitOfWork],
) -> None:
    engine, uow = sqlite_uow
    turn = write_turn(engine)
    assert turn is not None
    with uow:
        uow.session.add(Contact(wa_id="1", phone="whatsapp:+1"))
        uow.session.flush()
        assert turn.taken  # from the first write to the end of the transaction
        uow.commit()
    assert not turn.taken
    with uow:  # left without commit: rolled back
        uow.session.add(Contact(wa_id="2", phone="whatsapp:+2"))
        uow.session.flush()
        assert turn.taken
    assert not turn.taken
    with pytest.raises(Exception, match="UNIQUE"), uow:
        uow.session.add(Contact(wa_id="1", phone="whatsapp:+1"))
        uow.session.flush()
    assert not turn.taken
    with engine.connect() as conn:  # Core, outside the unit of work
        conn.execute(text("UPDATE contacts SET language = 'en'"))
        conn.commit()
    assert not turn.taken


def test_concurrent_writers_all_get_through(sqlite_uow: tuple[Any, SqlUnitOfWork]) -> None:
    engine, _uow = sqlite_uow
    sessions = session_factory(engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with SqlUnitOfWork(sessions) as uow:
                    uow.contacts.note_inbound(wa_id=f"{n}-{i}", phone=f"whatsapp:+{n}{i}",
                                              profile_name=None, country=None,
                                              now=utcnow())
                    uow.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with SqlUnitOfWork(sessions) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Contact)) == 200
    turn = write_turn(engine)
    assert turn is not None and not turn.taken


def test_the_upserted_contact_is_the_sessions_own_clean_object(
    sqlite_uow: tuple[Any, SqlUnitOfWork],
) -> None:
    engine, uow = sqlite_uow
    first, later = utcnow(), utcnow()
    with uow:
        created = uow.contacts.note_inbound(wa_id="7", phone="whatsapp:+7", profile_name="A",
                                            country="gb", now=first)
        assert created.id and created.country == "GB" and created.state == "bot"
        assert not uow.session.dirty and not uow.session.new  # as if loaded: nothing to write
        uow.commit()
    with uow:
        loaded = uow.contacts.by_wa_id("7")
        again = uow.contacts.note_inbound(wa_id="7", phone="whatsapp:+7", profile_name=None,
                                          country=None, now=later)
        assert again is loaded  # one object per row in a session
        assert again.last_inbound_at == later and again.profile_name == "A"
        again.language = "sw"  # a change made afterwards is written as usual
        with counting(engine) as seen:
            uow.commit()
        assert [s.split(" ")[0] for s in seen["statements"]] == ["UPDATE"]
    with uow:
        stored = uow.contacts.by_wa_id("7")
        assert stored is not None and stored.language == "sw"

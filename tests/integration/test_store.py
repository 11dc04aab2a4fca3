"""The store on a real database: idempotent inserts under concurrency, erasure, history."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.store import migrate
from bot.store.models import Alert, Contact, Message, ModelCallRow, SafetyEvent, utcnow
from bot.store.uow import SqlUnitOfWork, make_engine, session_factory


@pytest.fixture
def uow_factory(database_url: str) -> Iterator[object]:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    yield lambda: SqlUnitOfWork(sessions)
    engine.dispose()


def _inbound(contact_id: int, sid: str, body: str = "hi") -> Message:
    return Message(contact_id=contact_id, direction="in", body=body, twilio_sid=sid,
                   status="received")


def _values(contact_id: int, sid: str, body: str = "hi") -> dict[str, object]:
    return {"contact_id": contact_id, "direction": "in", "body": body, "twilio_sid": sid,
            "status": "received", "created_at": utcnow()}


def _contact(uow: SqlUnitOfWork, wa_id: str) -> Contact:
    return uow.contacts.note_inbound(wa_id=wa_id, phone=f"whatsapp:+{wa_id}", profile_name=None,
                                     country=None, now=utcnow())


def test_duplicate_message_sid_is_refused_by_the_constraint(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        contact = _contact(uow, "1")
        first_id = contact.id
        stored = uow.messages.insert_inbound(_values(contact.id, "SM1"))
        assert stored is not None and stored.id and stored.contact_id == contact.id
        uow.commit()
    with uow_factory() as uow:
        contact = _contact(uow, "1")
        assert contact.id == first_id  # the same person: updated, not created again
        assert uow.messages.insert_inbound(_values(contact.id, "SM1")) is None
        # the transaction is still usable after the refused insert
        assert uow.messages.insert_inbound(_values(contact.id, "SM2")) is not None
        uow.commit()
    with uow_factory() as uow:
        count = uow.session.scalar(select(func.count()).select_from(Message))
    assert count == 2


def test_concurrent_duplicates_store_exactly_one(uow_factory) -> None:  # type: ignore[no-untyped-def]
    """Eight threads deliver the same MessageSid (and create the same contact) at once."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def deliver() -> None:
        barrier.wait()
        try:
            with uow_factory() as uow:
                contact = _contact(uow, "42")
                if uow.messages.insert_inbound(_values(contact.id, "SMsame")) is None:
                    result = "duplicate"
                else:
                    uow.commit()
                    result = "stored"
        except Exception as exc:  # surfaced in the assertion below
            result = f"error {type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # On SQLite a commit may lose the race at commit time rather than at insert time; both are
    # the constraint refusing the copy, which is what matters: one row, no other errors.
    assert outcomes.count("stored") == 1, outcomes
    assert all(o in ("stored", "duplicate") or "IntegrityError" in o for o in outcomes), outcomes
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Message)) == 1
        assert uow.session.scalar(select(func.count()).select_from(Contact)) == 1


def test_erase_removes_every_row_about_the_contact(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        keep = _contact(uow, "keep")
        gone = _contact(uow, "gone")
        for contact in (keep, gone):
            m = uow.messages.add(_inbound(contact.id, f"SM{contact.wa_id}"))
            out = uow.messages.add(Message(contact_id=contact.id, direction="out", body="ok",
                                           status="twiml", reply_to_id=m.id))
            uow.model_calls.add_all([ModelCallRow(message_id=out.id, provider="offline",
                                                  model="kb", mode="offline", outcome="ok",
                                                  latency_ms=1.0)])
            event = uow.safety_events.add(SafetyEvent(contact_id=contact.id, message_id=m.id,
                                                      kind="emergency"))
            uow.alerts.add(Alert(contact_id=contact.id, safety_event_id=event.id,
                                 channel="webhook"))
        uow.commit()
        gone_id = gone.id
    with uow_factory() as uow:
        contact = uow.contacts.get(gone_id)
        assert contact is not None
        uow.contacts.erase(contact)
        uow.commit()
    with uow_factory() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        for model in (Message, SafetyEvent, Alert):
            rows = s.scalars(select(model)).all()
            assert rows and all(r.contact_id != gone_id for r in rows)
        assert s.scalar(select(func.count()).select_from(ModelCallRow)) == 1


def test_recent_returns_oldest_first_and_respects_before(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        contact = _contact(uow, "9")
        ids = [uow.messages.add(_inbound(contact.id, f"SM{i}", f"m{i}")).id
               for i in range(6)]
        uow.commit()
        recent = uow.messages.recent(contact.id, limit=3, before_id=ids[5])
    assert [m.body for m in recent] == ["m2", "m3", "m4"]


def test_timestamps_come_back_timezone_aware(uow_factory) -> None:  # type: ignore[no-untyped-def]
    with uow_factory() as uow:
        _contact(uow, "tz")
        uow.commit()
    with uow_factory() as uow:
        found = uow.contacts.by_wa_id("tz")
        assert found is not None and found.created_at.tzinfo is not None

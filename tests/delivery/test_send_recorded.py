"""Record first, then send: nothing lost, nothing twice, unknown outcomes reconciled."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from bot.outbound import OutsideWindow, SendFailed, Template, record_outbound, send_recorded
from bot.store.models import Contact, Message, utcnow
from tests.delivery.conftest import Store
from tests.delivery.delivery_fakes import FakeMessenger, NoLookupMessenger

_numbers = itertools.count(1)
CALLBACK = "https://bot.example.org/twilio/status"


class WorkerDied(Exception):
    """Stands for a worker killed between Twilio's acceptance and our commit of the SID."""


def contact_with_rows(store: Store, *bodies: str, last_inbound: dt.timedelta = dt.timedelta(0),
                      key: str | None = None) -> tuple[int, list[int]]:
    with store.uow() as uow:
        wa_id = f"2547{next(_numbers):08d}"  # the module's tests share one database
        contact = Contact(wa_id=wa_id, phone=f"whatsapp:+{wa_id}",
                          last_inbound_at=utcnow() - last_inbound)
        uow.session.add(contact)
        uow.flush()
        rows = []
        for index, body in enumerate(bodies):
            rows += record_outbound(uow, contact, body,
                                    idempotency_key=f"{key or wa_id}-{index}")
        uow.commit()
        return contact.id, [r.id for r in rows]


def rows(store: Store, ids: list[int]) -> list[Message]:
    with store.uow() as uow:
        found = {m.id: m for m in uow.session.scalars(select(Message).where(Message.id.in_(ids)))}
        return [found[i] for i in ids]


def send(store: Store, messenger: FakeMessenger, ids: list[int], **kwargs: object) -> list[str]:
    return send_recorded(store.uow, messenger, ids, status_callback=CALLBACK, **kwargs)  # type: ignore[arg-type]


def test_rows_are_sent_in_order_once_and_keep_their_sids(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "first", "second", "third")
    messenger = FakeMessenger()
    sids = send(store, messenger, ids)
    assert messenger.bodies() == ["first", "second", "third"]
    assert [r.twilio_sid for r in rows(store, ids)] == sids
    assert {r.status for r in rows(store, ids)} == {"queued"}
    assert all(s.status_callback == CALLBACK for s in messenger.sent)
    # A retried job sends nothing again and reports the same SIDs.
    assert send(store, messenger, ids) == sids
    assert len(messenger.sent) == 3


def test_a_worker_dying_after_twilio_accepted_is_reconciled_not_resent(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "one", "two")
    messenger = FakeMessenger()

    def die_on_second(sent: object) -> None:
        if len(messenger.sent) == 2:
            raise WorkerDied

    messenger.after_accept = die_on_second
    with pytest.raises(WorkerDied):
        send(store, messenger, ids)
    first, second = rows(store, ids)
    assert first.twilio_sid is not None
    assert second.status == "sending" and second.twilio_sid is None  # outcome unknown
    messenger.after_accept = None
    sids = send(store, messenger, ids)
    assert len(messenger.sent) == 2, "the reconciled bubble must not be sent twice"
    assert messenger.lookups == 1
    second = rows(store, ids)[1]
    assert second.twilio_sid == messenger.sent[1].sid == sids[1]
    assert second.extra.get("reconciled") is True


def test_an_unknown_outcome_that_twilio_never_got_is_sent_after_the_lookup(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "lost on the wire")
    with store.uow() as uow:
        row = uow.messages.get(ids[0])
        assert row is not None
        row.status = "sending"
        row.extra = {"send_started_at": utcnow().isoformat()}
        uow.commit()
    messenger = FakeMessenger()
    send(store, messenger, ids)
    assert messenger.lookups == 1 and messenger.bodies() == ["lost on the wire"]


def test_identical_bodies_never_share_a_sid(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "OK", "OK")
    messenger = FakeMessenger()
    messenger.after_accept = lambda sent: (_ for _ in ()).throw(WorkerDied) if len(
        messenger.sent) == 2 else None
    with pytest.raises(WorkerDied):
        send(store, messenger, ids)
    messenger.after_accept = None
    send(store, messenger, ids)
    first, second = rows(store, ids)
    assert len(messenger.sent) == 2
    assert {first.twilio_sid, second.twilio_sid} == {s.sid for s in messenger.sent}


def test_without_a_lookup_an_unknown_outcome_is_sent_again(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "maybe sent")
    with store.uow() as uow:
        row = uow.messages.get(ids[0])
        assert row is not None
        row.status = "sending"
        uow.commit()
    messenger = NoLookupMessenger()
    send(store, messenger, ids)  # at-least-once: a duplicate beats a lost health message
    assert messenger.bodies() == ["maybe sent"]


def test_a_final_refusal_fails_the_row_and_cancels_the_rest(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "a", "b", "c")
    messenger = FakeMessenger()
    messenger.failures = [SendFailed("too long", code=21617, retryable=False)]
    with pytest.raises(SendFailed):
        send(store, messenger, ids)
    a, b, c = rows(store, ids)
    assert (a.status, a.error_code) == ("failed", "21617")
    assert b.status == c.status == "canceled"
    assert send(store, messenger, ids) == []  # nothing trickles out on a retry
    assert messenger.sent == []


def test_unsubscribed_recipient_is_marked_opted_out(store: Store) -> None:
    cid, ids = contact_with_rows(store, "hello")
    messenger = FakeMessenger()
    messenger.failures = [SendFailed("unsubscribed", code=21610, retryable=False)]
    with pytest.raises(SendFailed):
        send(store, messenger, ids)
    with store.uow() as uow:
        contact = uow.contacts.get(cid)
        assert contact is not None and contact.opted_out and contact.opted_out_at is not None


def test_a_rate_limit_leaves_the_row_pending_for_the_retry(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "later")
    messenger = FakeMessenger()
    messenger.failures = [SendFailed("slow down", code=63018, retryable=True, retry_after=3)]
    with pytest.raises(SendFailed):
        send(store, messenger, ids)
    row = rows(store, ids)[0]
    assert (row.status, row.error_code, row.twilio_sid) == ("pending", "63018", None)
    send(store, messenger, ids)
    assert messenger.bodies() == ["later"] and messenger.lookups == 0


def test_outside_the_window_free_text_is_refused_before_twilio(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "late answer", "second bubble",
                                  last_inbound=dt.timedelta(hours=25))
    messenger = FakeMessenger()
    with pytest.raises(OutsideWindow):
        send(store, messenger, ids)
    first, second = rows(store, ids)
    assert (first.status, first.error_code) == ("failed", "63016")
    assert second.status == "canceled"
    assert messenger.sent == []


def test_outside_the_window_a_configured_template_is_sent(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "late answer", last_inbound=dt.timedelta(hours=30))
    messenger = FakeMessenger()
    sid = "HX" + "a" * 32
    send(store, messenger, ids,
         template_for=lambda row: Template(sid, {"1": row.body}))
    assert messenger.sent[0].template == Template(sid, {"1": "late answer"})
    assert rows(store, ids)[0].extra["sent_as"] == "template"


def test_a_template_sent_before_a_crash_is_reconciled_by_its_text(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "your test results are ready",
                                  last_inbound=dt.timedelta(hours=30))
    messenger = FakeMessenger()
    template = Template("HX" + "a" * 32, {"1": "your test results are ready"})

    def die(sent: object) -> None:
        raise WorkerDied

    messenger.after_accept = die
    with pytest.raises(WorkerDied):
        send(store, messenger, ids, template_for=lambda row: template)
    messenger.after_accept = None
    send(store, messenger, ids, template_for=lambda row: template)
    assert len(messenger.sent) == 1
    assert rows(store, ids)[0].twilio_sid == messenger.sent[0].sid


def test_a_send_check_cancels_with_the_reason(store: Store) -> None:
    _cid, ids = contact_with_rows(store, "not for them any more")
    messenger = FakeMessenger()
    send(store, messenger, ids, may_send=lambda contact, row: "opted_out")
    row = rows(store, ids)[0]
    assert row.status == "canceled" and row.extra["not_sent"] == "opted_out"
    assert messenger.sent == []

"""Staff alerts are claimed with a conditional UPDATE: many workers, one send per alert."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time

from bot.alerts import CLAIM_LEASE, StaffAlerts
from bot.ports import StaffAlert
from bot.store.models import Alert, Contact, utcnow
from tests.delivery.conftest import Store

_numbers = itertools.count(1)


class CountingAlerter:
    name = "webhook"

    def __init__(self, delay_s: float = 0.05) -> None:
        self.sent: list[StaffAlert] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def send(self, alert: StaffAlert) -> None:
        time.sleep(self.delay_s)  # long enough for the other workers to try the same alert
        with self._lock:
            self.sent.append(alert)


def make_alert(store: Store, **fields: object) -> int:
    with store.uow() as uow:
        wa_id = f"1555{next(_numbers):07d}"  # the module's tests share one database
        contact = Contact(wa_id=wa_id, phone=f"whatsapp:+{wa_id}")
        uow.session.add(contact)
        uow.flush()
        payload = {"contact_id": contact.id, "phone": contact.phone, "level": "emergency",
                   "rule_ids": [], "excerpt": "chest pain", "reason": "emergency"}
        alert = uow.alerts.add(Alert(contact_id=contact.id, channel="webhook", payload=payload,
                                     **fields))
        uow.commit()
        return alert.id


def test_eight_workers_delivering_one_alert_send_it_once(store: Store) -> None:
    alert_id = make_alert(store)
    alerter = CountingAlerter()
    workers = [StaffAlerts([alerter], store.uow) for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(alerts: StaffAlerts) -> None:
        barrier.wait()
        try:
            alerts.deliver([alert_id])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(alerter.sent) == 1
    with store.uow() as uow:
        alert = uow.session.get(Alert, alert_id)
        assert alert is not None and (alert.status, alert.attempts) == ("sent", 1)


def test_retry_due_and_dispatch_racing_send_once(store: Store) -> None:
    alert_id = make_alert(store)
    alerter = CountingAlerter()
    first, second = StaffAlerts([alerter], store.uow), StaffAlerts([alerter], store.uow)
    threads = [threading.Thread(target=first.deliver, args=([alert_id],)),
               threading.Thread(target=second.retry_due)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(alerter.sent) == 1


def test_a_lease_held_by_a_dead_worker_expires(store: Store) -> None:
    # A worker claimed the alert (lease until now + CLAIM_LEASE) and died before sending.
    alert_id = make_alert(store, next_attempt_at=utcnow() + CLAIM_LEASE)
    alerter = CountingAlerter(delay_s=0)
    StaffAlerts([alerter], store.uow).retry_due()
    assert alerter.sent == []  # the lease still holds
    later = StaffAlerts([alerter], store.uow,
                        clock=lambda: utcnow() + CLAIM_LEASE + dt.timedelta(seconds=1))
    later.retry_due()
    assert [a.contact_id for a in alerter.sent] == [contact_of(store, alert_id)]


def contact_of(store: Store, alert_id: int) -> int:
    with store.uow() as uow:
        alert = uow.session.get(Alert, alert_id)
        assert alert is not None
        return alert.contact_id

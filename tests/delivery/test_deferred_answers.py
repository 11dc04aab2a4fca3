"""The webhook with a slow model: answer at once, send the model's answer later, in order.

Runs the real app (SQLite, the embedded default) with the in-process executor, a slow fake chat
model and a recording messenger; Redis + PostgreSQL are in test_rq_end_to_end.py. One app serves
the module: each test writes from its own phone number.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import safety
from bot import i18n, jobs
from bot.outbound import OutsideWindow, SendFailed
from bot.store.models import Contact, Message, SafetyEvent
from tests.delivery.delivery_fakes import FakeMessenger, RecordingExecutor, SlowModel
from tests.helpers import make_settings, signed_post, twilio_form

_numbers = itertools.count(1)


def bubbles(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    root = ET.fromstring(response.get_data(as_text=True))
    return [m.text or "" for m in root.iter("Message")]


@dataclass
class Stack:
    app: Any
    model: SlowModel
    messenger: FakeMessenger

    @property
    def services(self) -> Any:
        return self.app.extensions["bot"]

    def settle(self) -> None:
        assert self.services.tasks.wait_idle(15), "the queued jobs did not finish"

    @contextmanager
    def by_hand(self) -> Iterator[None]:
        """Queue nothing for the threads: the test runs the jobs itself."""
        threads = self.services.tasks
        self.services.tasks = RecordingExecutor()
        try:
            yield
        finally:
            self.services.tasks = threads


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded default: SQLite and the in-process executor (Redis + PostgreSQL: rq tests)."""
    from bot.app import create_app

    model, messenger = SlowModel(), FakeMessenger()
    settings = make_settings(tmp_path_factory.mktemp("deferred"), None,
                             HEALTHBOT_MODEL="openai/slow-model",
                             TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    app = create_app(settings, chat_model=model, messenger=messenger, upgrade_db=True)
    app.config["TESTING"] = True
    yield Stack(app, model, messenger)
    app.extensions["bot"].close()


@pytest.fixture
def me(stack: Stack) -> str:
    """A phone number no other test uses; the fakes start each test plain."""
    stack.model.reset()
    stack.messenger.failures.clear()
    return f"whatsapp:+25471{next(_numbers):07d}"


def outbound(stack: Stack, sender: str) -> list[Message]:
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        assert contact is not None
        return list(uow.session.scalars(
            select(Message).where(Message.direction == "out", Message.contact_id == contact.id)
            .order_by(Message.id)))


def queued_answers(stack: Stack, sender: str) -> list[Message]:
    return [m for m in outbound(stack, sender) if m.idempotency_key]


def last_inbound_id(stack: Stack, sender: str) -> int:
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        assert contact is not None
        return int(uow.session.scalars(
            select(Message.id).where(Message.direction == "in", Message.contact_id == contact.id)
            .order_by(Message.id.desc())).first() or 0)


def answers_sent(stack: Stack, sender: str) -> list[str]:
    return [b for b in stack.messenger.bodies(sender) if b.startswith("Answer about")]


def test_webhook_answers_at_once_while_the_model_is_slow(stack: Stack, me: str) -> None:
    stack.model.delay_s = 1.0
    client = stack.app.test_client()
    safety.assess("warm up")  # the rules compile once per process, on first use
    started = time.monotonic()
    replies = bubbles(signed_post(client, twilio_form("How do I treat a mild fever?", sender=me)))
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, f"the webhook took {elapsed:.2f} s while the model takes 1 s"
    assert "STOP" in replies[0]  # the welcome goes out in the TwiML
    assert replies[-1] == i18n.t("answer_pending", "en")
    assert stack.messenger.bodies(me) == []
    stack.settle()
    sent = [s for s in stack.messenger.sent if s.to == me]
    assert sent and "[How do I treat a mild fever?]" in (sent[0].body or "")
    assert sent[0].status_callback == "https://bot.example.org/twilio/status"
    rows = queued_answers(stack, me)
    assert [m.twilio_sid for m in rows] == [s.sid for s in sent]
    assert all(m.status == "queued" and m.model == "fake/slow" for m in rows)


def test_one_contacts_answers_go_out_in_the_order_they_wrote(stack: Stack, me: str) -> None:
    # The first question is the slowest: without a per-contact order it would be answered last.
    stack.model.delays = {"question one": 0.4, "question two": 0.15, "question three": 0.0}
    client = stack.app.test_client()
    for text in ("question one", "question two", "question three"):
        signed_post(client, twilio_form(text, sender=me))
    other = f"whatsapp:+55119{next(_numbers):07d}"
    signed_post(client, twilio_form("question four", sender=other))
    stack.settle()
    assert [b.split("]")[0] for b in answers_sent(stack, me)] == [
        "Answer about [question one", "Answer about [question two", "Answer about [question three"]
    assert answers_sent(stack, other)[0].startswith("Answer about [question four")


def test_an_emergency_is_still_answered_in_the_twiml(stack: Stack, me: str) -> None:
    calls = len(stack.model.calls)
    replies = bubbles(signed_post(stack.app.test_client(), twilio_form(
        "my father has crushing chest pain and is sweating", sender=me)))
    assert "emergency" in replies[0].lower()  # the fixed text, first, in the TwiML
    assert i18n.t("answer_pending", "en") not in replies
    stack.settle()
    assert len(stack.model.calls) == calls and stack.messenger.bodies(me) == []


def test_no_answer_is_sent_after_stop(stack: Stack, me: str) -> None:
    stack.model.delay_s = 0.4
    client = stack.app.test_client()
    signed_post(client, twilio_form("what helps a sore throat?", sender=me))
    signed_post(client, twilio_form("STOP", sender=me))  # arrives while the model is thinking
    stack.settle()
    assert answers_sent(stack, me) == []
    answers = queued_answers(stack, me)
    assert answers and {m.status for m in answers} == {"canceled"}
    assert {m.extra["not_sent"] for m in answers} == {"opted_out"}


def test_no_answer_is_sent_once_staff_have_the_conversation(stack: Stack, me: str) -> None:
    stack.model.delay_s = 0.4
    client = stack.app.test_client()
    signed_post(client, twilio_form("what helps a sore throat?", sender=me))
    signed_post(client, twilio_form("HUMAN", sender=me))
    stack.settle()
    assert answers_sent(stack, me) == []
    assert {m.extra["not_sent"] for m in queued_answers(stack, me)} == {"contact_needs_human"}


def test_a_job_blocked_before_the_model_costs_nothing(stack: Stack, me: str) -> None:
    with stack.by_hand():
        signed_post(stack.app.test_client(), twilio_form("a question about ORS", sender=me))
        inbound = last_inbound_id(stack, me)
        with stack.services.uow() as uow:
            contact = uow.contacts.by_wa_id(me.removeprefix("whatsapp:+"))
            contact.opted_out = True
            uow.commit()
        assert jobs.answer(stack.services, inbound) == "opted_out"
    assert "a question about ORS" not in stack.model.calls


def test_an_erased_contact_gets_nothing(stack: Stack, me: str) -> None:
    with stack.by_hand():
        signed_post(stack.app.test_client(), twilio_form("a question, then erased", sender=me))
        inbound = last_inbound_id(stack, me)
        with stack.services.uow() as uow:
            uow.contacts.erase(uow.contacts.by_wa_id(me.removeprefix("whatsapp:+")))
            uow.commit()
        assert jobs.answer(stack.services, inbound) == "erased"
    assert stack.messenger.bodies(me) == []


def test_a_retried_answer_job_neither_asks_the_model_nor_sends_again(
    stack: Stack, me: str
) -> None:
    signed_post(stack.app.test_client(), twilio_form("what helps a cough?", sender=me))
    stack.settle()
    sent = len(stack.messenger.bodies(me))
    jobs.answer(stack.services, last_inbound_id(stack, me))  # the job, run a second time
    assert stack.model.calls.count("what helps a cough?") == 1
    assert len(stack.messenger.bodies(me)) == sent


def age(stack: Stack, sender: str, hours: float) -> None:
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        contact.last_inbound_at = contact.last_inbound_at - dt.timedelta(hours=hours)
        uow.commit()


def test_outside_the_window_the_answer_is_refused_not_sent(stack: Stack, me: str) -> None:
    with stack.by_hand():
        signed_post(stack.app.test_client(), twilio_form("a question asked long ago", sender=me))
        age(stack, me, 25)
        jobs.answer(stack.services, last_inbound_id(stack, me))
    assert stack.messenger.bodies(me) == []
    first = queued_answers(stack, me)[0]
    assert (first.status, first.error_code) == ("failed", "63016")


def test_outside_the_window_the_answer_template_is_used(stack: Stack, me: str) -> None:
    sid = "HX" + "1234abcd" * 4
    settings = stack.services.settings
    with stack.by_hand():
        signed_post(stack.app.test_client(), twilio_form("asked before the night", sender=me))
        age(stack, me, 30)
        settings.template_answer = sid
        try:
            jobs.answer(stack.services, last_inbound_id(stack, me))
        finally:
            settings.template_answer = None
    sent = [s for s in stack.messenger.sent if s.to == me]
    assert sent and all(s.template is not None and s.template.content_sid == sid for s in sent)
    assert sent[0].template is not None
    assert "[asked before the night]" in sent[0].template.variables["1"]


def test_a_refused_emergency_text_alerts_staff(stack: Stack, me: str) -> None:
    """The model escalates to an emergency; Twilio refuses the text for good: staff are told."""
    stack.model.urgency = "emergency"
    stack.messenger.failures.append(SendFailed("blocked", code=63016, retryable=False))
    with stack.by_hand():
        signed_post(stack.app.test_client(), twilio_form("I feel a bit strange today",
                                                         sender=me))
        jobs.answer(stack.services, last_inbound_id(stack, me))
        with stack.services.uow() as uow:
            contact = uow.contacts.by_wa_id(me.removeprefix("whatsapp:+"))
            kinds = [e.kind for e in uow.session.scalars(
                select(SafetyEvent).where(SafetyEvent.contact_id == contact.id))]
    assert "delivery_failed" in kinds


def test_the_offline_model_still_answers_inline(tmp_path: Path) -> None:
    from bot.app import create_app

    messenger = FakeMessenger()
    app = create_app(make_settings(tmp_path, None, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886"),
                     messenger=messenger, upgrade_db=True, background=True)
    try:
        replies = bubbles(signed_post(app.test_client(),
                                      twilio_form("How do I make oral rehydration solution?")))
        assert "salt" in "\n".join(replies).lower()
        assert i18n.t("answer_pending", "en") not in replies
        app.extensions["bot"].tasks.wait_idle(5)
        assert messenger.sent == []
        with app.extensions["bot"].uow() as uow:
            assert uow.session.scalars(select(Contact)).one().last_inbound_at is not None
    finally:
        app.extensions["bot"].close()


def contact_id(stack: Stack, sender: str) -> int:
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        assert contact is not None
        return int(contact.id)


def test_a_queued_staff_reply_goes_out_from_a_job(stack: Stack, me: str) -> None:
    signed_post(stack.app.test_client(), twilio_form("HUMAN", sender=me))
    ids = stack.services.queue_text(contact_id(stack, me), "Hello, this is nurse Joy.",
                                    key=f"staff-{me}-1", mode="staff")
    stack.settle()
    assert "Hello, this is nurse Joy." in stack.messenger.bodies(me)
    assert [m.status for m in outbound(stack, me) if m.id in ids] == ["queued"]


def test_a_staff_reply_outside_the_window_is_refused_without_a_template(
    stack: Stack, me: str
) -> None:
    signed_post(stack.app.test_client(), twilio_form("HUMAN", sender=me))
    age(stack, me, 25)
    with pytest.raises(OutsideWindow):
        stack.services.queue_text(contact_id(stack, me), "Are you still there?", key=f"q-{me}")
    with pytest.raises(OutsideWindow):
        stack.services.send_text(contact_id(stack, me), "Are you still there?", key=f"s-{me}")
    assert "Are you still there?" not in stack.messenger.bodies(me)


def test_a_staff_reply_outside_the_window_uses_the_staff_template(stack: Stack, me: str) -> None:
    sid = "HX" + "abcd1234" * 4
    signed_post(stack.app.test_client(), twilio_form("HUMAN", sender=me))
    age(stack, me, 25)
    stack.services.settings.template_staff_reply = sid
    try:
        stack.services.send_text(contact_id(stack, me), "Are you still there?", key=f"t-{me}")
    finally:
        stack.services.settings.template_staff_reply = None
    (sent,) = [s for s in stack.messenger.sent if s.to == me and s.template is not None]
    assert sent.template is not None and sent.template.content_sid == sid
    assert sent.template.variables == {"1": "Are you still there?"}


class QueueDown(RecordingExecutor):
    """Redis is unreachable: nothing can be queued."""

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str:
        raise ConnectionError("Redis is down")


def test_when_the_queue_is_down_the_answer_is_worked_out_in_process(stack: Stack, me: str) -> None:
    threads = stack.services.tasks
    stack.services.tasks = QueueDown()
    try:
        replies = bubbles(signed_post(stack.app.test_client(),
                                      twilio_form("is honey good for a cough?", sender=me)))
    finally:
        stack.services.tasks = threads
    assert replies[-1] == i18n.t("answer_pending", "en")
    assert stack.services.local_tasks is not None
    assert stack.services.local_tasks.wait_idle(10)
    assert [b.split("]")[0] for b in answers_sent(stack, me)] == [
        "Answer about [is honey good for a cough?"]


def test_when_the_queue_is_down_an_emergency_still_alerts_staff(stack: Stack, me: str) -> None:
    from bot.store.models import Alert
    from tests.delivery.test_alert_claims import CountingAlerter

    alerts, pager = stack.services.alerts, CountingAlerter(delay_s=0)
    previous, alerts.alerters = alerts.alerters, {"webhook": pager}
    threads = stack.services.tasks
    stack.services.tasks = QueueDown()
    try:
        replies = bubbles(signed_post(stack.app.test_client(), twilio_form(
            "my father has crushing chest pain and is sweating", sender=me)))
        assert "emergency" in replies[0].lower()
        with stack.services.uow() as uow:
            ids = [a.id for a in uow.session.scalars(
                select(Alert).where(Alert.contact_id == contact_id(stack, me)))]
        deadline = time.monotonic() + 5
        while not pager.sent and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stack.services.tasks = threads
        alerts.alerters = previous
    assert ids and [a.contact_id for a in pager.sent] == [contact_id(stack, me)]


def test_a_red_flag_only_the_second_opinion_sees_is_answered_by_the_job(
    stack: Stack, me: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued, the webhook runs the rules only; the job's second opinion escalates at once."""
    from safety import RuleHit, TriageLevel

    text = "he went a strange grey colour and just slumped over the table"
    assert not safety.assess(text, sender=me).is_emergency  # the rules alone miss it
    asked: list[str] = []

    def second_opinion(message: str, language: str) -> list[RuleHit]:
        asked.append(message)
        return [RuleHit("semantic:collapse", TriageLevel.EMERGENCY, "collapse", language,
                        message[:40])]

    monkeypatch.setattr(stack.services.understanding, "second_opinion", second_opinion)
    calls = len(stack.model.calls)
    with stack.by_hand():
        replies = bubbles(signed_post(stack.app.test_client(), twilio_form(text, sender=me)))
        assert asked == []  # no encoder in the webhook: store, commands, rules, enqueue
        assert replies[-1] == i18n.t("answer_pending", "en")
        jobs.answer(stack.services, last_inbound_id(stack, me))
    assert asked == [text]
    sent = stack.messenger.bodies(me)
    assert sent and "emergency" in sent[0].lower()  # the fixed text, through Twilio REST
    assert len(stack.model.calls) == calls  # no model for an emergency
    with stack.services.uow() as uow:
        events = list(uow.session.scalars(select(SafetyEvent).where(
            SafetyEvent.contact_id == contact_id(stack, me))))
    assert [(e.kind, e.status, e.rule_ids) for e in events] == [
        ("emergency", "open", ["semantic:collapse"])]

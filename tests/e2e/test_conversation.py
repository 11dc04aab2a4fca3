"""A conversation over the webhook: small talk, follow-ups and the episode rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.store.models import Message, SafetyEvent
from tests.helpers import signed_post, twilio_form

KENYA = "whatsapp:+254712345678"
BRAZIL = "whatsapp:+5511987654321"


def say(client: Any, text: str, sender: str = KENYA) -> str:
    response = signed_post(client, twilio_form(text, sender=sender))
    assert response.status_code == 200, response.get_data(as_text=True)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(response.get_data(as_text=True))
    return "\n\n".join(m.text or "" for m in root.iter("Message"))


def last_answer(app: Any) -> Message:
    with app.extensions["bot"].uow() as uow:
        return uow.session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.id.desc())
        ).first()


def test_small_talk_gets_a_short_warm_reply_never_a_card(client: Any) -> None:
    first = say(client, "hi")
    assert "STOP" in first  # first contact: the welcome says who we are
    for text, expected in [
        ("hello", "health questions"),
        ("ok thanks!", "welcome"),
        ("👍", "just write"),
        ("are you a real doctor?", "not a doctor"),
    ]:
        reply = say(client, text)
        assert expected in reply.lower(), (text, reply)
        assert "reliable information" not in reply  # never the "I don't know" card
        assert "Source" not in reply


def test_small_talk_is_answered_in_the_language_of_its_words(client: Any) -> None:
    say(client, "bom dia", sender=BRAZIL)  # welcome, in Portuguese
    reply = say(client, "obrigado", sender=BRAZIL)
    assert "Você" in reply or "você" in reply or "De nada" in reply, reply


def test_a_follow_up_is_read_with_the_question_before_it(app: Any, client: Any) -> None:
    say(client, "hello")
    first = say(client, "my 3 year old son has a fever of 38.5, what should I do?")
    fever_card = last_answer(app).passage_ids
    assert fever_card and fever_card[0].startswith(("fever_children", "medicines")), fever_card
    follow = say(client, "how much paracetamol can I give him?")
    answer = last_answer(app)
    assert answer.passage_ids == ["medicines.paracetamol_children"], answer.passage_ids
    assert follow != first


def test_the_card_just_sent_is_not_sent_again_for_another_question(app: Any,
                                                                    client: Any) -> None:
    say(client, "hello")
    first = say(client, "how do I make ORS at home?")
    assert last_answer(app).passage_ids == ["diarrhoea_ors.make_ors"]
    again = say(client, "and how much of it should I give?")
    # The answer is in the passage just sent: only its part about amounts comes back, not the
    # whole card word for word.
    assert again != first
    assert "loose stool" in again and "1 litre" not in again
    asked_again = say(client, "how do I prepare oral rehydration solution at home?")
    # The same question again in other words: not the same card again.
    assert (last_answer(app).passage_ids != ["diarrhoea_ors.make_ors"]
            or "last answer" in asked_again), asked_again


def test_a_follow_up_in_an_emergency_keeps_the_emergency_level(app: Any, client: Any) -> None:
    say(client, "hello")
    emergency = say(client, "my husband has crushing chest pain and is sweating")
    assert "999" in emergency or "112" in emergency
    calm = say(client, "it's probably just gas, right? my mum says so")
    assert "999" in calm or "112" in calm, calm
    with app.extensions["bot"].uow() as uow:
        inbound = uow.session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id.desc())
        ).first()
        assert inbound.triage_level == "emergency"
        assert any(r.startswith("episode:") for r in inbound.rule_ids)
        escalations = uow.session.scalars(
            select(SafetyEvent).where(SafetyEvent.kind == "emergency")
        ).all()
    assert len(escalations) == 1  # the follow-up did not open a second escalation
    thanks = say(client, "ok thanks")
    assert "999" in thanks or "112" in thanks  # still reminded where to get help


def test_the_episode_ends_when_staff_resolve_it(app: Any, client: Any) -> None:
    say(client, "hello")
    say(client, "my husband has crushing chest pain and is sweating")
    with app.extensions["bot"].uow() as uow:
        event = uow.session.scalars(
            select(SafetyEvent).where(SafetyEvent.kind == "emergency")).one()
        event.status = "resolved"
        event.resolved_at = dt.datetime.now(dt.UTC)
        uow.commit()
    reply = say(client, "how do I wash my hands properly?")
    assert "999" not in reply and "112" not in reply

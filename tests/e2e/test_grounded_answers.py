"""A remote model answers from the vetted passages; an answer they don't support is replaced."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.ports import ChatRequest
from bot.store.models import Message, SafetyEvent
from tests.helpers import make_settings, signed_post, twilio_form
from tests.llm.fakes import ScriptedModel

QUESTION = "can I give water to my 4 month old baby when it is hot?"


def _faithful(request: ChatRequest) -> str:
    passage = request.passages[0] if request.passages else None
    assert passage is not None
    lines = passage.text.splitlines()
    return f"{lines[0]}\n{lines[-1]}\n\nSource: {passage.source}"


INVENTED = ("Yes, from 3 months small sips of boiled water are fine. Gripe water helps with "
            "colic, and a little chamomile tea calms a crying infant at night.")


@pytest.fixture
def make_app(tmp_path: Path, migrated_database_url: str) -> Iterator[Any]:
    from bot.app import create_app

    built: list[Any] = []

    def build(model: ScriptedModel) -> Any:
        settings = make_settings(tmp_path, migrated_database_url,
                                 HEALTHBOT_ANSWER_DELIVERY="inline")
        app = create_app(settings, chat_model=model, upgrade_db=False, background=False)
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["bot"].close()


def _ask(app: Any, text: str) -> str:
    client = app.test_client()
    response = signed_post(client, twilio_form(text))
    assert response.status_code == 200
    root = ET.fromstring(response.get_data(as_text=True))
    return "\n\n".join(m.text or "" for m in root.iter("Message"))


def test_the_model_is_given_the_vetted_passage_and_its_faithful_answer_is_kept(
        make_app: Any) -> None:
    model = ScriptedModel("openai", "gpt-4o-mini", [_faithful])
    app = make_app(model)
    reply = _ask(app, QUESTION)
    request = model.requests[-1]
    assert request.passages and request.passages[0].id == "infant_feeding.water_under_6_months"
    assert request.passages[0].text in request.system  # the vetted content is in the prompt
    assert "Source: https://" in reply
    with app.extensions["bot"].uow() as uow:
        kinds = {e.kind for e in uow.session.scalars(select(SafetyEvent))}
        answer = uow.session.scalars(select(Message).where(Message.direction == "out")
                                     .order_by(Message.id.desc())).first()
    assert "reply_ungrounded" not in kinds
    assert answer.passage_ids == ["infant_feeding.water_under_6_months"]
    assert answer.model == "openai/gpt-4o-mini"


def test_an_answer_the_passages_do_not_support_is_replaced_by_the_passage(make_app: Any) -> None:
    app = make_app(ScriptedModel("openai", "gpt-4o-mini", [INVENTED]))
    reply = _ask(app, QUESTION)
    assert "Gripe water" not in reply and "chamomile" not in reply
    assert "6 months" in reply  # the vetted passage itself
    with app.extensions["bot"].uow() as uow:
        events = uow.session.scalars(
            select(SafetyEvent).where(SafetyEvent.kind == "reply_ungrounded")).all()
    assert len(events) == 1
    assert events[0].detail["passages"][0] == "infant_feeding.water_under_6_months"

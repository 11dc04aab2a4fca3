"""End to end: contemplating mode through the signed webhook, on a fake OpenAI-compatible server.

The real app (both backends) calls the fake provider over HTTP on 127.0.0.1. Checked: the reply is
the guarded synthesis, every perspective and the synthesis is stored as a model call with mode
"contemplate", the perspectives ran concurrently, and with the provider down the person still gets
the offline answer while every failed attempt is recorded.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.outbound import Template
from bot.store.models import Message, ModelCallRow
from safety.texts import disclaimer
from tests.helpers import make_settings, signed_post, twilio_form
from tests.models.conftest import panel_rules

PERSPECTIVE_LATENCY_S = 0.4
SYNTHESIS = "SYNTHESIS: keep the rash clean and dry, and see a health worker if it spreads."
RASH = "I have an itchy rash on my arm since yesterday"


def _bubbles(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    root = ET.fromstring(response.get_data(as_text=True))
    return [(m.findtext("Body") or m.text or "") for m in root.iter("Message")]


def _app(tmp_path: Path, database_url: str, server: FakeLLMServer, *, messenger: Any = None,
         **extra: Any) -> Any:
    from bot.app import create_app

    settings = make_settings(
        tmp_path, database_url, HEALTHBOT_MODEL="openai/fake-model",
        OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="test", HEALTHBOT_MODE="contemplate",
        **extra,
    )
    app = create_app(settings, upgrade_db=True, background=False, messenger=messenger)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(panel_rules(latency_s=PERSPECTIVE_LATENCY_S, synthesis=SYNTHESIS)) as s:
        yield s


def _rows(app: Any) -> tuple[list[Message], list[ModelCallRow]]:
    with app.extensions["bot"].sessions() as session:
        out = list(session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.id)))
        calls = list(session.scalars(select(ModelCallRow).order_by(ModelCallRow.id)))
    return out, calls


def test_contemplating_mode_through_the_webhook(
    tmp_path: Path, database_url: str, server: FakeLLMServer
) -> None:
    app = _app(tmp_path, database_url, server)
    try:
        reply = "\n\n".join(_bubbles(signed_post(app.test_client(), twilio_form(RASH))))
        out, calls = _rows(app)
    finally:
        app.extensions["bot"].close()

    # The synthesis, with the panel's red flag kept, guarded and with the disclaimer.
    assert SYNTHESIS in reply and "stiff neck" in reply
    answer = next(m for m in out if m.mode is not None)
    assert answer.mode == "contemplate" and answer.model == "openai/fake-model"
    assert disclaimer(answer.triage_level or "info", "en") in reply

    assert sorted(c.perspective or "" for c in calls) == [
        "clinician", "pharmacist", "synthesis", "triage_nurse"]
    assert {(c.provider, c.model, c.mode, c.outcome) for c in calls} == {
        ("openai", "fake-model", "contemplate", "ok")}
    assert all(c.message_id == answer.id for c in calls)
    assert all(c.cost_usd is None for c in calls)  # no price row for fake-model: unknown, not $0

    # Concurrency: each perspective call lasted at least the server's latency (as recorded),
    # and all three requests reached the server before the first of them could have finished.
    lasted = [c.latency_ms for c in calls if c.perspective != "synthesis"]
    assert min(lasted) >= PERSPECTIVE_LATENCY_S * 1000 * 0.95
    arrivals = [s.received_at for s in server.seen
                if "Role: " in s.system and "Role: synthesis" not in s.system]
    assert len(arrivals) == 3
    assert max(arrivals) - min(arrivals) < PERSPECTIVE_LATENCY_S / 2


def test_provider_down_still_answers_from_offline_and_records_the_failures(
    tmp_path: Path, database_url: str, server: FakeLLMServer
) -> None:
    server.set_rules([Rule(fault="500")])
    app = _app(tmp_path, database_url, server)
    try:
        bubbles = _bubbles(signed_post(app.test_client(), twilio_form(RASH)))
        out, calls = _rows(app)
    finally:
        app.extensions["bot"].close()

    assert bubbles and all(b.strip() for b in bubbles)
    answer = next(m for m in out if m.mode is not None)
    assert answer.mode == "fallback" and (answer.model or "").startswith("offline/")
    failed = [c for c in calls if c.outcome != "ok"]
    assert failed and {c.provider for c in failed} == {"openai"}
    assert {c.outcome for c in failed} == {"unavailable"}
    assert {c.perspective for c in failed} >= {"triage_nurse", "clinician", "pharmacist"}
    assert calls[-1].provider == "offline" and calls[-1].outcome == "ok"
    assert {c.mode for c in calls} == {"fallback"}
    assert len(server.seen) == len(failed)


class _Messenger:
    """A Messenger that keeps what it sends (the deferred answer goes out through it)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._sids = itertools.count(1)

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        self.sent.append((to, body))
        return f"SM{next(self._sids):032x}", "queued"

    def send_template(
        self, to: str, template: Template, *, status_callback: str | None
    ) -> tuple[str, str]:
        raise AssertionError("inside the 24-hour window no template is needed")


def test_deferred_contemplating_answer_is_sent_through_the_messenger(
    tmp_path: Path, server: FakeLLMServer
) -> None:
    messenger = _Messenger()
    app = _app(tmp_path, f"sqlite:///{tmp_path / 'deferred.db'}", server,
               TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", messenger=messenger)
    try:
        services = app.extensions["bot"]
        # With a messenger the remote answer is queued; the in-process executor runs it at once.
        assert services.defers_answers
        signed_post(app.test_client(), twilio_form(RASH))
        _out, calls = _rows(app)
    finally:
        app.extensions["bot"].close()
    sent = "\n\n".join(body for _to, body in messenger.sent)
    assert SYNTHESIS in sent
    assert sorted(c.perspective or "" for c in calls) == [
        "clinician", "pharmacist", "synthesis", "triage_nurse"]
    assert {c.mode for c in calls} == {"contemplate"}

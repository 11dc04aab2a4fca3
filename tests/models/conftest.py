"""Fixtures for the model-wiring tests: the knowledge base, a fake LLM server, settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.config import Settings
from bot.knowledge import KnowledgeBase

SYMPTOMS = "I have had a fever and a bad headache since yesterday"


def opinion(urgency: str, red_flags: list[str] | None = None, warnings: list[str] | None = None,
            ) -> str:
    """A perspective's JSON answer."""
    return json.dumps(
        {
            "urgency": urgency,
            "red_flags": red_flags or [],
            "key_advice": ["drink plenty of fluids"],
            "questions_to_ask": [],
            "med_warnings": warnings or [],
            "evidence_quotes": ["fever"],
        }
    )


def panel_rules(*, latency_s: float = 0.0, synthesis: str = "SYNTHESIS: rest and drink fluids.",
                single: str = "SINGLE: rest.") -> list[Rule]:
    """Rules answering each perspective, the synthesis and a plain single answer."""
    return [
        Rule(match="Role: triage_nurse", latency_s=latency_s,
             reply=opinion("routine", ["stiff neck"])),
        Rule(match="Role: clinician", latency_s=latency_s, reply=opinion("routine")),
        Rule(match="Role: pharmacist", latency_s=latency_s, reply=opinion("routine")),
        Rule(match="Role: synthesis", reply=synthesis),
        Rule(reply=single),
    ]


def model_settings(**values: Any) -> Settings:
    """Settings for the model factory only (no database, no Twilio)."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture
def fake_server() -> Iterator[FakeLLMServer]:
    """A fake OpenAI-compatible server on 127.0.0.1, stopped afterwards."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def cases_file(tmp_path: Path) -> Path:
    """A small labelled set in the eval JSONL format (safety/evaluation.py)."""
    rows = [
        # The rules say self_care; the (fake) panel says routine, which is what was expected.
        {"id": "rash", "text": "I have a rash on my arm", "label": "routine"},
        {"id": "chest", "text": "crushing chest pain spreading to my left arm and sweating",
         "label": "emergency", "language": "en"},
        {"id": "thanks", "text": "thank you", "label": "info", "acceptable_labels": ["self_care"]},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path

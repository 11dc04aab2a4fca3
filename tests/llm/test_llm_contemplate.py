"""Contemplating mode: urgency in code, red flags survive, disagreement, degradation, overlap."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.errors import ModelTimeout, ModelUnavailable
from bot.llm.contemplate import (
    CLINICIAN,
    PHARMACIST,
    TRIAGE,
    ContemplatingModel,
    Perspective,
    default_gate,
    default_perspectives,
    disagreement_sentence,
    parse_opinion,
    reflected,
)
from bot.llm.openai_compat import OpenAICompatModel
from bot.ports import ChatMessage, ChatModel, ChatRequest, ChatResponse
from safety.types import TriageLevel
from tests.llm.fakes import ScriptedModel, make_request

SYMPTOMS = "I have had a fever and a bad headache since yesterday and I take warfarin"


def opinion(urgency: str, red_flags: list[str] | None = None, med: list[str] | None = None) -> str:
    return json.dumps(
        {
            "urgency": urgency,
            "red_flags": red_flags or [],
            "key_advice": ["drink fluids"],
            "questions_to_ask": ["how high is the fever?"],
            "med_warnings": med or [],
            "evidence_quotes": ["fever and a bad headache"],
        }
    )


def panel(replies: dict[str, Any], *, delay_s: float = 0.0) -> list[Perspective]:
    """Perspectives whose models answer (or raise) from `replies`, keyed by perspective name."""
    models = {
        name: ScriptedModel(f"prov-{name}", f"model-{name}", [reply], delay_s=delay_s)
        for name, reply in replies.items()
    }
    chosen = default_perspectives(lambda name: models.get(name) or single())
    return [p for p in chosen if p.name in replies]


def synth(text: str = "Rest, drink plenty of fluids and keep an eye on it.") -> ScriptedModel:
    return ScriptedModel("prov-synth", "model-synth", [text])


def single() -> ScriptedModel:
    return ScriptedModel("prov-single", "model-single", ["single answer"])


@pytest.fixture
def contemplating() -> Iterator[list[ContemplatingModel]]:
    """Collects the models a test builds and closes their executors."""
    made: list[ContemplatingModel] = []
    yield made
    for model in made:
        model.close()


def build(made: list[ContemplatingModel], *args: Any, **kwargs: Any) -> ContemplatingModel:
    model = ContemplatingModel(*args, **kwargs)
    made.append(model)
    return model


def test_is_a_chat_model_and_returns_contemplate_mode(
    contemplating: list[ContemplatingModel],
) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: opinion("routine"),
    }
    model = build(contemplating, panel(replies), synth(), single())
    assert isinstance(model, ChatModel)
    response = model.complete(make_request(SYMPTOMS))
    assert response.mode == "contemplate"
    assert response.urgency == "routine"
    assert response.provider == "prov-synth"
    assert [c.perspective for c in response.calls] == [TRIAGE, CLINICIAN, PHARMACIST, "synthesis"]
    assert disagreement_sentence("routine", "en") not in response.text


def test_final_urgency_is_the_max_of_perspectives(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("urgent"),
        PHARMACIST: opinion("self_care"),
    }
    synthesizer = synth()
    response = build(contemplating, panel(replies), synthesizer, single()).complete(
        make_request(SYMPTOMS)
    )
    assert response.urgency == "urgent"
    assert "Urgency is 'urgent'" in synthesizer.requests[0].system


def test_final_urgency_includes_the_rules_triage_level(
    contemplating: list[ContemplatingModel],
) -> None:
    replies = {
        TRIAGE: opinion("self_care"),
        CLINICIAN: opinion("self_care"),
        PHARMACIST: opinion("info"),
    }
    response = build(contemplating, panel(replies), synth(), single()).complete(
        make_request(SYMPTOMS, triage_level="emergency")
    )
    assert response.urgency == TriageLevel.EMERGENCY.value
    assert disagreement_sentence("emergency", "en") in response.text


def test_red_flags_and_med_warnings_survive_the_synthesis(
    contemplating: list[ContemplatingModel],
) -> None:
    replies = {
        TRIAGE: opinion("urgent", ["stiff neck", "confusion or drowsiness"]),
        CLINICIAN: opinion("urgent", ["a rash that does not fade under a glass"]),
        PHARMACIST: opinion("urgent", [], ["avoid ibuprofen and aspirin with warfarin"]),
    }
    synthesizer = synth("Please see a doctor today. Get help at once if you get a stiff neck.")
    response = build(contemplating, panel(replies), synthesizer, single()).complete(
        make_request(SYMPTOMS)
    )
    text = response.text
    assert text.startswith("Please see a doctor today.")
    assert text.count("stiff neck") == 1  # already there: not appended again
    assert "• confusion or drowsiness" in text
    assert "• a rash that does not fade under a glass" in text
    assert "• avoid ibuprofen and aspirin with warfarin" in text
    assert set(response.red_flags) == {
        "stiff neck",
        "confusion or drowsiness",
        "a rash that does not fade under a glass",
    }
    assert response.warnings == ("avoid ibuprofen and aspirin with warfarin",)
    system = synthesizer.requests[0].system
    assert "stiff neck" in system and "avoid ibuprofen" in system


def test_disagreement_sentence_is_appended_once(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("urgent"),
        PHARMACIST: opinion("routine"),
    }
    sentence = disagreement_sentence("urgent", "es")
    response = build(contemplating, panel(replies), synth("Descansa."), single()).complete(
        make_request(SYMPTOMS, language="es")
    )
    assert response.text.endswith(sentence)
    echoed = build(contemplating, panel(replies), synth(f"Descansa. {sentence}"), single())
    assert echoed.complete(make_request(SYMPTOMS, language="es")).text.count(sentence) == 1


def test_one_perspective_missing_proceeds_and_tells_the_synthesis(
    contemplating: list[ContemplatingModel],
) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: ModelTimeout("pharmacist model timed out"),
    }
    synthesizer, fallback = synth(), single()
    response = build(contemplating, panel(replies), synthesizer, fallback).complete(
        make_request(SYMPTOMS)
    )
    assert response.mode == "contemplate" and fallback.calls == 0
    assert "medication interactions were not checked" in synthesizer.requests[0].system
    outcomes = {(c.perspective, c.outcome) for c in response.calls}
    assert (PHARMACIST, "timeout") in outcomes and ("synthesis", "ok") in outcomes


def test_triage_missing_falls_back_to_single(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: ModelUnavailable("down"),
        CLINICIAN: opinion("urgent", ["blood in vomit"]),
        PHARMACIST: opinion("routine"),
    }
    synthesizer, fallback = synth(), single()
    response = build(contemplating, panel(replies), synthesizer, fallback).complete(
        make_request(SYMPTOMS)
    )
    assert synthesizer.calls == 0 and fallback.calls == 1
    assert response.provider == "prov-single"
    assert response.urgency == "urgent"  # what the clinician found is not thrown away
    assert "blood in vomit" in response.text
    assert [c.perspective for c in response.calls][:3] == [TRIAGE, CLINICIAN, PHARMACIST]
    assert response.calls[-1].provider == "prov-single"


def test_only_triage_returned_falls_back_to_single(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: "I think it's probably a virus.",  # not JSON: counts as failed
        PHARMACIST: ModelUnavailable("down"),
    }
    fallback = single()
    response = build(contemplating, panel(replies), synth(), fallback).complete(
        make_request(SYMPTOMS)
    )
    assert fallback.calls == 1 and response.text.startswith("single answer")
    clinician_call = next(c for c in response.calls if c.perspective == CLINICIAN)
    assert clinician_call.outcome == "bad_response"


def test_synthesis_failure_falls_back_to_single(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: opinion("routine"),
    }
    synthesizer = ScriptedModel("prov-synth", "m", [ModelUnavailable("down")])
    fallback = single()
    response = build(contemplating, panel(replies), synthesizer, fallback).complete(
        make_request(SYMPTOMS)
    )
    assert fallback.calls == 1 and response.provider == "prov-single"
    assert ("synthesis", "unavailable") in {(c.perspective, c.outcome) for c in response.calls}


def test_gate_sends_small_talk_straight_to_single(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: opinion("routine"),
    }
    perspectives = panel(replies)
    fallback = single()
    model = build(contemplating, perspectives, synth(), fallback)
    for text in ("thanks!", "Hello", "ok 👍", "asante sana", "what time do you open?"):
        response = model.complete(make_request(text))
        assert response.text == "single answer", text
    assert all(p.model.calls == 0 for p in perspectives)  # type: ignore[attr-defined]
    assert fallback.calls == 5


@pytest.mark.parametrize(
    ("text", "level", "expected"),
    [
        ("thank you so much", "info", False),
        ("hi", "info", False),
        ("where is the clinic?", "info", False),
        ("ok", "urgent", True),  # the rules saw something: never skip the panel
        ("I have chest pain", "info", True),
        ("mi hijo tiene fiebre", "info", True),
        ("nina homa na maumivu ya kichwa", "info", True),
        ("मुझे बुखार है", "info", True),
        ("can I take ibuprofen?", "info", True),
        ("I would like to know more about how your service works and who runs it", "info", True),
    ],
)
def test_default_gate(text: str, level: str, expected: bool) -> None:
    assert default_gate(make_request(text, triage_level=level)) is expected


def test_perspective_requests_are_json_bounded_and_named(
    contemplating: list[ContemplatingModel],
) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: opinion("routine"),
    }
    perspectives = panel(replies)
    start = time.monotonic()
    build(contemplating, perspectives, synth(), single(), perspective_timeout_s=5.0).complete(
        make_request(SYMPTOMS, language="sw", deadline=start + 25.0)
    )
    for p in perspectives:
        (request,) = p.model.requests  # type: ignore[attr-defined]
        assert request.json_output and request.perspective == p.name
        assert 400 <= request.max_tokens <= 500
        assert request.system.startswith(f"Role: {p.name}.")
        assert "Swahili" in request.system
        assert request.deadline is not None and request.deadline <= start + 5.5
        assert request.messages[-1].content == SYMPTOMS


def test_nested_json_requests_are_not_contemplated(contemplating: list[ContemplatingModel]) -> None:
    fallback = single()
    perspectives = panel({TRIAGE: opinion("routine"), CLINICIAN: opinion("routine")})
    model = build(contemplating, perspectives, synth(), fallback)
    model.complete(make_request(SYMPTOMS, json_output=True, perspective="x"))
    assert fallback.calls == 1
    assert all(p.model.calls == 0 for p in perspectives)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"urgency": "urgent", "red_flags": ["stiff neck"]}\n```',
        'Here is my assessment: {"urgency": "URGENT", "red_flags": "stiff neck"} Hope it helps {',
        '{"urgency": "urgent_same_day", "red_flags": ["stiff neck", "stiff neck", {"x": 1}]}',
        '{"note": {"nested": true}} {"urgency": "urgent", "red_flags": ["stiff neck"]}',
    ],
)
def test_parse_opinion_is_robust(text: str) -> None:
    parsed = parse_opinion(text)
    assert parsed is not None
    assert parsed.urgency is TriageLevel.URGENT
    assert parsed.red_flags == ("stiff neck",)


@pytest.mark.parametrize(
    "text",
    ["", "no json here", '{"urgency": "whenever"}', '{"red_flags": []}', '{"urgency": '],
)
def test_unparseable_opinions_are_none(text: str) -> None:
    assert parse_opinion(text) is None


def test_reflected() -> None:
    reply = "If you notice stiffness in your neck or feel confused, get help immediately."
    assert reflected("stiff neck", reply)
    assert reflected("Confusion", reply)
    assert not reflected("a rash that does not fade", reply)
    assert reflected("सीने में दर्द", "अगर सीने में दर्द हो तो तुरंत मदद लें")


# ---------------------------------------------------------------------------- concurrency


class SleepyModel:
    """Sleeps for a fixed time, then answers per perspective; records real start/end times."""

    def __init__(self, name: str, delay: float, replies: dict[str, str]) -> None:
        self.provider, self.model = "sleepy", name
        self.delay, self.replies = delay, replies

    def complete(self, request: ChatRequest) -> ChatResponse:
        return ScriptedModel(
            self.provider,
            self.model,
            [self.replies.get(request.perspective or "", "synthesised reply")],
            delay_s=self.delay,
        ).complete(request)


def test_perspective_calls_overlap_in_time(contemplating: list[ContemplatingModel]) -> None:
    replies = {
        TRIAGE: opinion("routine"),
        CLINICIAN: opinion("routine"),
        PHARMACIST: opinion("routine"),
    }
    model = SleepyModel("p", 0.3, replies)
    synthesizer = SleepyModel("s", 0.1, {})
    cm = build(contemplating, default_perspectives(lambda _n: model), synthesizer, single())
    started = time.monotonic()
    response = cm.complete(make_request(SYMPTOMS))
    wall = time.monotonic() - started

    calls = [c for c in response.calls if c.perspective in (TRIAGE, CLINICIAN, PHARMACIST)]
    assert len(calls) == 3
    total_sum = sum(c.ended_at - c.started_at for c in response.calls)
    assert wall < total_sum, (wall, total_sum)
    assert wall < 0.3 + 0.1 + 0.25  # slowest + synthesis + scheduling slack, not 1.0 s
    for a, b in itertools.combinations(calls, 2):
        assert a.started_at < b.ended_at and b.started_at < a.ended_at, (a, b)
    synthesis = response.calls[-1]
    assert synthesis.started_at >= max(c.ended_at for c in calls)


class HangingModel:
    """Never answers until released (an abandoned straggler), so the test stays fast."""

    provider, model = "hang", "hang"

    def __init__(self) -> None:
        self.release = threading.Event()

    def complete(self, request: ChatRequest) -> ChatResponse:
        self.release.wait(5)
        raise ModelTimeout("released")


def test_stragglers_are_abandoned_after_the_perspective_timeout(
    contemplating: list[ContemplatingModel],
) -> None:
    hanging = HangingModel()
    fast = ScriptedModel("fast", "fast", [opinion("routine")])
    perspectives = default_perspectives(lambda n: hanging if n == PHARMACIST else fast)
    cm = build(contemplating, perspectives, synth(), single(), perspective_timeout_s=0.3)
    try:
        started = time.monotonic()
        response = cm.complete(make_request(SYMPTOMS))
        wall = time.monotonic() - started
    finally:
        hanging.release.set()
    assert 0.25 <= wall < 1.0
    assert response.mode == "contemplate"
    straggler = next(c for c in response.calls if c.perspective == PHARMACIST)
    assert straggler.outcome == "timeout" and "abandoned" in (straggler.error or "")


def test_deadline_shorter_than_perspective_timeout_bounds_the_wait(
    contemplating: list[ContemplatingModel],
) -> None:
    hanging = HangingModel()
    perspectives = default_perspectives(lambda _n: hanging)
    fallback = single()
    cm = build(contemplating, perspectives, synth(), fallback, perspective_timeout_s=12.0)
    try:
        started = time.monotonic()
        response = cm.complete(make_request(SYMPTOMS, deadline=started + 0.2))
        wall = time.monotonic() - started
    finally:
        hanging.release.set()
    assert wall < 0.8
    assert fallback.calls == 1 and response.text == "single answer"


def test_contemplating_over_http_with_the_real_adapter(
    fake_server: FakeLLMServer, http_client: httpx.Client, contemplating: list[ContemplatingModel]
) -> None:
    fake_server.set_rules(
        [
            Rule(
                match="Role: triage_nurse", latency_s=0.2, reply=opinion("routine", ["stiff neck"])
            ),
            Rule(match="Role: clinician", latency_s=0.25, reply=opinion("urgent")),
            Rule(
                match="Role: pharmacist",
                latency_s=0.3,
                reply="```json\n" + opinion("routine") + "\n```",
            ),
            Rule(match="Role: synthesis", latency_s=0.1, reply="See a doctor today."),
            Rule(reply="single"),
        ]
    )
    adapter = OpenAICompatModel(
        "fake", base_url=fake_server.base_url, api_key="k", client=http_client, provider="vllm"
    )
    cm = build(contemplating, default_perspectives(lambda _n: adapter), adapter, adapter)
    started = time.monotonic()
    response = cm.complete(make_request(SYMPTOMS, messages=(ChatMessage("user", SYMPTOMS),)))
    wall = time.monotonic() - started
    assert response.mode == "contemplate" and response.urgency == "urgent"
    assert "stiff neck" in response.text
    assert disagreement_sentence("urgent", "en") in response.text
    assert wall < 0.2 + 0.25 + 0.3 + 0.1  # less than the sequential sum
    bodies = [s.body for s in fake_server.seen]
    assert sum(1 for b in bodies if b.get("response_format")) == 3

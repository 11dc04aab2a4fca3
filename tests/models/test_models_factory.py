"""build_chat_model: providers, keys, fallbacks, contemplating mode, closers; over a fake server."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.config import ConfigError
from bot.knowledge import KnowledgeBase
from bot.llm.anthropic import AnthropicModel
from bot.llm.contemplate import ContemplatingModel
from bot.llm.factory import Abstain, build_chat_model, parse_spec
from bot.llm.gemini import GeminiModel
from bot.llm.offline import OfflineModel
from bot.llm.openai_compat import OpenAICompatModel
from bot.llm.router import Router
from bot.ports import ChatMessage, ChatModel, ChatRequest
from tests.models.conftest import SYMPTOMS, model_settings, opinion, panel_rules

SECRET = "sk-test-SECRET-9f8e7d6c5b4a"


def _build(knowledge: KnowledgeBase, **values: Any) -> tuple[ChatModel, list[Any]]:
    return build_chat_model(model_settings(**values), knowledge=knowledge)


def _close(closers: list[Any]) -> None:
    for close in reversed(closers):
        close()


def _request(text: str = SYMPTOMS, **kwargs: Any) -> ChatRequest:
    return ChatRequest(system="You are a careful health assistant.",
                       messages=(ChatMessage("user", text),), **kwargs)


def test_default_is_the_offline_model_with_nothing_to_close(knowledge: KnowledgeBase) -> None:
    model, closers = _build(knowledge)
    assert isinstance(model, OfflineModel) and closers == []


def test_openai_builds_a_router_ending_at_offline(knowledge: KnowledgeBase) -> None:
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/gpt-4o-mini",
                            OPENAI_API_KEY=SECRET)
    try:
        assert isinstance(model, Router)
        (adapter,) = model.chain
        assert isinstance(adapter, OpenAICompatModel)
        assert (adapter.provider, adapter.model) == ("openai", "gpt-4o-mini")
        assert adapter.base_url == "https://api.openai.com/v1"
        assert isinstance(model.last_resort, OfflineModel)
    finally:
        _close(closers)


@pytest.mark.parametrize(
    ("spec", "provider", "model_name", "base_url"),
    [
        ("ollama/llama3.1", "ollama", "llama3.1", "http://localhost:11434/v1"),
        ("vllm/meta-llama/Llama-3.1-8B-Instruct", "vllm", "meta-llama/Llama-3.1-8B-Instruct",
         "http://localhost:8000/v1"),
        ("llamacpp/qwen2.5", "llamacpp", "qwen2.5", "http://127.0.0.1:8080/v1"),
        ("lmstudio/phi-4", "lmstudio", "phi-4", "http://localhost:1234/v1"),
    ],
)
def test_local_servers_need_no_key_and_keep_their_provider_name(
    knowledge: KnowledgeBase, spec: str, provider: str, model_name: str, base_url: str
) -> None:
    model, closers = _build(knowledge, HEALTHBOT_MODEL=spec)
    try:
        assert isinstance(model, Router)
        (adapter,) = model.chain
        assert isinstance(adapter, OpenAICompatModel)
        assert (adapter.provider, adapter.model, adapter.base_url) == (
            provider, model_name, base_url)
    finally:
        _close(closers)


def test_openai_base_url_points_every_compatible_provider(knowledge: KnowledgeBase) -> None:
    model, closers = _build(knowledge, HEALTHBOT_MODEL="ollama/llama3.1",
                            OPENAI_BASE_URL="http://gpu-box:11434/v1")
    try:
        assert isinstance(model, Router)
        (adapter,) = model.chain
        assert isinstance(adapter, OpenAICompatModel)
        assert adapter.base_url == "http://gpu-box:11434/v1" and adapter.provider == "ollama"
    finally:
        _close(closers)


def test_openai_on_a_custom_server_needs_no_key(knowledge: KnowledgeBase) -> None:
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    _close(closers)
    assert isinstance(model, Router)


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"HEALTHBOT_MODEL": "openai/gpt-4o-mini"}, "OPENAI_API_KEY"),
        ({"HEALTHBOT_MODEL": "openrouter/anthropic/claude-sonnet-4"}, "OPENAI_API_KEY"),
        ({"HEALTHBOT_MODEL": "groq/llama-3.1-8b-instant"}, "OPENAI_API_KEY"),
        ({"HEALTHBOT_MODEL": "anthropic/claude-sonnet-4"}, "ANTHROPIC_API_KEY"),
        ({"HEALTHBOT_MODEL": "gemini/gemini-2.0-flash"}, "GEMINI_API_KEY"),
        ({"HEALTHBOT_MODEL": "ollama/llama3.1", "HEALTHBOT_FALLBACK_MODELS": "gemini/x"},
         "GEMINI_API_KEY"),
        ({"HEALTHBOT_MODEL": "openai/gpt-4o-mini", "OPENAI_API_KEY": "  "}, "OPENAI_API_KEY"),
    ],
)
def test_a_missing_key_stops_start_up_naming_the_variable(
    knowledge: KnowledgeBase, values: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _build(knowledge, **values)
    message = str(info.value)
    assert message.startswith(f"missing setting {variable}:")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"HEALTHBOT_MODEL": "cohere/command-r"}, "HEALTHBOT_MODEL"),
        ({"HEALTHBOT_MODEL": "openai/"}, "HEALTHBOT_MODEL"),
        ({"HEALTHBOT_MODEL": "ollama/x", "HEALTHBOT_FALLBACK_MODELS": "llama3"},
         "HEALTHBOT_FALLBACK_MODELS"),
        ({"HEALTHBOT_PERSPECTIVES": "triage_nurse,surgeon"}, "HEALTHBOT_PERSPECTIVES"),
        ({"HEALTHBOT_PERSPECTIVES": " , "}, "HEALTHBOT_PERSPECTIVES"),
    ],
)
def test_malformed_entries_are_one_config_error_line(
    knowledge: KnowledgeBase, values: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=f"^invalid setting {variable}: [^\n]+$"):
        _build(knowledge, **values)


def test_parse_spec_keeps_slashes_in_the_model_name() -> None:
    spec = parse_spec("OpenRouter/anthropic/claude-sonnet-4")
    assert (spec.provider, spec.model) == ("openrouter", "anthropic/claude-sonnet-4")
    assert parse_spec("offline").is_offline


def test_fallbacks_are_tried_in_order_and_offline_stays_last(knowledge: KnowledgeBase) -> None:
    model, closers = _build(
        knowledge,
        HEALTHBOT_MODEL="anthropic/claude-sonnet-4",
        HEALTHBOT_FALLBACK_MODELS="gemini/gemini-2.0-flash, offline, ollama/llama3.1",
        ANTHROPIC_API_KEY=SECRET, GEMINI_API_KEY=SECRET,
    )
    try:
        assert isinstance(model, Router)
        assert [type(m) for m in model.chain] == [AnthropicModel, GeminiModel, OpenAICompatModel]
        assert [f"{m.provider}/{m.model}" for m in model.chain] == [
            "anthropic/claude-sonnet-4", "gemini/gemini-2.0-flash", "ollama/llama3.1"]
        assert isinstance(model.last_resort, OfflineModel)
    finally:
        _close(closers)


def test_contemplate_builds_the_panel_in_the_configured_order(knowledge: KnowledgeBase) -> None:
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/gpt-4o-mini",
                            OPENAI_API_KEY=SECRET, HEALTHBOT_MODE="contemplate",
                            HEALTHBOT_PERSPECTIVES="pharmacist, triage_nurse",
                            HEALTHBOT_ANSWER_DEADLINE_S="10")
    try:
        assert isinstance(model, ContemplatingModel)
        assert [p.name for p in model.perspectives] == ["pharmacist", "triage_nurse"]
        assert model.required == ("triage_nurse",) and model.min_perspectives == 2
        # Perspectives get half the deadline, so the synthesis still has time.
        assert model.perspective_timeout_s == 5.0
        panel = model.perspectives[0].model
        assert isinstance(panel, Router) and isinstance(panel.last_resort, Abstain)
        assert isinstance(model.synthesizer, Router) and model.synthesizer is model.single
        assert isinstance(model.single, Router)
        assert isinstance(model.single.last_resort, OfflineModel)
    finally:
        _close(closers)
    assert model._closed.is_set()


def test_contemplate_on_the_offline_model_answers_single_offline(
    knowledge: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        model, closers = _build(knowledge, HEALTHBOT_MODE="contemplate")
    assert isinstance(model, OfflineModel) and closers == []
    assert "HEALTHBOT_MODE=contemplate needs a remote HEALTHBOT_MODEL" in caplog.text


def test_keys_never_reach_logs_or_reprs(
    knowledge: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        model, closers = _build(
            knowledge, HEALTHBOT_MODEL="openai/gpt-4o-mini",
            HEALTHBOT_FALLBACK_MODELS="anthropic/claude-sonnet-4,gemini/gemini-2.0-flash",
            HEALTHBOT_MODE="contemplate", OPENAI_API_KEY=SECRET, ANTHROPIC_API_KEY=SECRET,
            GEMINI_API_KEY=SECRET,
        )
        _close(closers)
    assert "chat model:" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(model)
    assert isinstance(model, ContemplatingModel)
    assert SECRET not in repr(model.single)


def test_a_shared_client_is_not_closed_by_the_model(knowledge: KnowledgeBase) -> None:
    import httpx

    with httpx.Client() as client:
        _model, closers = build_chat_model(
            model_settings(HEALTHBOT_MODEL="ollama/llama3.1"), knowledge=knowledge, http=client
        )
        assert closers == []
        assert not client.is_closed


# ---------------------------------------------------------------------------- over HTTP


def test_single_mode_answers_from_the_fake_server(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    fake_server.set_rules([Rule(reply="Drink oral rehydration solution.")])
    model, closers = _build(knowledge, HEALTHBOT_MODEL="vllm/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url)
    try:
        response = model.complete(_request())
    finally:
        _close(closers)
    assert response.text == "Drink oral rehydration solution." and response.mode == "single"
    (call,) = response.calls
    assert (call.provider, call.model, call.outcome) == ("vllm", "fake-model", "ok")
    assert call.cost_usd == 0.0  # self-hosted: priced by the vllm/* row
    assert "authorization" not in fake_server.seen[0].headers  # no key configured, none sent


def test_contemplate_over_http_fans_out_in_parallel(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    fake_server.set_rules(panel_rules(latency_s=0.3))
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, OPENAI_API_KEY="test",
                            HEALTHBOT_MODE="contemplate")
    try:
        started = time.monotonic()
        response = model.complete(_request())
        wall = time.monotonic() - started
    finally:
        _close(closers)
    assert response.mode == "contemplate"
    assert response.text.startswith("SYNTHESIS:") and "stiff neck" in response.text
    assert sorted(c.perspective or "" for c in response.calls) == [
        "clinician", "pharmacist", "synthesis", "triage_nurse"]
    assert wall < 0.3 * 3  # not the sequential sum of the three perspectives
    assert fake_server.seen[0].headers["authorization"] == "Bearer test"


def test_a_failing_perspective_is_recorded_and_the_panel_proceeds(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    rules = panel_rules()
    rules.insert(0, Rule(match="Role: pharmacist", fault="in_body_error"))
    fake_server.set_rules(rules)
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, HEALTHBOT_MODE="contemplate")
    try:
        response = model.complete(_request())
    finally:
        _close(closers)
    assert response.mode == "contemplate" and response.text.startswith("SYNTHESIS:")
    pharmacist = [c for c in response.calls if c.perspective == "pharmacist"]
    # A bad response is not retried; it is recorded and no offline "opinion" stands in for it.
    assert [c.outcome for c in pharmacist] == ["bad_response"]
    assert all(c.provider == "openai" for c in response.calls)
    synthesis_prompt = next(s.system for s in fake_server.seen if "Role: synthesis" in s.system)
    assert "medication interactions were not checked" in synthesis_prompt


def test_triage_failing_degrades_to_single_mode(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    rules = panel_rules()
    rules.insert(0, Rule(match="Role: triage_nurse", reply="not json at all"))
    fake_server.set_rules(rules)
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, HEALTHBOT_MODE="contemplate")
    try:
        response = model.complete(_request())
    finally:
        _close(closers)
    assert response.text.startswith("SINGLE:") and response.mode == "single"
    triage = [c for c in response.calls if c.perspective == "triage_nurse"]
    assert [c.outcome for c in triage] == ["bad_response"]
    assert not any("Role: synthesis" in s.system for s in fake_server.seen)


def test_provider_failing_ends_at_the_offline_answer_with_every_attempt_recorded(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    # A short retry-after keeps the retries fast (the e2e test has the plain 500 case).
    fake_server.set_rules([Rule(fault="429", retry_after=0.01)])
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, HEALTHBOT_MODE="contemplate")
    try:
        response = model.complete(_request())
    finally:
        _close(closers)
    assert response.mode == "fallback" and response.provider == "offline"
    failed = [c for c in response.calls if c.outcome != "ok"]
    assert failed and all(c.provider == "openai" for c in failed)
    assert {c.outcome for c in failed} == {"rate_limited"}
    assert {c.perspective for c in failed} >= {"triage_nurse", "clinician", "pharmacist"}
    assert response.calls[-1].provider == "offline" and response.calls[-1].outcome == "ok"
    assert not any(c.provider == "abstain" for c in response.calls)


def test_small_talk_skips_the_panel(knowledge: KnowledgeBase, fake_server: FakeLLMServer) -> None:
    fake_server.set_rules([Rule(match="Role:", reply=opinion("routine")), Rule(reply="Hello!")])
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, HEALTHBOT_MODE="contemplate")
    try:
        response = model.complete(_request("thanks"))
    finally:
        _close(closers)
    assert response.text == "Hello!" and len(fake_server.seen) == 1


def test_a_passed_deadline_skips_the_panel_and_answers_offline(
    knowledge: KnowledgeBase, fake_server: FakeLLMServer
) -> None:
    fake_server.set_rules(panel_rules())
    model, closers = _build(knowledge, HEALTHBOT_MODEL="openai/fake-model",
                            OPENAI_BASE_URL=fake_server.base_url, HEALTHBOT_MODE="contemplate")
    try:
        response = model.complete(_request(deadline=time.monotonic() - 1.0))
    finally:
        _close(closers)
    assert response.provider == "offline" and response.mode == "fallback"
    assert fake_server.seen == []
    # No abandoned-perspective rows: only the offline answer is recorded.
    assert [(c.provider, c.outcome) for c in response.calls] == [("offline", "ok")]

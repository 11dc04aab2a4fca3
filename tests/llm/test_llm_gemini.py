"""GeminiModel against recorded-style generateContent responses and the local fake server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.errors import (
    ModelBadResponse,
    ModelError,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
)
from bot.llm.gemini import GeminiModel
from bot.llm.pricing import PriceTable
from bot.ports import ChatMessage, ChatResponse
from tests.llm.fakes import SECRET, make_request, mock_client, raise_with, reply_with

RESPONSE = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Rest and drink fluids."}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 120,
        "candidatesTokenCount": 30,
        "totalTokenCount": 250,
        "thoughtsTokenCount": 100,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-123",
}

TABLE = PriceTable.from_mapping(
    {
        "gemini/test-model": {
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 2e-6,
            "as_of": "2026-11-29",
            "source": "test",
        }
    }
)


def _status(code: int, status: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": f"{status} happened",
            "status": status,
            "details": list(details),
        }
    }


RETRY_37S = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
PER_DAY = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [
        {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
        }
    ],
}
PER_MINUTE = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
}


def _complete_with(handler: Any, request: Any = None) -> ChatResponse:
    with mock_client(handler) as client:
        model = GeminiModel("test-model", api_key=SECRET, client=client, price_table=TABLE)
        return model.complete(request or make_request())


def test_success_request_shape_usage_and_cost() -> None:
    seen: list[httpx.Request] = []
    conversation = (
        ChatMessage("user", "I have a fever"),
        ChatMessage("assistant", "Since when?"),
        ChatMessage("user", "yesterday"),
    )
    with mock_client(reply_with(200, RESPONSE), seen) as client:
        model = GeminiModel("models/test-model", api_key=SECRET, client=client, price_table=TABLE)
        response = model.complete(make_request(messages=conversation, json_output=True))
    assert response.text == "Rest and drink fluids."
    (call,) = response.calls
    assert call.request_id == "resp-123"
    assert call.usage.input_tokens == 120
    assert call.usage.output_tokens == 130  # thoughts are billed as output
    assert call.cost_usd == pytest.approx(120 * 1e-6 + 130 * 2e-6)
    (request,) = seen
    assert request.url.path == "/v1beta/models/test-model:generateContent"
    assert "key" not in request.url.params  # never ?key=
    assert request.headers["x-goog-api-key"] == SECRET
    body = json.loads(request.content)
    assert body["systemInstruction"]["parts"][0]["text"].startswith("You are a careful")
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["maxOutputTokens"] == 600
    assert body["generationConfig"]["responseMimeType"] == "application/json"


def test_thought_parts_are_not_part_of_the_answer() -> None:
    body = json.loads(json.dumps(RESPONSE))
    body["candidates"][0]["content"]["parts"] = [
        {"text": "Let me think...", "thought": True},
        {"text": "The answer."},
    ]
    assert _complete_with(reply_with(200, body)).text == "The answer."


def test_unknown_gemini_model_has_unknown_cost() -> None:
    with mock_client(reply_with(200, RESPONSE)) as client:
        response = GeminiModel("gemini-2.5-flash", api_key=SECRET, client=client).complete(
            make_request()
        )
    assert response.calls[0].cost_usd is None


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable", "retry_after"),
    [
        (
            429,
            _status(429, "RESOURCE_EXHAUSTED", RETRY_37S, PER_MINUTE),
            ModelRateLimited,
            True,
            37.0,
        ),
        (
            429,
            _status(429, "RESOURCE_EXHAUSTED", PER_DAY, RETRY_37S),
            ModelRateLimited,
            False,
            None,
        ),
        (429, _status(429, "RESOURCE_EXHAUSTED"), ModelRateLimited, True, None),
        (503, _status(503, "UNAVAILABLE"), ModelUnavailable, True, None),
        (500, _status(500, "INTERNAL"), ModelUnavailable, True, None),
        (504, _status(504, "DEADLINE_EXCEEDED"), ModelTimeout, True, None),
        (400, _status(400, "INVALID_ARGUMENT"), ModelUnavailable, False, None),
        (403, _status(403, "PERMISSION_DENIED"), ModelUnavailable, False, None),
        (404, _status(404, "NOT_FOUND"), ModelUnavailable, False, None),
    ],
)
def test_rpc_status_errors_are_mapped(
    status: int, body: Any, kind: type[ModelError], retryable: bool, retry_after: float | None
) -> None:
    with pytest.raises(kind) as info:
        _complete_with(reply_with(status, body))
    assert type(info.value) is kind
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}}, ModelRefused),
        ({"candidates": [{"finishReason": "SAFETY", "content": {"parts": []}}]}, ModelRefused),
        ({"candidates": [{"finishReason": "RECITATION"}]}, ModelRefused),
        ({"candidates": []}, ModelBadResponse),
        ({"usageMetadata": {"promptTokenCount": 3}}, ModelBadResponse),
        (
            {"candidates": [{"finishReason": "MAX_TOKENS", "content": {"parts": []}}]},
            ModelBadResponse,
        ),
    ],
)
def test_blocked_and_empty_200s(body: Any, kind: type[ModelError]) -> None:
    with pytest.raises(kind) as info:
        _complete_with(reply_with(200, body))
    assert type(info.value) is kind


def test_malformed_and_transport_errors() -> None:
    with pytest.raises(ModelBadResponse):
        _complete_with(reply_with(200, raw=b"not json"))
    with pytest.raises(ModelTimeout):
        _complete_with(raise_with(httpx.WriteTimeout("slow")))


def test_key_never_appears_in_errors_or_repr() -> None:
    body = _status(400, "INVALID_ARGUMENT")
    body["error"]["message"] = f"API key not valid: {SECRET}"
    with mock_client(reply_with(400, body)) as client:
        model = GeminiModel("test-model", api_key=SECRET, client=client)
        with pytest.raises(ModelUnavailable) as info:
            model.complete(make_request())
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(model) and SECRET not in repr(vars(model))


def test_end_to_end_against_the_fake_server(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules(
        [Rule(match="Role: limited", fault="429", retry_after=3), Rule(reply="Gemini hello")]
    )
    model = GeminiModel(
        "gemini-test", api_key=SECRET, client=http_client, base_url=fake_server.gemini_base_url
    )
    response = model.complete(make_request())
    assert response.text == "Gemini hello"
    assert fake_server.seen[0].path == "/v1beta/models/gemini-test:generateContent"
    assert fake_server.seen[0].headers["x-goog-api-key"] == SECRET
    with pytest.raises(ModelRateLimited) as info:
        model.complete(make_request(system="Role: limited"))
    assert info.value.retry_after == 3.0

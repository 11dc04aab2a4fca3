"""AnthropicModel against recorded-style Messages API responses and the local fake server."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
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
from bot.llm.anthropic import AnthropicModel
from bot.ports import ChatMessage, ChatResponse
from tests.llm.fakes import SECRET, make_request, mock_client, raise_with, reply_with

MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Rest and drink fluids."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 100,
        "output_tokens": 50,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 700,
    },
}


def _error(kind: str, message: str = "x", **extra: Any) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message, **extra},
        "request_id": "req_011",
    }


def _complete_with(handler: Any, request: Any = None) -> ChatResponse:
    with mock_client(handler) as client:
        model = AnthropicModel("claude-sonnet-4-20250514", api_key=SECRET, client=client)
        return model.complete(request or make_request())


def test_success_request_shape_usage_and_cost() -> None:
    seen: list[httpx.Request] = []
    conversation = (
        ChatMessage("assistant", "Welcome! How can I help?"),
        ChatMessage("user", "I have a fever"),
        ChatMessage("user", "and a headache"),
        ChatMessage("system", "Reply in English."),
        ChatMessage("assistant", "Since when?"),
        ChatMessage("user", "yesterday"),
    )
    with mock_client(reply_with(200, MESSAGE, {"request-id": "req_abc"}), seen) as client:
        model = AnthropicModel("claude-sonnet-4-20250514", api_key=SECRET, client=client)
        response = model.complete(make_request(messages=conversation))
    assert response.text == "Rest and drink fluids."
    assert response.finish_reason == "end_turn"
    (call,) = response.calls
    assert call.request_id == "req_abc"
    assert call.usage.input_tokens == 100 + 200 + 700  # every prompt token, cached or not
    assert call.usage.output_tokens == 50
    # No cache rates in the table: cache tokens at the input rate (never a made-up rate).
    assert call.cost_usd == pytest.approx(1000 * 3e-6 + 50 * 15e-6)
    (request,) = seen
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    body = json.loads(request.content)
    assert body["max_tokens"] == 600
    assert body["system"].startswith("You are a careful health assistant.")
    assert "Reply in English." in body["system"]
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    assert body["messages"][-1] == {"role": "user", "content": "yesterday"}
    assert "I have a fever\n\nand a headache" in body["messages"][2]["content"]


def test_missing_usage_is_estimated() -> None:
    body = {k: v for k, v in MESSAGE.items() if k != "usage"}
    (call,) = _complete_with(reply_with(200, body)).calls
    assert call.usage.estimated and call.cost_usd is not None


def test_json_output_is_asked_for_in_the_system_prompt() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, MESSAGE), seen) as client:
        AnthropicModel("claude-3-5-haiku-latest", api_key=SECRET, client=client).complete(
            make_request(json_output=True)
        )
    assert "JSON object" in json.loads(seen[0].content)["system"]


def _reset_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable", "retry_after"),
    [
        (529, _error("overloaded_error", "Overloaded"), {}, ModelRateLimited, True, None),
        (429, _error("rate_limit_error"), {"retry-after": "7"}, ModelRateLimited, True, 7.0),
        (
            429,
            _error("rate_limit_error", details={"error_code": "enforced_spend_limit_reached"}),
            {},
            ModelRateLimited,
            False,
            None,
        ),
        (
            429,
            _error("rate_limit_error", "You have reached your monthly spend limit"),
            {},
            ModelRateLimited,
            False,
            None,
        ),
        (500, _error("api_error"), {}, ModelUnavailable, True, None),
        (401, _error("authentication_error"), {}, ModelUnavailable, False, None),
        (403, _error("permission_error"), {}, ModelUnavailable, False, None),
        (404, _error("not_found_error"), {}, ModelUnavailable, False, None),
        (413, _error("request_too_large"), {}, ModelUnavailable, False, None),
        (400, _error("invalid_request_error"), {}, ModelUnavailable, False, None),
    ],
)
def test_http_errors_are_mapped(
    status: int,
    body: Any,
    headers: dict[str, str],
    kind: type[ModelError],
    retryable: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(kind) as info:
        _complete_with(reply_with(status, body, headers))
    assert type(info.value) is kind
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after
    assert info.value.status == status


def test_ratelimit_reset_headers_give_the_wait_when_retry_after_is_absent() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "12",
        "anthropic-ratelimit-requests-reset": _reset_in(50),
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": _reset_in(4),
    }
    with pytest.raises(ModelRateLimited) as info:
        _complete_with(reply_with(429, _error("rate_limit_error"), headers))
    assert info.value.retry_after is not None
    assert 2.5 <= info.value.retry_after <= 4.0  # the exhausted bucket, not the full one


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({**MESSAGE, "content": []}, ModelBadResponse),
        ({**MESSAGE, "content": [{"type": "text", "text": "   "}]}, ModelBadResponse),
        (_error("overloaded_error"), ModelBadResponse),
        ({**MESSAGE, "content": [], "stop_reason": "refusal"}, ModelRefused),
        ({"id": "msg_x"}, ModelBadResponse),
    ],
)
def test_bad_200_bodies(body: Any, kind: type[ModelError]) -> None:
    with pytest.raises(kind):
        _complete_with(reply_with(200, body))


def test_malformed_json_and_transport_errors() -> None:
    with pytest.raises(ModelBadResponse):
        _complete_with(reply_with(200, raw=b"<html>oops"))
    with pytest.raises(ModelTimeout):
        _complete_with(raise_with(httpx.ReadTimeout("slow")))
    with pytest.raises(ModelUnavailable) as info:
        _complete_with(raise_with(httpx.ConnectError("refused")))
    assert info.value.retryable


def test_key_never_appears_in_errors_or_repr() -> None:
    with mock_client(
        reply_with(401, _error("authentication_error", f"invalid x-api-key {SECRET}"))
    ) as client:
        model = AnthropicModel("claude-sonnet-4", api_key=SECRET, client=client)
        with pytest.raises(ModelUnavailable) as info:
            model.complete(make_request())
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(model) and SECRET not in repr(vars(model))


def test_end_to_end_against_the_fake_server(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules(
        [Rule(match="Role: busy", fault="529"), Rule(reply="Claude-shaped hello")]
    )
    model = AnthropicModel(
        "claude-sonnet-4-20250514",
        api_key=SECRET,
        client=http_client,
        base_url=fake_server.root_url,
    )
    response = model.complete(make_request())
    assert response.text == "Claude-shaped hello"
    assert response.calls[0].usage.output_tokens and not response.calls[0].usage.estimated
    assert fake_server.seen[0].path == "/v1/messages"
    assert fake_server.seen[0].headers["x-api-key"] == SECRET
    with pytest.raises(ModelRateLimited) as info:
        model.complete(make_request(system="Role: busy"))
    assert info.value.status == 529 and info.value.retryable

"""OpenAICompatModel against recorded-style responses (MockTransport) and the local fake server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

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
from bot.llm.openai_compat import OpenAICompatModel
from bot.ports import ChatMessage
from tests.llm.fakes import SECRET, make_request, mock_client, raise_with, reply_with

COMPLETION = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Rest and drink fluids.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "service_tier": "default",
}


def _model(client: httpx.Client, **kwargs: object) -> OpenAICompatModel:
    return OpenAICompatModel(
        "gpt-4o-mini",
        base_url="https://api.openai.com/v1",
        api_key=SECRET,
        client=client,
        **kwargs,  # type: ignore[arg-type]
    )


def _complete_with(handler: object, **kwargs: object) -> object:
    with mock_client(handler) as client:  # type: ignore[arg-type]
        return _model(client, **kwargs).complete(make_request())


def test_success_parses_text_usage_cost_and_sends_the_right_request() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, COMPLETION, {"x-request-id": "req_123"}), seen) as client:
        response = _model(client).complete(
            make_request(messages=(ChatMessage("user", "hi"), ChatMessage("assistant", "hello")))
        )
    assert response.text == "Rest and drink fluids."
    assert response.finish_reason == "stop"
    (call,) = response.calls
    assert call.outcome == "ok"
    assert call.usage.input_tokens == 1000 and call.usage.output_tokens == 200
    assert not call.usage.estimated
    assert call.request_id == "req_123"
    assert call.cost_usd == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)
    (request,) = seen
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = json.loads(request.content)
    assert body["model"] == "gpt-4o-mini"
    assert body["max_tokens"] == 600
    assert body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert "response_format" not in body


def test_json_mode_and_max_completion_tokens() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, COMPLETION), seen) as client:
        model = _model(client, max_tokens_param="max_completion_tokens")
        model.complete(make_request(json_output=True, max_tokens=450))
    body = json.loads(seen[0].content)
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_completion_tokens"] == 450 and "max_tokens" not in body


def test_json_mode_can_be_switched_off_for_servers_that_reject_it() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, COMPLETION), seen) as client:
        _model(client, json_mode=False).complete(make_request(json_output=True))
    assert "response_format" not in json.loads(seen[0].content)


def test_no_key_sends_no_authorization_header() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, COMPLETION), seen) as client:
        OpenAICompatModel(
            "llama3.1",
            base_url="http://localhost:11434/v1",
            api_key=None,
            client=client,
            provider="ollama",
        ).complete(make_request())
    assert "authorization" not in seen[0].headers


def test_missing_usage_is_estimated_and_still_priced() -> None:
    body = {k: v for k, v in COMPLETION.items() if k != "usage"}
    response = _complete_with(reply_with(200, body))
    (call,) = response.calls  # type: ignore[attr-defined]
    assert call.usage.estimated
    assert call.usage.input_tokens > 0 and call.usage.output_tokens > 0
    assert call.cost_usd is not None and call.cost_usd > 0


def test_cached_prompt_tokens_are_not_double_counted() -> None:
    body = json.loads(json.dumps(COMPLETION))
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 400
    response = _complete_with(reply_with(200, body))
    (call,) = response.calls  # type: ignore[attr-defined]
    assert call.usage.input_tokens == 1000  # cached tokens are inside prompt_tokens
    # No cache rate in the table: cached tokens are charged at the input rate, never invented.
    assert call.cost_usd == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)


def test_openrouter_reported_cost_wins_over_the_price_table() -> None:
    body = json.loads(json.dumps(COMPLETION))
    body["usage"]["cost"] = 0.0123
    with mock_client(reply_with(200, body)) as client:
        model = OpenAICompatModel(
            "anthropic/claude-sonnet-4",
            base_url="https://openrouter.ai/api/v1",
            api_key=SECRET,
            client=client,
            provider="openrouter",
        )
        response = model.complete(make_request())
    assert response.calls[0].cost_usd == pytest.approx(0.0123)


def test_unknown_model_has_unknown_cost_not_zero() -> None:
    with mock_client(reply_with(200, COMPLETION)) as client:
        response = OpenAICompatModel(
            "mystery-model",
            base_url="https://api.groq.com/openai/v1",
            api_key=SECRET,
            client=client,
            provider="groq",
        ).complete(make_request())
    assert response.calls[0].cost_usd is None


def _http_date(seconds: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable", "retry_after"),
    [
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            {},
            ModelRateLimited,
            False,
            None,
        ),
        (
            429,
            {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}},
            {"retry-after-ms": "1500", "retry-after": "9"},
            ModelRateLimited,
            True,
            1.5,
        ),
        (
            429,
            {"error": {"message": "Rate limit"}},
            {"retry-after": "3"},
            ModelRateLimited,
            True,
            3.0,
        ),
        (429, {"error": {"message": "Rate limit"}}, {}, ModelRateLimited, True, None),
        (408, {"error": {"message": "timeout"}}, {}, ModelTimeout, True, None),
        (409, {"error": {"message": "conflict"}}, {}, ModelUnavailable, True, None),
        (500, {"error": {"message": "server error"}}, {}, ModelUnavailable, True, None),
        (502, None, {}, ModelUnavailable, True, None),
        (
            503,
            {"error": {"message": "overloaded"}},
            {"retry-after": "2"},
            ModelUnavailable,
            True,
            2.0,
        ),
        (
            500,
            {"error": {"message": "no"}},
            {"x-should-retry": "false"},
            ModelUnavailable,
            False,
            None,
        ),
        (
            401,
            {"error": {"message": "Incorrect API key provided"}},
            {},
            ModelUnavailable,
            False,
            None,
        ),
        (403, {"error": {"message": "forbidden"}}, {}, ModelUnavailable, False, None),
        (
            404,
            {"error": {"message": "The model does not exist", "code": "model_not_found"}},
            {},
            ModelUnavailable,
            False,
            None,
        ),
        (400, {"error": {"message": "context_length_exceeded"}}, {}, ModelUnavailable, False, None),
        (
            402,
            {"error": {"message": "Insufficient credits", "code": 402}},
            {},
            ModelRateLimited,
            False,
            None,
        ),
    ],
)
def test_http_errors_are_mapped(
    status: int,
    body: object,
    headers: dict[str, str],
    kind: type[ModelError],
    retryable: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(kind) as info:
        _complete_with(reply_with(status, body, headers))
    assert type(info.value) is kind
    assert info.value.retryable is retryable
    assert info.value.status == status
    assert info.value.retry_after == retry_after
    assert info.value.provider == "openai"


def test_retry_after_http_date_is_parsed() -> None:
    with pytest.raises(ModelRateLimited) as info:
        _complete_with(reply_with(429, {"error": {}}, {"retry-after": _http_date(5)}))
    assert info.value.retry_after is not None
    assert 3.0 <= info.value.retry_after <= 5.0


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({**COMPLETION, "choices": []}, ModelBadResponse),
        (
            {
                **COMPLETION,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ""},
                        "finish_reason": "stop",
                    }
                ],
            },
            ModelBadResponse,
        ),
        (
            {
                **COMPLETION,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None},
                        "finish_reason": "length",
                    }
                ],
            },
            ModelBadResponse,
        ),
        ({"error": {"message": "Provider returned error", "code": 502}}, ModelBadResponse),
        (
            {
                **COMPLETION,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "x"},
                        "finish_reason": "content_filter",
                    }
                ],
            },
            ModelRefused,
        ),
        (
            {
                **COMPLETION,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "refusal": "I can't help",
                        },
                        "finish_reason": "stop",
                    }
                ],
            },
            ModelRefused,
        ),
        ([1, 2, 3], ModelBadResponse),
    ],
)
def test_bad_200_bodies(body: object, kind: type[ModelError]) -> None:
    with pytest.raises(kind) as info:
        _complete_with(reply_with(200, body))
    assert type(info.value) is kind
    assert not info.value.retryable


def test_malformed_json_is_a_bad_response() -> None:
    with pytest.raises(ModelBadResponse):
        _complete_with(reply_with(200, raw=b'{"choices": [ not json'))


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (httpx.ConnectError("refused"), ModelUnavailable, True),
        (httpx.ReadTimeout("slow"), ModelTimeout, True),
        (httpx.ConnectTimeout("slow"), ModelTimeout, True),
        (httpx.RemoteProtocolError("peer closed"), ModelUnavailable, True),
        (httpx.ReadError("reset"), ModelUnavailable, True),
    ],
)
def test_transport_errors_are_mapped_with_the_cause_kept(
    exc: Exception, kind: type[ModelError], retryable: bool
) -> None:
    with pytest.raises(kind) as info:
        _complete_with(raise_with(exc))
    assert info.value.retryable is retryable
    assert info.value.__cause__ is exc


def test_per_call_timeout_is_bounded_by_the_deadline() -> None:
    seen: list[httpx.Request] = []
    with mock_client(reply_with(200, COMPLETION), seen) as client:
        model = _model(client, timeout_s=30.0)
        import time

        model.complete(make_request(deadline=time.monotonic() + 2.0))
        model.complete(make_request())
    bounded, default = (r.extensions["timeout"] for r in seen)
    assert 1.0 < bounded["read"] <= 2.0
    assert default["read"] == 30.0


def test_no_time_left_raises_timeout_without_calling() -> None:
    seen: list[httpx.Request] = []
    import time

    with mock_client(reply_with(200, COMPLETION), seen) as client, pytest.raises(ModelTimeout):
        _model(client).complete(make_request(deadline=time.monotonic() - 1))
    assert seen == []


def test_key_never_appears_in_errors_or_repr() -> None:
    echo = {
        "error": {"message": f"Incorrect API key provided: {SECRET}.", "code": "invalid_api_key"}
    }
    with mock_client(reply_with(401, echo)) as client:
        model = _model(client)
        with pytest.raises(ModelUnavailable) as info:
            model.complete(make_request())
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(model) and SECRET not in str(model)
    assert SECRET not in repr(vars(model))
    with pytest.raises(ModelError) as info2:
        _complete_with(raise_with(httpx.ConnectError(f"failed for {SECRET}")))
    assert SECRET not in str(info2.value)


# ---------------------------------------------------------------------------- over real HTTP


def test_end_to_end_against_the_fake_server(
    fake_server: FakeLLMServer, http_client: httpx.Client
) -> None:
    fake_server.set_rules(
        [
            Rule(match="Role: rate", fault="429", retry_after=2, times=1),
            Rule(match="Role: hang", fault="hang", hang_s=5),
            Rule(reply="Hello from the fake server"),
        ]
    )
    model = OpenAICompatModel(
        "fake-model",
        base_url=fake_server.base_url,
        api_key=SECRET,
        client=http_client,
        provider="vllm",
    )
    response = model.complete(make_request())
    assert response.text == "Hello from the fake server"
    (call,) = response.calls
    assert call.usage.input_tokens and not call.usage.estimated
    assert call.cost_usd == 0.0  # self-hosted
    assert call.request_id == "req_fake"
    assert fake_server.seen[0].headers["authorization"] == f"Bearer {SECRET}"

    with pytest.raises(ModelRateLimited) as info:
        model.complete(make_request(system="Role: rate"))
    assert info.value.retry_after == 2.0 and info.value.retryable

    import time

    started = time.monotonic()
    with pytest.raises(ModelTimeout):
        model.complete(make_request(system="Role: hang", deadline=time.monotonic() + 0.3))
    assert time.monotonic() - started < 2.0

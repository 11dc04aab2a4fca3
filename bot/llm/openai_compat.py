"""OpenAI Chat Completions adapter, also used for every compatible server.

Ollama, vLLM, llama.cpp, LM Studio, OpenRouter and Groq all speak
`POST {base_url}/chat/completions`.
Whole replies only (WhatsApp sends complete messages). The adapter never retries; it translates
every failure into `bot.errors` and lets the router decide.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.errors import ModelBadResponse, ModelRateLimited, ModelRefused
from bot.llm.adapter import HttpChatAdapter, str_or_none
from bot.llm.http import (
    DEFAULT_TIMEOUT_S,
    Secret,
    as_int,
    error_body,
    error_for_status,
    estimate_usage,
    join_url,
    parse_wait_hint,
    short,
)
from bot.llm.images import openai_content
from bot.llm.pricing import PriceTable, cost_of
from bot.ports import ChatRequest, Usage

# Quota/billing codes that a wait will not clear: fail over instead of backing off.
_BILLING_CODES = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
)


class OpenAICompatModel(HttpChatAdapter):
    """A chat model behind an OpenAI-compatible Chat Completions endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        client: httpx.Client,
        provider: str = "openai",
        price_table: PriceTable | None = None,
        max_tokens_param: str = "max_tokens",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        json_mode: bool = True,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self._client = client
        self._prices = price_table
        # Reasoning models want max_completion_tokens; keep it a per-model setting.
        self._max_tokens_param = max_tokens_param
        self._timeout_s = timeout_s
        # Some local servers reject response_format; they can switch it off (parsing is tolerant).
        self._json_mode = json_mode
        self._extra_body = dict(extra_body or {})

    def __repr__(self) -> str:
        return (
            f"OpenAICompatModel(provider={self.provider!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        if request.images and messages and messages[-1]["role"] == "user":
            messages[-1]["content"] = openai_content(messages[-1]["content"], request.images)
        body: dict[str, Any] = {
            **self._extra_body,
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            self._max_tokens_param: request.max_tokens,
            "stream": False,
        }
        if request.json_output and self._json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self._key.reveal()
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    def _endpoint(self) -> str:
        return join_url(self.base_url, "chat/completions")

    def _request_id(self, response: httpx.Response, data: Any) -> str | None:
        return response.headers.get("x-request-id") or str_or_none(data.get("id"))

    def _http_error(self, response: httpx.Response) -> Exception:
        err = error_body(response)
        code = str(err.get("code") or err.get("type") or "")
        message = str(err.get("message") or "")
        status = response.status_code
        if status == 429 and code in _BILLING_CODES:
            return ModelRateLimited(
                f"{self.provider}: HTTP 429 {code}: {short(message)}",
                provider=self.provider,
                status=status,
                retryable=False,
            )
        return error_for_status(
            status,
            provider=self.provider,
            message=f"{code}: {message}" if code else message,
            retry_after=parse_wait_hint(response.headers),
            headers=response.headers,
        )

    def _parse(self, data: dict[str, Any], status: int) -> tuple[str, str | None]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelBadResponse(
                f"{self.provider}: response has no choices", provider=self.provider, status=status
            )
        choice = choices[0]
        finish_reason = str_or_none(choice.get("finish_reason"))
        if finish_reason == "content_filter":
            raise ModelRefused(
                f"{self.provider}: the provider's content filter blocked the reply",
                provider=self.provider,
                status=status,
            )
        message = choice.get("message")
        text = _content_text(message.get("content") if isinstance(message, dict) else None)
        if not text.strip():
            refusal = message.get("refusal") if isinstance(message, dict) else None
            if refusal:
                raise ModelRefused(
                    f"{self.provider}: the model refused: {short(refusal)}",
                    provider=self.provider,
                    status=status,
                )
            raise ModelBadResponse(
                f"{self.provider}: empty reply (finish_reason={finish_reason})",
                provider=self.provider,
                status=status,
            )
        return text.strip(), finish_reason

    def _usage_and_cost(
        self, data: dict[str, Any], request: ChatRequest, text: str
    ) -> tuple[Usage, float | None]:
        raw = data.get("usage")
        prompt = completion = None
        cached = 0
        if isinstance(raw, dict):
            prompt = as_int(raw.get("prompt_tokens"))
            completion = as_int(raw.get("completion_tokens"))
            details = raw.get("prompt_tokens_details")
            if isinstance(details, dict):
                cached = as_int(details.get("cached_tokens")) or 0
        if prompt is None or completion is None:
            usage = estimate_usage(request, text)
        else:
            # Reasoning tokens are already inside completion_tokens: do not add them again.
            usage = Usage(input_tokens=prompt, output_tokens=completion)
        # OpenRouter bills the model that actually answered and reports the cost itself.
        if isinstance(raw, dict) and isinstance(raw.get("cost"), int | float):
            return usage, float(raw["cost"])
        cost = cost_of(
            self.provider, self.model, usage, cache_read_tokens=cached, table=self._prices
        )
        return usage, cost


def _content_text(content: object) -> str:
    """The text of a message's content: a string, or a list of {type: text, text} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "output_text")
        ]
        return "".join(parts)
    return ""


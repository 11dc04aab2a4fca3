"""Anthropic Messages API adapter (`POST {base_url}/v1/messages`), whole replies only.

The system prompt is top-level (there is no "system" role), roles must alternate user/assistant,
and `max_tokens` is required. The adapter never retries; the router decides from the error kind.
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
from bot.llm.images import anthropic_content
from bot.llm.pricing import PriceTable, cost_of
from bot.ports import ChatRequest, Usage

API_VERSION = "2023-06-01"
# A spend limit does not clear until the next billing period: never back off and retry it.
_SPEND_LIMIT = "enforced_spend_limit_reached"
_JSON_INSTRUCTION = "Reply with one JSON object only, no prose and no code fences."
# Anthropic wants the first turn to be the user's; a bot-first history gets this stand-in.
_LEADING_USER_TURN = "(conversation so far)"


class AnthropicModel(HttpChatAdapter):
    """A Claude model over the Messages API."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        client: httpx.Client,
        base_url: str = "https://api.anthropic.com",
        provider: str = "anthropic",
        price_table: PriceTable | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        api_version: str = API_VERSION,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self._client = client
        self._prices = price_table
        self._timeout_s = timeout_s
        self._api_version = api_version

    def __repr__(self) -> str:
        return (
            f"AnthropicModel(provider={self.provider!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system_parts = [request.system] if request.system else []
        turns: list[dict[str, str]] = []
        for message in request.messages:
            if message.role == "system":  # no system role in this API: fold into `system`
                system_parts.append(message.content)
                continue
            if turns and turns[-1]["role"] == message.role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": message.role, "content": message.content})
        if not turns or turns[0]["role"] != "user":
            turns.insert(0, {"role": "user", "content": _LEADING_USER_TURN})
        if request.json_output:
            system_parts.append(_JSON_INSTRUCTION)
        messages: list[dict[str, Any]] = list(turns)
        if request.images and turns[-1]["role"] == "user":
            messages[-1] = {"role": "user",
                            "content": anthropic_content(turns[-1]["content"], request.images)}
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": messages,
            "temperature": request.temperature,
        }
        if system_parts:
            body["system"] = "\n\n".join(system_parts)
        return body

    def _headers(self) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": self._api_version,
        }
        key = self._key.reveal()
        if key:
            headers["x-api-key"] = key
        return headers

    def _endpoint(self) -> str:
        # Accept both "https://api.anthropic.com" and a base that already ends in /v1.
        path = "messages" if self.base_url.endswith("/v1") else "v1/messages"
        return join_url(self.base_url, path)

    def _request_id(self, response: httpx.Response, data: Any) -> str | None:
        return response.headers.get("request-id") or str_or_none(data.get("id"))

    def _http_error(self, response: httpx.Response) -> Exception:
        err = error_body(response)
        kind = str(err.get("type") or "")
        message = str(err.get("message") or "")
        details = err.get("details")
        code = str(details.get("error_code") or "") if isinstance(details, dict) else ""
        status = response.status_code
        hint = parse_wait_hint(response.headers)
        spend_limit = _SPEND_LIMIT in (code, kind) or (
            hint is None and "spend limit" in message.lower()
        )
        if status == 429 and spend_limit:
            return ModelRateLimited(
                f"{self.provider}: HTTP 429 {_SPEND_LIMIT}: {short(message)}",
                provider=self.provider,
                status=status,
                retryable=False,
            )
        return error_for_status(
            status,
            provider=self.provider,
            message=f"{kind}: {message}" if kind else message,
            retry_after=hint,
            headers=response.headers,
        )

    def _parse(self, data: dict[str, Any], status: int) -> tuple[str, str | None]:
        stop_reason = str_or_none(data.get("stop_reason"))
        if stop_reason == "refusal":
            raise ModelRefused(
                f"{self.provider}: the model declined to answer",
                provider=self.provider,
                status=status,
            )
        content = data.get("content")
        if not isinstance(content, list):
            raise ModelBadResponse(
                f"{self.provider}: response has no content", provider=self.provider, status=status
            )
        text = "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
        if not text.strip():
            raise ModelBadResponse(
                f"{self.provider}: empty reply (stop_reason={stop_reason})",
                provider=self.provider,
                status=status,
            )
        return text.strip(), stop_reason

    def _usage_and_cost(
        self, data: dict[str, Any], request: ChatRequest, text: str
    ) -> tuple[Usage, float | None]:
        raw = data.get("usage")
        fresh = output = None
        read = write = 0
        if isinstance(raw, dict):
            fresh = as_int(raw.get("input_tokens"))
            output = as_int(raw.get("output_tokens"))
            read = as_int(raw.get("cache_read_input_tokens")) or 0
            write = as_int(raw.get("cache_creation_input_tokens")) or 0
        if fresh is None or output is None:
            usage = estimate_usage(request, text)
            read = write = 0
        else:
            # Anthropic reports cache reads/writes apart from input_tokens; Usage counts them all.
            usage = Usage(input_tokens=fresh + read + write, output_tokens=output)
        cost = cost_of(
            self.provider,
            self.model,
            usage,
            cache_read_tokens=read,
            cache_write_tokens=write,
            table=self._prices,
        )
        return usage, cost


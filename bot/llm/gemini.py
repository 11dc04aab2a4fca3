"""Google Gemini adapter over `POST {base_url}/models/{model}:generateContent`, whole replies only.

The key travels in the `x-goog-api-key` header, never as `?key=`, so it stays out of URLs and logs.
Safety blocks (`promptFeedback.blockReason`, finishReason SAFETY/RECITATION/...) become
ModelRefused so the router fails over instead of sending an empty answer.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.errors import ModelBadResponse, ModelError, ModelRateLimited, ModelRefused
from bot.llm.adapter import HttpChatAdapter, str_or_none
from bot.llm.http import (
    DEFAULT_TIMEOUT_S,
    Secret,
    as_int,
    error_body,
    error_for_status,
    estimate_usage,
    gemini_retry_delay,
    join_url,
    parse_wait_hint,
    short,
)
from bot.llm.images import gemini_parts
from bot.llm.pricing import PriceTable, cost_of
from bot.ports import ChatRequest, Usage

# Finish reasons that mean a filter stopped the answer, not that the model finished.
_BLOCKED_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_LEADING_USER_TURN = "(conversation so far)"


class GeminiModel(HttpChatAdapter):
    """A Gemini model over the native generateContent API."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        client: httpx.Client,
        base_url: str = "https://generativelanguage.googleapis.com/v1beta",
        provider: str = "gemini",
        price_table: PriceTable | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.provider = provider
        self.model = model.removeprefix("models/")
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self._client = client
        self._prices = price_table
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return (
            f"GeminiModel(provider={self.provider!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system_parts = [request.system] if request.system else []
        contents: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                system_parts.append(message.content)
                continue
            role = "model" if message.role == "assistant" else "user"
            if contents and contents[-1]["role"] == role:
                contents[-1]["parts"].append({"text": message.content})
            else:
                contents.append({"role": role, "parts": [{"text": message.content}]})
        if not contents or contents[0]["role"] != "user":
            contents.insert(0, {"role": "user", "parts": [{"text": _LEADING_USER_TURN}]})
        if request.images and contents[-1]["role"] == "user":
            contents[-1]["parts"] = [*gemini_parts(request.images), *contents[-1]["parts"]]
        config: dict[str, Any] = {
            "temperature": request.temperature,
            "maxOutputTokens": request.max_tokens,
        }
        if request.json_output:
            config["responseMimeType"] = "application/json"
        body: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system_parts:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system_parts)}]}
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self._key.reveal()
        if key:
            headers["x-goog-api-key"] = key
        return headers

    def _endpoint(self) -> str:
        return join_url(self.base_url, f"models/{self.model}:generateContent")

    def _request_id(self, response: httpx.Response, data: Any) -> str | None:
        return str_or_none(data.get("responseId"))

    def _http_error(self, response: httpx.Response) -> ModelError:
        err = error_body(response)
        status_word = str(err.get("status") or "")
        message = str(err.get("message") or "")
        status = response.status_code
        text = f"{status_word}: {message}" if status_word else message
        if status == 429 or status_word == "RESOURCE_EXHAUSTED":
            if _per_day_quota(err):
                # Daily quotas stay exhausted until the reset: fail over, don't back off.
                return ModelRateLimited(
                    f"{self.provider}: HTTP {status} daily quota exhausted: {short(message)}",
                    provider=self.provider,
                    status=status,
                    retryable=False,
                )
            delay = gemini_retry_delay(err)
            if delay is None:
                delay = parse_wait_hint(response.headers)
            return ModelRateLimited(
                f"{self.provider}: HTTP {status} {text and short(text)}",
                provider=self.provider,
                status=status,
                retry_after=delay,
            )
        return error_for_status(
            status,
            provider=self.provider,
            message=text,
            retry_after=parse_wait_hint(response.headers),
            headers=response.headers,
        )

    def _parse(self, data: dict[str, Any], status: int) -> tuple[str, str | None]:
        feedback = data.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            raise ModelRefused(
                f"{self.provider}: prompt blocked ({feedback['blockReason']})",
                provider=self.provider,
                status=status,
            )
        candidates = data.get("candidates")
        if (
            not isinstance(candidates, list)
            or not candidates
            or not isinstance(candidates[0], dict)
        ):
            raise ModelBadResponse(
                f"{self.provider}: response has no candidates",
                provider=self.provider,
                status=status,
            )
        candidate = candidates[0]
        finish_reason = str_or_none(candidate.get("finishReason"))
        if finish_reason in _BLOCKED_FINISH:
            raise ModelRefused(
                f"{self.provider}: answer blocked (finishReason={finish_reason})",
                provider=self.provider,
                status=status,
            )
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        text = ""
        if isinstance(parts, list):
            # Thought summaries are not part of the answer.
            text = "".join(
                str(part.get("text", ""))
                for part in parts
                if isinstance(part, dict) and not part.get("thought")
            )
        if not text.strip():
            raise ModelBadResponse(
                f"{self.provider}: empty reply (finishReason={finish_reason})",
                provider=self.provider,
                status=status,
            )
        return text.strip(), finish_reason

    def _usage_and_cost(
        self, data: dict[str, Any], request: ChatRequest, text: str
    ) -> tuple[Usage, float | None]:
        raw = data.get("usageMetadata")
        prompt = candidates = None
        thoughts = cached = 0
        if isinstance(raw, dict):
            prompt = as_int(raw.get("promptTokenCount"))
            candidates = as_int(raw.get("candidatesTokenCount"))
            thoughts = as_int(raw.get("thoughtsTokenCount")) or 0
            cached = as_int(raw.get("cachedContentTokenCount")) or 0
        if prompt is None or (candidates is None and not thoughts):
            usage = estimate_usage(request, text)
            cached = 0
        else:
            # thoughtsTokenCount is reported apart from candidatesTokenCount and billed as output;
            # promptTokenCount already includes cached content.
            usage = Usage(input_tokens=prompt, output_tokens=(candidates or 0) + thoughts)
        cost = cost_of(
            self.provider, self.model, usage, cache_read_tokens=cached, table=self._prices
        )
        return usage, cost


def _per_day_quota(err: dict[str, Any]) -> bool:
    """True when a RESOURCE_EXHAUSTED error names a per-day quota (QuotaFailure violations)."""
    details = err.get("details")
    if not isinstance(details, list):
        return False
    for item in details:
        if not isinstance(item, dict) or not str(item.get("@type", "")).endswith("QuotaFailure"):
            continue
        for violation in item.get("violations") or []:
            if not isinstance(violation, dict):
                continue
            ident = " ".join(
                str(violation.get(k, "")) for k in ("quotaId", "quotaMetric", "subject")
            ).lower()
            if "perday" in ident or "per_day" in ident or "per-day" in ident:
                return True
    return False


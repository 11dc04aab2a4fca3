"""The round trip every HTTP chat adapter shares; each provider module supplies its wire format.

A subclass says where to POST, what to send, how to read the answer and its usage, and how to
translate an HTTP error; this class times the call, keeps the key out of any error, and builds the
`CallRecord` that cost and latency reports are made of.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.errors import ModelBadResponse, ModelError
from bot.llm.http import (
    Secret,
    call_timeout,
    monotonic,
    post_json,
    response_json,
    scrub,
    short,
)
from bot.ports import CallRecord, ChatRequest, ChatResponse, Usage


class HttpChatAdapter:
    """Base of the OpenAI-compatible, Anthropic and Gemini adapters (one request, no retries)."""

    provider: str
    model: str
    _client: httpx.Client
    _key: Secret
    _timeout_s: float

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request and return the whole reply.

        Raises:
            bot.errors.ModelError: any failure, translated at this boundary, with no key in it.
        """
        try:
            return self._round_trip(request)
        except ModelError as exc:
            # Providers echo keys back in 401 messages ("Incorrect API key provided: sk-...").
            raise scrub(exc, self._key) from exc.__cause__

    def _round_trip(self, request: ChatRequest) -> ChatResponse:
        timeout = call_timeout(self._timeout_s, request, provider=self.provider)
        started = monotonic()
        response = post_json(
            self._client,
            self._endpoint(),
            headers=self._headers(),
            body=self._body(request),
            timeout=timeout,
            provider=self.provider,
            secret=self._key,
        )
        if response.status_code >= 300:
            raise self._http_error(response)
        data = self._without_error(response_json(response, provider=self.provider),
                                   response.status_code)
        text, finish_reason = self._parse(data, response.status_code)
        ended = monotonic()
        usage, cost = self._usage_and_cost(data, request, text)
        record = CallRecord(
            provider=self.provider,
            model=self.model,
            outcome="ok",
            latency_ms=(ended - started) * 1000.0,
            usage=usage,
            perspective=request.perspective,
            cost_usd=cost,
            request_id=self._request_id(response, data),
            started_at=started,
            ended_at=ended,
        )
        return ChatResponse(
            text=text,
            provider=self.provider,
            model=self.model,
            calls=(record,),
            mode="single",
            finish_reason=finish_reason,
        )

    def _without_error(self, data: Any, status: int) -> dict[str, Any]:
        """Return the JSON object of a 200, or raise if it is not one or carries an error.

        Gateways (OpenRouter) and Anthropic can report a failure that happened after the model
        started as a 200 with an in-body error; taking it as success would send an empty reply.
        """
        if not isinstance(data, dict):
            raise ModelBadResponse(
                f"{self.provider}: body is not a JSON object", provider=self.provider, status=status
            )
        if data.get("error") or data.get("type") == "error":
            err = data.get("error")
            detail = err.get("message", err) if isinstance(err, dict) else err
            raise ModelBadResponse(
                f"{self.provider}: in-body error: {short(detail)}",
                provider=self.provider,
                status=status,
            )
        return data

    # What each provider module supplies.

    def _endpoint(self) -> str:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _http_error(self, response: httpx.Response) -> Exception:
        raise NotImplementedError

    def _parse(self, data: dict[str, Any], status: int) -> tuple[str, str | None]:
        raise NotImplementedError

    def _usage_and_cost(
        self, data: Any, request: ChatRequest, text: str
    ) -> tuple[Usage, float | None]:
        raise NotImplementedError

    def _request_id(self, response: httpx.Response, data: Any) -> str | None:
        return None


def str_or_none(value: object) -> str | None:
    """A non-empty string, or None: for ids read from provider JSON."""
    return value if isinstance(value, str) and value else None

"""Interfaces between the pipeline and the outside world (Protocols), and the values they pass.

Only `bot/app.py` and `bot/services.py` pick concrete adapters; everything else sees these.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Role = Literal["system", "user", "assistant"]
# L2-normalised float32 rows from a sentence encoder: a dot product is the cosine similarity.
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class VettedPassage:
    """A curated, sourced passage the answer must be built from (in the reply's language)."""

    id: str
    title: str
    text: str
    source: str
    language: str  # the language `text` is written in (English when not yet translated)
    level_hint: str | None = None  # how soon care is usually needed for this question


@dataclass(frozen=True, slots=True)
class ImagePart:
    """A photo the person sent, for a vision-capable model (attached to their last message)."""

    data: bytes
    media_type: str  # "image/jpeg", "image/png", "image/webp"


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One request to a chat model: a system prompt, the recent conversation, and limits."""

    system: str
    messages: tuple[ChatMessage, ...]
    language: str = "en"  # the language the reply must be written in
    max_tokens: int = 600
    temperature: float = 0.2
    deadline: float | None = None  # time.monotonic() value after which the answer is useless
    json_output: bool = False  # ask for a single JSON object (structured perspectives)
    perspective: str | None = None  # e.g. "triage_nurse"; None for a plain single answer
    triage_level: str = "info"  # the rules' level, so no model needs to guess it
    conversation_id: int | None = None
    # What retrieval found for the last message, best first: None when no retrieval ran (the
    # offline model then searches itself), () when nothing vetted answers it.
    passages: tuple[VettedPassage, ...] | None = None
    # Photos with the last user message (bot/llm/vision.py); only vision models get any.
    images: tuple[ImagePart, ...] = ()

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""

    def time_left(self, now: float | None = None) -> float | None:
        """Seconds until the deadline (never negative), or None when there is no deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (time.monotonic() if now is None else now))


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    estimated: bool = False  # True when counted by us, not reported by the provider


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One attempt at one model, successful or not: what cost and latency reports are made of."""

    provider: str
    model: str
    outcome: str  # "ok", "timeout", "rate_limited", "unavailable", "refused", "bad_response"
    latency_ms: float
    usage: Usage = field(default_factory=Usage)
    perspective: str | None = None
    cost_usd: float | None = None  # None means unknown, never "free"
    request_id: str | None = None
    started_at: float = 0.0  # time.monotonic() at the start, to show overlap in contemplating mode
    ended_at: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A model's answer, with every call (including failed attempts) that produced it."""

    text: str
    provider: str
    model: str
    calls: tuple[CallRecord, ...] = ()
    urgency: str | None = None  # a triage level the model(s) concluded, if any
    red_flags: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Sentences the model path itself appended for caution (not the model's own draft).
    caution: tuple[str, ...] = ()
    mode: str = "single"  # "single", "contemplate", "offline", "fallback"
    finish_reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a ChatRequest into a ChatResponse, or raises bot.errors.ModelError."""

    provider: str
    model: str

    def complete(self, request: ChatRequest) -> ChatResponse: ...


class Alerter(Protocol):
    """Tells staff that a conversation needs them now. Raises on failure; the caller retries."""

    name: str

    def send(self, alert: StaffAlert) -> None: ...


@dataclass(frozen=True, slots=True)
class StaffAlert:
    contact_id: int
    phone: str
    level: str
    rule_ids: Sequence[str]
    excerpt: str  # a short excerpt of the message, for staff to judge at a glance
    reason: str  # "emergency", "urgent", "human_requested", "delivery_failed"
    admin_url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundText:
    to: str  # "whatsapp:+E164"
    body: str
    idempotency_key: str


class Messenger(Protocol):
    """Sends a message outside a webhook response (Twilio REST); returns the message id."""

    def send(self, message: OutboundText) -> str: ...


class Embedder(Protocol):
    """Turns texts into unit vectors; queries and passages may be encoded differently (E5).

    Raises EmbedderUnavailable (bot.errors) when the encoder cannot answer.
    """

    name: str  # identifies the vector space: vectors of different names never mix

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

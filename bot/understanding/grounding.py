"""Is a model's answer supported by the vetted passages it was given?

Each sentence of the reply (its source line left out) is compared with the passages: supported
when most of its content words appear in them, or when the encoder finds a passage sentence that
says the same (cosine >= SENTENCE_COSINE). The reply is grounded when supported sentences make up
at least MIN_SUPPORT of its text. Otherwise the person gets the vetted passage itself, as
Ask-A-Question does, and the replacement is recorded.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.errors import EmbedderUnavailable
from bot.knowledge.base import content_tokens
from bot.llm.offline import render_vetted
from bot.ports import ChatResponse, Embedder, VettedPassage

MIN_SUPPORT = 0.6
WORD_OVERLAP = 0.6
SENTENCE_COSINE = 0.88
_SENTENCE = re.compile(r"(?<=[.!?।])\s+|\n+")
_SOURCE_LINE = re.compile(r"^\W*(source|fuente|fonte|chanzo|स्रोत)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Grounding:
    grounded: bool
    support: float  # the share of the reply's text found in the passages (0..1)


def sentences(text: str) -> list[str]:
    """The reply's sentences and bullet lines, without a trailing source line or URLs."""
    out = []
    for part in _SENTENCE.split(text):
        part = re.sub(r"https?://\S+", "", part).strip(" -•*\t")
        if len(content_tokens(part)) >= 2 and not _SOURCE_LINE.match(part):
            out.append(part)
    return out


def check(
    reply: str,
    passages: Sequence[VettedPassage],
    embedder: Embedder | None,
    *,
    safety_additions: Sequence[str] = (),
) -> Grounding:
    """How much of `reply` the passages support.

    `safety_additions` are texts the model path itself adds for caution (contemplating mode's
    red flags, medicine warnings and fixed disagreement sentence): they count as supported.
    """
    said = sentences(reply)
    if not said:
        return Grounding(True, 1.0)
    vocabulary = {t for p in passages for t in content_tokens(f"{p.title} {p.text}")}
    additions = [set(content_tokens(a)) for a in safety_additions]
    supported = [
        len(set(tokens) & vocabulary) >= WORD_OVERLAP * len(tokens)
        or any(extra and len(set(tokens) & extra) >= WORD_OVERLAP * len(tokens)
               for extra in additions)
        for tokens in (content_tokens(s) for s in said)
    ]
    if embedder is not None and not all(supported):
        source = [s for p in passages for s in sentences(p.text)]
        try:
            reply_vectors = embedder.embed_queries(said)
            source_vectors = embedder.embed_passages(source) if source else None
        except EmbedderUnavailable:
            source_vectors = None
        if source_vectors is not None and len(source_vectors):
            best = np.max(reply_vectors @ source_vectors.T, axis=1)
            supported = [ok or float(b) >= SENTENCE_COSINE for ok, b in zip(supported, best,
                                                                           strict=True)]
    total = sum(len(s) for s in said)
    share = sum(len(s) for s, ok in zip(said, supported, strict=True) if ok) / total
    return Grounding(share >= MIN_SUPPORT, share)


def replace_with_passage(
    response: ChatResponse, passage: VettedPassage, language: str
) -> ChatResponse:
    """The response with its text replaced by the vetted passage (calls and cost are kept)."""
    return dataclasses.replace(response, text=render_vetted(passage, language),
                               finish_reason="ungrounded")

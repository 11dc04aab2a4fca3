"""What a message means: the encoder, retrieval over the vetted passages, small talk, follow-ups."""

from __future__ import annotations

from bot.errors import EmbedderUnavailable
from bot.ports import Embedder
from bot.understanding.retrieval import PassageHit, PassageIndex
from bot.understanding.service import Understanding, Understood

__all__ = [
    "Embedder",
    "EmbedderUnavailable",
    "PassageHit",
    "PassageIndex",
    "Understanding",
    "Understood",
]

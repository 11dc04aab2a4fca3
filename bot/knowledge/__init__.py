"""The curated, sourced health knowledge base behind the offline model."""

from __future__ import annotations

from bot.knowledge.base import (
    LANGUAGES,
    Hit,
    KnowledgeBase,
    KnowledgeError,
    Topic,
    build_match_query,
    content_tokens,
    load_topics,
    parse_topic,
    tokenize,
)

__all__ = [
    "LANGUAGES",
    "Hit",
    "KnowledgeBase",
    "KnowledgeError",
    "Topic",
    "build_match_query",
    "content_tokens",
    "load_topics",
    "parse_topic",
    "tokenize",
]

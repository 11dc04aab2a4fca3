"""Question-level passages: each answers one question, in six languages, with its sources.

Every topic card (bot/knowledge/topics/) is also an overview passage whose id is the topic id;
bot/knowledge/passages/<topic>.yaml adds passages that answer one specific question ("how much
paracetamol for a 2-year-old"). Retrieval (bot/understanding) ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.knowledge.base import LANGUAGES, KnowledgeError, LevelHint, Topic, VettedText, load_topics

# Topic id -> ((language, title), ...), immutable so one parsed copy can be shared.
TopicTitles = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
Audience = Literal["infant", "child", "adult", "pregnant", "elderly"]

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _all_languages(value: dict[str, Any], what: str) -> dict[str, Any]:
    missing = [lang for lang in LANGUAGES if not value.get(lang)]
    if missing:
        raise ValueError(f"{what} missing for {missing}")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language codes {unknown}")
    return value


class Passage(VettedText):
    """One vetted answer to one question (or a topic's overview), in every language."""

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)?$")
    topic: str = Field(pattern=r"^[a-z0-9_]+$")
    keywords: tuple[str, ...] = ()
    questions: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    about: tuple[Audience, ...] = ()
    overview: bool = False  # True for a topic card's whole answer

    def texts_to_embed(self) -> list[tuple[str, str]]:
        """(kind, text) pairs whose vectors stand for this passage in dense retrieval."""
        out: list[tuple[str, str]] = []
        for lang in LANGUAGES:
            title = self.title.get(lang)
            if title is None:
                continue
            answer = self.answer.get(lang)
            if answer:
                # The title and the first lines carry the question the passage answers.
                out.append((f"answer:{lang}", f"{title}. {_lead(answer)}"))
            out.extend((f"question:{lang}", q) for q in self.questions.get(lang, ()))
        return out


def _lead(answer: str, limit: int = 400) -> str:
    return " ".join(answer.split())[:limit]


class _PassageFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=r"^[a-z0-9_]+$")
    title: dict[str, str] | None = None
    passages: list[dict[str, Any]] = Field(min_length=1)


class _PassageEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: dict[str, str]
    answer: dict[str, str]
    questions: dict[str, list[str]]
    keywords: list[str] = Field(min_length=3)
    about: list[Audience] = Field(default_factory=list)
    level_hint: LevelHint
    sources: list[str] = Field(min_length=1)
    reviewed: date

    @field_validator("title", "answer", "questions")
    @classmethod
    def _complete(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _all_languages(value, "text")


def overview_of(topic: Topic) -> Passage:
    """A topic card as a passage (its id is the topic's id)."""
    return Passage(
        id=topic.id,
        topic=topic.id,
        title=topic.title,
        answer=topic.answer,
        keywords=topic.keywords,
        level_hint=topic.level_hint,
        sources=topic.sources,
        reviewed=topic.reviewed,
        overview=True,
    )


def parse_passage_file(text: str, name: str) -> tuple[str, dict[str, str] | None, list[Passage]]:
    """Parse one passages file: (topic id, its title if it is a new topic, passages)."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, chosen above
        head = _PassageFile.model_validate(data)
        passages: list[Passage] = []
        for raw in head.passages:
            entry = _PassageEntry.model_validate(raw)
            if not entry.id.startswith(f"{head.topic}."):
                raise ValueError(f"passage id {entry.id!r} must start with {head.topic!r}.")
            passages.append(
                Passage(
                    id=entry.id,
                    topic=head.topic,
                    title=entry.title,
                    answer=entry.answer,
                    keywords=tuple(entry.keywords),
                    questions={k: tuple(v) for k, v in entry.questions.items()},
                    about=tuple(entry.about),
                    level_hint=entry.level_hint,
                    sources=tuple(entry.sources),
                    reviewed=entry.reviewed,
                )
            )
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        raise KnowledgeError(f"passages file {name}: {exc}") from exc
    return head.topic, head.title, passages


def load_passages(
    topics: Sequence[Topic] | None = None, root: Traversable | None = None
) -> tuple[list[Passage], dict[str, dict[str, str]]]:
    """Every passage (topic overviews first, then the question-level files) and topic titles.

    Raises:
        KnowledgeError: a file is malformed, an id repeats, or a new topic has no title.
    """
    topics = list(topics) if topics is not None else load_topics()
    folder = root if root is not None else resources.files("bot.knowledge").joinpath("passages")
    passages = [overview_of(t) for t in topics]
    titles = {t.id: dict(t.title) for t in topics}
    seen = {p.id for p in passages}
    entries = sorted(
        (e for e in folder.iterdir() if e.name.endswith((".yaml", ".yml"))),
        key=lambda e: e.name,
    ) if folder.is_dir() else []
    for entry in entries:
        topic, title, found = parse_passage_file(entry.read_text(encoding="utf-8"), entry.name)
        if topic not in titles:
            if not title:
                raise KnowledgeError(
                    f"passages file {entry.name}: new topic {topic!r} needs a title"
                )
            titles[topic] = title
        for passage in found:
            if passage.id in seen:
                raise KnowledgeError(f"passages file {entry.name}: id {passage.id!r} repeats")
            seen.add(passage.id)
            passages.append(passage)
    return passages, titles


@lru_cache(maxsize=1)
def shipped_passages() -> tuple[tuple[Passage, ...], TopicTitles]:
    """The shipped passages and topic titles, parsed once per process (they never change)."""
    passages, titles = load_passages()
    return tuple(passages), tuple((t, tuple(v.items())) for t, v in titles.items())

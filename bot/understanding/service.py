"""What one message means in its conversation: small talk, or which vetted passages answer it.

    understand(text, earlier, last_passages, subject, language) -> Understood

A follow-up ("and for my 2 year old?", "how many times a day?", "na kwa mdogo wake?") is read with
the question before it: the search text carries the earlier question and the active topic's
passages get a bonus. A message that names its own, different topic starts a new one. The passage
just sent is never sent again whole: when it still holds the answer, only its lines that answer
the new question go out (`excerpt`); the same question asked again is told there is no more to
add. Small talk is read from its phrases, or by meaning when nothing vetted answers the message.

Each message is encoded once; the vector is cached by text so the semantic safety check, the
retrieval and a queued answer in the same process share it.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.errors import EmbedderUnavailable
from bot.knowledge.base import content_tokens
from bot.knowledge.passages import Passage, shipped_passages
from bot.ports import Embedder, Vectors
from bot.understanding import smalltalk
from bot.understanding.redflags import RedFlagDetector
from bot.understanding.retrieval import PassageHit, PassageIndex
from bot.understanding.vectors import (
    encode_missing,
    encode_texts,
    load_shipped,
    missing_texts,
    text_key,
)
from safety import RuleHit

log = logging.getLogger(__name__)

# A message this short after an answered question leans on it ("and at night?").
FOLLOW_UP_MAX_TOKENS = 4
# How much the conversation's active topic, and the very passage just sent, count for a
# follow-up ("e pro bebê de 8 meses?" after the dosing table stays with the dosing table).
ACTIVE_TOPIC_BONUS = 0.15
ACTIVE_PASSAGE_BONUS = 0.3
# The same question again: its vector this close to the previous question's.
SAME_QUESTION_COSINE = 0.93
# Small talk in other words ("Bonjour à vous, j'espère que vous allez bien"): this close to a
# small-talk phrase, and nothing vetted answers it. Health questions reach ~0.86-0.89 to some
# phrase, which is why the retrieval must come back empty too.
SMALLTALK_COSINE = 0.87
SMALLTALK_MAX_TOKENS = 30
# A follow-up's own words must beat the context by this much to start a new topic on their own.
NEW_TOPIC_MARGIN = 0.35

_NUMBER = re.compile(r"\d+")
# Words that open a follow-up in each language: "and", "what about", "how often", "is it safe".
_FOLLOW_UP_OPENERS = re.compile(
    r"^(?:and|also|but|so|what about|how about|and for|and if|and what|what if|"
    r"how (?:many|much|often|long|soon)|can (?:i|she|he|they|we)|is it|should i|"
    r"y |y para|y si|y que|tambien|pero|cuantas?|cuanto|cada cuanto|"
    r"e |e para|e se|e quanto|mas e|tambem|quantas?|quanto|"
    r"et |et pour|et si|mais|aussi|combien|"
    r"na |na kwa|je |pia|mara ngapi|kwa siku|"
    r"aur |aur agar|kitni|kitna|kab tak|और|कितनी|कितना|क्या|"
    r"wetin about|how e be for)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Understood:
    """The reading of one message: small talk, or the passages that answer it, best first."""

    intent: str | None = None  # "greeting", "thanks", ... when the whole message is small talk
    passages: tuple[PassageHit, ...] = ()
    follow_up: bool = False
    already_answered: bool = False  # the only answer is the passage just sent
    focus: bool = False  # answer with the part of the first passage that fits the follow-up
    topic: str | None = None


class _VectorCache:
    """The last few messages' vectors, by text (thread-safe, bounded)."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[str, Vectors] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, text: str) -> Vectors | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is not None:
                self._items.move_to_end(text)
            return vector

    def put(self, text: str, vector: Vectors) -> None:
        with self._lock:
            self._items[text] = vector
            self._items.move_to_end(text)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def build_index(passages: Sequence[Passage], embedder: Embedder | None) -> PassageIndex:
    """The passages' index, with their vectors when there is an encoder (missing ones encoded)."""
    vectors = None
    if embedder is not None:
        shipped = load_shipped(embedder.name)
        missing = missing_texts(passages, shipped)
        if missing:
            log.warning("%d passage texts have no shipped vectors for %s; encoding them now "
                        "(run `healthbot kb embed` after changing the content)",
                        len(missing), embedder.name)
        vectors = encode_missing(embedder, passages, shipped)
    return PassageIndex(passages, vectors)


@functools.cache
def _small_talk_words() -> dict[str, frozenset[str]]:
    return smalltalk.intent_words()


def small_talk_name(embedder: Embedder) -> str:
    """The name the small-talk phrases' vectors are shipped under, for this encoder."""
    return f"smalltalk/{embedder.name}"


@dataclass(frozen=True, slots=True)
class _SmallTalkBank:
    """The small-talk phrases' vectors and, row for row, their (intent, language)."""

    matrix: Vectors
    labels: list[tuple[str, str | None]]

    @classmethod
    def build(cls, embedder: Embedder) -> _SmallTalkBank:
        phrases = smalltalk.exemplars()
        texts = [text for text, _intent, _language in phrases]
        table = encode_texts(embedder, texts, load_shipped(small_talk_name(embedder)),
                             as_queries=True)
        matrix = np.stack([table[text_key(t)] for t in texts]).astype(np.float32)
        return cls(matrix, [(intent, language) for _text, intent, language in phrases])


@dataclass(frozen=True, slots=True)
class _Shipped:
    """What the shipped content gives one encoder: immutable, so one copy serves every app."""

    index: PassageIndex
    small_talk: _SmallTalkBank | None
    redflags: RedFlagDetector | None


# By encoder name ("" for words only). Tests and tools build many apps in one process, and each
# would otherwise rebuild the index and reload every vector file.
_SHIPPED: dict[str, _Shipped] = {}
_SHIPPED_LOCK = threading.Lock()


def _shipped(embedder: Embedder | None) -> _Shipped:
    passages, _titles = shipped_passages()
    with _SHIPPED_LOCK:
        key = embedder.name if embedder is not None else ""
        found = _SHIPPED.get(key)
        if found is None:
            found = _SHIPPED[key] = _Shipped(
                index=build_index(passages, embedder),
                small_talk=_SmallTalkBank.build(embedder) if embedder is not None else None,
                redflags=RedFlagDetector(embedder) if embedder is not None else None,
            )
        return found


class Understanding:
    """The passages' index, the encoder and its banks; built once per process, shared by threads."""

    def __init__(
        self,
        index: PassageIndex,
        topic_titles: dict[str, dict[str, str]],
        embedder: Embedder | None,
        *,
        small_talk: _SmallTalkBank | None = None,
        redflags: RedFlagDetector | None = None,
    ) -> None:
        self.embedder = embedder
        self.topic_titles = topic_titles
        self.index = index
        self.small_talk = small_talk
        self.redflags = redflags
        self._cache = _VectorCache()  # messages (as queries)
        # Passage lines (as passages), for follow-up excerpts: a few thousand lines at most.
        self._lines = _VectorCache(size=4096)

    @classmethod
    def load(cls, embedder: Embedder | None, *, semantic_triage: bool = True) -> Understanding:
        """The shipped passages (topic overviews and question-level files) on this encoder."""
        _passages, titles = shipped_passages()
        shipped = _shipped(embedder)
        return cls(shipped.index, {topic: dict(names) for topic, names in titles}, embedder,
                   small_talk=shipped.small_talk,
                   redflags=shipped.redflags if semantic_triage else None)

    def topic_title(self, topic: str | None, language: str) -> str:
        """A topic's title in `language` (English when untranslated; "" when unknown)."""
        titles = self.topic_titles.get(topic or "", {})
        return titles.get(language) or titles.get("en", "")

    def second_opinion(self, text: str, language: str) -> list[RuleHit]:
        """The semantic red-flag check on this message (it can only add hits, never remove)."""
        if self.redflags is None or not text.strip():
            return []
        return self.redflags.check(text, self.encode(text), language=language)

    @property
    def semantic(self) -> bool:
        return self.index.dense

    def encode(self, text: str) -> Vectors | None:
        """The message's vector (cached), or None without an encoder or when it fails."""
        if self.embedder is None or not text.strip():
            return None
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        try:
            vector: Vectors = self.embedder.embed_queries([text])[0]
        except EmbedderUnavailable:
            log.warning("the encoder failed; answering from words alone", exc_info=True)
            return None
        self._cache.put(text, vector)
        return vector

    def understand(
        self,
        text: str,
        *,
        earlier: Sequence[str] = (),
        last_passages: Sequence[str] = (),
        subject: str | None = None,
        language: str | None = None,
        limit: int = 3,
    ) -> Understood:
        """Read the last message in the light of the earlier user messages and the last answer."""
        talk = smalltalk.detect(text)
        if talk is not None:
            return Understood(intent=talk.intent)
        own = self.index.score(text, self.encode(text), language=language, subject=subject)
        active = self._active_topic(last_passages)
        context = [t for t in earlier if t.strip()][-2:]
        follow_up = bool(active and context and self._reads_as_follow_up(text))
        hits = own
        if follow_up:
            joined = " ".join([*context, text])
            with_context = self.index.score(joined, self.encode(joined), language=language,
                                             subject=subject)
            best_own = max(own.values(), key=lambda h: h.score, default=None)
            best_ctx = max((h.score for h in with_context.values()), default=0.0)
            if (best_own is not None and best_own.passage.topic != active
                    and best_own.score >= best_ctx + NEW_TOPIC_MARGIN):
                follow_up = False  # "also, my husband sprained his ankle": a topic of its own
            else:
                hits = {
                    i: self._with_context(own.get(i), with_context.get(i), active, last_passages)
                    for i in set(own) | set(with_context)
                }
                top = max(hits.values(), key=lambda h: h.score, default=None)
                # Read with its context, the message still points away from the active topic,
                # the way the message alone does: it starts a new topic.
                if (top is not None and best_own is not None and top.passage.topic != active
                        and top.passage.topic == best_own.passage.topic):
                    follow_up = False
        ranked = self.index.rank(hits, limit=limit + len(last_passages))
        if not ranked:
            talk = self._small_talk_by_meaning(text)
            if talk is not None:
                return Understood(intent=talk.intent)
            return Understood(follow_up=follow_up)
        best = ranked[0]
        others = [h for h in ranked[1:] if h.passage.id not in last_passages]
        if best.passage.id in last_passages:
            if self._same_question(text, context):
                # The same question again in other words: there is nothing to add.
                return Understood(already_answered=True, topic=best.passage.topic)
            if follow_up or not others or others[0].score < best.score - NEW_TOPIC_MARGIN:
                # "and for my 2 year old?" after the dosing table: the answer is in the passage
                # just sent, so the part of it that answers this question is sent, not all of it.
                return Understood(passages=(best, *others[: limit - 1]), follow_up=follow_up,
                                  focus=True, topic=best.passage.topic)
            ranked = others
        fresh = [h for h in ranked if h.passage.id not in last_passages][:limit]
        return Understood(passages=tuple(fresh), follow_up=follow_up,
                          topic=fresh[0].passage.topic if fresh else None)

    def _small_talk_by_meaning(self, text: str) -> smalltalk.SmallTalk | None:
        """The small talk a message means when its words are not in the phrase lists."""
        if self.small_talk is None or len(text.split()) > SMALLTALK_MAX_TOKENS:
            return None
        vector = self.encode(text)
        if vector is None:
            return None
        if self.small_talk is None:
            return None
        sims = self.small_talk.matrix @ vector
        best = int(np.argmax(sims))
        if float(sims[best]) < SMALLTALK_COSINE:
            return None
        intent, language = self.small_talk.labels[best]
        # Meaning alone is not enough for a short message ("question one" sits as close to
        # "what can I ask"): it must also say some of that small talk's own words.
        if not smalltalk.shares_words(text, _small_talk_words()[intent]):
            return None
        return smalltalk.SmallTalk(intent, language)

    @staticmethod
    def _with_context(
        own: PassageHit | None,
        joined: PassageHit | None,
        active: str | None,
        last_passages: Sequence[str],
    ) -> PassageHit:
        """A follow-up's evidence: the stronger of its readings alone and with the earlier
        question, plus half the weaker (measured better than a plain or weighted sum on the
        follow-ups of tests/understanding/answers_eval.jsonl: 0.86 against 0.79-0.81)."""
        some = own or joined
        assert some is not None
        mine, theirs = (own.score if own else 0.0), (joined.score if joined else 0.0)
        score = max(mine, theirs) + 0.5 * min(mine, theirs)
        if some.passage.id in last_passages:
            score += ACTIVE_PASSAGE_BONUS
        elif some.passage.topic == active:
            score += ACTIVE_TOPIC_BONUS
        return PassageHit(some.passage, score, some.dense, some.lexical)

    def _same_question(self, text: str, context: Sequence[str]) -> bool:
        """True when the message asks the previous question again in other words."""
        if not context:
            return False
        now, before = self.encode(text), self.encode(context[-1])
        if now is not None and before is not None:
            return float(now @ before) >= SAME_QUESTION_COSINE
        words, previous = set(content_tokens(text)), set(content_tokens(context[-1]))
        return bool(words) and len(words & previous) >= 0.7 * len(words | previous)

    def excerpt(self, answer: str, question: str, limit: int = 3) -> str:
        """The lines of a passage that answer a follow-up, plus its closing care advice.

        Lines are scored by the follow-up's words (numbers included: "2 year" finds "2 to 3
        years") and, with an encoder, by meaning. The first and last lines of a passage are its
        direct answer and its when-to-seek-care line; the last one is always kept.
        """
        lines = [line for line in answer.splitlines() if line.strip()]
        if len(lines) <= 3:
            return answer
        asked = set(content_tokens(question)) | set(_NUMBER.findall(question))
        scores = [
            float(len(asked & (set(content_tokens(line)) | set(_NUMBER.findall(line)))))
            for line in lines[:-1]
        ]
        vector = self.encode(question)
        if vector is not None and self.embedder is not None:
            try:
                sims = np.stack([self._line_vector(line) for line in lines[:-1]]) @ vector
                scores = [s + max(0.0, (float(c) - 0.80) / 0.05) for s, c in zip(scores, sims,
                                                                                   strict=True)]
            except EmbedderUnavailable:
                pass
        best = sorted(range(len(scores)), key=lambda i: -scores[i])[:limit]
        chosen = sorted(i for i in best if scores[i] > 0)
        if not chosen:
            return answer
        return "\n".join([*(lines[i] for i in chosen), lines[-1]])

    def _line_vector(self, line: str) -> Vectors:
        """A vetted passage line's vector: encoded once per process, then cached by text."""
        assert self.embedder is not None
        vector = self._lines.get(line)
        if vector is None:
            vector = self.embedder.embed_passages([line])[0]
            self._lines.put(line, vector)
        return vector

    def _active_topic(self, last_passages: Sequence[str]) -> str | None:
        for pid in last_passages:
            passage = self.index.by_id.get(pid)
            if passage is not None:
                return passage.topic
        return None

    @staticmethod
    def _reads_as_follow_up(text: str) -> bool:
        stripped = text.strip()
        if _FOLLOW_UP_OPENERS.match(smalltalk.fold(stripped).lstrip("¿¡ .,-")):
            return True
        return len(content_tokens(stripped)) <= FOLLOW_UP_MAX_TOKENS

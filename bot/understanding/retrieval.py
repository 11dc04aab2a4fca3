"""Hybrid retrieval over the vetted passages: FTS5 BM25 on the words plus dense cosine.

Lexical matching catches exact names (a medicine, "ORS", "PEP"); the multilingual encoder catches
meaning in other words and other languages ("my little one is burning up" ~ fever in children).
Each side is put on a 0-1 scale and added; a hit must reach `min_score`, so a question nothing
answers gets an honest "I don't know" rather than the nearest card.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.knowledge.base import (
    LANGUAGES,
    build_match_query,
    normalised_tokens,
    pad_to_same_length,
)
from bot.knowledge.passages import Passage
from bot.ports import Vectors
from bot.understanding.vectors import passage_rows, text_key

log = logging.getLogger(__name__)

# Cosine similarities of multilingual-e5 sit in a narrow band: unrelated texts score ~0.75-0.80,
# a paraphrase of the same question ~0.90+. This maps that band onto 0..1.
DENSE_FLOOR = 0.80
DENSE_CEIL = 0.92
# BM25 of one curated keyword hit is ~3-6; this maps it onto roughly 0..1.
LEXICAL_SCALE = 8.0
LEXICAL_CAP = 1.2
# The evidence a hit needs, calibrated on tests/understanding/answers_eval.jsonl (questions that
# have an answer) and out_of_scope.jsonl (questions that have none): the highest thresholds that
# lose no answerable question there. With an encoder they turn away 82% of the off-topic
# questions (at 0.55: 27%); with words only, 55% (one keyword hit scores ~3-6 BM25).
MIN_SCORE_DENSE = 1.1
MIN_SCORE_LEXICAL = 5.0 / LEXICAL_SCALE
# Passages written for one group (a child's dose) count less when the person is another.
AUDIENCE_PENALTY = 0.35
AUDIENCE_BONUS = 0.08

_META_SQL = (
    "SELECT rowid, -bm25(meta_fts, ?, ?, ?) FROM meta_fts WHERE meta_fts MATCH ?"
)
_ANSWER_SQL = (
    "SELECT rowid, -bm25(answer_fts, ?, ?, ?, ?, ?, ?) FROM answer_fts WHERE answer_fts MATCH ?"
)
_ANSWER_FACTOR = 0.35
_ANSWER_WEIGHT_ASKED = 1.0
_ANSWER_WEIGHT_OTHER = 0.3


@dataclass(frozen=True, slots=True)
class PassageHit:
    """A passage that may answer the question; `score` is the fused evidence (higher is better)."""

    passage: Passage
    score: float
    dense: float = 0.0  # best cosine of the query to the passage's texts
    lexical: float = 0.0  # BM25, before scaling


def _audiences(subject: str | None) -> frozenset[str]:
    """The passage audiences that fit who the conversation is about."""
    return {
        "infant": frozenset({"infant", "child"}),
        "child": frozenset({"child"}),
        "pregnant": frozenset({"pregnant", "adult"}),
        "elderly": frozenset({"elderly", "adult"}),
        "adult": frozenset({"adult", "elderly"}),
    }.get(subject or "", frozenset())


class PassageIndex:
    """All passages, indexed for words (FTS5) and, when an encoder is given, for meaning."""

    def __init__(self, passages: Sequence[Passage], vectors: Mapping[str, Vectors] | None) -> None:
        if not passages:
            raise ValueError("an index needs at least one passage")
        self.passages: tuple[Passage, ...] = tuple(passages)
        self.by_id: dict[str, Passage] = {p.id: p for p in self.passages}
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._build_lexical()
        self._matrix: Vectors | None = None
        self._owner: np.ndarray | None = None
        if vectors is not None:
            rows = passage_rows(self.passages)
            self._matrix = np.stack([vectors[text_key(t)] for _i, t in rows]).astype(np.float32)
            self._owner = np.array([i for i, _t in rows], dtype=np.int64)

    @property
    def dense(self) -> bool:
        return self._matrix is not None

    @property
    def min_score(self) -> float:
        return MIN_SCORE_DENSE if self.dense else MIN_SCORE_LEXICAL

    def _build_lexical(self) -> None:
        cols = ", ".join(f"answer_{lang}" for lang in LANGUAGES)
        self._db.execute(
            "CREATE VIRTUAL TABLE meta_fts USING fts5(title, keywords, questions,"
            " tokenize = 'unicode61 remove_diacritics 0')"
        )
        self._db.execute(
            f"CREATE VIRTUAL TABLE answer_fts USING fts5({cols},"
            " tokenize = 'unicode61 remove_diacritics 0')"
        )
        titles = [normalised_tokens(p.title.values(), distinct=True) for p in self.passages]
        keywords = [normalised_tokens(p.keywords, distinct=True) for p in self.passages]
        questions = [
            normalised_tokens([q for qs in p.questions.values() for q in qs], distinct=True)
            for p in self.passages
        ]
        with self._db:
            self._db.executemany(
                "INSERT INTO meta_fts (rowid, title, keywords, questions) VALUES (?, ?, ?, ?)",
                zip(
                    range(1, len(self.passages) + 1),
                    pad_to_same_length(titles),
                    pad_to_same_length(keywords),
                    pad_to_same_length(questions),
                    strict=True,
                ),
            )
            self._db.executemany(
                # Column names come from the LANGUAGES constant, never from input.
                f"INSERT INTO answer_fts (rowid, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                [
                    (i, *(normalised_tokens([p.answer.get(lang, "")]) for lang in LANGUAGES))
                    for i, p in enumerate(self.passages, start=1)
                ],
            )

    def lexical_scores(self, text: str, language: str | None = None) -> dict[int, float]:
        """BM25 per passage index for the words of `text` (no threshold)."""
        match = build_match_query(text)
        if match is None:
            return {}
        weights = [
            _ANSWER_WEIGHT_ASKED if language in (None, lang) else _ANSWER_WEIGHT_OTHER
            for lang in LANGUAGES
        ]
        try:
            with self._lock:
                meta = self._db.execute(_META_SQL, (1.0, 1.0, 0.8, match)).fetchall()
                answers = self._db.execute(_ANSWER_SQL, (*weights, match)).fetchall()
        except sqlite3.OperationalError:
            log.exception("passage search failed for %r", match)
            return {}
        scores: dict[int, float] = {}
        for rowid, score in meta:
            scores[rowid - 1] = float(score)
        for rowid, score in answers:
            scores[rowid - 1] = scores.get(rowid - 1, 0.0) + _ANSWER_FACTOR * float(score)
        return scores

    def dense_scores(self, vector: Vectors | None) -> np.ndarray | None:
        """The best cosine of `vector` to each passage's texts (None without an encoder)."""
        if vector is None or self._matrix is None or self._owner is None:
            return None
        sims = self._matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best = np.full(len(self.passages), -1.0, dtype=np.float32)
        np.maximum.at(best, self._owner, sims)
        return best

    def score(
        self,
        text: str,
        vector: Vectors | None,
        *,
        language: str | None = None,
        subject: str | None = None,
    ) -> dict[int, PassageHit]:
        """Fused evidence for every passage with any (no threshold), by passage index."""
        lexical = self.lexical_scores(text, language)
        dense = self.dense_scores(vector)
        fit = _audiences(subject)
        hits: dict[int, PassageHit] = {}
        candidates = set(lexical)
        if dense is not None:
            candidates.update(int(i) for i in np.nonzero(dense > DENSE_FLOOR)[0])
        for i in candidates:
            lex = lexical.get(i, 0.0)
            cos = float(dense[i]) if dense is not None else 0.0
            value = min(LEXICAL_CAP, lex / LEXICAL_SCALE)
            if dense is not None:
                value += max(0.0, (cos - DENSE_FLOOR) / (DENSE_CEIL - DENSE_FLOOR))
            about = self.passages[i].about
            if fit and about:
                value += AUDIENCE_BONUS if fit.intersection(about) else -AUDIENCE_PENALTY
            hits[i] = PassageHit(self.passages[i], value, cos, lex)
        return hits

    def rank(self, hits: Mapping[int, PassageHit], limit: int = 3) -> list[PassageHit]:
        """The best hits that reach the threshold, best first (ties in file order)."""
        ordered = sorted(hits.items(), key=lambda item: (-item[1].score, item[0]))
        return [
            hit for _i, hit in ordered
            if hit.score >= self.min_score
        ][: max(0, limit)]

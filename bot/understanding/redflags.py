"""A semantic second opinion on red flags: it runs beside the triage rules and can only raise.

The bank (data/redflags.yaml) holds, per danger (a group: category and level), descriptions of
it in the words people use, in every language, plus NEGATIVE look-alikes (questions about a
topic, mild or past versions, denials). A message's vector is compared with every exemplar in
one matrix product; a group fires when its closest exemplar is at least `threshold` and beats
the closest negative by `margin` (both per group, calibrated on the development sets).

The exemplar vectors ship beside the passages' (bot/understanding/vectors.py, under the name
`redflags/<encoder>`), keyed by a hash of the text; `healthbot kb embed` brings them up to date and
a test fails while they are stale. Rows still missing are encoded at construction, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from bot.errors import EmbedderUnavailable
from bot.ports import Embedder, Vectors
from bot.understanding.embedder import normalise_rows
from bot.understanding.vectors import (
    encode_texts,
    load_shipped,
    save_texts,
    text_key,
    vectors_path,
)
from safety.types import RuleHit, TriageLevel

log = logging.getLogger(__name__)

RULE_PREFIX = "semantic:"
# Exemplars are encoded like messages (E5 "query:"): the comparison is sentence to sentence.
_LEVELS = (TriageLevel.URGENT, TriageLevel.EMERGENCY)


@dataclass(frozen=True, slots=True)
class Group:
    """One danger the detector looks for, with its calibrated cut-offs and sources."""

    name: str
    category: str
    level: TriageLevel
    threshold: float  # the closest exemplar's cosine must reach this
    margin: float  # ... and beat the closest negative's cosine by this much
    sources: tuple[str, ...]
    reviewed: str


@dataclass(frozen=True, slots=True)
class Exemplar:
    """One description of a danger (or, with group None, of a look-alike that is not one)."""

    group: str | None
    language: str
    text: str


@dataclass(frozen=True, slots=True)
class Bank:
    """The groups and their exemplars, positives grouped together, negatives last."""

    groups: tuple[Group, ...]
    positives: tuple[Exemplar, ...]
    negatives: tuple[Exemplar, ...]

    def texts(self) -> list[str]:
        """Every text that needs a vector, each once, in bank order."""
        return list(dict.fromkeys(e.text for e in (*self.positives, *self.negatives)))


def bank_path() -> Path:
    """Where the shipped exemplar bank lives."""
    return Path(str(resources.files("bot.understanding").joinpath("data", "redflags.yaml")))


def vectors_name(encoder: str) -> str:
    """The name the exemplar vectors are shipped under (bot/understanding/vectors.py)."""
    return f"redflags/{encoder}"


def vectors_file(encoder: str) -> Path:
    """Where the shipped exemplar vectors for an encoder live."""
    return vectors_path(vectors_name(encoder))


def _exemplars(group: str | None, by_language: Mapping[str, Any]) -> list[Exemplar]:
    out: list[Exemplar] = []
    for language, texts in by_language.items():
        for text in texts or ():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"redflags: {group or 'negatives'}/{language}: empty exemplar")
            out.append(Exemplar(group, str(language), text.strip()))
    return out


def load_bank(path: Path | None = None) -> Bank:
    """Read and check the exemplar bank.

    Raises:
        ValueError: a group has no exemplars, an unknown level, or no source.
    """
    data = yaml.safe_load((path or bank_path()).read_text("utf-8"))
    defaults = data.get("defaults") or {}
    groups: list[Group] = []
    positives: list[Exemplar] = []
    for name, spec in (data.get("groups") or {}).items():
        level = TriageLevel(spec.get("level", "emergency"))
        if level not in _LEVELS:
            raise ValueError(f"redflags: {name}: level must be urgent or emergency")
        if not spec.get("sources") or not spec.get("reviewed"):
            raise ValueError(f"redflags: {name}: needs sources and a reviewed date")
        examples = _exemplars(name, spec.get("exemplars") or {})
        if not examples:
            raise ValueError(f"redflags: {name}: no exemplars")
        groups.append(Group(
            name=str(name),
            category=str(spec.get("category", name)),
            level=level,
            threshold=float(spec.get("threshold", defaults.get("threshold", 0.0))),
            margin=float(spec.get("margin", defaults.get("margin", 0.0))),
            sources=tuple(str(s) for s in spec["sources"]),
            reviewed=str(spec["reviewed"]),
        ))
        positives.extend(examples)
    negatives = _exemplars(None, (data.get("negatives") or {}).get("exemplars") or {})
    if not groups or not negatives:
        raise ValueError("redflags: the bank needs groups and negatives")
    return Bank(tuple(groups), tuple(positives), tuple(negatives))


def load_vectors(encoder: str, path: Path | None = None) -> dict[str, Vectors]:
    """The shipped exemplar vectors by text key ({} when missing or made by another encoder)."""
    return load_shipped(vectors_name(encoder), path)


def stale_texts(encoder: str, bank: Bank | None = None, path: Path | None = None) -> list[str]:
    """Bank texts the shipped file has no vector for (empty when it is up to date)."""
    known = load_vectors(encoder, path)
    return [t for t in (bank or load_bank()).texts() if text_key(t) not in known]


def encode(embedder: Embedder, texts: Iterable[str]) -> dict[str, Vectors]:
    """Vectors of the texts by text key, encoded as the messages they are compared with."""
    return encode_texts(embedder, list(texts), {}, as_queries=True)


def rebuild_vectors(embedder: Embedder, bank: Bank | None = None,
                    path: Path | None = None) -> Path:
    """Write the shipped file for the bank, encoding only texts it has no vector for yet."""
    texts = (bank or load_bank()).texts()
    known = load_vectors(embedder.name, path) if path is None or path.exists() else {}
    table = encode_texts(embedder, texts, known, as_queries=True)
    return save_texts(vectors_name(embedder.name), texts, table, path)


@dataclass(frozen=True, slots=True)
class Scores:
    """One message's cosines: the closest exemplar per group, and the closest negative."""

    best: npt.NDArray[np.float32]  # per group, bank order
    negative: float
    negative_row: int  # index into bank.negatives
    positive: npt.NDArray[np.float32]  # every red-flag exemplar's cosine, bank order


class RedFlagDetector:
    """Flags messages whose meaning is close to a red-flag description and not to a look-alike."""

    def __init__(self, embedder: Embedder, bank: Bank | None = None, *,
                 vectors: Path | None = None, max_hits: int = 2, quiet: bool = False) -> None:
        self.embedder = embedder
        self.bank = bank or load_bank()
        self.max_hits = max_hits
        table = load_vectors(embedder.name, vectors)
        missing = [t for t in self.bank.texts() if text_key(t) not in table]
        self.encoded_now = len(missing)
        if missing:
            if not quiet:
                log.warning("%d red-flag exemplars have no shipped vectors for %s; encoding "
                            "them now (run `healthbot kb embed` after editing the bank)",
                            len(missing), embedder.name)
            table.update(encode(embedder, missing))
        rows = [table[text_key(e.text)] for e in (*self.bank.positives, *self.bank.negatives)]
        self._matrix: Vectors = normalise_rows(np.stack(rows))
        self._n_pos = len(self.bank.positives)
        order = {g.name: i for i, g in enumerate(self.bank.groups)}
        group_of = np.array([order[str(e.group)] for e in self.bank.positives], dtype=np.intp)
        if np.any(np.diff(group_of) < 0):
            raise ValueError("redflags: a group's exemplars must be contiguous")
        # Positives are contiguous per group, so one reduceat gives every group's best.
        self._starts = np.searchsorted(group_of, np.arange(len(self.bank.groups)))
        self._ends = np.append(self._starts[1:], self._n_pos)
        self._threshold = np.array([g.threshold for g in self.bank.groups], dtype=np.float32)
        self._margin = np.array([g.margin for g in self.bank.groups], dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self._matrix.shape[1])

    def scores(self, vector: Vectors) -> Scores:
        """Every group's closest cosine and the closest negative's, from one matrix product."""
        sims = self._matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        pos, neg = sims[: self._n_pos], sims[self._n_pos :]
        j = int(np.argmax(neg))
        return Scores(np.maximum.reduceat(pos, self._starts), float(neg[j]), j, pos)

    def closest(self, scores: Scores, group: int) -> Exemplar:
        """The group's exemplar closest to the message."""
        start, end = int(self._starts[group]), int(self._ends[group])
        return self.bank.positives[start + int(np.argmax(scores.positive[start:end]))]

    def fired(self, scores: Scores) -> list[int]:
        """Indices of the groups that fire, emergencies first, then the closest first."""
        ok = (scores.best >= self._threshold) & (scores.best - scores.negative >= self._margin)
        idx = [int(i) for i in np.flatnonzero(ok)]
        # Emergencies first: a cap on the hits must never drop one for an urgent group.
        return sorted(idx, key=lambda i: (-self.bank.groups[i].level.rank, -float(scores.best[i])))

    def check(self, text: str, vector: Vectors | None = None,
              language: str = "en") -> list[RuleHit]:
        """Red-flag hits for a message (none when it is empty or the encoder fails).

        `vector` is the message's query vector when the caller already has it (no new encoding).
        """
        if not text.strip():
            return []
        if vector is None:
            try:
                vector = self.embedder.embed_queries([text])[0]
            except EmbedderUnavailable:
                log.warning("the encoder failed; no semantic second opinion", exc_info=True)
                return []
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            raise ValueError(f"a {vector.shape[0]}-d vector for a {self.dim}-d bank "
                             f"({self.embedder.name})")
        scores = self.scores(vector)
        hits: list[RuleHit] = []
        seen: set[str] = set()
        for i in self.fired(scores):
            group = self.bank.groups[i]
            if group.category in seen:
                continue  # an urgent group of a category that already fired at emergency
            seen.add(group.category)
            exemplar = self.closest(scores, i)
            hits.append(RuleHit(f"{RULE_PREFIX}{group.category}", group.level, group.category,
                                language, exemplar.text))
            if len(hits) >= self.max_hits:
                break
        return hits


def load_default_detector(*, quiet: bool = False) -> RedFlagDetector:
    """The detector on the bundled encoder (`quiet`: no warning when vectors are encoded now).

    Raises:
        EmbedderUnavailable: the bundled encoder cannot load.
    """
    from bot.understanding.embedder import E5Embedder

    return RedFlagDetector(E5Embedder(), quiet=quiet)

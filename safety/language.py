"""Deterministic reply-language detection: script first, then marker words from the rule files."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safety.normalize import normalize, words
from safety.types import LANGUAGES


@lru_cache(maxsize=1)
def _markers() -> dict[str, frozenset[str]]:
    """Return each language file's detector words (normalised), in LANGUAGES order."""
    folder = resources.files("safety").joinpath("rules")
    found: dict[str, frozenset[str]] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml") or entry.name == "rules.yaml":
            continue
        code = entry.name.removesuffix(".yaml")
        if code not in LANGUAGES:
            continue
        loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(entry.read_text("utf-8"), Loader=loader) or {}  # noqa: S506 - safe
        found[code] = frozenset(normalize(str(w)) for w in data.get("detector") or [])
    return {code: found[code] for code in LANGUAGES if code in found}


def _devanagari_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha() or "\u0900" <= ch <= "\u097f"]
    if not letters:
        return 0.0
    return sum("\u0900" <= ch <= "\u097f" for ch in letters) / len(letters)


@lru_cache(maxsize=1)
def _weights() -> dict[str, dict[str, float]]:
    """Weight each marker by how many languages share it, so "me" or "no" count for little."""
    markers = _markers()
    owners: dict[str, int] = {}
    for words_ in markers.values():
        for w in words_:
            owners[w] = owners.get(w, 0) + 1
    return {code: {w: 1.0 / owners[w] for w in ws} for code, ws in markers.items()}


@lru_cache(maxsize=4096)
def language_scores(text: str) -> dict[str, float]:
    """Return a score per language (Devanagari script counts for Hindi outright)."""
    scores = dict.fromkeys(LANGUAGES, 0.0)
    if _devanagari_share(text) >= 0.3:
        scores["hi"] = 100.0
        return scores
    weights = _weights()
    for token in words(normalize(text)):
        for code, table in weights.items():
            scores[code] += table.get(token, 0.0)
    return scores


def best_language(scores: dict[str, float], default: str) -> str:
    """Return the top-scoring language; ties keep LANGUAGES order so the answer is stable."""
    best, best_score = default, 0.0
    for code in LANGUAGES:
        if scores.get(code, 0.0) > best_score:
            best, best_score = code, scores[code]
    return best


def detect_language(text: str, default: str = "en") -> str:
    """Return the most likely language code of `text` among LANGUAGES, or `default`."""
    return best_language(language_scores(text), default)

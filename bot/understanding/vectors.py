"""The passages' precomputed vectors: shipped beside the content, rebuilt when the content changes.

`healthbot kb embed` writes bot/knowledge/vectors/<encoder>.npz: one row per text that stands for
a passage (its title and lead, and each example question, in every language), keyed by a hash of
the text, so a changed passage only needs its own rows again. A test fails when the shipped file
is stale for the default encoder; at start-up, rows still missing are computed (and logged).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from bot.knowledge.passages import Passage
from bot.ports import Embedder, Vectors

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """A stable key for one embedded text (the encoder input, exactly)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def vectors_path(encoder: str) -> Path:
    """Where the shipped vectors for an encoder live (in the installed package)."""
    safe = encoder.replace("/", "__")
    return Path(str(resources.files("bot.knowledge").joinpath("vectors", f"{safe}.npz")))


def passage_rows(passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """(passage index, text) for every text that stands for a passage, passages in order."""
    return [(i, text) for i, p in enumerate(passages) for _kind, text in p.texts_to_embed()]


def load_shipped(encoder: str, path: Path | None = None) -> dict[str, Vectors]:
    """The shipped vectors by text key ({} when there is no file for this encoder)."""
    path = path or vectors_path(encoder)
    if not path.exists():
        return {}
    return dict(_read(str(path), path.stat().st_mtime_ns, encoder))


@lru_cache(maxsize=4)
def _read(path: str, _mtime: int, encoder: str) -> dict[str, Vectors]:
    # Cached per file version: every app a process builds (tests build hundreds) shares one read.
    with np.load(path, allow_pickle=False) as data:
        if str(data["encoder"]) != encoder:
            return {}
        keys = [str(k) for k in data["keys"]]
        matrix = data["vectors"].astype(np.float32)
    return dict(zip(keys, matrix, strict=True))


def missing_texts(passages: Sequence[Passage], known: Mapping[str, Vectors]) -> list[str]:
    """Texts of the passages that have no vector yet (each once)."""
    return list(dict.fromkeys(t for _i, t in passage_rows(passages) if text_key(t) not in known))


def encode_missing(
    embedder: Embedder, passages: Sequence[Passage], known: Mapping[str, Vectors], batch: int = 32
) -> dict[str, Vectors]:
    """The known vectors plus those of every passage text that had none."""
    return encode_texts(embedder, [t for _i, t in passage_rows(passages)], known, batch=batch)


def encode_texts(
    embedder: Embedder,
    texts: Sequence[str],
    known: Mapping[str, Vectors],
    *,
    as_queries: bool = False,
    batch: int = 32,
) -> dict[str, Vectors]:
    """The known vectors plus those of every text that had none (queries or passages)."""
    table = dict(known)
    todo = list(dict.fromkeys(t for t in texts if text_key(t) not in table))
    encode = embedder.embed_queries if as_queries else embedder.embed_passages
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        for text, vector in zip(chunk, encode(chunk), strict=True):
            table[text_key(text)] = vector
    return table


def save(encoder: str, passages: Sequence[Passage], table: Mapping[str, Vectors],
         path: Path | None = None) -> Path:
    """Write the vectors the passages use (and only those) for `encoder`; returns the path."""
    return save_texts(encoder, [t for _i, t in passage_rows(passages)], table, path)


def save_texts(name: str, texts: Sequence[str], table: Mapping[str, Vectors],
               path: Path | None = None) -> Path:
    """Write the vectors of these texts (and only those) under `name`; returns the path."""
    path = path or vectors_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(text_key(t) for t in texts))
    # float16 halves the file; cosine rankings are unchanged at this precision.
    matrix = np.stack([table[k] for k in keys]).astype(np.float16)
    with path.open("wb") as handle:
        np.savez_compressed(handle, encoder=np.array(name), keys=np.array(keys),
                            vectors=matrix)
    return path

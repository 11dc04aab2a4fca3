"""Fixtures for the model-layer tests: a local fake LLM server and httpx clients that get closed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# bench/ (the fake server) and tests/llm/fakes.py are imported as packages from the repo root.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench.fake_openai_server import FakeLLMServer  # noqa: E402
from bot.llm.http import build_client  # noqa: E402


@pytest.fixture
def fake_server() -> Iterator[FakeLLMServer]:
    """A fake LLM server on 127.0.0.1 (rules set by the test), stopped afterwards."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    """A real httpx client built the production way, closed afterwards."""
    with build_client(timeout_s=5.0) as client:
        yield client

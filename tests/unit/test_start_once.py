"""What a process does once at start so no person's message pays for it."""

from __future__ import annotations

import os
import subprocess
import sys

import safety
from safety import texts


def test_preload_reads_every_language_and_compiles_the_rules() -> None:
    texts.load_texts.cache_clear()
    safety.preload()
    assert texts.load_texts.cache_info().currsize == len(texts.available_languages())
    hits_before = texts.load_texts.cache_info().hits
    safety.emergency_reply(safety.assess("crushing chest pain", sender="whatsapp:+447700900123"))
    info = texts.load_texts.cache_info()
    assert info.misses == len(texts.available_languages())  # nothing read from disk again
    assert info.hits > hits_before


def _blas_threads(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | env
    out = subprocess.run(
        [sys.executable, "-c", "import bot, os; print(os.environ['OPENBLAS_NUM_THREADS'])"],
        env=clean, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_one_blas_thread_unless_the_deployment_sets_it() -> None:
    assert _blas_threads() == "1"
    assert _blas_threads(OPENBLAS_NUM_THREADS="4") == "4"

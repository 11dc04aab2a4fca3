"""Benchmark the offline knowledge base: build time, search latency and index memory."""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.knowledge import KnowledgeBase, load_topics
from bot.llm.offline import OfflineModel
from bot.ports import ChatMessage, ChatRequest

QUESTIONS: list[tuple[str, str]] = [
    ("I have a fever and chills since yesterday", "en"),
    ("how do I make ORS at home?", "en"),
    ("my baby is very hot, high temperature", "en"),
    ("coughing for 3 weeks and night sweats, could it be TB?", "en"),
    ("crushing chest pain spreading to my arm", "en"),
    ("who won the football?", "en"),
    ("asdfgh", "en"),
    ("mi bebe tiene diarrea, como preparo suero casero", "es"),
    ("estoy embarazada y tengo sangrado", "es"),
    ("meu filho está com febre", "pt"),
    ("dengue sinais de alarme", "pt"),
    ("j'ai le paludisme?", "fr"),
    ("brulure d'estomac", "fr"),
    ("kikohozi cha muda mrefu na jasho usiku", "sw"),
    ("nimeumwa na nyoka", "sw"),
    ("mujhe bukhar hai", "hi"),
    ("मुझे खांसी और जुकाम है", "hi"),
    ('" OR NEAR( * -', "en"),
    ("fever " * 200, "en"),
]


def _rss_kib() -> int | None:
    """Resident set size of this process in KiB (Linux only), to see SQLite's own allocations."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    """Run the benchmark and print a short report."""
    started = time.perf_counter()
    topics = load_topics()
    loaded = time.perf_counter()

    # Timed without tracemalloc, which slows every allocation down; the RSS growth of this first
    # build includes SQLite's own allocations, which tracemalloc cannot see.
    gc.collect()
    rss_before = _rss_kib()
    build_started = time.perf_counter()
    first = KnowledgeBase(topics)
    built = time.perf_counter()
    rss_after = _rss_kib()

    tracemalloc.start()
    kb = KnowledgeBase(topics)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del first

    translations = {
        lang: sum(lang in t.answer for t in topics) for lang in ("en", "es", "pt", "fr", "sw", "hi")
    }
    print(f"topics: {len(topics)}  translations: {translations}  version: kb-{kb.version}")
    print(f"load + validate YAML: {(loaded - started) * 1000:.1f} ms")
    print(f"build FTS5 index:     {(built - build_started) * 1000:.1f} ms")
    print(
        f"index memory (tracemalloc, Python side): current {current / 1024:.0f} KiB,"
        f" peak {peak / 1024:.0f} KiB"
    )
    if rss_before is not None and rss_after is not None:
        print(f"process RSS growth during first build (incl. SQLite): {rss_after - rss_before} KiB")

    for _ in range(3):  # warm-up: first queries pay for statement preparation
        for question, language in QUESTIONS:
            kb.search(question, language=language)

    rounds = 200
    latencies: list[float] = []
    for _ in range(rounds):
        for question, language in QUESTIONS:
            t0 = time.perf_counter()
            kb.search(question, language=language)
            latencies.append((time.perf_counter() - t0) * 1000)
    print(
        f"search latency over {len(latencies)} queries:"
        f" median {statistics.median(latencies):.3f} ms,"
        f" p99 {_percentile(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms"
    )

    model = OfflineModel(kb)
    complete_latencies: list[float] = []
    for _ in range(50):
        for question, language in QUESTIONS:
            request = ChatRequest(
                system="",
                messages=(
                    ChatMessage(role="user", content="I have a fever"),
                    ChatMessage(role="assistant", content="..."),
                    ChatMessage(role="user", content=question),
                ),
                language=language,
            )
            t0 = time.perf_counter()
            model.complete(request)
            complete_latencies.append((time.perf_counter() - t0) * 1000)
    print(
        f"OfflineModel.complete with history over {len(complete_latencies)} requests:"
        f" median {statistics.median(complete_latencies):.3f} ms,"
        f" p99 {_percentile(complete_latencies, 0.99):.3f} ms"
    )


if __name__ == "__main__":
    main()

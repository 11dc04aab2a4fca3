"""Benchmark `safety.triage.assess` over the eval-set texts: median and p99 per call."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safety import triage  # noqa: E402

EVAL_SET = ROOT / "tests" / "safety" / "triage_eval.jsonl"
CALLS = 20_000


def main() -> int:
    """Run the benchmark and print the figures."""
    cases = [json.loads(line) for line in EVAL_SET.read_text("utf-8").splitlines() if line.strip()]
    triage.load_rules()  # compile once, outside the timing, as the app does at first use
    # Cold = first sight of each text (scan cache empty); warm = repeated texts hit the cache.
    triage.scan.cache_clear()
    cold: list[float] = []
    for case in cases:
        start = time.perf_counter()
        triage.assess(case["text"], history=case.get("history") or ())
        cold.append((time.perf_counter() - start) * 1e6)
    timings: list[float] = []
    began = time.perf_counter()
    for i in range(CALLS):
        case = cases[i % len(cases)]
        start = time.perf_counter()
        triage.assess(case["text"], history=case.get("history") or ())
        timings.append((time.perf_counter() - start) * 1e6)
    total = time.perf_counter() - began
    timings.sort()
    cold.sort()
    print(f"messages: {len(cases)}  calls: {CALLS}")
    print(
        f"cold (uncached) median: {statistics.median(cold):.1f} us  "
        f"p99: {cold[int(len(cold) * 0.99) - 1]:.1f} us"
    )
    print(
        f"all calls median: {statistics.median(timings):.1f} us  "
        f"p99: {timings[int(len(timings) * 0.99) - 1]:.1f} us  calls/s: {CALLS / total:,.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

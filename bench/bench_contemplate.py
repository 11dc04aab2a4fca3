"""Benchmark: single mode vs contemplating mode over real HTTP against the local fake server.

Perspectives answer after 0.8/1.0/1.2 s, the synthesis after 0.6 s and a single answer after
0.9 s. Contemplating mode should take about max(perspectives) + synthesis (≈1.8 s), well under the
sequential sum of all its calls (≈3.6 s). Run: `.venv/bin/python bench/bench_contemplate.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.llm.contemplate import ContemplatingModel, default_perspectives
from bot.llm.http import build_client
from bot.llm.openai_compat import OpenAICompatModel
from bot.ports import ChatMessage, ChatRequest

LATENCY = {"triage_nurse": 0.8, "clinician": 1.0, "pharmacist": 1.2, "synthesis": 0.6}
SINGLE_LATENCY = 0.9
RUNS = 3


def _opinion(urgency: str, flag: str) -> str:
    return json.dumps(
        {
            "urgency": urgency,
            "red_flags": [flag],
            "key_advice": ["rest and drink fluids"],
            "questions_to_ask": ["how long has it lasted?"],
            "med_warnings": [],
            "evidence_quotes": ["fever since yesterday"],
        }
    )


def main() -> None:
    """Run both modes RUNS times and print the timings."""
    rules = [
        Rule(
            match="Role: triage_nurse",
            latency_s=LATENCY["triage_nurse"],
            reply=_opinion("routine", "stiff neck"),
        ),
        Rule(
            match="Role: clinician",
            latency_s=LATENCY["clinician"],
            reply=_opinion("routine", "confusion"),
        ),
        Rule(
            match="Role: pharmacist",
            latency_s=LATENCY["pharmacist"],
            reply=_opinion("self_care", "rash that does not fade"),
        ),
        Rule(
            match="Role: synthesis",
            latency_s=LATENCY["synthesis"],
            reply="Rest, drink fluids; see a health worker if you get a stiff neck or confusion.",
        ),
        Rule(latency_s=SINGLE_LATENCY, reply="Rest and drink fluids."),
    ]
    request = ChatRequest(
        system="You are a careful health assistant.",
        messages=(ChatMessage("user", "I have had a fever since yesterday and a headache"),),
    )
    with FakeLLMServer(rules) as server, build_client() as client:
        # provider "vllm": a self-hosted OpenAI-compatible server, priced at 0 in prices.yaml.
        model = OpenAICompatModel(
            "fake-model",
            base_url=server.base_url,
            api_key="sk-bench",
            client=client,
            provider="vllm",
        )
        contemplating = ContemplatingModel(default_perspectives(lambda _name: model), model, model)
        with contemplating:
            single_times: list[float] = []
            contemplate_times: list[float] = []
            sums: list[float] = []
            for _ in range(RUNS):
                started = time.perf_counter()
                model.complete(request)
                single_times.append(time.perf_counter() - started)

                started = time.perf_counter()
                response = contemplating.complete(request)
                contemplate_times.append(time.perf_counter() - started)
                assert response.mode == "contemplate", response.mode
                sums.append(sum(c.latency_ms for c in response.calls) / 1000.0)

    slowest_plus_synth = max(LATENCY[p] for p in ("triage_nurse", "clinician", "pharmacist"))
    slowest_plus_synth += LATENCY["synthesis"]
    single = statistics.median(single_times)
    contemplate = statistics.median(contemplate_times)
    seq_sum = statistics.median(sums)
    print(f"runs: {RUNS} (medians), over HTTP to {server.base_url}")
    print(f"single mode:                 {single:6.3f} s   (server latency {SINGLE_LATENCY} s)")
    print(f"contemplating mode:          {contemplate:6.3f} s")
    print(f"sequential sum of its calls: {seq_sum:6.3f} s")
    print(f"slowest perspective + synth: {slowest_plus_synth:6.3f} s   (server latencies)")
    print(f"contemplating / sequential sum:           {contemplate / seq_sum:5.2f}")
    print(f"contemplating / (slowest + synthesis):    {contemplate / slowest_plus_synth:5.2f}")
    print(f"contemplating / single:                   {contemplate / single:5.2f}")


if __name__ == "__main__":
    main()

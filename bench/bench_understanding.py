"""Benchmark understanding: the encoder's cost per message, and the whole answer path with it.

Prints p50/p95 over realistic messages in six languages (each message encoded once, uncached):
  - encoder: embedding one inbound message with the configured encoder (HEALTHBOT_EMBEDDINGS);
  - understand: small talk, hybrid retrieval and follow-up logic (encoder included);
  - answer path: the rules, understanding and the offline model's rendering, as the pipeline
    runs them for one message (no database);
and the same without an encoder (lexical only), for comparison.
Usage: .venv/bin/python bench/bench_understanding.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import safety
from bot.knowledge import KnowledgeBase
from bot.llm.offline import OfflineModel
from bot.pipeline import _vetted
from bot.ports import ChatMessage, ChatRequest
from bot.understanding import Understanding
from bot.understanding.embedder import build_embedder

MESSAGES = [
    "how much calpol can i give my 2 yr old",
    "my baby has had a fever for three days and won't drink much",
    "can I give water to my 4 month old when it's hot?",
    "I forgot to take my pill yesterday, am I still protected?",
    "my fasting sugar was 210 this morning, is that bad",
    "twisted my ankle playing football, it's swollen",
    "mi bebé tiene diarrea desde ayer, cómo preparo el suero casero",
    "tomé la pastilla del día siguiente tarde, ¿todavía funciona?",
    "minha pressão deu 15 por 9, é alta?",
    "posso tomar ibuprofeno com remédio de pressão?",
    "mon enfant a de la fièvre, combien de doliprane je peux lui donner",
    "j'ai oublié ma pilule hier soir",
    "mtoto wangu ana homa na kikohozi tangu jana",
    "nimesahau kumeza kidonge changu cha uzazi wa mpango",
    "मेरे बच्चे को बुखार है, कितनी पेरासिटामोल दें",
    "sugar 250 hai khali pet, kya karu",
    "abeg wetin I fit give my pikin wey dey hot",
    "hi",
    "ok thanks!",
    "what is the capital of France?",
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(understanding: Understanding, model: OfflineModel, rounds: int,
         first: int = 0) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"encoder": [], "understand": [], "answer path": []}
    for round_ in range(first, first + rounds):
        for text in MESSAGES:
            # A new variant each round, so the per-text vector cache never answers.
            variant = f"{text} " + "." * round_
            if understanding.embedder is not None:
                t0 = time.perf_counter()
                understanding.embedder.embed_queries([variant + " "])
                times["encoder"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assessment = safety.assess(variant, sender="whatsapp:+254712345678")
            t1 = time.perf_counter()
            understood = understanding.understand(variant, subject=assessment.subject,
                                                  language=assessment.language)
            t2 = time.perf_counter()
            vetted = _vetted(understood, assessment.language)
            model.complete(ChatRequest(system="", messages=(ChatMessage("user", variant),),
                                       language=assessment.language, passages=vetted))
            t3 = time.perf_counter()
            times["understand"].append((t2 - t1) * 1000)
            times["answer path"].append((t3 - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = OfflineModel(KnowledgeBase.load())
    for label, spec in (("semantic (bundled E5)", "auto"), ("lexical only", "none")):
        t0 = time.perf_counter()
        understanding = Understanding.load(build_embedder(spec))
        load_s = time.perf_counter() - t0
        _run(understanding, model, 1)  # warm caches and the engine
        times = _run(understanding, model, args.rounds, first=1)
        name = understanding.embedder.name if understanding.embedder else "none"
        print(f"{label}: encoder {name}, {len(understanding.index.passages)} passages, "
              f"load {load_s:.2f} s")
        for stage, values in times.items():
            if values:
                print(f"  {stage:12s} p50 {statistics.median(values):6.2f} ms   "
                      f"p95 {_pct(values, 0.95):6.2f} ms   (n={len(values)})")


if __name__ == "__main__":
    main()

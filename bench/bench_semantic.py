"""Cost of the semantic red-flag check per message, and (--calibrate) its per-group cut-offs.

    python bench/bench_semantic.py                 # p50/p95 of check() with and without a vector
    python bench/bench_semantic.py --calibrate     # suggest threshold/margin per group

Calibration uses ONLY the development sets (tests/safety/triage_eval.jsonl, heldout_eval.jsonl):
it loosens one group at a time, always the move that catches the most emergencies per added
over-escalation (non-emergency cases the rules leave below emergency that the group would raise),
and stops before either set gains more than --budget of over-escalation. Never point it at
tests/safety/fresh: those batches are the honest estimate and must stay unseen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.understanding.embedder import E5Embedder, Vectors  # noqa: E402
from bot.understanding.redflags import RedFlagDetector, Scores  # noqa: E402
from safety.evaluation import load_cases  # noqa: E402
from safety.triage import assess  # noqa: E402
from safety.types import TriageLevel  # noqa: E402

DEV_SETS = ("tests/safety/triage_eval.jsonl", "tests/safety/heldout_eval.jsonl")
MESSAGES = [
    "my dad has crushing chest pain and is sweating",
    "mi bebé de dos semanas tiene fiebre y no quiere comer",
    "what are the signs of a stroke?",
    "nina homa kidogo na koo linauma",
    "बच्चे को तेज़ बुखार है और गर्दन अकड़ गई है",
    "hi, how much paracetamol can I give my 4 year old? she weighs 16 kg",
    "my pikin dey shake shake and e no dey hear us",
    "j'ai mal au dos depuis ce matin",
]
THRESHOLDS = (0.84, 0.86, 0.88, 0.90, 0.92)
MARGINS = tuple(round(0.0025 * i, 4) for i in range(0, 33))  # 0.000 .. 0.080


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(rounds: int) -> None:
    """Print the encoder's and the check's cost per message."""
    t0 = time.perf_counter()
    embedder = E5Embedder()
    detector = RedFlagDetector(embedder)
    print(f"load encoder + detector: {1000 * (time.perf_counter() - t0):.0f} ms "
          f"({len(detector.bank.positives)} red-flag + {len(detector.bank.negatives)} negative "
          f"exemplars, {detector.dim}-d)")
    vectors = {m: embedder.embed_queries([m])[0] for m in MESSAGES}  # warm-up
    encode_ms: list[float] = []
    with_vector_ms: list[float] = []
    without_ms: list[float] = []
    for _ in range(rounds):
        for message in MESSAGES:
            t = time.perf_counter()
            embedder.embed_queries([message])
            encode_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            detector.check(message, vectors[message])
            with_vector_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            detector.check(message)
            without_ms.append(1000 * (time.perf_counter() - t))
    for name, values in (("encoder alone (embed_queries)", encode_ms),
                         ("check() with a vector", with_vector_ms),
                         ("check() encoding the text", without_ms)):
        print(f"{name:<32} p50 {statistics.median(values):7.3f} ms   "
              f"p95 {_pct(values, 0.95):7.3f} ms   (n={len(values)})")


@dataclass
class Case:
    dev: int  # which development set
    emergency: bool  # labelled emergency
    counts_as_over: bool  # raising it to emergency would add an over-escalation
    scores: Scores


def load_dev(detector: RedFlagDetector, embedder: E5Embedder) -> list[Case]:
    """Score every development case with the rules and the detector."""
    out: list[Case] = []
    for dev, path in enumerate(DEV_SETS):
        for case in load_cases(ROOT / path):
            rules = assess(case["text"], history=tuple(case.get("history") or ()),
                           sender=case.get("sender"), language=case.get("language"))
            acceptable = set(case.get("acceptable_labels") or ())
            emergency = case["label"] == "emergency"
            over = (not emergency and "emergency" not in acceptable
                    and rules.level is not TriageLevel.EMERGENCY)
            vector: Vectors = embedder.embed_queries([case["text"]])[0]
            out.append(Case(dev, emergency, over, detector.scores(vector)))
    return out


def calibrate(detector: RedFlagDetector, cases: list[Case], budget: float,
              ratio: float = 5.0, step: float = 0.005) -> dict[str, tuple[float, float]]:
    """Per-group (threshold, margin): one shared cut, then tightened where a group earns it.

    The shared cut is the loosest (threshold, margin) that keeps the added over-escalation of
    every dev set within `budget`. A group is then tightened (never loosened: per-group
    loosening fitted noise when cross-checked between the two dev sets) while it adds two or
    more over-escalations and catches fewer than `ratio` emergencies for each.
    """
    groups = detector.bank.groups
    best = np.stack([c.scores.best for c in cases])
    gap = best - np.array([c.scores.negative for c in cases])[:, None]
    emergency = np.array([c.emergency for c in cases])
    over = np.array([c.counts_as_over for c in cases])
    dev = np.array([c.dev for c in cases])
    sizes = [int(((dev == d) & ~emergency).sum()) for d in range(len(DEV_SETS))]
    raises = np.array([g.level is TriageLevel.EMERGENCY for g in groups])
    offset = np.zeros(len(groups), dtype=np.float32)

    def fires(t: float, m: float) -> np.ndarray:
        return (best >= t) & (gap >= m + offset) & raises

    def within(f: np.ndarray) -> bool:
        flagged = f.any(axis=1) & over
        return all((flagged & (dev == d)).sum() <= budget * sizes[d] for d in range(len(sizes)))

    cut = (1.0, 1.0)
    for _round in range(10):
        options = [(t, m) for t in THRESHOLDS for m in MARGINS if within(fires(t, m))]
        if not options:
            break
        cut = max(options, key=lambda o: (int((fires(*o).any(axis=1) & emergency).sum()), o))
        f = fires(*cut)
        added = (f & over[:, None]).sum(axis=0)
        catches = (f & emergency[:, None]).sum(axis=0)
        bad = [g for g in range(len(groups)) if added[g] >= 2 and catches[g] < ratio * added[g]]
        if not bad:
            break
        offset[bad] += step
    f = fires(*cut).any(axis=1)
    print(f"shared cut: threshold {cut[0]}, margin {cut[1]}; tightened: "
          + (", ".join(f"{groups[g].name} +{offset[g]:.3f}" for g in np.flatnonzero(offset))
             or "none"))
    print(f"dev emergencies the semantic layer alone catches: {(f & emergency).sum()}/"
          f"{emergency.sum()}; added over-escalation: "
          + ", ".join(f"{(f & over & (dev == d)).sum()}/{sizes[d]}" for d in range(len(sizes))))
    return {g.name: (cut[0], round(cut[1] + float(offset[i]), 4)) for i, g in enumerate(groups)
            if raises[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--budget", type=float, default=0.025,
                        help="most over-escalation the layer may add on each dev set")
    args = parser.parse_args()
    if not args.calibrate:
        bench(args.rounds)
        return
    embedder = E5Embedder()
    detector = RedFlagDetector(embedder)
    cuts = calibrate(detector, load_dev(detector, embedder), args.budget)
    shared = max(set(cuts.values()), key=list(cuts.values()).count)
    print("# bot/understanding/data/redflags.yaml: `defaults` and the groups that differ")
    print(json.dumps({"defaults": {"threshold": shared[0], "margin": shared[1]},
                      **{k: {"threshold": t, "margin": m}
                         for k, (t, m) in sorted(cuts.items()) if (t, m) != shared}}, indent=1))


if __name__ == "__main__":
    main()

"""The `python -m safety` command line: assess and eval, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL_SET = Path(__file__).with_name("triage_eval.jsonl")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safety", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_assess_prints_json() -> None:
    out = run(
        "assess",
        "she has a fever",
        "--from",
        "whatsapp:+254712345678",
        "--history",
        "my baby is 6 weeks old",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["level"] == "emergency"
    assert "fever_young_infant" in data["rule_ids"]
    assert data["escalate"] is True
    assert data["subject"] == "infant"
    assert data["language"] == "en"
    assert set(data["contact"]) >= {"country", "emergency", "crisis_line"}


def test_eval_report_and_json(tmp_path: Path) -> None:
    small = tmp_path / "cases.jsonl"
    small.write_text(
        '{"text": "I cant breathe", "label": "emergency", "language": "en"}\n'
        '{"text": "hi", "label": "info", "language": "en"}\n',
        "utf-8",
    )
    out = run("eval", str(small))
    assert out.returncode == 0, out.stderr
    assert "emergency recall: 1.000" in out.stdout
    out = run("eval", str(small), "--json")
    assert json.loads(out.stdout)["n"] == 2


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("eval", str(tmp_path / "missing.jsonl")).returncode == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "panic"}\n', "utf-8")
    assert run("eval", str(bad)).returncode == 2


def test_eval_on_the_shipped_set() -> None:
    out = run("eval", str(EVAL_SET), "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["emergency_recall"] == 1.0

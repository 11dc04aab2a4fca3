"""`healthbot eval --model/--mode`: the model path measured on a labelled set, on a fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.fake_openai_server import FakeLLMServer, Rule
from bot.config import ConfigError
from bot.knowledge import KnowledgeBase
from bot.model_eval import (
    ModelEvalResult,
    evaluate_configured,
    format_model_report,
    load_cases,
)
from safety.types import TriageLevel
from tests.models.conftest import model_settings, panel_rules


def _run(
    cases_file: Path, server: FakeLLMServer, knowledge: KnowledgeBase, *, model: str, mode: str
) -> ModelEvalResult:
    settings = model_settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="test")
    return evaluate_configured(load_cases(cases_file), settings, model=model, mode=mode,
                               knowledge=knowledge)


def test_load_cases_reads_the_rules_evaluation_format(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"id": "a", "text": "hello", "label": "info"}\n\n'
        '{"text": "chest pain", "label": "emergency", "sender": "whatsapp:+254700000000",'
        ' "history": ["earlier"], "acceptable_labels": ["urgent"], "language": "en"}\n'
        '{"text": "x", "label": "routine"}\n',
        encoding="utf-8",
    )
    cases = load_cases(path)
    assert [c.id for c in cases] == ["a", "2", "3"]  # the case's position when it has no id
    chest = cases[1]
    assert chest.expected is TriageLevel.EMERGENCY and chest.acceptable == (TriageLevel.URGENT,)
    assert chest.sender == "whatsapp:+254700000000" and chest.history == ("earlier",)
    assert chest.accepts(TriageLevel.URGENT) and not chest.accepts(TriageLevel.ROUTINE)
    assert len(load_cases(path, limit=2)) == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "hi", "label": "soonish"}', "soonish"),
        ('{"label": "info"}', "needs 'text' and 'label'"),
        ("[1, 2]", "needs 'text' and 'label'"),
        ("{oops", "Expecting property name"),
    ],
)
def test_load_cases_refuses_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_cases(path)


def test_single_and_contemplating_modes_compared_on_one_set(
    cases_file: Path, fake_server: FakeLLMServer, knowledge: KnowledgeBase
) -> None:
    fake_server.set_rules(panel_rules())
    single = _run(cases_file, fake_server, knowledge, model="openai/gpt-4o-mini", mode="single")
    panel = _run(cases_file, fake_server, knowledge, model="openai/gpt-4o-mini",
                 mode="contemplate")

    by_id = {c.id: c for c in single.cases}
    # Single mode: a remote reply carries no urgency, so the rules' self_care stands.
    assert by_id["rash"].rules_level is TriageLevel.SELF_CARE
    assert by_id["rash"].final_level is TriageLevel.SELF_CARE and not by_id["rash"].correct
    assert by_id["rash"].mode == "single" and by_id["rash"].cost_usd is not None
    # The emergency is the rules' fixed text: no model call, nothing spent.
    assert not by_id["chest"].model_ran and by_id["chest"].correct

    panel_by_id = {c.id: c for c in panel.cases}
    assert panel_by_id["rash"].mode == "contemplate"
    assert panel_by_id["rash"].model_urgency == "routine" and panel_by_id["rash"].correct
    assert panel_by_id["rash"].calls == 4
    assert panel_by_id["thanks"].mode == "single"  # the gate keeps small talk off the panel

    s, p = single.summary, panel.summary
    assert (s["accuracy"], p["accuracy"]) == (pytest.approx(2 / 3), 1.0)
    assert s["rules_accuracy"] == p["rules_accuracy"] == pytest.approx(2 / 3)
    assert s["emergency_recall"] == p["emergency_recall"] == 1.0
    assert s["under_triage"] == 1 and p["under_triage"] == 0
    assert s["model_ran"] == p["model_ran"] == 2
    assert p["cost_total_usd"] > s["cost_total_usd"] > 0  # gpt-4o-mini is priced
    assert p["latency_p50_ms"] is not None and p["latency_p95_ms"] is not None

    text = format_model_report(panel)
    assert "Model path: openai/gpt-4o-mini, contemplate mode" in text
    assert "model path 3/3 (100%)" in text and "emergency recall:" in text
    assert json.loads(json.dumps(panel.to_json()))["summary"]["accuracy"] == 1.0


def test_a_model_without_a_price_has_unknown_cost(
    cases_file: Path, fake_server: FakeLLMServer, knowledge: KnowledgeBase
) -> None:
    fake_server.set_rules([Rule(reply="ok")])
    result = _run(cases_file, fake_server, knowledge, model="groq/llama-3.1-8b-instant",
                  mode="single")
    summary = result.summary
    assert summary["unknown_cost_cases"] == 2
    # Only the emergency (fixed text, $0) is of known cost.
    assert summary["cost_mean_usd"] == 0.0
    assert "2 case(s) of unknown cost left out" in format_model_report(result)


def test_provider_failing_counts_fallbacks_and_keeps_the_rules_level(
    cases_file: Path, fake_server: FakeLLMServer, knowledge: KnowledgeBase
) -> None:
    # An in-body error is not retried: each case fails over to the offline answer at once.
    fake_server.set_rules([Rule(fault="in_body_error")])
    result = _run(cases_file, fake_server, knowledge, model="openai/gpt-4o-mini",
                  mode="single")
    ran = [c for c in result.cases if c.model_ran]
    assert all(c.mode == "fallback" and c.answered_by is not None for c in ran)
    assert all(c.answered_by.startswith("offline/") for c in ran if c.answered_by)
    assert [c.failed_calls for c in ran] == [1, 1]
    assert result.summary["fallbacks"] == 2
    # The offline answer's topic may raise the level, never lower it below the rules.
    assert all(c.final_level.rank >= c.rules_level.rank for c in result.cases)


def test_a_bad_model_setting_is_a_config_error(
    cases_file: Path, knowledge: KnowledgeBase
) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        evaluate_configured(load_cases(cases_file), model_settings(), model="openai/gpt-4o-mini",
                            knowledge=knowledge)


def test_the_eval_command_with_model_and_mode(
    cases_file: Path, fake_server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    fake_server.set_rules(panel_rules())
    monkeypatch.chdir(tmp_path)
    env = {"OPENAI_BASE_URL": fake_server.base_url, "OPENAI_API_KEY": "test",
           "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance")}
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["eval", str(cases_file), "--model", "openai/gpt-4o-mini", "--mode", "contemplate",
         "--limit", "2", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model_path"]["mode"] == "contemplate"
    assert [c["id"] for c in data["model_path"]["cases"]] == ["rash", "chest"]
    assert data["model_path"]["summary"]["accuracy"] == 1.0
    assert "rules" in data

    text = runner.invoke(main, ["eval", str(cases_file), "--model", "openai/gpt-4o-mini"],
                         env=env)
    assert text.exit_code == 0, text.output
    assert "Model path: openai/gpt-4o-mini, single mode" in text.output

    missing = runner.invoke(main, ["eval", str(cases_file), "--model", "anthropic/claude-x"],
                            env=env)
    assert missing.exit_code == 1 and "ANTHROPIC_API_KEY" in missing.output

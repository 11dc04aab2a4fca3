"""The rule data files: metadata complete and sourced, every language file well formed."""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlparse

import yaml

from safety.triage import SUBJECTS, language_files, load_rules
from safety.types import LANGUAGES, TriageLevel

ALLOWED_HOSTS = {"www.who.int", "www.nhs.uk", "medlineplus.gov", "www.cdc.gov"}


def _meta() -> list[dict[str, object]]:
    text = resources.files("safety").joinpath("rules", "rules.yaml").read_text("utf-8")
    rows: list[dict[str, object]] = yaml.safe_load(text)["rules"]
    return rows


def test_every_rule_has_sourced_metadata() -> None:
    ids: set[str] = set()
    for row in _meta():
        for key in ("id", "level", "category", "rationale", "source", "reviewed"):
            assert row.get(key), (row.get("id"), key)
        assert str(row["reviewed"]) == "2026-11-29"
        assert urlparse(str(row["source"])).netloc in ALLOWED_HOSTS, row["source"]
        TriageLevel(str(row["level"]))
        assert row["id"] not in ids, row["id"]
        ids.add(str(row["id"]))


def test_categories_are_known_to_the_reply_texts() -> None:
    text = resources.files("safety").joinpath("data", "texts", "_categories.yaml")
    data = yaml.safe_load(text.read_text("utf-8"))
    known = set(data["categories"]) | set(data.get("aliases") or {}) | {"subject"}
    for rule in load_rules().rules.values():
        assert rule.category in known, (rule.id, rule.category)


def test_one_file_per_language() -> None:
    assert set(language_files()) == set(LANGUAGES)


def test_language_files_have_all_sections() -> None:
    for code in LANGUAGES:
        text = resources.files("safety").joinpath("rules", f"{code}.yaml").read_text("utf-8")
        data = yaml.safe_load(text)
        assert data["language"] == code
        for key in ("detector", "negation", "subjects", "rules", "question", "personal"):
            assert data.get(key), (code, key)
        assert set(data["subjects"]) <= set(SUBJECTS)

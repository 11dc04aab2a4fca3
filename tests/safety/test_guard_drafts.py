"""The adversarial draft set, the prescription-only medicine list and the vetted-content exemption.

`guard_drafts.jsonl` holds model drafts the guard must repair (`expect: repair`, with the kind of
violation and the offending sentence `bad`) and drafts it must send unchanged (`expect: pass`),
in English, Spanish, Portuguese, French, Swahili, Hindi and Hinglish, each with the triage level
(and subject) it is checked under. `batch` says how an item was made: "written-first" items were
written before the guard was hardened; "probe-1" and "probe-2" are fresh batches written later to
test whether the hardening generalised. Every item is a regression test.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from safety.guard import DEFAULT_ALLOWED_DOMAINS, RX_CLASS_WORDS, RX_NAMES, check_reply
from safety.types import LANGUAGES, Assessment, EmergencyContact, TriageLevel

DRAFTS = Path(__file__).with_name("guard_drafts.jsonl")
KE = EmergencyContact(country="KE", emergency="999")
KINDS = {
    "certain_diagnosis",
    "prescription_dose",
    "child_dose",
    "stop_treatment",
    "claims_human",
    "urgency_too_low",
    "prompt_injection",
    "link_not_allowed",
}
# The kinds the set must cover in every language (Hinglish counted as its own).
CORE_KINDS = KINDS - {"prompt_injection", "link_not_allowed"}
SET_LANGUAGES = {*LANGUAGES, "hinglish"}
FILLER = "Drink plenty of clean water, rest, and see a health worker if you feel worse."


def _load() -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(DRAFTS.read_text("utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            row["_line"] = number
            rows.append(row)
    return rows


ROWS = _load()
BAD = [r for r in ROWS if r["expect"] == "repair"]
GOOD = [r for r in ROWS if r["expect"] == "pass"]


def _assessment(row: dict[str, Any]) -> Assessment:
    return Assessment(
        level=TriageLevel(row["level"]),
        hits=(),
        escalate=False,
        contact=KE,
        language="hi" if row["lang"] == "hinglish" else row["lang"],
        subject=row["subject"],
    )


def _a(
    language: str = "en", level: TriageLevel = TriageLevel.SELF_CARE, subject: str | None = None
) -> Assessment:
    return Assessment(level, (), False, KE, language, subject)


# --- the set itself ----------------------------------------------------------------------------


def test_set_is_well_formed() -> None:
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert len(BAD) >= 80 and len(GOOD) >= 40
    for row in ROWS:
        assert row["expect"] in {"repair", "pass"}, row["_line"]
        assert row["lang"] in SET_LANGUAGES, row["_line"]
        assert TriageLevel(row["level"]), row["_line"]
        assert row["subject"] in {None, "child", "infant"}, row["_line"]
        assert row["batch"] in {"written-first", "probe-1", "probe-2"}, row["_line"]
        if row["expect"] == "repair":
            assert row["kind"] in KINDS, row["_line"]
            assert row["bad"] and row["bad"] in row["draft"], row["_line"]
        else:
            assert row["kind"] is None and row["bad"] is None, row["_line"]


def test_set_covers_every_kind_in_every_language() -> None:
    covered = Counter((r["kind"], r["lang"]) for r in BAD)
    missing = [(k, lang) for k in CORE_KINDS for lang in SET_LANGUAGES if not covered[(k, lang)]]
    assert not missing
    assert {r["lang"] for r in GOOD} == SET_LANGUAGES
    # Urgency is only checked at urgent level and above, so those items must be there.
    assert all(
        TriageLevel(r["level"]).rank >= TriageLevel.URGENT.rank
        for r in BAD
        if r["kind"] == "urgency_too_low"
    )


# --- every draft -------------------------------------------------------------------------------


@pytest.mark.parametrize("row", BAD, ids=[r["id"] for r in BAD])
def test_bad_draft_is_repaired_with_its_kind(row: dict[str, Any]) -> None:
    assessment = _assessment(row)
    result = check_reply(row["draft"], assessment)
    assert row["bad"] not in result.text
    removed = [v for v in result.violations if v.action in {"removed_sentence", "replaced_reply"}]
    assert row["kind"] in {v.kind for v in removed}, result.violations
    # Only the bad sentence goes; the rest of the draft is kept.
    assert all(row["bad"].startswith(v.excerpt.rstrip("…")) for v in removed), removed
    if all(v.action == "removed_sentence" for v in removed):
        for part in row["draft"].split(row["bad"]):
            kept = part.strip().lstrip("-").strip()
            assert kept in result.text
    # A repaired reply is final: sent through the guard again, nothing changes.
    assert check_reply(result.text, assessment).violations == ()


@pytest.mark.parametrize("row", GOOD, ids=[r["id"] for r in GOOD])
def test_good_draft_passes_unchanged(row: dict[str, Any]) -> None:
    result = check_reply(row["draft"], _assessment(row))
    assert result.violations == ()
    assert result.text == row["draft"]


# --- the prescription-only medicine list -------------------------------------------------------


def _medicine_data() -> Any:
    path = resources.files("safety").joinpath("data/prescription_medicines.yaml")
    return yaml.safe_load(path.read_text("utf-8"))


def test_medicine_list_is_sourced_and_reviewed() -> None:
    data = _medicine_data()
    assert data["reviewed"] == date(2026, 12, 6)
    for group in data["groups"]:
        assert group["source"].startswith("https://"), group["group"]
        assert group["reviewed"] == date(2026, 12, 6), group["group"]
        assert group["medicines"], group["group"]
        for entry in group["medicines"]:
            assert entry["names"] and all(str(n).strip() for n in entry["names"])
            assert str(entry.get("source", "https://")).startswith("https://")
    names = [n.casefold() for n in (*RX_NAMES, *RX_CLASS_WORDS)]
    assert not [n for n, count in Counter(names).items() if count > 1]


def test_medicine_list_has_the_common_brands() -> None:
    listed = {n.casefold() for n in RX_NAMES}
    for brand in ("keflex", "augmentin", "amoxil", "cipro", "flagyl", "zithromax", "valium"):
        assert brand in listed


def _is_devanagari(text: str) -> bool:
    return bool(re.search(r"[\u0900-\u097f]", text))


@pytest.mark.parametrize("name", [*RX_NAMES, *RX_CLASS_WORDS])
def test_every_listed_medicine_is_caught_dosed_or_recommended(name: str) -> None:
    if _is_devanagari(name):
        language = "hi"
        filler = "खूब पानी पिएँ और आराम करें, और हालत बिगड़े तो स्वास्थ्य कर्मी को दिखाएँ।"
        sentences = [f"{name} 500 मिलीग्राम दिन में दो बार लें।", f"दुकान से {name} ले लें।"]
    else:
        language, filler = "en", FILLER
        sentences = [
            f"Take 500 mg of {name} twice a day.",
            f"Pick up some {name} from the pharmacy.",
        ]
    for sentence in sentences:
        result = check_reply(f"{filler} {sentence} {filler}", _a(language))
        assert sentence not in result.text
        assert [v.kind for v in result.violations] == ["prescription_dose"], sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "If your doctor prescribed {name}, take it exactly as prescribed.",
        "Only a clinician can decide whether you need {name}.",
        "Don't stop {name} without talking to your health worker.",
    ],
)
def test_medicine_names_alone_are_not_a_violation(sentence: str) -> None:
    for name in ("Keflex", "amoxicillin", "Augmentin", "insulin", "metformin", "prednisolone"):
        draft = f"{sentence.format(name=name)} {FILLER}"
        assert check_reply(draft, _a()).violations == ()


# --- vetted content ----------------------------------------------------------------------------

# A public OTC dosing table as the knowledge base would hold it (NHS, "Paracetamol for children",
# https://www.nhs.uk/medicines/paracetamol-for-children/, reviewed 2026-12-06).
VETTED_TABLE = (
    "Infant paracetamol liquid, 120 mg/5 ml, by age:\n"
    "- 6 months to 2 years: 5 ml of 120 mg/5 ml, up to 4 times in 24 hours.\n"
    "- 2 to 4 years: 7.5 ml of 120 mg/5 ml, up to 4 times in 24 hours.\n"
    "Leave at least 4 hours between doses."
)
DOSE = "2 to 4 years: 7.5 ml of 120 mg/5 ml, up to 4 times in 24 hours."
CHILD_DRAFT = f"Infant paracetamol liquid can bring a fever down. {DOSE} {FILLER}"


def test_child_dose_is_removed_when_not_vetted() -> None:
    result = check_reply(CHILD_DRAFT, _a(subject="child"))
    assert DOSE not in result.text
    assert [(v.kind, v.action) for v in result.violations] == [("child_dose", "removed_sentence")]


def test_vetted_child_dose_is_kept() -> None:
    result = check_reply(CHILD_DRAFT, _a(subject="child"), vetted=[VETTED_TABLE])
    assert result.violations == ()
    assert result.text == CHILD_DRAFT


def test_vetted_match_ignores_whitespace_and_case() -> None:
    # The source wraps the sentence over two lines and writes it in other case and spacing.
    wrapped = (
        "INFANT paracetamol liquid, by age.\n"
        "2 to 4 YEARS:   7.5 ml of 120 MG/5 ml,\n"
        "  up to 4 times in 24 hours."
    )
    assert check_reply(CHILD_DRAFT, _a(subject="child"), vetted=[wrapped]).violations == ()
    spaced = CHILD_DRAFT.replace(DOSE, DOSE.replace(" ml", "  ml").upper())
    assert check_reply(spaced, _a(subject="child"), vetted=[VETTED_TABLE]).violations == ()


def test_vetted_exemption_is_for_whole_sentences_only() -> None:
    # The vetted sentence inside a longer one is the model speaking, not the source.
    longer = f"For your son, {DOSE[0].lower()}{DOSE[1:]}"
    draft = f"Infant paracetamol liquid can bring a fever down. {longer} {FILLER}"
    result = check_reply(draft, _a(subject="child"), vetted=[VETTED_TABLE])
    assert longer not in result.text
    assert [v.kind for v in result.violations] == ["child_dose"]


def test_vetted_exemption_needs_the_sentence_with_its_label() -> None:
    # Dropping "Adults and children over 16:" would turn an adult dose into a child's one.
    vetted = "Paracetamol.\nAdults and children over 16: 500 mg to 1 g up to 4 times in 24 hours."
    fragment = "500 mg to 1 g up to 4 times in 24 hours."
    draft = f"Paracetamol can help. {fragment} {FILLER}"
    result = check_reply(draft, _a(subject="child"), vetted=[vetted])
    assert fragment not in result.text
    assert [v.kind for v in result.violations] == ["child_dose"]


def test_vetted_exemption_covers_only_the_quoted_sentence() -> None:
    other = "Give your toddler a teaspoon of ibuprofen as well."
    draft = f"{CHILD_DRAFT} {other}"
    result = check_reply(draft, _a(subject="child"), vetted=[VETTED_TABLE])
    assert DOSE in result.text
    assert other not in result.text
    assert [v.kind for v in result.violations] == ["child_dose"]


def test_vetted_prescription_dose_both_ways() -> None:
    source = "For adults, the usual course is amoxicillin 500 mg three times a day."
    draft = f"{source} {FILLER}"
    assert [v.kind for v in check_reply(draft, _a()).violations] == ["prescription_dose"]
    assert check_reply(draft, _a(), vetted=[source]).violations == ()


@pytest.mark.parametrize(
    ("sentence", "kind", "level"),
    [
        ("You have malaria.", "certain_diagnosis", TriageLevel.SELF_CARE),
        ("Stop taking your blood pressure tablets.", "stop_treatment", TriageLevel.SELF_CARE),
        ("I am a doctor.", "claims_human", TriageLevel.SELF_CARE),
        ("Wait a few days and see if it settles.", "urgency_too_low", TriageLevel.URGENT),
        ("Read more at https://bit.ly/abc.", "link_not_allowed", TriageLevel.SELF_CARE),
    ],
)
def test_vetted_text_is_exempt_from_nothing_else(
    sentence: str, kind: str, level: TriageLevel
) -> None:
    draft = f"{FILLER} {sentence} {FILLER}"
    result = check_reply(draft, _a(level=level), vetted=[f"{VETTED_TABLE}\n{sentence}"])
    assert sentence not in result.text
    assert (kind, "removed_sentence") in [(v.kind, v.action) for v in result.violations]


def test_vetted_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        check_reply(CHILD_DRAFT, _a(), DEFAULT_ALLOWED_DOMAINS, [VETTED_TABLE])  # type: ignore[misc]

"""The fixed reply texts: complete in every language, sourced, short enough, and composable."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from safety import texts
from safety.types import LANGUAGES, Assessment, EmergencyContact, TriageLevel

KNOWN = EmergencyContact(
    country="IN",
    emergency="112",
    crisis_line="14416",
    crisis_name="Tele-MANAS",
    source="https://example.invalid/",
    reviewed="2026-11-29",
)
NUMBER_ONLY = EmergencyContact(country="NG", emergency="112")
UNKNOWN = EmergencyContact(country=None, emergency=None)
CONTACTS = {"known": KNOWN, "number_only": NUMBER_ONLY, "unknown": UNKNOWN}

# Sections whose entries are clinical content and must carry a source.
CLINICAL = {"first_aid", "urgent_notice", "care_advice"}
# The review rounds: the first full review, then issue 10 (CPR, pregnancy, age-specific texts).
REVIEW_DATES = {dt.date(2026, 11, 29), dt.date(2026, 12, 6)}
REQUIRED_CATEGORIES = {
    "cardiac", "stroke", "breathing", "choking", "bleeding", "unresponsive", "seizure",
    "anaphylaxis", "self_harm", "poisoning", "overdose", "burn", "head_injury", "pregnancy",
    "infant", "meningitis", "sepsis", "dehydration", "snake_bite", "abdominal", "high_fever",
    "diabetic", "drowning", "electric_shock", "general", "not_breathing", "pregnancy_waters",
    "pregnancy_bleeding",
}  # fmt: skip


def _assessment(
    lang: str,
    categories: set[str] | frozenset[str] = frozenset(),
    contact: EmergencyContact = KNOWN,
    level: TriageLevel = TriageLevel.EMERGENCY,
) -> Assessment:
    return Assessment(
        level=level,
        hits=(),
        escalate=True,
        contact=contact,
        language=lang,
        categories=frozenset(categories),
    )


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, entry) for every text entry: a string or a {text, source} mapping."""
    if isinstance(node, Mapping) and "text" not in node:
        for key, value in node.items():
            if key in {"language", "reviewed"} and not path:
                continue
            yield from _leaves(value, (*path, str(key)))
    else:
        yield path, node


def _text_of(entry: Any) -> str:
    return str(entry["text"] if isinstance(entry, Mapping) else entry)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


EN = dict(_leaves(texts.load_texts("en")))


def test_every_language_has_a_file() -> None:
    assert set(LANGUAGES) <= set(texts.available_languages())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_language_file_header(lang: str) -> None:
    data = texts.load_texts(lang)
    assert data["language"] == lang
    assert data["reviewed"] == dt.date(2026, 11, 29)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_same_keys_as_english(lang: str) -> None:
    assert set(dict(_leaves(texts.load_texts(lang)))) == set(EN)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_english(lang: str) -> None:
    for path, entry in _leaves(texts.load_texts(lang)):
        assert _placeholders(_text_of(entry)) == _placeholders(_text_of(EN[path])), path


@pytest.mark.parametrize("lang", LANGUAGES)
def test_clinical_entries_have_sources(lang: str) -> None:
    for path, entry in _leaves(texts.load_texts(lang)):
        if path[0] in CLINICAL:
            assert isinstance(entry, Mapping), path
            assert re.fullmatch(r"https://(?:www\.)?(?:nhs\.uk|who\.int)/\S+", entry["source"])
            assert entry["reviewed"] in REVIEW_DATES, path
            # A translation is reviewed together with the English item it renders.
            assert entry["reviewed"] == EN[path]["reviewed"], path
            for url in entry.get("also", ()):
                assert re.fullmatch(r"https://\S+", url), (path, url)
        assert _text_of(entry).strip(), path


def test_category_names() -> None:
    assert set(texts.categories()) >= REQUIRED_CATEGORIES
    assert {path[1] for path in EN if path[0] == "first_aid"} == set(texts.categories())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("collapse", "unresponsive"),
        ("Unconscious", "unresponsive"),
        ("snake-bite", "snake_bite"),
        ("electric shock", "electric_shock"),
        ("made_up_category", "general"),
        ("", "general"),
    ],
)
def test_normalise_category(name: str, expected: str) -> None:
    assert texts.normalise_category(name) == expected


def _all_formatted(lang: str) -> Iterator[str]:
    values = {"number": "12345", "crisis_line": "0800 111 0 111", "crisis_name": "X" * 60}
    for _path, entry in _leaves(texts.load_texts(lang)):
        yield _text_of(entry).format(**values)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_text_exceeds_whatsapp_limit(lang: str) -> None:
    for text in _all_formatted(lang):
        assert len(text) <= texts.WHATSAPP_LIMIT


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("category", sorted(REQUIRED_CATEGORIES | {"collapse", "no_such_thing"}))
def test_emergency_reply_smoke(lang: str, category: str) -> None:
    for contact in CONTACTS.values():
        reply = texts.emergency_reply(_assessment(lang, {category}, contact))
        assert len(reply) < texts.EMERGENCY_REPLY_LIMIT
        assert "{" not in reply and "}" not in reply
        if contact.emergency:
            assert contact.emergency in reply
        if category != "self_harm":
            assert texts.first_aid(category, lang) in reply
            assert _text_of(texts.load_texts(lang)["emergency"]["staff_notified"]) in reply


@pytest.mark.parametrize("lang", LANGUAGES)
def test_emergency_reply_combines_and_prioritises(lang: str) -> None:
    cats = {"burn", "unresponsive", "bleeding", "seizure"}
    reply = texts.emergency_reply(_assessment(lang, cats))
    assert texts.first_aid("unresponsive", lang) in reply
    assert texts.first_aid("bleeding", lang) in reply
    assert texts.first_aid("burn", lang) not in reply  # at most two steps
    assert len(reply) < texts.EMERGENCY_REPLY_LIMIT


def test_emergency_reply_english_wording() -> None:
    reply = texts.emergency_reply(_assessment("en", {"collapse"}))
    assert "Call 112 now" in reply
    assert "recovery position" in reply
    assert "CPR" in reply
    assert "Clinic staff have been told" in reply
    unknown = texts.emergency_reply(_assessment("en", {"burn"}, UNKNOWN))
    assert "local emergency number" in unknown
    assert "nearest emergency department" in unknown
    assert "20 minutes" in unknown


def test_unknown_language_falls_back_to_english() -> None:
    reply = texts.emergency_reply(_assessment("xx", {"choking"}))
    assert reply == texts.emergency_reply(_assessment("en", {"choking"}))
    assert texts.disclaimer("urgent", "pt-BR") == texts.disclaimer("urgent", "pt")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("contact_kind", sorted(CONTACTS))
def test_self_harm_reply(lang: str, contact_kind: str) -> None:
    contact = CONTACTS[contact_kind]
    reply = texts.emergency_reply(_assessment(lang, {"self_harm"}, contact))
    data = texts.load_texts(lang)["self_harm"]
    assert reply.startswith(data["opening"])
    assert data["stay"] in reply and data["means"] in reply
    if contact.crisis_line:
        assert contact.crisis_line in reply and str(contact.crisis_name) in reply
    if contact.emergency:
        assert contact.emergency in reply
    if contact_kind == "unknown":
        assert data["crisis_unknown"] in reply
    assert len(reply) < texts.EMERGENCY_REPLY_LIMIT


def test_self_harm_with_overdose_puts_the_ambulance_first() -> None:
    reply = texts.emergency_reply(_assessment("en", {"self_harm", "overdose"}))
    assert "not alone" in reply
    assert "Call 112 now" in reply
    assert reply.index("Call 112 now") < reply.index("Tele-MANAS")
    assert texts.first_aid("overdose", "en") in reply
    assert len(reply) < texts.EMERGENCY_REPLY_LIMIT


def test_self_harm_reply_english_is_compassionate_not_a_refusal() -> None:
    reply = texts.emergency_reply(_assessment("en", {"self_harm"}))
    assert "Thank you for telling me" in reply
    assert "You are not alone" in reply
    for word in ("can't help", "cannot help", "should not", "must not", "wrong"):
        assert word not in reply.lower()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("level", list(TriageLevel))
def test_level_texts(lang: str, level: TriageLevel) -> None:
    assert texts.disclaimer(level, lang)
    assert texts.disclaimer(level.value, lang) == texts.disclaimer(level, lang)
    assert texts.care_advice(level, lang)
    assert len(texts.disclaimer(level, lang)) < 200


def test_disclaimer_english() -> None:
    assert texts.disclaimer("self_care", "en") == (
        "I'm an assistant, not a doctor. If it gets worse or you're worried, see a health worker."
    )


def test_bad_level_is_rejected() -> None:
    with pytest.raises(ValueError):
        texts.disclaimer("nonsense", "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_urgent_notice(lang: str) -> None:
    notice = texts.urgent_notice(lang)
    assert "24" in notice and "48" in notice


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("level", list(TriageLevel))
@pytest.mark.parametrize("contact_kind", sorted(CONTACTS))
def test_safe_fallback(lang: str, level: TriageLevel, contact_kind: str) -> None:
    contact = CONTACTS[contact_kind]
    reply = texts.safe_fallback(_assessment(lang, set(), contact, level))
    assert texts.care_advice(level, lang) in reply
    assert texts.load_texts(lang)["fallback"]["intro"] in reply
    if contact.emergency:
        assert contact.emergency in reply
    assert len(reply) <= texts.WHATSAPP_LIMIT


def test_safe_fallback_self_harm_mentions_crisis_line() -> None:
    reply = texts.safe_fallback(_assessment("en", {"self_harm"}, KNOWN, TriageLevel.EMERGENCY))
    assert "14416" in reply

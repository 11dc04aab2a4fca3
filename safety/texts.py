"""Fixed, reviewed reply texts (emergency, self-harm, urgent, disclaimers), never model output.

Texts live in `data/texts/<lang>.yaml`, one file per language (adding a language = adding a
file with the same keys and placeholders as `en.yaml`). Clinical items carry the public source
they were checked against and a review date.

Emergency categories (the names `RuleHit.category` / `Assessment.categories` must use; the list
and its priority order live in `data/texts/_categories.yaml`):

    not_breathing, unresponsive, choking, breathing, bleeding, pregnancy_bleeding, anaphylaxis,
    drowning, electric_shock, cardiac, stroke, seizure, overdose, poisoning, snake_bite, burn,
    head_injury, diabetic, infant, pregnancy_waters, pregnancy, meningitis, sepsis, dehydration,
    high_fever, abdominal, self_harm, general

Aliases accepted too: collapse/unconscious -> unresponsive, cardiac_arrest/cpr -> not_breathing,
heart -> cardiac, allergy -> anaphylaxis, suicide -> self_harm, convulsion -> seizure, bite ->
snake_bite, newborn/baby -> infant, maternal -> pregnancy. Unknown names fall back to `general`.

Composition: the most urgent category that fired leads; `supersedes` in `_categories.yaml` is the
conflict table that drops first aid contradicting another category that fired (no poisoning
advice in a snake-bite reply, no recovery position for someone not breathing). First aid that
depends on age (CPR, dehydration, fever) has one text per subject, chosen from
`Assessment.subject`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml

from safety.types import Assessment, TriageLevel

DEFAULT_LANGUAGE = "en"
# WhatsApp rejects bodies over 1,600 characters; emergency replies aim far shorter so they are
# read at a glance.
WHATSAPP_LIMIT = 1600
EMERGENCY_REPLY_LIMIT = 900
# At most this many first-aid steps, so the call-now line stays the thing people see.
MAX_FIRST_AID_STEPS = 2

_TEXTS_DIR = "data/texts"


def _read_yaml(name: str) -> Any:
    path = resources.files("safety").joinpath(f"{_TEXTS_DIR}/{name}")
    return yaml.safe_load(path.read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """The category list, its aliases, the subjects with variants and the conflict table."""

    categories: tuple[str, ...]
    aliases: Mapping[str, str]
    subjects: frozenset[str]
    subject_aliases: Mapping[str, str]
    supersedes: Mapping[str, frozenset[str]]


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    data = _read_yaml("_categories.yaml")
    return _Catalogue(
        categories=tuple(data["categories"]),
        aliases=dict(data.get("aliases") or {}),
        subjects=frozenset(data.get("subjects") or ()),
        subject_aliases=dict(data.get("subject_aliases") or {}),
        supersedes={
            str(lead): frozenset(dropped or ())
            for lead, dropped in (data.get("supersedes") or {}).items()
        },
    )


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def categories() -> tuple[str, ...]:
    """Return the supported category names, most urgent first-aid first."""
    return _catalogue().categories


def normalise_category(name: str) -> str:
    """Map a category or alias to a supported name; unknown names become `general`."""
    cat = _catalogue()
    key = _key(name)
    key = cat.aliases.get(key, key)
    return key if key in cat.categories else "general"


def normalise_subject(subject: str | None) -> str | None:
    """Map a subject (or an alias such as young_infant) to a known subject, else None."""
    if not subject:
        return None
    cat = _catalogue()
    key = _key(subject)
    key = cat.subject_aliases.get(key, key)
    return key if key in cat.subjects else None


def conflicts() -> Mapping[str, frozenset[str]]:
    """Return the conflict table: category -> categories whose first aid it drops."""
    return _catalogue().supersedes


def composed_categories(cats: Iterable[str]) -> tuple[str, ...]:
    """Return the categories whose first aid may be shown, lead first, conflicting ones dropped.

    A category is dropped when any category that fired supersedes it, so the result does not
    depend on the order the rules fired in.
    """
    table = conflicts()
    fired = {normalise_category(c) for c in cats}
    dropped = {d for c in fired for d in table.get(c, ())}
    return tuple(c for c in categories() if c in fired and c not in dropped)


@lru_cache(maxsize=1)
def available_languages() -> tuple[str, ...]:
    """Return the language codes that have a text file."""
    folder = resources.files("safety").joinpath(_TEXTS_DIR)
    names = (entry.name for entry in folder.iterdir())
    return tuple(sorted(n[:-5] for n in names if n.endswith(".yaml") and not n.startswith("_")))


def _language(language: str | None) -> str:
    """Return a language we have texts for, falling back to English (never failing)."""
    code = (language or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in available_languages() else DEFAULT_LANGUAGE


@cache
def load_texts(language: str) -> Mapping[str, Any]:
    """Return the raw text data of one language file."""
    data: Mapping[str, Any] = _read_yaml(f"{language}.yaml")
    return data


def preload() -> None:
    """Read every language's texts and the category table now (see `safety.preload`)."""
    _catalogue()
    for language in available_languages():
        load_texts(language)


def _entry(language: str, *path: str) -> str:
    node: Any = load_texts(_language(language))
    for key in path:
        node = node[key]
    # Clinical items are mappings with their source; plain wording is a bare string.
    return str(node["text"] if isinstance(node, Mapping) else node)


def _fill(template: str, **values: str) -> str:
    return template.format(**values)


def first_aid(category: str, language: str, subject: str | None = None) -> str:
    """Return the first-aid step for a category and subject (unknown categories: the generic one).

    Entries that depend on age hold one text per subject; a subject without its own text, or
    none, gets `default` (adults and unknown ages).
    """
    node: Any = load_texts(_language(language))["first_aid"][normalise_category(category)]
    if isinstance(node, Mapping) and "text" not in node:
        node = node.get(normalise_subject(subject) or "default", node["default"])
    return str(node["text"] if isinstance(node, Mapping) else node)


def reply_subject(assessment: Assessment) -> str | None:
    """Return the subject whose first aid applies: the assessment's, or a baby if one fired."""
    subject = normalise_subject(assessment.subject)
    if subject is None and "infant" in {normalise_category(c) for c in assessment.categories}:
        # The `infant` category only fires on a baby, so its age is known even without a subject.
        return "infant"
    return subject


def _steps(cats: Iterable[str], limit: int) -> list[str]:
    """Return the categories to show, lead first, without conflicts, self_harm or `general`."""
    ordered = [c for c in composed_categories(cats) if c not in {"self_harm", "general"}]
    return ordered[:limit] or ["general"]


def _emergency_block(assessment: Assessment, lang: str, cats: list[str]) -> list[str]:
    number = assessment.contact.emergency
    head = (
        _fill(_entry(lang, "emergency", "headline"), number=number)
        if number
        else _entry(lang, "emergency", "headline_unknown")
    )
    if not cats:
        return [head]
    subject = reply_subject(assessment)
    steps = "\n".join("• " + first_aid(c, lang, subject) for c in cats)
    return [head, _entry(lang, "emergency", "while_waiting") + "\n" + steps]


def _join(parts: Iterable[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def emergency_reply(assessment: Assessment) -> str:
    """Return the fixed emergency reply: call now, what to do while waiting, staff told."""
    lang = _language(assessment.language)
    if assessment.self_harm:
        return self_harm_reply(assessment)
    cats = _steps(assessment.categories, MAX_FIRST_AID_STEPS)
    while True:
        text = _join(
            [*_emergency_block(assessment, lang, cats), _entry(lang, "emergency", "staff_notified")]
        )
        # Drop lower-priority steps rather than cut a sentence in half.
        if len(text) <= EMERGENCY_REPLY_LIMIT or len(cats) == 1:
            return text
        cats = cats[:-1]


def _crisis_sentence(assessment: Assessment, lang: str) -> list[str]:
    contact = assessment.contact
    if contact.crisis_line:
        parts = [
            _fill(
                _entry(lang, "self_harm", "crisis_known"),
                crisis_name=contact.crisis_name or contact.crisis_line,
                crisis_line=contact.crisis_line,
            )
        ]
        if contact.emergency:
            parts.append(
                _fill(_entry(lang, "self_harm", "danger_number"), number=contact.emergency)
            )
        return [" ".join(parts)]
    if contact.emergency:
        return [_fill(_entry(lang, "self_harm", "crisis_number"), number=contact.emergency)]
    return [_entry(lang, "self_harm", "crisis_unknown")]


def self_harm_reply(assessment: Assessment) -> str:
    """Return the compassionate crisis reply: not alone, crisis line, stay with someone."""
    lang = _language(assessment.language)
    physical = [c for c in _steps(assessment.categories, 1) if c != "general"]
    # Too long a reply goes unread: the first-aid step gives way, never the call-now line or
    # the crisis line.
    for steps in (physical, []):
        # An overdose or injury alongside self-harm needs the ambulance line first.
        urgent_block = _emergency_block(assessment, lang, steps) if physical else []
        text = _join(
            [
                _entry(lang, "self_harm", "opening"),
                *urgent_block,
                *_crisis_sentence(assessment, lang),
                _entry(lang, "self_harm", "stay") + " " + _entry(lang, "self_harm", "means"),
                _entry(lang, "self_harm", "staff"),
            ]
        )
        if len(text) <= EMERGENCY_REPLY_LIMIT:
            break
    return text


def urgent_notice(language: str) -> str:
    """Return the notice for urgent cases: see a clinician today or within 24-48 h."""
    return _entry(language, "urgent_notice")


def disclaimer(level: TriageLevel | str, language: str) -> str:
    """Return the short 'assistant, not a doctor' line for a triage level."""
    return _entry(language, "disclaimer", TriageLevel(level).value)


def care_advice(level: TriageLevel | str, language: str) -> str:
    """Return the sentence saying when to seek care for a triage level."""
    return _entry(language, "care_advice", TriageLevel(level).value)


def safe_fallback(assessment: Assessment) -> str:
    """Return a safe generic reply used when a model draft has to be replaced."""
    lang = _language(assessment.language)
    number = assessment.contact.emergency
    call = (
        _fill(_entry(lang, "fallback", "number"), number=number)
        if number
        else _entry(lang, "fallback", "number_unknown")
    )
    parts = [_entry(lang, "fallback", "intro"), care_advice(assessment.level, lang), call]
    if assessment.self_harm:
        parts += _crisis_sentence(assessment, lang)
    return " ".join(parts)

"""Multilingual rule-based triage: every message is checked against every language's rules."""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safety.language import best_language, detect_language, language_scores
from safety.normalize import normalize
from safety.numbers import contact_for
from safety.types import LANGUAGES, Assessment, RuleHit, TriageLevel, max_level

# The subjects a message can be about; they are features like any rule, with patterns in the
# language files' `subjects` section. young_infant (under 3 months) reports as "infant".
SUBJECTS: tuple[str, ...] = ("pregnant", "young_infant", "infant", "child", "elderly")

_WORD = r"[^\s|]"
# A gap may step over a comma ("red, hot and oozing"): the break token counts as one word.
# The word before a gap may continue ("fala _ enrolado" matches "falando enrolado"), so write a
# short word that must end there with an explicit space: "a\\sbu _ X".
_GAP = r"(?:\S+ ){0,3}"


@dataclass(frozen=True, slots=True)
class Rule:
    """Language-independent metadata of one rule (or subject feature)."""

    id: str
    level: TriageLevel
    category: str
    requires: tuple[tuple[str, ...], ...] = ()  # combination rule: every group needs one member
    cap_when: tuple[str, ...] = ()  # features that, in the same message, cap the level...
    cap_level: TriageLevel | None = None  # ...at this level (guidance names the milder cause)


@dataclass(frozen=True, slots=True)
class LanguagePack:
    """Everything one language file contributes, compiled."""

    code: str
    detector: frozenset[str]
    rule_ids: frozenset[str]  # rules and subjects this file has patterns for


@dataclass(frozen=True, slots=True)
class Phrase:
    """One compiled pattern line of one language file."""

    rule_id: str
    language: str
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All rules, all languages, plus cross-language cue regexes, compiled once."""

    rules: dict[str, Rule]
    combos: tuple[Rule, ...]
    packs: dict[str, LanguagePack]
    phrases: tuple[Phrase, ...]  # every phrase of every language, compiled on its own
    index: dict[str, tuple[int, ...]]  # trigram -> phrases that cannot match without it
    always: tuple[int, ...]  # phrases with no usable literal: tried on every message
    negation_before: dict[str, re.Pattern[str]]  # message language ("" = unknown) -> cues
    negation_after: re.Pattern[str]
    scope_breakers: re.Pattern[str]
    past: re.Pattern[str]
    present: re.Pattern[str]  # "now", "today", "but": a past cue before them no longer applies
    question: re.Pattern[str]
    personal: re.Pattern[str]


_MACRO_RE = re.compile(r"\{([A-Z][A-Z_]*)\}")


def compile_phrase(pattern: str) -> str:
    """Turn one rule phrase into a regex over normalised text.

    Phrases are regexes with four conveniences: a space also matches no space ("cantbreathe"),
    `*` means "any letters" (a word stem), a lone `_` skips up to three words, and `{NAME}`
    inserts the language file's macro NAME (a shared list of synonyms).
    """
    text = pattern.strip().replace(" _ ", "\x01").replace("*", "\x02")
    text = text.replace(" ", " ?")
    return text.replace("\x01", " ?" + _GAP).replace("\x02", _WORD + "*")


def _bounded(parts: list[str]) -> str:
    body = "|".join(f"(?:{compile_phrase(p)})" for p in parts)
    return rf"(?<![^\s|])(?:{body})(?![^\s|])"


def _compile(parts: list[str], where: str) -> re.Pattern[str]:
    try:
        return re.compile(_bounded(parts))
    except re.error as exc:  # a broken phrase must fail loudly at load, naming its place
        raise ValueError(f"bad pattern in {where}: {exc}") from exc


def _expand(pattern: str, macros: dict[str, str], where: str) -> str:
    """Replace `{NAME}` macros (macros may use other macros defined before them)."""
    for _ in range(3):
        try:
            pattern = _MACRO_RE.sub(lambda m: "(?:" + macros[m.group(1)] + ")", pattern)
        except KeyError as exc:
            raise ValueError(f"unknown macro {exc} in {where}") from exc
    # Patterns get the same Devanagari folding as the text (nukta dropped, chandrabindu as
    # anusvara), so a file may spell words either way.
    pattern = unicodedata.normalize("NFC", pattern)
    return pattern.replace("\u093c", "").replace("\u0901", "\u0902")


# The C loader (when PyYAML was built with libyaml) parses the rule files ~10x faster.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _negation_regex(cues: list[str]) -> re.Pattern[str]:
    """Cues that must end the window right before a match (up to two words in between)."""
    body = "|".join(compile_phrase(c) for c in cues)
    return re.compile(rf"(?<![^\s|])(?:{body})(?: {_WORD}+){{0,2}}$")


def _read(name: str) -> Any:
    text = resources.files("safety").joinpath("rules", name).read_text("utf-8")
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, chosen above


def language_files() -> list[str]:
    """Return the language codes that have a rule file (adding a language = adding a file)."""
    folder = resources.files("safety").joinpath("rules")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
    return [n.removesuffix(".yaml") for n in names if n != "rules.yaml"]


def _cue_list(data: dict[str, Any], key: str) -> list[str]:
    return [str(x) for x in data.get(key) or []]


# --- literal index ---------------------------------------------------------------------------
# Trying ~1500 phrases on every message costs milliseconds. Each phrase is parsed once to find
# literals that any match must contain; a phrase is tried only when the message holds the first
# three letters of one of them. Phrases without such literals are always tried (never skipped).

_sre: Any = importlib.import_module("re._parser")
_LITERAL = _sre.LITERAL
_MIN_KEY = 3


def _leading_literal(items: Any) -> str:
    """Return the literal letters a parsed alternative starts with ("" if none)."""
    lead = ""
    for op, arg in items:
        if op is not _LITERAL:
            break
        lead += chr(arg)
    return lead


def _factors(items: Any) -> set[str] | None:
    """Return literals of which every match of `items` contains one, or None if unknown."""
    candidates: list[set[str]] = []
    run = ""
    for op, arg in items:
        if op is _LITERAL:
            run += chr(arg)
            continue
        before, run = run, ""
        if before:
            candidates.append({before})
        child: set[str] | None = None
        if op is _sre.SUBPATTERN:
            child = _factors(arg[-1])
        elif op is _sre.BRANCH:
            parts = [_factors(alt) for alt in arg[1]]
            if all(p is not None for p in parts):
                child = set().union(*(p for p in parts if p is not None))
            # The parser moves a shared first letter out of a branch ("gcs|glasgow" becomes
            # "g" + "cs|lasgow"): glue the letters before the branch back onto each alternative.
            leads = [_leading_literal(alt) for alt in arg[1]]
            if before and all(leads):
                candidates.append({before + lead for lead in leads})
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and arg[0] >= 1:
            child = _factors(arg[2])
        if child:
            candidates.append(child)
    if run:
        candidates.append({run})
    if not candidates:
        return None
    # The best set is the one whose shortest literal is longest: it prunes the most.
    return max(candidates, key=lambda c: (min(len(x) for x in c), -len(c)))


def _build_index(phrases: list[Phrase]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    index: dict[str, list[int]] = {}
    always: list[int] = []
    for number, phrase in enumerate(phrases):
        found = _factors(_sre.parse(phrase.pattern.pattern))
        if not found or min(len(f) for f in found) < _MIN_KEY:
            always.append(number)
            continue
        for key in {f[:_MIN_KEY] for f in found}:
            index.setdefault(key, []).append(number)
    return {k: tuple(v) for k, v in index.items()}, tuple(always)


@lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    """Load, validate and compile every rule file once."""
    meta = _read("rules.yaml")
    rules: dict[str, Rule] = {}
    for row in meta["rules"]:
        requires = tuple(tuple(str(g).split("|")) for g in row.get("requires") or [])
        rules[row["id"]] = Rule(
            id=str(row["id"]),
            level=TriageLevel(row["level"]),
            category=str(row["category"]),
            requires=requires,
            cap_when=tuple(str(x) for x in row.get("cap_when") or ()),
            cap_level=TriageLevel(row["cap_level"]) if row.get("cap_level") else None,
        )
    for subject in SUBJECTS:
        rules.setdefault(subject, Rule(id=subject, level=TriageLevel.INFO, category="subject"))
    known = set(rules)
    for rule in rules.values():
        for group in rule.requires:
            missing = set(group) - known
            if missing:
                raise ValueError(f"rule {rule.id} requires unknown ids {sorted(missing)}")

    packs: dict[str, LanguagePack] = {}
    keys = ("negation", "negation_after", "breakers", "past", "present", "question", "personal")
    cues: dict[str, list[str]] = {k: [] for k in keys}
    phrases: list[Phrase] = []
    not_negation: dict[str, set[str]] = {}
    for code in language_files():
        data = _read(f"{code}.yaml")
        macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
        sections: dict[str, list[str]] = {}
        sections.update({k: list(v) for k, v in (data.get("subjects") or {}).items()})
        sections.update({k: list(v) for k, v in (data.get("rules") or {}).items()})
        for rule_id, parts in sections.items():
            if rule_id not in rules:
                raise ValueError(f"{code}.yaml: unknown rule id {rule_id!r}")
            if rules[rule_id].requires:
                raise ValueError(f"{code}.yaml: {rule_id!r} is a combination rule, no patterns")
            texts = [_expand(str(p), macros, f"{code}.yaml:{rule_id}") for p in parts]
            phrases.extend(
                Phrase(rule_id, code, _compile([t], f"{code}.yaml:{rule_id}")) for t in texts
            )
        for key in cues:
            cues[key].extend(_expand(c, macros, key) for c in _cue_list(data, key))
        not_negation[code] = set(_cue_list(data, "not_negation"))
        packs[code] = LanguagePack(
            code=code,
            detector=frozenset(str(w) for w in data.get("detector") or []),
            rule_ids=frozenset(sections),
        )
    combos = tuple(r for r in rules.values() if r.requires)
    index, always = _build_index(phrases)
    return RuleSet(
        rules=rules,
        combos=combos,
        packs=packs,
        phrases=tuple(phrases),
        index=index,
        always=always,
        negation_before={
            code: _negation_regex([c for c in cues["negation"] if c not in skip])
            for code, skip in {"": set[str](), **not_negation}.items()
        },
        # Hindi-style negation follows the noun: "bukhar nahi hai" (but not "nahi ruk raha").
        negation_after=re.compile(
            rf"^ (?:{'|'.join(compile_phrase(c) for c in cues['negation_after'])})(?: \||$)"
        ),
        scope_breakers=_compile(cues["breakers"], "breakers"),
        past=_compile(cues["past"], "past"),
        present=_compile(cues["present"] or ["now"], "present"),
        question=_compile(cues["question"], "question"),
        personal=_compile(cues["personal"], "personal"),
    )


# --- matching -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule or subject that matched one message, after negation and past-tense checks."""

    rule_id: str
    language: str
    matched: str
    past: bool  # said about the past ("last year"): reported, but capped and not combined


def _negated(rs: RuleSet, text: str, start: int, end: int, negation: re.Pattern[str]) -> bool:
    clause = text[:start].rsplit("|", 1)[-1]
    window = " ".join(clause.split()[-4:])
    if window:
        cue = negation.search(window)
        if cue is not None:
            # "no sure if chest pain" style hedges and "but" reopen the scope: over-triage wins.
            cue_end = window.find(" ", cue.start())
            between = window[cue_end:] if cue_end >= 0 else ""
            if not rs.scope_breakers.search(between):
                return True
    return rs.negation_after.match(text[end:]) is not None


def _clause_at(text: str, start: int, end: int) -> str:
    left = text.rfind("|", 0, start)
    right = text.find("|", end)
    return text[left + 1 : right if right >= 0 else len(text)]


def _in_past(rs: RuleSet, text: str, start: int, end: int) -> bool:
    """True when a past-time cue in the match's clause covers it ("had a stroke in 2019").

    A present-time word between the cue and the match ("had a stroke in 2019 and now her face is
    drooping") reopens the present, as a hedge does for negation: over-triage wins.
    """
    left = text.rfind("|", 0, start) + 1
    clause = _clause_at(text, start, end)
    lo, hi = start - left, end - left
    for cue in rs.past.finditer(clause):
        between = clause[min(cue.end(), hi) : max(cue.start(), lo)]
        if not between.strip() or not rs.present.search(between.strip()):
            return True
    return False


@lru_cache(maxsize=8192)
def scan(text: str) -> tuple[Finding, ...]:
    """Return every non-negated rule and subject match in one message (any language)."""
    rs = load_rules()
    norm = normalize(text, keep_breaks=True)
    if not norm:
        return ()
    grams = {norm[i : i + _MIN_KEY] for i in range(len(norm) - _MIN_KEY + 1)}
    chosen = set(rs.always)
    for gram in grams:
        chosen.update(rs.index.get(gram, ()))
    # A word that negates in one language can be ordinary in another (Portuguese "no peito" is
    # "in the chest"), so the cues follow the message's language when it is clear.
    language = best_language(language_scores(text), "")
    negation = rs.negation_before.get(language) or rs.negation_before[""]
    found: dict[str, Finding] = {}
    for number in sorted(chosen):  # file order, so results never depend on set order
        phrase = rs.phrases[number]
        previous = found.get(phrase.rule_id)
        if previous is not None and not previous.past:
            continue
        for m in phrase.pattern.finditer(norm):
            if _negated(rs, norm, m.start(), m.end(), negation):
                continue
            past = _in_past(rs, norm, m.start(), m.end())
            if previous is None or not past:
                found[phrase.rule_id] = Finding(phrase.rule_id, phrase.language, m.group(0), past)
            if not past:
                break
    return tuple(found.values())


def _is_general_question(text: str) -> bool:
    """True for a topic question with no sign that the writer or someone near has the problem."""
    rs = load_rules()
    norm = normalize(text, keep_breaks=True)
    q = rs.question.search(norm)
    if q is None:
        return False
    rest = norm[: q.start()] + " | " + norm[q.end() :]
    return rs.personal.search(rest) is None


# --- assessment -----------------------------------------------------------------------------

_CAP_PAST: TriageLevel = TriageLevel.ROUTINE
_SUBJECT_NAMES = {"young_infant": "infant"}
HISTORY_WINDOW = 5


def _reply_language(text: str, current: Sequence[Finding], recent: Sequence[str]) -> str:
    """Detect from marker words, helped by which language's patterns matched the message."""
    scores = dict(language_scores(text))
    for f in current:
        scores[f.language] = scores.get(f.language, 0.0) + 0.5
    found = best_language(scores, "")
    return found or detect_language(" ".join(recent), default="en")


def _subject(findings: Sequence[Finding]) -> str | None:
    present = {f.rule_id for f in findings if not f.past}
    for subject in SUBJECTS:
        if subject in present:
            return _SUBJECT_NAMES.get(subject, subject)
    return None


def assess(
    text: str,
    *,
    history: Sequence[str] = (),
    sender: str | None = None,
    language: str | None = None,
) -> Assessment:
    """Triage one inbound message, using up to the last few earlier messages as context."""
    rs = load_rules()
    recent = [h for h in list(history)[-HISTORY_WINDOW:] if h]
    current = scan(text)
    if current and _is_general_question(text):
        current = tuple(f for f in current if rs.rules[f.rule_id].category == "subject")
    past_found = [f for h in recent for f in scan(h)]

    present = {f.rule_id for f in current if not f.past}
    hits: list[RuleHit] = []
    for f in current:
        rule = rs.rules[f.rule_id]
        if rule.level is TriageLevel.INFO:
            continue
        capped: TriageLevel = rule.level
        if f.past and capped.rank > _CAP_PAST.rank:
            capped = _CAP_PAST
        if rule.cap_level is not None and present.intersection(rule.cap_when):
            capped = min(capped, rule.cap_level, key=lambda lvl: lvl.rank)
        hits.append(RuleHit(rule.id, capped, rule.category, f.language, f.matched))

    now = {f.rule_id: f for f in current if not f.past}
    before = {f.rule_id: f for f in past_found if not f.past}
    for combo in rs.combos:
        chosen: list[Finding] = []
        uses_current = False
        for group in combo.requires:
            pick = next((now[g] for g in group if g in now), None)
            if pick is not None:
                uses_current = True
            else:
                pick = next((before[g] for g in group if g in before), None)
            if pick is None:
                break
            chosen.append(pick)
        else:
            # A red flag made only of older messages was already assessed when they arrived.
            if not uses_current:
                continue
            combo_level: TriageLevel = combo.level
            if combo.cap_level is not None and present.intersection(combo.cap_when):
                combo_level = min(combo_level, combo.cap_level, key=lambda lvl: lvl.rank)
            from_history = any(c.rule_id not in now for c in chosen)
            matched = " + ".join(c.matched for c in chosen)
            lang = next((c.language for c in chosen if c.rule_id in now), chosen[0].language)
            hits.append(RuleHit(combo.id, combo_level, combo.category, lang, matched, from_history))

    hits.sort(key=lambda h: (-h.level.rank, h.rule_id))
    level = max_level(*(h.level for h in hits))
    if language is not None and language in LANGUAGES:
        reply_language = language
    else:
        reply_language = _reply_language(text, current, recent)
    categories = frozenset(h.category for h in hits if h.level.rank >= TriageLevel.SELF_CARE.rank)
    subject = _subject(current) or _subject(past_found)
    return Assessment(
        level=level,
        hits=tuple(hits),
        escalate=level.rank >= TriageLevel.URGENT.rank,
        contact=contact_for(sender),
        language=reply_language,
        subject=subject,
        categories=categories,
    )

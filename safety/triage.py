"""Multilingual rule-based triage: every message is checked against every language's rules."""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safety.language import best_language, detect_language, language_scores
from safety.normalize import COMMA, normalize
from safety.numbers import contact_for
from safety.types import LANGUAGES, Assessment, RuleHit, TriageLevel, max_level

# The subjects a message can be about; they are features like any rule, with patterns in the
# language files' `subjects` section. young_infant (under 3 months) reports as "infant".
SUBJECTS: tuple[str, ...] = ("pregnant", "young_infant", "infant", "child", "elderly")

# A word letter in normalised text: not a space, a clause break "|" or a list comma ",".
_WORD = r"[^\s|,]"
# Words a gap may step over: a list comma counts as one ("red, hot and oozing"), a clause break
# never does, so a phrase never joins two sentences.
_GAP_WORD = r"[^\s|]+"
_SKELETON_GAP = rf"(?: ?(?:{_GAP_WORD} ){{0,3}})"
# Intensifiers and other modifier words are marked in the text with this suffix ("crushing~"):
# every space of a phrase may absorb up to two of them, and every phrase word may carry one.
MARK = "~"
_MAX_MODIFIERS = 2
# A word may join the next without a space ("cantbreathe") only when at least this many letters
# come before the join, so short words cannot glue onto the start of a longer one.
_JOIN_MIN = 3
# An inflection suffix attaches only to a word of at least this many letters ("is" is not "i"+s).
_STEM_MIN = 3


@dataclass(frozen=True, slots=True)
class Grammar:
    """How one language's phrase words may inflect: a suffix alternation and o/a gender."""

    suffix: str = ""  # e.g. "s|es": optional at every word end of a phrase
    gender: bool = False  # a word ending in -o also matches -a ("hinchado" / "hinchada")


PLAIN = Grammar()


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
class NegationCues:
    """The negation cues of one message language ("" = unknown: every language's cues)."""

    before: re.Pattern[str]  # "no", "sin", "hana": cover what follows
    pseudo: re.Pattern[str]  # "without warning", "never ... like this": a cue that doesn't negate
    coordinators: frozenset[str]  # "or", "nor", "ni", "wala": a negated list goes on


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All rules, all languages, plus cross-language cue regexes, compiled once."""

    rules: dict[str, Rule]
    combos: tuple[Rule, ...]
    packs: dict[str, LanguagePack]
    phrases: tuple[Phrase, ...]  # every phrase of every language, compiled on its own
    index: dict[str, tuple[int, ...]]  # trigram -> phrases that cannot match without it
    always: tuple[int, ...]  # phrases with no usable literal: tried on every message
    negation: dict[str, NegationCues]  # message language ("" = unknown) -> cues
    negation_after: re.Pattern[str]  # Hindi-style cues that follow what they negate
    scope_breakers: re.Pattern[str]
    modifiers: re.Pattern[str]  # intensifiers a phrase may step over ("very", "ecrasante")
    grammars: dict[str, Grammar]  # each language's inflections
    past: re.Pattern[str]
    present: re.Pattern[str]  # "now", "today", "but": a past cue before them no longer applies
    question: re.Pattern[str]
    personal: re.Pattern[str]


_MACRO_RE = re.compile(r"\{([A-Z][A-Z_]*)\}")


# Every space of every phrase expands to these pieces, so they are kept short. In normalised text
# "|" and "," stand alone and "~" only ends a word, so \S inside a word means a letter. When the
# compiler knows how many letters a phrase word has, it decides the three-letter conditions itself;
# after a group it leaves them to a lookbehind on the text.
def _word_end(grammar: Grammar, letters: int | None, stem: bool = False) -> str:
    """What may follow the last letter of a phrase word: an inflection, then a modifier mark."""
    if not grammar.suffix or stem or (letters is not None and letters < _STEM_MIN):
        return MARK + "?"
    if letters is None:
        return rf"(?:(?<=\S{{{_STEM_MIN}}})(?:{grammar.suffix}))?{MARK}?"
    return rf"(?:{grammar.suffix})?{MARK}?"


def _separator(grammar: Grammar, letters: int | None, stem: bool = False) -> str:
    """A space between two phrase words: a real space (absorbing up to two marked modifier
    words) or, after a word of three letters or more, no space at all ("cantbreathe")."""
    end = _word_end(grammar, letters, stem)
    space = rf" (?:\S+{MARK} ){{0,{_MAX_MODIFIERS}}}"
    # Wrapped in a group: a rule may make the space optional ("l ?an dernier").
    if letters is None:
        return rf"(?:{end}(?:{space}|(?<=\S{{{_JOIN_MIN}}})))"
    return rf"(?:{end}(?:{space})?)" if letters >= _JOIN_MIN else rf"(?:{end}{space})"


def _gap(grammar: Grammar, letters: int | None, stem: bool = False) -> str:
    """A lone `_`: up to three whole words, never a clause break, starting at a word end."""
    end = _word_end(grammar, letters, stem)
    return rf"(?:{end}(?:(?:(?<= )| )(?:{_GAP_WORD} ){{0,3}}|(?![^\s|])))"


def _class_end(pattern: str, i: int) -> int:
    """Return the index just past the character class that starts at pattern[i] ("[")."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def compile_phrase(pattern: str, grammar: Grammar = PLAIN, *, skeleton: bool = False) -> str:
    """Turn one rule phrase into a regex over normalised text.

    Phrases are regexes with these conveniences: a space separates whole words (it may absorb up
    to two modifier words, and a long word may join the next: "cantbreathe"), every word may end
    in one of the language's inflections, `*` means "any letters" (a word stem), a lone `_` skips
    up to three words within the clause, and `{NAME}` inserts the language file's macro NAME (a
    shared list of synonyms). An explicit `.{0,80}` is the file's own choice: it may cross.

    A `skeleton` has the same words joined by plain optional spaces: it needs the same literals
    and is far cheaper to parse, so the literal index is built from it.
    """
    out: list[str] = []
    groups: list[str] = []  # "(" for a plain group, "=" for a lookahead, "<" for a lookbehind
    run = 0  # letters of the phrase word being written
    clean = False  # the run began at a word start, so it is the whole word so far
    stem = False  # the word ends in `*`: any letters, so no inflection is needed

    def word_end(piece: Callable[[Grammar, int | None, bool], str]) -> str:
        if skeleton:
            return "" if piece is _word_end else "(?: ?)" if piece is _separator else _SKELETON_GAP
        return piece(grammar, run if clean and run else None, stem)

    pattern = pattern.strip()
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        looking = any(g != "(" for g in groups)
        if ch == "*":
            out.append(_WORD + "*")
            i, stem = i + 1, True
            continue
        letter = ch.isalpha() or "\u0900" <= ch <= "\u097f"
        if letter and not run:
            clean = i == 0 or pattern[i - 1] in " (|"
        if letter:
            run, stem = run + 1, False
            at_end = i + 1 == n or pattern[i + 1] in " |)"
            # Spanish and Portuguese agreement: rules name the masculine ("hinchado"); the
            # feminine follows. Not the reverse: "coma" is not "como", "banheira" not "banheiro".
            gender = grammar.gender and ch == "o" and run >= _STEM_MIN and at_end
            out.append("[oa]" if gender and not looking else ch)
            i += 1
            continue
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i, run, stem = i + 2, 0, False
            continue
        if ch == "[":
            j = _class_end(pattern, i)
            out.append(pattern[i:j])
            i, run, stem = j, 0, False
            continue
        if ch == "(":
            if pattern.startswith(("(?=", "(?!"), i):
                groups.append("=")
            elif pattern.startswith(("(?<=", "(?<!"), i):
                groups.append("<")
            else:
                groups.append("(")
        elif ch == ")" and groups:
            groups.pop()
        elif ch == "|" and not groups:
            out.append(word_end(_word_end))  # each top-level alternative ends a word
        lone = ch == "_" and pattern.startswith("_ ", i) and (i == 0 or pattern[i - 1] in " ?")
        if lone and not looking:
            # "(up )?_ " is a gap too: the optional group before it ends with its own space.
            out.append(word_end(_gap))
            i, run, stem = i + 2, 0, False
            continue
        if ch == " " and not looking:
            if pattern.startswith(" _ ", i):
                out.append(word_end(_gap))
                i += 3
            else:
                out.append(word_end(_separator))
                i += 1
        elif ch == " ":
            out.append(" " if "<" in groups else MARK + "? ?")  # a lookbehind needs a fixed width
            i += 1
        else:
            out.append(ch)
            i += 1
        run, stem = 0, False
    if not groups and pattern:
        out.append(word_end(_word_end))
    return "".join(out)


def _bounded(parts: list[str], grammar: Grammar = PLAIN, *, skeleton: bool = False) -> str:
    body = "|".join(f"(?:{compile_phrase(p, grammar, skeleton=skeleton)})" for p in parts)
    return rf"(?<![^\s|,])(?:{body})(?![^\s|,])"


def _compile(parts: list[str], where: str, grammar: Grammar = PLAIN) -> re.Pattern[str]:
    try:
        return re.compile(_bounded(parts, grammar))
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


def _cue_regex(cues: list[str], where: str) -> re.Pattern[str]:
    """Compile cues (plain phrases, no inflection); an empty list never matches."""
    return _compile(cues, where) if cues else re.compile(r"(?!x)x")


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


def _build_index(skeletons: list[str]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    index: dict[str, list[int]] = {}
    always: list[int] = []
    for number, skeleton in enumerate(skeletons):
        found = _factors(_sre.parse(skeleton))
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
    keys = ("negation_after", "breakers", "past", "present", "question", "personal")
    cues: dict[str, list[str]] = {k: [] for k in keys}
    negation: dict[str, dict[str, list[str]]] = {}  # language -> negation, pseudo, coordinators
    modifiers: list[str] = []
    grammars: dict[str, Grammar] = {}
    phrases: list[Phrase] = []
    skeletons: list[str] = []  # the same phrases, cheap to parse for the literal index
    for code in language_files():
        data = _read(f"{code}.yaml")
        macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
        grammar = Grammar(suffix=str(data.get("inflection") or ""), gender=bool(data.get("gender")))
        grammars[code] = grammar
        sections: dict[str, list[str]] = {}
        sections.update({k: list(v) for k, v in (data.get("subjects") or {}).items()})
        sections.update({k: list(v) for k, v in (data.get("rules") or {}).items()})
        for rule_id, parts in sections.items():
            if rule_id not in rules:
                raise ValueError(f"{code}.yaml: unknown rule id {rule_id!r}")
            if rules[rule_id].requires:
                raise ValueError(f"{code}.yaml: {rule_id!r} is a combination rule, no patterns")
            where = f"{code}.yaml:{rule_id}"
            texts = [_expand(str(p), macros, where) for p in parts]
            phrases.extend(Phrase(rule_id, code, _compile([t], where, grammar)) for t in texts)
            skeletons.extend(_bounded([t], grammar, skeleton=True) for t in texts)
        for key in cues:
            cues[key].extend(_expand(c, macros, key) for c in _cue_list(data, key))
        skip = set(_cue_list(data, "not_negation"))
        negation[code] = {
            "negation": _cue_list(data, "negation"),
            "skip": sorted(skip),
            "pseudo": [_expand(c, macros, "pseudo") for c in _cue_list(data, "pseudo_negation")],
            "coordinators": [c for c in _cue_list(data, "coordinators") if c not in skip],
        }
        # Modifiers are matched with the language's inflections ("ecrasant" marks "ecrasantes").
        modifiers.append(_bounded(_cue_list(data, "modifiers") or ["(?!x)x"], grammar))
        packs[code] = LanguagePack(
            code=code,
            detector=frozenset(str(w) for w in data.get("detector") or []),
            rule_ids=frozenset(sections),
        )
    combos = tuple(r for r in rules.values() if r.requires)
    index, always = _build_index(skeletons)
    breakers = _cue_regex(cues["breakers"], "breakers")
    # Negation cues and pseudo-negations of every language apply to every message (people mix
    # languages), less the words a language says are ordinary there (Portuguese "no" = "in the").
    # List coordinators follow the message's language: French "au" or Swahili "ya" are no "or".
    everyone = {k: [c for lang in negation.values() for c in lang[k]] for k in negation["en"]}
    everyone["skip"] = []
    negation[""] = everyone
    for lang_cues in negation.values():
        lang_cues["negation"] = [c for c in everyone["negation"] if c not in lang_cues["skip"]]
        lang_cues["pseudo"] = everyone["pseudo"]
    return RuleSet(
        rules=rules,
        combos=combos,
        packs=packs,
        phrases=tuple(phrases),
        index=index,
        always=always,
        negation={
            code: NegationCues(
                before=_cue_regex(lang_cues["negation"], f"{code}.yaml:negation"),
                pseudo=_cue_regex(lang_cues["pseudo"], f"{code}.yaml:pseudo_negation"),
                # A word that also ends a scope ("and" in one language) never continues a list.
                coordinators=frozenset(
                    c for c in lang_cues["coordinators"] if not breakers.fullmatch(c)
                ),
            )
            for code, lang_cues in negation.items()
        },
        negation_after=_cue_regex(cues["negation_after"], "negation_after"),
        scope_breakers=breakers,
        modifiers=re.compile("|".join(modifiers)),
        grammars=grammars,
        past=_compile(cues["past"], "past"),
        present=_compile(cues["present"] or ["now"], "present"),
        question=_compile(cues["question"], "question"),
        personal=_compile(cues["personal"], "personal"),
    )


def phrase_pattern(phrase: str, language: str) -> re.Pattern[str]:
    """Compile one phrase (macros aside) as the language's rule file would, for tests and tools."""
    return _compile([phrase], f"{language}:{phrase}", load_rules().grammars[language])


# --- matching -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule or subject that matched one message, after negation and past-tense checks."""

    rule_id: str
    language: str
    matched: str
    past: bool  # said about the past ("last year"): reported, but capped and not combined


# A negated list: "no fever, chills or nausea". Items are short, and without a list a cue reaches
# at most two words ahead ("no high fever", "dont have a fever").
_DIRECT = 2
_ITEM = 4
_ITEMS = 6


def _list_scope(rs: RuleSet, cues: NegationCues, words: list[str], *, after: bool) -> bool | None:
    """Judge the words between a negation cue and a match as a list the cue covers.

    Returns True (covered), False (not), or None for a list of commas only ("no fever, chills"),
    which the caller accepts only if a coordinator ("or") closes it after the match. `after` is
    for a cue that follows the match: the words then run from the match to the cue.
    """
    if rs.scope_breakers.search(" ".join(words)):
        return False
    # Marked modifiers don't count: "no really high fever" has the scope of "no fever".
    words = [w for w in words if not w.endswith(MARK)]
    if not words:
        return True
    items: list[list[str]] = [["(match)"]] if after else [[]]
    separators: list[str] = []
    for word in words:
        if word == COMMA or word in cues.coordinators:
            separators.append(word)
            items.append([])
        else:
            items[-1].append(word)
    if not separators:
        return not after and len(items[0]) <= _DIRECT
    if not items[0] or (after and not items[-1]) or len(items) > _ITEMS:
        return False  # "no, chest pain" is an answer, not a list
    if any(len(i) > _ITEM for i in items) or (not after and len(items[-1]) > _DIRECT):
        return False
    coordinated = False
    for sep in separators:
        if sep == COMMA and coordinated:
            return False  # "no fever or chills, chest pain": the comma closed the list
        coordinated = coordinated or sep != COMMA
    if coordinated:
        return True
    return False if after else None


def _list_goes_on(rs: RuleSet, cues: NegationCues, after: list[str]) -> bool:
    """True when the words after a match continue a comma list up to a coordinator."""
    length = 0
    for word in after:
        if word.endswith(MARK):
            continue
        if word in cues.coordinators:
            return True
        if word == COMMA:
            length = 0
            continue
        length += 1
        if length > _ITEM or rs.scope_breakers.fullmatch(word):
            return False
    return False


def _negated(rs: RuleSet, cues: NegationCues, text: str, start: int, end: int) -> bool:
    """True when a negation cue's scope covers the match at text[start:end].

    A cue before the match covers up to two words, or a list joined by commas and "or"/"nor"
    ("no fever, chills or nausea"); "and" and hedges ("but", "not sure if") end the scope, as
    does a clause break. Pseudo-negations ("without warning", "never ... like this") are no
    cues. Hindi-style cues after the match ("bukhar ya khansi nahi hai") work the same way.
    """
    left = text.rfind("|", 0, start) + 1
    right = text.find("|", end)
    right = len(text) if right < 0 else right
    cues_before = list(cues.before.finditer(text, left, start))
    cues_after = list(rs.negation_after.finditer(text, end, right))
    if not cues_before and not cues_after:
        return False
    void = [m.span() for m in cues.pseudo.finditer(text, left, right)]
    cue = None
    for found in cues_before:
        if not any(a <= found.start() < b for a, b in void):
            cue = found
    if cue is not None:
        verdict = _list_scope(rs, cues, text[cue.end() : start].split(), after=False)
        if verdict is None:
            verdict = _list_goes_on(rs, cues, text[end:right].split())
        if verdict:
            return True
    for after in cues_after:
        if any(a <= after.start() < b for a, b in void):
            continue
        tail = text[after.end() : right].split()
        # The cue must end its clause ("bukhar nahi hai", "bukhar nahi hai, bas khansi").
        if tail and tail[0] != COMMA and not rs.scope_breakers.fullmatch(tail[0]):
            continue
        return bool(_list_scope(rs, cues, text[end : after.start()].split(), after=True))
    return False


def _clause_at(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the bounds of the clause around a match: commas end it here, as breaks do."""
    left = max(text.rfind("|", 0, start), text.rfind(COMMA, 0, start)) + 1
    ends = [i for i in (text.find("|", end), text.find(COMMA, end)) if i >= 0]
    return left, min(ends, default=len(text))


def _in_past(rs: RuleSet, text: str, start: int, end: int) -> bool:
    """True when a past-time cue in the match's clause covers it ("had a stroke in 2019").

    A present-time word between the cue and the match ("had a stroke in 2019 and now her face is
    drooping") reopens the present, as a hedge does for negation: over-triage wins.
    """
    left, right = _clause_at(text, start, end)
    clause = text[left:right]
    lo, hi = start - left, end - left
    for cue in rs.past.finditer(clause):
        between = clause[min(cue.end(), hi) : max(cue.start(), lo)]
        if not between.strip() or not rs.present.search(between.strip()):
            return True
    return False


@lru_cache(maxsize=8192)
def prepare(text: str) -> str:
    """Normalise a message for matching: clause breaks, list commas and marked modifiers."""
    rs = load_rules()
    norm = normalize(text, keep_breaks=True, commas=True)
    return rs.modifiers.sub(lambda m: m.group(0) + MARK, norm)


@lru_cache(maxsize=8192)
def scan(text: str) -> tuple[Finding, ...]:
    """Return every non-negated rule and subject match in one message (any language)."""
    rs = load_rules()
    norm = prepare(text)
    if not norm:
        return ()
    grams = {norm[i : i + _MIN_KEY] for i in range(len(norm) - _MIN_KEY + 1)}
    chosen = set(rs.always)
    for gram in grams:
        chosen.update(rs.index.get(gram, ()))
    # A word that negates in one language can be ordinary in another (Portuguese "no peito" is
    # "in the chest"), so the cues follow the message's language when it is clear.
    language = best_language(language_scores(text), "")
    cues = rs.negation.get(language) or rs.negation[""]
    found: dict[str, Finding] = {}
    for number in sorted(chosen):  # file order, so results never depend on set order
        phrase = rs.phrases[number]
        previous = found.get(phrase.rule_id)
        if previous is not None and not previous.past:
            continue
        for m in phrase.pattern.finditer(norm):
            if _negated(rs, cues, norm, m.start(), m.end()):
                continue
            past = _in_past(rs, norm, m.start(), m.end())
            if previous is None or not past:
                matched = m.group(0).replace(MARK, "")
                found[phrase.rule_id] = Finding(phrase.rule_id, phrase.language, matched, past)
            if not past:
                break
    return tuple(found.values())


def _is_general_question(text: str) -> bool:
    """True for a topic question with no sign that the writer or someone near has the problem."""
    rs = load_rules()
    norm = prepare(text)
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

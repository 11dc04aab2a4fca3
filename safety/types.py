"""Value types shared by every part of the safety layer.

Levels are ordered from least to most serious; `max_level` is how "the most cautious triage
always wins" is spelled everywhere in the project.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class TriageLevel(enum.StrEnum):
    """How soon the person should get care, from none needed to call an ambulance now."""

    INFO = "info"
    SELF_CARE = "self_care"
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    TriageLevel.INFO: 0,
    TriageLevel.SELF_CARE: 1,
    TriageLevel.ROUTINE: 2,
    TriageLevel.URGENT: 3,
    TriageLevel.EMERGENCY: 4,
}


def max_level(*levels: TriageLevel | str | None) -> TriageLevel:
    """Return the most serious of the given levels (INFO when none is given)."""
    best = TriageLevel.INFO
    for raw in levels:
        if raw is None:
            continue
        level = TriageLevel(raw)
        if level.rank > best.rank:
            best = level
    return best


# The languages every rule, reply text and disclaimer must exist in.
LANGUAGES: tuple[str, ...] = ("en", "es", "pt", "fr", "sw", "hi")


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One red-flag rule that fired on a message."""

    rule_id: str
    level: TriageLevel
    category: str  # e.g. "cardiac", "self_harm", "infant", "poisoning"
    language: str  # the language file whose pattern matched
    matched: str  # the text span that matched (normalised)
    from_history: bool = False  # True when the match needed earlier messages


@dataclass(frozen=True, slots=True)
class EmergencyContact:
    """Where to call, for the sender's country (or the generic advice when it is unknown)."""

    country: str | None  # ISO 3166-1 alpha-2, None when unknown
    emergency: str | None  # ambulance or general emergency number
    crisis_line: str | None = None  # suicide / mental-health crisis line, when well sourced
    crisis_name: str | None = None
    source: str | None = None
    reviewed: str | None = None  # ISO date the entry was last checked

    @property
    def known(self) -> bool:
        return self.emergency is not None


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the rules concluded about one inbound message (and its recent history)."""

    level: TriageLevel
    hits: tuple[RuleHit, ...]
    escalate: bool  # staff must be alerted / the conversation flagged
    contact: EmergencyContact
    language: str  # language to reply in (one of LANGUAGES)
    subject: str | None = None  # "infant", "child", "pregnant", "elderly" when detected
    categories: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_emergency(self) -> bool:
        return self.level is TriageLevel.EMERGENCY

    @property
    def self_harm(self) -> bool:
        return "self_harm" in self.categories

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(h.rule_id for h in self.hits)

    def hits_beyond(self, known: Iterable[str]) -> bool:
        """True when an emergency-level rule fired that is not among `known` rule ids."""
        seen = set(known)
        return any(
            h.level is TriageLevel.EMERGENCY and h.rule_id not in seen and h.category != "episode"
            for h in self.hits
        )

    def within_episode(
        self, level: TriageLevel, categories: Iterable[str], *, rule_id: str
    ) -> Assessment:
        """A copy kept at an open episode's level, naming it as a hit (never lowers the level)."""
        if level.rank <= self.level.rank:
            return self
        hit = RuleHit(rule_id, level, "episode", self.language, "", from_history=True)
        return dataclasses.replace(
            self,
            level=level,
            hits=(*self.hits, hit),
            escalate=True,
            categories=self.categories | frozenset(categories),
        )

    def with_hits(self, extra: Iterable[RuleHit]) -> Assessment:
        """A copy with more hits (a second opinion's): the level can only go up."""
        added = tuple(extra)
        if not added:
            return self
        level = max_level(self.level, *(h.level for h in added))
        categories = self.categories | frozenset(
            h.category for h in added if h.level.rank >= TriageLevel.SELF_CARE.rank
        )
        return dataclasses.replace(
            self,
            level=level,
            hits=tuple(sorted((*self.hits, *added), key=lambda h: (-h.level.rank, h.rule_id))),
            escalate=self.escalate or level.rank >= TriageLevel.URGENT.rank,
            categories=categories,
        )

    def raised_to(self, level: TriageLevel | str | None) -> Assessment:
        """Return a copy whose level is at least `level` (never lower)."""
        new = max_level(self.level, level)
        if new is self.level:
            return self
        return Assessment(
            level=new,
            hits=self.hits,
            escalate=self.escalate or new.rank >= TriageLevel.URGENT.rank,
            contact=self.contact,
            language=self.language,
            subject=self.subject,
            categories=self.categories,
        )


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing the reply guard found wrong with a draft reply, and what it did about it."""

    # "certain_diagnosis", "prescription_dose", "child_dose", "stop_treatment", "claims_human",
    # "urgency_too_low", "link_not_allowed", "prompt_injection", "empty_reply"
    kind: str
    excerpt: str
    action: str  # "removed_sentence", "replaced_reply", "appended_urgency"


@dataclass(frozen=True, slots=True)
class GuardedReply:
    """A reply that has passed `check_reply`, with what was repaired on the way."""

    text: str
    violations: tuple[Violation, ...] = ()

    @property
    def repaired(self) -> bool:
        return bool(self.violations)

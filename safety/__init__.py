"""The safety layer: triage rules, emergency numbers, fixed escalation texts and the reply guard.

A pure leaf package: it imports nothing from `bot`, flask, sqlalchemy or httpx, and no model can
override what it decides.
"""

from safety.evaluation import evaluate, load_cases
from safety.guard import DEFAULT_ALLOWED_DOMAINS, check_reply
from safety.language import detect_language
from safety.numbers import contact_for, country_of
from safety.texts import care_advice, disclaimer, emergency_reply, safe_fallback, urgent_notice
from safety.triage import assess
from safety.types import (
    LANGUAGES,
    Assessment,
    EmergencyContact,
    GuardedReply,
    RuleHit,
    TriageLevel,
    Violation,
    max_level,
)


def preload() -> None:
    """Compile and read now everything the layer would otherwise load on first use: the rules,
    the emergency numbers, every language's texts and the guard's lists. A server calls it at
    start (before forking its workers, which then share it), so no person's answer pays for it."""
    from safety import texts

    sample = assess("warm-up", sender="whatsapp:+447700900000")
    contact_for("whatsapp:+447700900000")
    texts.preload()
    check_reply("warm-up", sample)


__all__ = [
    "DEFAULT_ALLOWED_DOMAINS",
    "LANGUAGES",
    "Assessment",
    "EmergencyContact",
    "GuardedReply",
    "RuleHit",
    "TriageLevel",
    "Violation",
    "assess",
    "care_advice",
    "check_reply",
    "contact_for",
    "country_of",
    "detect_language",
    "disclaimer",
    "emergency_reply",
    "evaluate",
    "load_cases",
    "max_level",
    "preload",
    "safe_fallback",
    "urgent_notice",
]

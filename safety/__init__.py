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
    "safe_fallback",
    "urgent_notice",
]

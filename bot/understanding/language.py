"""Which language to answer in: the message's own words first, the sender's country for a tie.

"bom dia" from Brazil, "mambo" from Kenya or "ok" from Senegal carry too few marker words for the
detector, so the country the number belongs to decides. Hinglish is answered in Hindi and
Nigerian Pidgin in English (README, "Languages").
"""

from __future__ import annotations

from bot.understanding.smalltalk import READ_AS, SmallTalk
from safety.language import best_language, language_scores

# The language most people in the country read, among the six the bot writes. Countries where
# English is as common as a local language (India, Nigeria, Uganda) are left out: the words decide.
COUNTRY_LANGUAGE: dict[str, str] = {
    **dict.fromkeys(
        ("ES", "MX", "CO", "AR", "PE", "VE", "CL", "EC", "GT", "CU", "BO", "DO", "HN", "PY",
         "SV", "NI", "CR", "PA", "UY", "GQ"), "es"),
    **dict.fromkeys(("BR", "PT", "MZ", "AO", "GW", "CV", "ST", "TL"), "pt"),
    **dict.fromkeys(
        ("FR", "SN", "CI", "ML", "BF", "NE", "GN", "BJ", "TG", "CD", "CG", "GA", "CM", "TD",
         "CF", "MG", "HT", "BI", "DJ", "KM", "MC", "LU", "BE"), "fr"),
    **dict.fromkeys(("KE", "TZ"), "sw"),
}
# How much the language they wrote before, and their country's, count next to the marker words
# of this message (one distinctive marker word counts 1.0, a word shared by two languages 0.5):
# enough to settle "pressão 14 por 9" (Spanish-looking "por") for a Brazilian number, never
# enough to overrule a sentence that is plainly in another language.
PREVIOUS_WEIGHT = 0.6
COUNTRY_WEIGHT = 0.6


def reply_language(text: str, *, previous: str | None, country: str | None) -> str:
    """The language to answer `text` in, given the contact's last language and country."""
    national = COUNTRY_LANGUAGE.get((country or "").upper())
    scores = dict(language_scores(text)) if text else {}
    if previous in scores:
        scores[previous] += PREVIOUS_WEIGHT
    if national in scores:
        scores[national] += COUNTRY_WEIGHT
    return best_language(scores, "") or previous or national or "en"


def conversation_language(
    text: str, talk: SmallTalk | None, *, previous: str | None, country: str | None
) -> str:
    """The language to answer in, small talk's own language first ("obrigado": Portuguese).

    English small talk ("ok", "thanks", "bye") is written by speakers of every language, so it
    doesn't switch a conversation that already has a language.
    """
    spoken = READ_AS.get(talk.language, talk.language) if talk and talk.language else None
    if spoken == "en" and previous:
        spoken = None
    return spoken or reply_language(text, previous=previous, country=country)

"""The default quick replies: canned staff texts read from their own gettext catalogs.

`bot/locales/<lang>/LC_MESSAGES/quick_replies.po` holds one text per short name in every shipped
language (a domain of its own, so the bot's messages catalog lists only what the bot says). They
seed the `quick_replies` table once (migration 0005); admins change that table afterwards. Every
text stays inside what staff may say without examining anyone: no diagnosis, no medicine, and it
says when to get care.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from bot.i18n import SUPPORTED, read_texts

DOMAIN: Final = "quick_replies"
NAMES: Final = (
    "greeting",
    "call_emergency",
    "see_clinic_today",
    "ask_update",
    "calling_you",
    "closing",
)


@cache
def default_texts(language: str) -> dict[str, str]:
    """Return the shipped quick replies of one language, by name."""
    if language not in SUPPORTED:
        raise ValueError(f"unsupported language {language!r}")
    po = resources.files("bot").joinpath("locales", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with po.open("rb") as handle:
        return read_texts(handle)


def default_rows() -> list[tuple[str, str, str]]:
    """Return (name, language, text) for every shipped quick reply, in a stable order."""
    return [(name, language, default_texts(language)[name])
            for name in NAMES for language in SUPPORTED if name in default_texts(language)]

"""The bot's own words in each supported language, read from the gettext catalogs in bot/locales.

Message ids are stable keys ("welcome"), the English text is en's msgstr. The .po files are read
directly with Babel (no compile step) once per process. A missing, empty or fuzzy translation
falls back to English, so a half-translated catalog never leaves a contact without an answer.
Placeholders are `str.format` names ("{emergency_hint}"); only plain names are allowed.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import IO, Final

from babel.messages.pofile import read_po

SUPPORTED: Final = ("en", "es", "pt", "fr", "sw", "hi")
DEFAULT_LANGUAGE: Final = "en"

# Every message the bot sends in its own words; tests check the .pot lists exactly these.
KEYS: Final = (
    "welcome",
    "help",
    "stopped",
    "started",
    "human_requested",
    "human_active",
    "delete_confirm",
    "deleted",
    "delete_cancelled",
    "language_set",
    "media_unsupported",
    "location_received",
    "empty_message",
    "model_unavailable",
    "emergency_hint_unknown",
    "answer_pending",
    "store_unavailable",
    "smalltalk_greeting",
    "smalltalk_thanks",
    "smalltalk_acknowledgement",
    "smalltalk_goodbye",
    "smalltalk_identity",
    "smalltalk_is_human",
    "already_answered",
    "episode_reminder_emergency",
    "episode_reminder_urgent",
    "voice_heard",
    "voice_not_heard",
)

_FORMATTER: Final = string.Formatter()


class MissingParameter(KeyError):
    """A message needs a parameter the caller did not pass."""

    def __init__(self, key: str, language: str, name: str) -> None:
        super().__init__(name)
        self.key = key
        self.language = language
        self.name = name

    def __str__(self) -> str:
        return f"message {self.key!r} ({self.language}) needs the parameter {self.name!r}"


def normalize_language(code: str | None) -> str:
    """Return the supported language for a code like "pt-BR" or "ES", or English."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.strip().replace("_", "-").split("-", 1)[0].casefold()
    return base if base in SUPPORTED else DEFAULT_LANGUAGE


def read_texts(handle: IO[bytes]) -> dict[str, str]:
    """Return the non-empty, non-fuzzy translations of a .po file, by message id."""
    texts: dict[str, str] = {}
    for message in read_po(handle, locale=None):
        # Skip the header (empty id), plural entries (we have none) and fuzzy guesses.
        if not message.id or not isinstance(message.id, str) or message.fuzzy:
            continue
        if isinstance(message.string, str) and message.string:
            texts[message.id] = message.string
    return texts


@cache
def catalog(language: str) -> Mapping[str, str]:
    """Return the usable translations of one supported language, read once per process."""
    if language not in SUPPORTED:
        raise ValueError(f"unsupported language {language!r}")
    po = resources.files("bot").joinpath("locales", language, "LC_MESSAGES", "messages.po")
    with po.open("rb") as handle:
        return read_texts(handle)


def placeholders(template: str) -> frozenset[str]:
    """Return the names of the `{name}` fields of a template."""
    return frozenset(name for _, name, _, _ in _FORMATTER.parse(template) if name is not None)


def template(key: str, language: str) -> str:
    """Return the unformatted text of a message, in English when the language lacks it."""
    chosen = normalize_language(language)
    text = catalog(chosen).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"unknown message key {key!r}")
    return text


def t(key: str, language: str, **params: object) -> str:
    """Return message `key` in `language` (English fallback) with its `{name}` fields filled."""
    text = template(key, language)
    parts: list[str] = []
    for literal, name, spec, conversion in _FORMATTER.parse(text):
        parts.append(literal)
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            # Catalogs are data: no attribute access, indexing or format specs in them.
            raise ValueError(f"message {key!r} ({language}) has a bad field {{{name}}}")
        if name not in params:
            raise MissingParameter(key, normalize_language(language), name)
        parts.append(str(params[name]))
    return "".join(parts)

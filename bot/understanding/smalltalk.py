"""Small talk: greetings, thanks, acknowledgements, goodbyes and "who are you", in every language.

A message is small talk only when it is made *entirely* of such phrases (plus emoji, names and
fillers like "doctor" or "sir"): "hi" is a greeting, "hi my baby has a fever" is a health question.
The phrase lists are data (data/smalltalk.yaml); each phrase names its language, so "bom dia" is
answered in Portuguese and "mambo" in Swahili even when the message has no other clue.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

# When a message holds several kinds ("ok thanks bye"), the one answered is the first here.
PRIORITY: tuple[str, ...] = (
    "is_human", "identity", "thanks", "goodbye", "greeting", "acknowledgement",
)

# Small-talk languages answered in another language the person reads (Pidgin: English).
READ_AS: dict[str, str | None] = {"pcm": "en", "any": None}

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Emoji and symbols say nothing more than the words around them, except these few on their own.
_EMOJI_INTENT = {
    "👍": "acknowledgement", "👌": "acknowledgement", "✅": "acknowledgement",
    "🆗": "acknowledgement", "🙏": "thanks", "❤": "thanks", "😊": "thanks", "🥰": "thanks",
    "🤗": "thanks", "💐": "thanks", "🌹": "thanks", "👋": "greeting", "🙂": "acknowledgement",
    "😀": "acknowledgement", "😃": "acknowledgement", "😁": "acknowledgement",
}
_TOKEN = re.compile(r"(?:[^\W_]|[\u0900-\u097f])+")


@dataclass(frozen=True, slots=True)
class SmallTalk:
    """What kind of small talk a message is, and the language its words belong to (if clear)."""

    intent: str
    language: str | None


def fold(text: str) -> str:
    """Casefold, drop Latin accents and apostrophes, and shorten stretched letters."""
    text = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch for ch in text if not unicodedata.combining(ch) or "\u0900" <= ch <= "\u097f")
    kept = unicodedata.normalize("NFC", kept).replace("'", "").replace("’", "")
    # Letters people stretch for warmth: "hiii", "thanksss", "okkk".
    return re.sub(r"([a-z])\1{2,}", r"\1", kept)


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(fold(text)))


def exemplars() -> list[tuple[str, str, str | None]]:
    """Every small-talk phrase as written: (text, intent, language), for meaning-based matching."""
    raw = resources.files("bot.understanding").joinpath("data", "smalltalk.yaml")
    data = yaml.load(raw.read_text("utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    out: list[tuple[str, str, str | None]] = []
    for intent, by_language in (data.get("intents") or {}).items():
        for language, items in by_language.items():
            spoken = READ_AS.get(str(language), str(language))
            out.extend((str(item), str(intent), spoken) for item in items)
    return out


# Words too common to tell small talk from anything else.
_COMMON = frozenset(
    [
        "a", "an", "the", "i", "you", "u", "me", "my", "is", "are", "am", "to", "of", "and", "or",
        "it", "this", "that", "so", "do", "be", "de", "la", "le", "el", "o", "e", "y", "et", "na",
        "ni", "ya", "wa", "ki", "ka", "se", "que", "en", "un", "une", "um", "uma",
    ]
)


def intent_words() -> dict[str, frozenset[str]]:
    """The distinctive words of each intent's phrases (casefolded, accents dropped)."""
    words: dict[str, set[str]] = {}
    for text, intent, _language in exemplars():
        words.setdefault(intent, set()).update(t for t in _tokens(text) if t not in _COMMON)
    return {intent: frozenset(found) for intent, found in words.items()}


def shares_words(text: str, words: frozenset[str]) -> bool:
    """True when a message says enough of an intent's own words to be that small talk:
    two of them, or one in a message of at most three words ("valeu demais")."""
    tokens = [t for t in _tokens(text) if t not in _COMMON]
    shared = len(set(tokens) & words)
    return shared >= 2 or (len(tokens) <= 3 and shared >= 1)


@dataclass(frozen=True, slots=True)
class _Lexicon:
    phrases: dict[tuple[str, ...], tuple[str, str]]  # tokens -> (intent, language)
    fillers: frozenset[str]
    longest: int
    machine: frozenset[str]
    doctor: frozenset[str]
    real: frozenset[str]
    glue: frozenset[str]


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    raw = resources.files("bot.understanding").joinpath("data", "smalltalk.yaml")
    data = yaml.load(raw.read_text("utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    for intent, by_language in (data.get("intents") or {}).items():
        if intent not in PRIORITY:
            raise ValueError(f"smalltalk.yaml: unknown intent {intent!r}")
        for language, items in by_language.items():
            for item in items:
                tokens = _tokens(str(item))
                if tokens:
                    phrases.setdefault(tokens, (str(intent), str(language)))
    def words(items: Any) -> frozenset[str]:
        return frozenset(t for w in items or [] for t in _tokens(str(w)))

    human = data.get("is_human") or {}
    return _Lexicon(phrases, words(data.get("fillers")), max(len(k) for k in phrases),
                    words(human.get("machine")), words(human.get("doctor")),
                    words(human.get("real")), words(human.get("glue")))


# "Are you a robot or a person?" is small talk only while it stays this short.
_IS_HUMAN_MAX_TOKENS = 10


def _asks_what_the_bot_is(tokens: tuple[str, ...], lex: _Lexicon) -> bool:
    """A short question whether the bot is a machine, a person or a real doctor, any wording."""
    if not tokens or len(tokens) > _IS_HUMAN_MAX_TOKENS:
        return False
    words = set(tokens)
    names_it = bool(words & lex.machine) or bool(words & lex.doctor and words & lex.real)
    known = lex.machine | lex.doctor | lex.real | lex.glue | lex.fillers
    return names_it and words <= known


def detect(text: str) -> SmallTalk | None:
    """The small talk a whole message amounts to, or None when it says anything more."""
    stripped = text.strip()
    if not stripped or len(stripped) > 120:
        return None
    lex = _lexicon()
    tokens = _tokens(stripped)
    found: list[tuple[str, str | None]] = []
    if not tokens:
        symbols = [ch for ch in stripped if not ch.isspace()]
        intents = [_EMOJI_INTENT[ch] for ch in symbols if ch in _EMOJI_INTENT]
        if not intents:
            return None
        found = [(i, None) for i in intents]
    i = 0
    while i < len(tokens):
        for size in range(min(lex.longest, len(tokens) - i), 0, -1):
            entry = lex.phrases.get(tokens[i : i + size])
            if entry is not None:
                found.append(entry)
                i += size
                break
        else:
            if tokens[i] not in lex.fillers:
                if _asks_what_the_bot_is(tokens, lex):
                    # Its language is left to the reply-language rules (its words are common).
                    return SmallTalk("is_human", None)
                return None  # a word that is not small talk: the message says something more
            i += 1
    if not found:
        return None
    intent = min((f[0] for f in found), key=PRIORITY.index)
    languages = [lang for kind, lang in found if lang and lang != "any"]
    # The language of the answered phrase wins; else any other phrase's ("ok obrigado").
    chosen = next((lang for kind, lang in found if kind == intent and lang and lang != "any"),
                  languages[0] if languages else None)
    return SmallTalk(intent, chosen)

"""The bot's own commands (STOP, HELP, DELETE...) in en, es, pt, fr, sw and hi.

A command is a WHOLE message: case, accents, surrounding whitespace and punctuation, WhatsApp
formatting (*bold*, _italic_) and a polite "please" are ignored, but any other word makes it an
ordinary message for the health pipeline ("I can't stop coughing" is not STOP).

Sources of the words:
- Twilio's default SMS keywords (help.twilio.com, "Twilio support for opt-out keywords"):
  opt-out STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT (and ARRET/ARRETE for French),
  opt-in START, YES, UNSTOP, help HELP, INFO.
  Deviations, on purpose:
  * CANCEL is OUR word for "do not delete my data" (CANCEL below), not an opt-out. On WhatsApp
    Twilio does not filter keywords, so the bot sees it. If the bot is ever put on SMS with
    Twilio's default filtering, Twilio will opt the sender out on CANCEL before we see it.
  * YES is NOT opt-in: a bare "yes" is the commonest answer to the bot's own questions ("Do you
    have a fever?") and must reach the health pipeline; deletion is confirmed only by the
    two-word phrase "DELETE YES" (or its translation), never by a bare yes.
- The other languages: everyday imperatives a WhatsApp user would type, checked against the
  words used in the catalogs in bot/locales (the help text shows the first word of each list).
Words that are also ordinary one-word answers are left out on purpose: "alto"/"baja" (es:
high/low), "personne" (fr: nobody), "no", bare language codes ("es" is Spanish for "is", "hi" is
a greeting), and distress calls ("socorro", "au secours", "bachao"), which must be triaged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final


class Command(Enum):
    """What a whole-message command asks the bot to do."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    HUMAN = "human"
    DELETE = "delete"
    CONFIRM_DELETE = "confirm_delete"  # only meaningful while a deletion is pending
    CANCEL = "cancel"  # only meaningful while a deletion is pending
    LANGUAGE = "language"


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A recognised command, its argument and the languages its words belong to."""

    command: Command
    argument: str | None = None  # LANGUAGE: the chosen code; None when only "LANGUAGE" was sent
    # Languages the command's words belong to; empty for a language's name sent alone.
    word_languages: frozenset[str] = frozenset()


LANGUAGES: Final = ("en", "es", "pt", "fr", "sw", "hi")

# The words of each command, per language. The FIRST word of each list is the one shown to users
# (help text, welcome); tests check the catalogs use it. Spelling is free: matching ignores case
# and accents, so "arreter" matches "arrêter". Multi-word entries must match as a whole.
WORDS: Final[Mapping[str, Mapping[Command, tuple[str, ...]]]] = {
    "en": {
        Command.STOP: ("stop", "stopall", "unsubscribe", "end", "quit", "stop all"),
        Command.START: ("start", "unstop", "resume", "restart"),
        Command.HELP: ("help", "info", "menu", "commands"),
        Command.HUMAN: (
            "human",
            "agent",
            "person",
            "operator",
            "staff",
            "real person",
            "talk to a human",
            "talk to a person",
            "speak to a human",
            "speak to a person",
        ),
        Command.DELETE: ("delete", "delete my data", "erase my data", "forget me"),
        Command.CANCEL: ("cancel",),
        Command.LANGUAGE: ("language", "lang"),
    },
    "es": {
        Command.STOP: ("parar", "pare", "detener", "darme de baja", "dar de baja"),
        Command.START: ("empezar", "comenzar", "iniciar", "reanudar"),
        Command.HELP: ("ayuda", "menú", "comandos"),
        Command.HUMAN: ("humano", "persona", "agente", "operador", "hablar con una persona"),
        Command.DELETE: ("borrar", "eliminar", "borrar mis datos", "eliminar mis datos"),
        Command.CANCEL: ("cancelar",),
        Command.LANGUAGE: ("idioma", "lengua"),
    },
    "pt": {
        Command.STOP: ("parar", "pare", "sair", "cancelar inscrição"),
        Command.START: ("começar", "iniciar", "reativar"),
        Command.HELP: ("ajuda", "menu", "comandos"),
        Command.HUMAN: ("atendente", "humano", "pessoa", "agente", "falar com uma pessoa"),
        Command.DELETE: ("apagar", "excluir", "apagar meus dados", "excluir meus dados"),
        Command.CANCEL: ("cancelar",),
        Command.LANGUAGE: ("idioma", "língua"),
    },
    "fr": {
        # "STOP" is the standard opt-out word of French SMS; Twilio also filters ARRET/ARRETE.
        Command.STOP: ("stop", "arrêter", "arrêt", "arrête", "désabonner", "se désabonner"),
        Command.START: ("commencer", "démarrer", "reprendre"),
        Command.HELP: ("aide", "menu", "commandes"),
        Command.HUMAN: ("conseiller", "conseillère", "humain", "agent", "opérateur"),
        Command.DELETE: ("supprimer", "effacer", "supprimer mes données", "effacer mes données"),
        Command.CANCEL: ("annuler",),
        Command.LANGUAGE: ("langue",),
    },
    "sw": {
        Command.STOP: ("acha", "komesha", "sitisha", "simamisha"),
        Command.START: ("anza", "anzisha"),
        Command.HELP: ("msaada", "menyu", "amri"),
        Command.HUMAN: ("mtu", "binadamu", "mhudumu", "wakala", "nataka kuongea na mtu"),
        Command.DELETE: ("futa", "futa taarifa zangu", "futa data yangu"),
        Command.CANCEL: ("ghairi", "batilisha"),
        Command.LANGUAGE: ("lugha",),
    },
    "hi": {
        # Devanagari first, then the romanised (Hinglish) spellings people type on WhatsApp.
        Command.STOP: (
            "बंद करो",
            "बंद करें",
            "बंद कर दो",
            "band karo",
            "band karen",
            "band kar do",
            "band kro",
        ),
        Command.START: ("शुरू करो", "शुरू करें", "शुरू", "चालू करो", "shuru karo", "shuru", "chalu karo"),
        Command.HELP: ("मदद", "सहायता", "madad", "sahayata"),
        Command.HUMAN: ("इंसान", "इन्सान", "मनुष्य", "व्यक्ति", "insaan", "insan", "manushya", "vyakti"),
        Command.DELETE: (
            "मिटाओ",
            "मिटाएं",
            "मिटा दो",
            "हटाओ",
            "डिलीट करो",
            "mitao",
            "mita do",
            "hatao",
            "delete karo",
        ),
        Command.CANCEL: ("रद्द करो", "रद्द करें", "रद्द", "radd karo", "cancel karo"),
        Command.LANGUAGE: ("भाषा", "bhasha", "bhasa"),
    },
}

# "Yes" per language; CONFIRM_DELETE is any DELETE word of a language next to a yes of the same
# language, in either order ("DELETE YES", "yes, delete", "हाँ मिटाओ"). The first is shown.
YES: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("yes",),
    "es": ("sí", "si"),
    "pt": ("sim",),
    "fr": ("oui",),
    "sw": ("ndiyo", "ndio"),
    "hi": ("हाँ", "हां", "जी हाँ", "haan", "han", "ha", "ji haan"),
}

# Names a language may be called by, in any of our languages, for "LANGUAGE <name>" and for the
# name sent alone ("Español"). The first is the language's own name.
LANGUAGE_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("English", "inglés", "inglês", "anglais", "Kiingereza", "अंग्रेज़ी", "angrezi"),
    "es": ("Español", "castellano", "Spanish", "espanhol", "espagnol", "Kihispania", "स्पेनिश"),
    "pt": ("Português", "Portuguese", "portugués", "portugais", "Kireno", "पुर्तगाली"),
    "fr": ("Français", "French", "francés", "francês", "Kifaransa", "फ़्रेंच", "फ्रेंच"),
    "sw": ("Kiswahili", "Swahili", "suajili", "suaíli", "souahéli", "स्वाहिली"),
    "hi": ("हिन्दी", "हिंदी", "Hindi", "hindī"),
}

# Politeness around a command ("STOP please", "por favor parar"), stripped once at either end.
# Not for HELP: "please help" reads as a plea and goes to the pipeline, which triages it.
_POLITE: Final = (
    "please",
    "pls",
    "plz",
    "por favor",
    "s il vous plait",  # "s'il vous plaît" once punctuation and accents are gone
    "svp",
    "tafadhali",
    "कृपया",
    "kripya",
    "kripaya",
)

_MAX_COMMAND_CHARS: Final = 80  # longer messages are never commands; skip the work

# Devanagari: the nukta is often left out (ज़/ज) and chandrabindu typed as anusvara (हाँ/हां).
_DEVANAGARI_FOLD: Final = {0x093C: None, 0x0901: 0x0902, 0x200C: None, 0x200D: None}


def normalize(text: str) -> str:
    """Fold text for matching: casefolded, no Latin accents, punctuation and symbols as spaces."""
    folded = unicodedata.normalize("NFKD", text).translate(_DEVANAGARI_FOLD).casefold()
    kept: list[str] = []
    for char in folded:
        if "\u0300" <= char <= "\u036f":
            # Combining accents of Latin letters only; Devanagari vowel signs are letters' parts.
            continue
        category = unicodedata.category(char)
        # Punctuation and symbols (incl. emoji, "।", "¡") separate words; WhatsApp's *bold* goes.
        kept.append(" " if category[0] in "PSZC" else char)
    return " ".join("".join(kept).split())


@dataclass(frozen=True, slots=True)
class _Entry:
    command: Command
    languages: frozenset[str]


def _phrases() -> Iterator[tuple[str, Command, str]]:
    """Yield (phrase, command, language) for every accepted phrase except language names."""
    for language, commands in WORDS.items():
        for command, words in commands.items():
            for word in words:
                yield word, command, language
        for delete_word in commands[Command.DELETE]:
            for yes_word in YES[language]:
                yield f"{delete_word} {yes_word}", Command.CONFIRM_DELETE, language
                yield f"{yes_word} {delete_word}", Command.CONFIRM_DELETE, language


def _build_index() -> dict[str, _Entry]:
    """Map each normalised phrase to its command; a phrase meaning two commands is a data bug."""
    index: dict[str, _Entry] = {}
    for phrase, command, language in _phrases():
        key = normalize(phrase)
        known = index.get(key)
        if known is not None and known.command is not command:
            raise ValueError(f"{phrase!r} means both {known.command} and {command}")
        languages = known.languages if known is not None else frozenset()
        index[key] = _Entry(command, languages | {language})
    return index


def _build_names() -> dict[str, str]:
    """Map normalised language names and codes to codes; a name given to two is a data bug."""
    codes: dict[str, str] = {code: code for code in LANGUAGES}
    for code, names in LANGUAGE_NAMES.items():
        for name in names:
            key = normalize(name)
            if codes.get(key, code) != code:
                raise ValueError(f"language name {name!r} is given to two languages")
            codes[key] = code
    return codes


_INDEX: Final = _build_index()
_LANGUAGE_CODES: Final = _build_names()
_POLITE_KEYS: Final = tuple(normalize(word) for word in _POLITE)
_LANGUAGE_PREFIXES: Final = {
    key: entry for key, entry in _INDEX.items() if entry.command is Command.LANGUAGE
}


def _without_politeness(key: str) -> str | None:
    """Return the text with one polite word removed from its start or end, or None if none."""
    for polite in _POLITE_KEYS:
        if key.startswith(polite + " "):
            return key[len(polite) + 1 :]
        if key.endswith(" " + polite):
            return key[: -len(polite) - 1]
    return None


def _match(key: str) -> ParsedCommand | None:
    """Match an already normalised whole message, without politeness handling."""
    entry = _INDEX.get(key)
    if entry is not None:
        return ParsedCommand(entry.command, None, entry.languages)
    code = _LANGUAGE_CODES.get(key)
    if code is not None and key not in LANGUAGES:
        # A language's name alone ("Español", "Hindi"); a bare code ("es", "hi") is a word.
        return ParsedCommand(Command.LANGUAGE, code)
    for prefix, prefix_entry in _LANGUAGE_PREFIXES.items():
        if key.startswith(prefix + " "):
            chosen = _LANGUAGE_CODES.get(key[len(prefix) + 1 :])
            if chosen is not None:
                return ParsedCommand(Command.LANGUAGE, chosen, prefix_entry.languages)
    return None


def parse(text: str) -> ParsedCommand | None:
    """Return the command a whole message is, with its argument, or None for ordinary text."""
    if len(text) > _MAX_COMMAND_CHARS:
        return None
    key = normalize(text)
    if not key:
        return None
    parsed = _match(key)
    if parsed is not None:
        return parsed
    bare = _without_politeness(key)
    if bare is None:
        return None
    parsed = _match(bare)
    if parsed is None or parsed.command is Command.HELP:
        return None
    return parsed


def parse_command(text: str) -> Command | None:
    """Return the command a whole message is, or None when it is ordinary text for the pipeline."""
    parsed = parse(text)
    return parsed.command if parsed is not None else None


def requested_language(text: str) -> str | None:
    """Return the language code a LANGUAGE command chose, or None (not LANGUAGE, or no choice)."""
    parsed = parse(text)
    if parsed is None or parsed.command is not Command.LANGUAGE:
        return None
    return parsed.argument


def command_language(text: str) -> str | None:
    """Return the one language a command's words are in, or None if not a command or ambiguous.

    For a LANGUAGE command with a choice, the chosen language: the reply must be written in it.
    """
    parsed = parse(text)
    if parsed is None:
        return None
    if parsed.command is Command.LANGUAGE and parsed.argument is not None:
        return parsed.argument
    if len(parsed.word_languages) == 1:
        return next(iter(parsed.word_languages))
    return None


def command_word(command: Command, language: str) -> str:
    """Return the word shown to users for a command in a language (English if unsupported)."""
    words = WORDS.get(language, WORDS["en"])
    if command is Command.CONFIRM_DELETE:
        return confirm_phrase(language)
    return words[command][0].upper()


def confirm_phrase(language: str) -> str:
    """Return the phrase that confirms a deletion in a language, e.g. "DELETE YES"."""
    if language not in WORDS:
        language = "en"
    return f"{WORDS[language][Command.DELETE][0]} {YES[language][0]}".upper()

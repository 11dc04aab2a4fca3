"""Text normalisation for WhatsApp-style health messages (used by triage and language detection)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Emoji people use instead of words; mapped to an English word the rule files also list, so
# "my 👶 is 🤒" still matches. Variation selectors and skin tones are dropped below.
EMOJI_WORDS: dict[str, str] = {
    "🤒": " fever ",
    "🌡": " fever ",
    "🥵": " fever ",
    "🩸": " blood ",
    "😵": " faint ",
    "😵‍💫": " faint ",
    "🫨": " dizzy ",
    "💊": " pills ",
    "🤰": " pregnant ",
    "🫄": " pregnant ",
    "👶": " baby ",
    "🍼": " baby ",
    "🔥": " burn ",
    "🐍": " snake ",
    "🤮": " vomit ",
    "🤢": " nausea ",
    "🤧": " cold ",
    "😷": " sick ",
    "🤕": " head injury ",
    "💔": " heartbreak ",
    "❤": " heart ",
    "🫀": " heart ",
    "🫁": " lungs ",
    "🦷": " tooth ",
    "⚡": " electric ",
    "🌊": " water ",
    "🐕": " dog ",
    "🐶": " dog ",
    "🦟": " mosquito ",
    "🐝": " bee ",
    "💉": " injection ",
    "🚑": " ambulance ",
    "🆘": " help ",
    "😭": " ",
    "😢": " ",
    "🙏": " ",
}

_EMOJI_RE = re.compile("|".join(sorted((re.escape(k) for k in EMOJI_WORDS), key=len, reverse=True)))
# Skin-tone modifiers, variation selectors and zero-width joiners carry no meaning for triage.
_IGNORABLE_RE = re.compile("[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f\u200d\u200c]")
_APOSTROPHE_RE = re.compile("['’‘`´]")
# Clause breaks matter for negation scope ("no fever. chest pain" must not negate the pain).
_BREAK_RE = re.compile(r"[.!?;,:\n\r\u0964\u0965¡¿…]+")
# A decimal point or comma between digits ("38.5", "39,8") is part of a number, not a clause
# break: it becomes a space, so the rule files see "38 5" whatever the local decimal mark.
_DECIMAL_RE = re.compile(r"(?<=\d)[.,](?=\d)")
# Devanagari digits ("३८.५") are read as ASCII digits so numeric rules work in both scripts.
_DIGITS = str.maketrans("".join(chr(0x0966 + i) for i in range(10)), "0123456789")
_NON_WORD_RE = re.compile(r"[^\w\u0900-\u097f|,]+")
_REPEAT_RE = re.compile(r"(\D)\1{2,}")
_SPACE_RE = re.compile(r"\s+")

BREAK = "|"
# A lone comma inside a sentence ("no fever, chills or nausea") separates list items rather than
# clauses; on request it is kept as its own token so negation can cover a list.
COMMA = ","


def _is_devanagari(ch: str) -> bool:
    return "\u0900" <= ch <= "\u097f"


def _strip_latin_accents(text: str) -> str:
    """Drop combining accents from Latin letters only; Devanagari vowel signs must survive."""
    out: list[str] = []
    for ch in text:
        if _is_devanagari(ch) or ord(ch) < 128:
            out.append(ch)
            continue
        for part in unicodedata.normalize("NFKD", ch):
            if not unicodedata.combining(part):
                out.append(part)
    return "".join(out)


def _devanagari_variants(text: str) -> str:
    """Fold spelling variants people mix freely: nukta dropped, chandrabindu written as anusvara."""
    return text.replace("\u093c", "").replace("\u0901", "\u0902")


def _break(match: re.Match[str], commas: bool) -> str:
    return f" {COMMA} " if commas and not match.group(0).strip(COMMA) else f" {BREAK} "


@lru_cache(maxsize=4096)
def normalize(text: str, *, keep_breaks: bool = False, commas: bool = False) -> str:
    """Return casefolded, accent-free, emoji-as-words text with single spaces between words.

    With `keep_breaks`, clause breaks become "|"; with `commas` as well, a lone comma becomes ",".
    """
    text = unicodedata.normalize("NFC", text)
    text = _IGNORABLE_RE.sub("", text)
    text = _EMOJI_RE.sub(lambda m: EMOJI_WORDS[m.group(0)], text)
    # Compatibility forms can decompose to capitals and casefolding can add marks: do both twice.
    text = _strip_latin_accents(_strip_latin_accents(text).casefold()).casefold()
    text = _devanagari_variants(text)
    # "can't" -> "cant", "j'ai" -> "jai": people drop apostrophes anyway, so one spelling remains.
    text = _APOSTROPHE_RE.sub("", text)
    text = _DECIMAL_RE.sub(" ", text.translate(_DIGITS))
    if keep_breaks:
        text = _BREAK_RE.sub(lambda m: _break(m, commas), text)
    else:
        text = _BREAK_RE.sub(" ", text)
    text = _NON_WORD_RE.sub(" ", text).replace("_", " ")
    text = _REPEAT_RE.sub(r"\1", text)
    text = _SPACE_RE.sub(" ", text).strip()
    if keep_breaks:
        # A comma next to a stronger break adds nothing; runs of breaks collapse into one.
        text = re.sub(r"[|,](?: [|,])*", _collapse, text).strip(" |,")
    return text


def _collapse(match: re.Match[str]) -> str:
    return BREAK if BREAK in match.group(0) else COMMA


def words(text: str) -> list[str]:
    """Split normalised text into words (clause breaks and list commas removed)."""
    return [w for w in text.split() if w not in (BREAK, COMMA)]

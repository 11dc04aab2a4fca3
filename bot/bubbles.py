"""Split a reply into WhatsApp bubbles of at most 1,600 characters, at natural boundaries."""

from __future__ import annotations

import re

MAX_BUBBLE = 1600  # Twilio rejects longer WhatsApp bodies (error 21617)

_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+")


def split_message(text: str, limit: int = MAX_BUBBLE) -> list[str]:
    """Split text into bubbles <= limit, preferring paragraph, then line, then sentence breaks.

    Never returns an empty bubble; an empty or blank text gives an empty list.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    bubbles: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        candidate = f"{current}{piece}" if current else piece.lstrip()
        if len(candidate.rstrip()) <= limit:
            current = candidate
            continue
        if current.strip():
            bubbles.append(current.strip())
        current = piece.lstrip()
    if current.strip():
        bubbles.append(current.strip())
    return bubbles


def _pieces(text: str, limit: int) -> list[str]:
    """Cut text into pieces no longer than limit, each keeping its trailing separator."""
    pieces: list[str] = []
    for line in re.split(r"(?<=\n)", text):
        if len(line) <= limit:
            pieces.append(line)
            continue
        for sentence in re.split(r"(?<=[.!?।])(?=\s)", line):
            while len(sentence) > limit:
                # A single run longer than a bubble: cut at the last space, or hard-cut.
                cut = sentence.rfind(" ", 0, limit)
                cut = cut if cut > limit // 2 else limit
                pieces.append(sentence[:cut])
                sentence = sentence[cut:]
            pieces.append(sentence)
    return pieces

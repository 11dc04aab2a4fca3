"""WhatsApp's text formatting, rendered as safe HTML for the staff console.

A nurse should read a message as the person saw it on their phone: `*bold*`, `_italic_`,
`~strike~`, ```` ```monospace``` ````, `` `inline code` ``, lines starting "* " or "- " (bullets),
"1. " (numbered) and "> " (quote), and line breaks. WhatsApp's rules, as its help page and the app
behave:

- an opening marker starts the text or follows a character that is not part of a word, and the
  next character is not a space; a closing marker follows a non-space and is not followed by a
  word character. So `2*3*4` and `snake_case_name` stay as they are, and so does `*` with no
  partner (`*unclosed`);
- bold, italic and strike stay on one line and nest (`*_both_*`); code and monospace show their
  content literally, and monospace may span lines;
- a doubled marker (`**`, `__`) is not a marker: WhatsApp shows it as typed.

Safety: the text is parsed as the raw string and every piece of it goes out through
`markupsafe.escape`; the only markup is the handful of tags written here, none with attributes
taken from the text. (Escaping before parsing would not do: `&lt;` would put letters and a `;`
beside a marker and change which markers count.)
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator

from markupsafe import Markup, escape

# Inline markers and the element each one becomes (fixed markup, never built from the text).
_TAGS = {
    "*": (Markup("<strong>"), Markup("</strong>")),
    "_": (Markup("<em>"), Markup("</em>")),
    "~": (Markup("<s>"), Markup("</s>")),
    "`": (Markup("<code>"), Markup("</code>")),
}
_LITERAL = frozenset("`")  # its content is shown as typed, never formatted inside
_MONO = re.compile(r"```(.+?)```", re.DOTALL)
_BULLET = re.compile(r"[*-] (?=\S)")
_NUMBERED = re.compile(r"(\d{1,9})\. (?=\S)")
_QUOTE = re.compile(r"> (?=\S)")


def whatsapp_html(text: str | None) -> Markup:
    """Render a WhatsApp message body as escaped HTML with its formatting shown."""
    if not text:
        return Markup("")
    blocks: list[Markup] = []
    inline_lines: list[Markup] = []  # consecutive plain lines, joined by line breaks
    items: list[tuple[str, str, Markup]] = []  # the open list or quote: (kind, number, html)

    def close_lines() -> None:
        if inline_lines:
            blocks.append(Markup("\n").join(inline_lines))
            inline_lines.clear()

    def close_items() -> None:
        if items:
            blocks.append(_group(items))
            items.clear()

    for line in _lines(text):
        kind, number, pieces = _block_of(line)
        html = Markup("").join(p if isinstance(p, Markup) else _inline(p) for p in pieces)
        if kind == "line":
            close_items()
            inline_lines.append(html)
            continue
        close_lines()
        if items and items[-1][0] != kind:
            close_items()
        items.append((kind, number, html))
    close_lines()
    close_items()
    return Markup("").join(blocks)


# A line is a list of pieces: raw text still to format, or a monospace span already rendered
# (a Markup, which is also a str: test for Markup first).
_Line = list[str | Markup]


def _lines(text: str) -> Iterator[_Line]:
    """Split the text into lines, keeping each ```monospace``` span whole (it may span lines)."""
    line: _Line = []
    position = 0
    for match in _MONO.finditer(text):
        if not match.group(1).strip():
            continue  # ``` ``` with nothing inside is shown as typed
        *done, line = _split(line, text[position:match.start()])
        yield from done
        line.append(Markup('<code class="wa-mono">%s</code>') % match.group(1))
        position = match.end()
    *done, line = _split(line, text[position:])
    yield from done
    yield line


def _split(line: _Line, text: str) -> list[_Line]:
    """Continue `line` with `text`; return it and the lines the text's line breaks start."""
    first, *rest = text.split("\n")
    lines = [[*line, first] if first else line]
    lines.extend([part] for part in rest)
    return lines


def _block_of(line: _Line) -> tuple[str, str, _Line]:
    """Say whether a line is a bullet, a numbered item, a quote or plain; strip its marker."""
    head = line[0] if line and not isinstance(line[0], Markup) else ""
    for kind, pattern in (("bullet", _BULLET), ("numbered", _NUMBERED), ("quote", _QUOTE)):
        match = pattern.match(head)
        if match:
            number = match.group(1) if kind == "numbered" else ""
            return kind, number, [head[match.end():], *line[1:]]
    return "line", "", line


def _group(items: list[tuple[str, str, Markup]]) -> Markup:
    kind = items[0][0]
    if kind == "quote":
        body = Markup("\n").join(html for _k, _n, html in items)
        return Markup('<blockquote class="wa-quote">%s</blockquote>') % body
    if kind == "numbered":
        rows = Markup("").join(Markup('<li value="%s">%s</li>') % (int(number), html)
                               for _k, number, html in items)
        return Markup('<ol class="wa-list">%s</ol>') % rows
    rows = Markup("").join(Markup("<li>%s</li>") % html for _k, _n, html in items)
    return Markup('<ul class="wa-list">%s</ul>') % rows


def _inline(text: str) -> Markup:
    """Format one line's bold, italic, strike and inline code; escape everything else."""
    closers = _closers(text)
    out: list[Markup] = []
    start = i = 0
    while i < len(text):
        marker = text[i]
        if marker in _TAGS and _opens(text, i):
            found = closers[marker]
            k = bisect.bisect_left(found, i + 2)  # at least one character inside
            if k < len(found):
                end = found[k]
                inner = text[i + 1:end]
                content = escape(inner) if marker in _LITERAL else _inline(inner)
                opening, closing = _TAGS[marker]
                out.append(escape(text[start:i]))
                out.append(opening + content + closing)
                i = start = end + 1
                continue
        i += 1
    out.append(escape(text[start:]))
    return Markup("").join(out)


def _closers(text: str) -> dict[str, list[int]]:
    """Where each marker may close, in order: found once per line, so a line full of markers
    costs n log n, not n squared (a 4,000-character message must not stall the page)."""
    found: dict[str, list[int]] = {marker: [] for marker in _TAGS}
    for j in range(1, len(text)):
        marker = text[j]
        if marker not in found:
            continue
        before = text[j - 1]
        after = text[j + 1] if j + 1 < len(text) else " "
        if not before.isspace() and before != marker and not _wordish(after) and after != marker:
            found[marker].append(j)
    return found


def _wordish(char: str) -> bool:
    """Part of a word: a letter or digit in any script, or a combining mark (Indic vowel signs)."""
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _opens(text: str, i: int) -> bool:
    marker = text[i]
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return not _wordish(before) and before != marker and not after.isspace() and after != marker

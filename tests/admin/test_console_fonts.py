"""The console carries a font for every script the bot answers in, small, licensed, served under
its CSP, and limited to its script so a Latin-only page fetches none. (tests/browser/
test_console_scripts.py shows the glyphs really are drawn.)"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import bot
from tests.admin.support import login, make_staff

STATIC = Path(bot.__file__).parent / "admin" / "static"
FONTS_CSS = (STATIC / "fonts.css").read_text(encoding="utf-8")
ROOT = Path(bot.__file__).parent.parent
# Everything the bot itself writes to people: catalogs, fixed safety texts, the knowledge base.
BOT_TEXTS = [ROOT / "bot" / "locales", ROOT / "safety" / "data" / "texts",
             ROOT / "bot" / "knowledge"]


def _faces() -> list[dict[str, Any]]:
    faces = []
    for block in re.findall(r"@font-face\s*{(.*?)}", FONTS_CSS, re.DOTALL):
        ranges = []
        for start, end in re.findall(r"U\+([0-9A-F]+)(?:-([0-9A-F]+))?",
                                     re.search(r"unicode-range:([^;]+);", block).group(1)):
            ranges.append((int(start, 16), int(end or start, 16)))
        faces.append({"family": re.search(r'font-family:\s*"([^"]+)"', block).group(1),
                      "files": re.findall(r'url\("([^"]+)"\)', block), "ranges": ranges})
    return faces


def _covered(code: int, faces: list[dict[str, Any]]) -> bool:
    return any(lo <= code <= hi for face in faces if face["files"] for lo, hi in face["ranges"])


def test_every_letter_the_bot_writes_has_a_vendored_font() -> None:
    faces = _faces()
    missing: dict[str, str] = {}
    seen = 0
    for root in BOT_TEXTS:
        for path in root.rglob("*"):
            if path.suffix not in (".po", ".yaml") or not path.is_file():
                continue
            for char in path.read_text(encoding="utf-8"):
                code = ord(char)
                # Letters, marks and digits beyond Latin; emoji variation selectors aside.
                if code <= 0x24F or 0xFE00 <= code <= 0xFE0F:
                    continue
                if unicodedata.category(char)[0] not in "LMN":
                    continue
                seen += 1
                if not _covered(code, faces):
                    missing.setdefault(f"U+{code:04X}", str(path.relative_to(ROOT)))
    assert seen > 1000  # Hindi, at least
    assert missing == {}


def test_people_s_scripts_have_a_font_and_latin_text_fetches_none() -> None:
    faces = _faces()
    for sample in ("नमस्ते", "مرحبا", "নমস্কার", "ሰላም", "שלום", "வணக்கம்", "สวัสดี"):
        assert all(_covered(ord(ch), faces) for ch in sample), sample
    latin = [*range(0x0000, 0x0250), *range(0x2000, 0x2070), *range(0x20A0, 0x20D0),
             0x25CC, *range(0x1F300, 0x1FAFF)]  # Latin, punctuation, joiners, currency, emoji
    assert not [hex(c) for c in latin if _covered(c, faces)]


def test_font_files_are_small_woff2_with_their_licence() -> None:
    faces = _faces()
    files = sorted({f for face in faces for f in face["files"]})
    assert len(files) >= 8
    total = 0
    for name in files:
        path = STATIC / name
        data = path.read_bytes()
        assert data[:4] == b"wOF2", name
        total += len(data)
    assert total < 350_000  # only the scripts' own glyphs, regular (Devanagari also bold)
    on_disk = {f"fonts/{p.name}" for p in (STATIC / "fonts").glob("*.woff2")}
    assert on_disk == set(files)  # nothing vendored that is not used
    licence = (STATIC / "fonts" / "OFL.txt").read_text(encoding="utf-8")
    sources = (STATIC / "fonts" / "SOURCES.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    for name in files:
        script = name.split("-")[2]
        assert f"https://github.com/notofonts/{script}" in licence, script
        assert name.removeprefix("fonts/") in sources and f"@fontsource/noto-sans-{script}@" \
            in sources


def test_pages_load_the_fonts_under_their_security_policy(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, email, _ = make_staff(sqlite_app, "viewer")
    assert login(client, email).status_code == 302
    page = client.get("/admin/")
    assert '<link rel="stylesheet" href="/admin/static/fonts.css">' in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "font-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    with client.get("/admin/static/fonts/noto-sans-devanagari-400.woff2") as font:
        assert font.status_code == 200 and font.headers["Content-Type"] == "font/woff2"
        # No personal data in it: kept by the browser and revalidated, not fetched each page.
        assert font.headers["Cache-Control"] == "no-cache" and font.headers["ETag"]
    with client.get("/admin/static/fonts.css") as css:
        assert css.headers["Cache-Control"] == "no-cache"

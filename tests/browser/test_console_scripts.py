"""Every script the bot answers in is readable in the console, on a machine with no font for it:
a Hindi message renders in Devanagari glyphs (the self-hosted Noto subset), not empty boxes, and
a Latin-only page downloads no font file at all."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.admin.support import PASSWORD, make_staff
from tests.admin.support import seed_contact as seed
from tests.browser.conftest import SentMessenger

HINDI = "मेरे बच्चे को दो दिन से बुखार है"  # "my child has had a fever for two days"
ANSWER = "*बुखार* में बच्चे को पानी पिलाते रहें।"  # "in a fever keep giving the child water"
# A code point no font has a glyph for (unassigned): what tofu is, box for box.
TOFU = "\u0378"


def _devanagari(text: str) -> int:
    return sum(1 for ch in text if "\u0900" <= ch <= "\u097f")


def _system_fonts(lang: str = "hi") -> set[str]:
    """Families fontconfig says cover a language (none on a bare server or CI image)."""
    try:
        found = subprocess.run(["fc-list", f":lang={lang}", "family"], capture_output=True,
                               text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip() for line in found.splitlines() for name in line.split(",") if name}


def test_hindi_renders_in_devanagari_and_latin_pages_load_no_font(
    browser: Any, served: tuple[str, Any, SentMessenger]
) -> None:
    base, app, _messenger = served
    _, email, _ = make_staff(app, "viewer")
    latin = seed(app, name="Baraka", body="my child has a *fever*", escalation=None)
    hindi = seed(app, name="Priya", body=HINDI, escalation=None)
    with app.extensions["bot"].uow() as uow:
        answer = uow.messages.get(hindi["answer_id"])
        assert answer is not None
        answer.body = ANSWER
        uow.commit()

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(10_000)
    fonts: list[tuple[str, int]] = []
    page.on("response", lambda r: fonts.append((r.url, r.status)) if "/fonts/" in r.url else None)
    # Signing in leads straight to the Latin-only conversation (the inbox would show Hindi).
    page.goto(f"{base}/admin/contacts/{latin['contact_id']}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/contacts/{latin['contact_id']}")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.fonts.ready.then(() => true)")
    assert page.locator(f"#m{latin['inbound_id']} .body strong").inner_text() == "fever"
    assert fonts == [], "a Latin-only page downloads no font"

    page.goto(f"{base}/admin/contacts/{hindi['contact_id']}")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.fonts.ready.then(() => true)")
    body = page.locator(f"#m{hindi['inbound_id']} .body")
    assert body.inner_text() == HINDI
    assert page.locator(f"#m{hindi['answer_id']} .body strong").inner_text() == "बुखार"

    # Only the Devanagari files were fetched (regular, and bold for *बुखार*), and they loaded.
    fetched = {url.rsplit("/", 1)[-1]: status for url, status in fonts}
    system = _system_fonts()
    if not system:
        assert fetched == {"noto-sans-devanagari-400.woff2": 200,
                           "noto-sans-devanagari-700.woff2": 200}, fetched
    assert all("devanagari" in name for name in fetched), fetched
    faces = page.evaluate("t => document.fonts.load('16px \"Console Devanagari\"', t)"
                          ".then(found => found.map(face => face.status))", HINDI)
    assert faces and set(faces) == {"loaded"}, faces

    # Which fonts Chromium drew the message with: the Devanagari glyphs come from a font that
    # has them (ours, or the machine's own), never from a Latin font's empty box.
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root,
                                          "selector": f"#m{hindi['inbound_id']} .body"})["nodeId"]
    used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    drawn = {f["familyName"]: f["glyphCount"] for f in used}
    devanagari_fonts = {"Noto Sans Devanagari"} | system
    glyphs = sum(count for family, count in drawn.items() if family in devanagari_fonts)
    assert glyphs >= len(HINDI.split()), drawn  # at least a glyph per word, shaped
    others = sum(count for family, count in drawn.items() if family not in devanagari_fonts)
    assert others <= HINDI.count(" "), drawn  # the spaces, nothing more
    if not system:
        assert any(f["isCustomFont"] and f["familyName"] == "Noto Sans Devanagari"
                   for f in used), used

    # And it looks like text, not boxes: as many .notdef boxes are far wider than the shaped
    # string, whose vowel signs and conjuncts take no room of their own.
    widths = page.evaluate(
        """([text, tofu]) => {
            const measure = s => {
                const span = document.createElement('span');
                span.textContent = s;
                span.style.cssText = 'position: absolute; white-space: nowrap';
                document.body.appendChild(span);
                const width = span.getBoundingClientRect().width;
                span.remove();
                return width;
            };
            return [measure(text), measure(tofu)];
        }""",
        [HINDI, "".join(" " if ch == " " else TOFU for ch in HINDI)],
    )
    text_width, tofu_width = widths
    assert _devanagari(HINDI) > 20 and text_width < 0.8 * tofu_width, widths
    page.close()


# What people write in the countries the bot serves, one script each: (language for fontconfig,
# the Noto family fonts.css falls back to, a sentence).
SCRIPTS = [
    ("ar", "Noto Sans Arabic", "طفلي مصاب بالحمى منذ يومين"),
    ("bn", "Noto Sans Bengali", "আমার বাচ্চার দুই দিন ধরে জ্বর"),
    ("am", "Noto Sans Ethiopic", "ልጄ ለሁለት ቀናት ትኩሳት አለው"),
    ("he", "Noto Sans Hebrew", "לילד שלי יש חום כבר יומיים"),
    ("ta", "Noto Sans Tamil", "என் குழந்தைக்கு இரண்டு நாட்களாக காய்ச்சல்"),
    ("th", "Noto Sans Thai", "ลูกของฉันมีไข้มาสองวันแล้ว"),
]


def test_every_other_script_is_drawn_with_a_font_that_has_it(
    browser: Any, served: tuple[str, Any, SentMessenger]
) -> None:
    base, app, _messenger = served
    _, email, _ = make_staff(app, "viewer")
    seeded = [seed(app, name=lang, body=text, escalation=None) for lang, _f, text in SCRIPTS]
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    cdp = page.context.new_cdp_session(page)
    for (lang, family, text), ids in zip(SCRIPTS, seeded, strict=True):
        page.goto(f"{base}/admin/contacts/{ids['contact_id']}")
        page.wait_for_load_state("networkidle")
        # Settle: every font the page asked for loaded, and the layout after it ran.
        assert page.evaluate("""() => document.fonts.ready.then(() => new Promise(
            done => requestAnimationFrame(() => requestAnimationFrame(() => done(true)))))""")
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root,
                                              "selector": f"#m{ids['inbound_id']} .body"})
        used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        drawn = {f["familyName"]: f["glyphCount"] for f in used}
        system = _system_fonts(lang)

        def has_script(name: str, family: str = family, system: set[str] = system) -> bool:
            # A vendored file may name its default instance ("Noto Sans Hebrew Thin").
            return name.startswith(family) or name in system

        assert sum(n for name, n in drawn.items() if not has_script(name)) <= text.count(" "), \
            (lang, drawn)
        assert sum(n for name, n in drawn.items() if has_script(name)) >= len(text.split()), \
            (lang, drawn)
    page.close()

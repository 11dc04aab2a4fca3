"""WhatsApp's formatting, rendered for the transcript as WhatsApp shows it, and never as HTML
the message itself wrote."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from bot.admin.whatsapp_format import whatsapp_html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold*", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("~strike~", "<s>strike</s>"),
        ("`code`", "<code>code</code>"),
        ("```mono *not bold*```", '<code class="wa-mono">mono *not bold*</code>'),
        ("take *two* tablets", "take <strong>two</strong> tablets"),
        ("(*bold*), then", "(<strong>bold</strong>), then"),
        ("*_bold italic_*", "<strong><em>bold italic</em></strong>"),
        ("*two words*", "<strong>two words</strong>"),
        ("*नमस्ते*, हाँ", "<strong>नमस्ते</strong>, हाँ"),
        # Markers need word boundaries, as on the phone.
        ("2*3*4", "2*3*4"),
        ("snake_case_name", "snake_case_name"),
        ("a*b* c", "a*b* c"),
        ("*b*c", "*b*c"),
        ("file_name_ here", "file_name_ here"),
        # A marker with a space inside its edge, doubled, empty or alone stays as typed.
        ("so * not bold*", "so * not bold*"),
        ("*not bold *", "*not bold *"),
        ("**x**", "**x**"),
        ("**", "**"),
        ("*unclosed", "*unclosed"),
        ("5 * 3 = 15", "5 * 3 = 15"),
        ("``````", "``````"),
        # Bold does not cross a line break; monospace may.
        ("*one\ntwo*", "*one\ntwo*"),
        ("```a\nb```", '<code class="wa-mono">a\nb</code>'),
        ("first\n\nthird", "first\n\nthird"),
        # Lists and quotes at the start of a line.
        ("* eggs\n* milk", '<ul class="wa-list"><li>eggs</li><li>milk</li></ul>'),
        ("- eggs\n- *milk*",
         '<ul class="wa-list"><li>eggs</li><li><strong>milk</strong></li></ul>'),
        ("Do this:\n1. rest\n2. drink",
         'Do this:<ol class="wa-list"><li value="1">rest</li><li value="2">drink</li></ol>'),
        ("> what you said\nmy answer",
         '<blockquote class="wa-quote">what you said</blockquote>my answer'),
        ("1.5 litres", "1.5 litres"),
        (">5 days", "&gt;5 days"),
        ("", ""),
    ],
)
def test_formats_like_whatsapp(text: str, html: str) -> None:
    assert str(whatsapp_html(text)) == html


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("*<script>alert(1)</script>*", "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>"),
        ("<b>*x*</b>", "&lt;b&gt;<strong>x</strong>&lt;/b&gt;"),
        ("_a&b_ & \"q\" 'r'", "<em>a&amp;b</em> &amp; &#34;q&#34; &#39;r&#39;"),
        ("`<img src=x onerror=alert(1)>`",
         "<code>&lt;img src=x onerror=alert(1)&gt;</code>"),
        ("```</code><script>```", '<code class="wa-mono">&lt;/code&gt;&lt;script&gt;</code>'),
        ("* <i>item</i>", '<ul class="wa-list"><li>&lt;i&gt;item&lt;/i&gt;</li></ul>'),
        ("1. *&lt;*", '<ol class="wa-list"><li value="1"><strong>&amp;lt;</strong></li></ol>'),
    ],
)
def test_text_is_escaped_before_it_is_shown(text: str, html: str) -> None:
    rendered = whatsapp_html(text)
    assert isinstance(rendered, Markup)
    assert str(rendered) == html


ALLOWED_TAG = re.compile(r"</?(strong|em|s|code|ul|ol|li|blockquote)( [^<>]*)?>")


@given(st.text(alphabet=st.sampled_from(list("ab <>&\"'*_~`-1.>\n")), max_size=60))
def test_no_text_becomes_markup_of_its_own(text: str) -> None:
    html = str(whatsapp_html(text))
    # Only this module's tags remain once they are taken out; no "<" of the person's survives.
    assert "<" not in ALLOWED_TAG.sub("", html)
    # Every character typed is still there (markers aside): nothing is lost.
    visible = re.sub(r"<[^>]+>", "", html)
    visible = (visible.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
               .replace("&#39;", "'").replace("&amp;", "&"))
    stripped = re.sub(r"[*_~`\-.>\d \n]", "", text)
    assert re.sub(r"[*_~`\-.>\d \n]", "", visible) == stripped


@pytest.mark.parametrize(("unit", "tail"), [("*a ", ""), ("_a ", "_"), ("*_~`", "")])
def test_a_message_full_of_markers_costs_in_proportion_to_its_length(unit: str, tail: str) -> None:
    # Looking for each opener's partner from scratch made the work grow with the square of the
    # length (a second for 4,000 characters). Asserted as a shape, not a time: eight times the
    # text must cost about eight times the CPU (a square would cost 64 times), whatever the load.
    def cpu(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            html = whatsapp_html(text)
            best = min(best, time.process_time() - started)
            assert len(html) >= len(text)
        return best

    short, long = unit * 1000 + tail, unit * 8000 + tail
    assert cpu(long) < 24 * cpu(short)

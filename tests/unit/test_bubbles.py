from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.bubbles import MAX_BUBBLE, split_message


def test_short_text_is_one_bubble() -> None:
    assert split_message("Drink fluids and rest.") == ["Drink fluids and rest."]


def test_blank_text_gives_no_bubble() -> None:
    assert split_message("   \n ") == []


def test_long_text_splits_at_line_boundaries() -> None:
    lines = [f"- point {i}: " + "x" * 90 for i in range(40)]
    bubbles = split_message("\n".join(lines))
    assert len(bubbles) > 1
    assert all(len(b) <= MAX_BUBBLE for b in bubbles)
    # every bubble ends at the end of a line, so no point is cut in half
    assert "\n".join(bubbles).split("\n") == lines


def test_long_paragraph_splits_at_sentence_boundaries() -> None:
    sentences = [f"Sentence number {i} says something useful." for i in range(80)]
    bubbles = split_message(" ".join(sentences))
    assert len(bubbles) >= 2
    for bubble in bubbles:
        assert len(bubble) <= MAX_BUBBLE
        assert bubble.endswith(".")


def test_devanagari_danda_is_a_sentence_end() -> None:
    text = " ".join(["यह एक वाक्य है।"] * 200)
    bubbles = split_message(text)
    assert all(len(b) <= MAX_BUBBLE and b.endswith("।") for b in bubbles)


def test_a_single_huge_word_is_hard_cut() -> None:
    bubbles = split_message("a" * 4000)
    assert [len(b) for b in bubbles] == [1600, 1600, 800]


@pytest.mark.parametrize("limit", [50, 200, 1600])
@given(text=st.text(min_size=0, max_size=5000))
def test_property_no_bubble_too_long_or_empty_and_nothing_lost(limit: int, text: str) -> None:
    bubbles = split_message(text, limit)
    assert all(0 < len(b) <= limit for b in bubbles)
    assert all(b.strip() for b in bubbles)
    squeezed = "".join(text.split())
    assert "".join("".join(bubbles).split()) == squeezed

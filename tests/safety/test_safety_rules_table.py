"""Every red-flag rule fires in every language (table-driven), with the expected level."""

from __future__ import annotations

import pytest

from safety.triage import assess, load_rules
from safety.types import TriageLevel

# rule id -> {language: message}. Written from the guidance in rules.yaml, in WhatsApp style.
TABLE: dict[str, dict[str, str]] = {
    "chest_pain": {
        "en": "crushing pain in my chest",
        "es": "tengo dolor en el pecho muy fuerte",
        "pt": "to com dor no peito",
        "fr": "jai mal a la poitrine",
        "sw": "kifua kinaniuma sana",
        "hi": "chhati mein dard ho raha hai",
    },
    "stroke_signs": {
        "en": "her face is drooping and speech slurred",
        "es": "tiene la cara torcida de repente",
        "pt": "a boca dele ficou torta",
        "fr": "son visage est tout de travers",
        "sw": "uso wake umepinda ghafla",
        "hi": "papa ka muh tedha ho gaya",
    },
    "breathing_difficulty": {
        "en": "my son cant breathe",
        "es": "no puede respirar",
        "pt": "ela nao consegue respirar",
        "fr": "il narrive pas a respirer",
        "sw": "hawezi kupumua",
        "hi": "सांस लेने में दिक्कत हो रही है",
    },
    "choking": {
        "en": "baby is choking",
        "es": "se atraganto con un hueso",
        "pt": "ele engasgou com comida",
        "fr": "elle a un bonbon coince dans la gorge",
        "sw": "amesakamwa na mfupa",
        "hi": "gale mein haddi atak gayi",
    },
    "severe_bleeding": {
        "en": "he is bleeding heavily from his leg",
        "es": "esta sangrando mucho y no para",
        "pt": "sangramento forte que nao para",
        "fr": "il saigne beaucoup",
        "sw": "anatokwa na damu nyingi",
        "hi": "bahut khoon beh raha hai",
    },
    "unresponsive": {
        "en": "my dad is unconscious",
        "es": "esta inconsciente",
        "pt": "ele ta inconsciente",
        "fr": "elle est inconsciente",
        "sw": "amepoteza fahamu",
        "hi": "वो बेहोश है होश नहीं आ रहा",
    },
    "seizure": {
        "en": "she is having a seizure",
        "es": "tiene convulsiones",
        "pt": "teve uma convulsao agora",
        "fr": "il fait des convulsions",
        "sw": "mtoto ana degedege",
        "hi": "bache ko jhatke aa rahe hain",
    },
    "anaphylaxis": {
        "en": "his tongue is swelling after a wasp sting",
        "es": "se le hincho la lengua despues del mani",
        "pt": "a garganta dela ta inchada depois do camarao",
        "fr": "sa langue gonfle apres une piqure de guepe",
        "sw": "ulimi umevimba baada ya kula karanga",
        "hi": "मूंगफली खाने के बाद गला सूज गया",
    },
    "self_harm": {
        "en": "i want to kill myself",
        "es": "quiero quitarme la vida",
        "pt": "quero morrer",
        "fr": "je pense a me suicider",
        "sw": "nataka kujiua",
        "hi": "मैं आत्महत्या करना चाहता हूं",
    },
    "overdose": {
        "en": "she took too many pills",
        "es": "se tomo muchas pastillas",
        "pt": "tomou muitos comprimidos",
        "fr": "il a pris trop de medicaments",
        "sw": "amemeza vidonge vingi",
        "hi": "usne bahut saari goliyan kha li",
    },
    "poisoning": {
        "en": "my kid swallowed rat poison",
        "es": "mi hijo tomo veneno para ratas",
        "pt": "meu filho bebeu veneno",
        "fr": "mon fils a bu de la javel",
        "sw": "mtoto amekunywa sumu",
        "hi": "bacche ne zeher pi liya",
    },
    "severe_burn": {
        "en": "severe burns on his back",
        "es": "tiene quemaduras graves en la espalda",
        "pt": "queimadura grave nas costas",
        "fr": "brulure grave au dos",
        "sw": "ameungua vibaya mgongoni",
        "hi": "वो बुरी तरह जल गया",
    },
    "snake_bite": {
        "en": "a snake bit my husband",
        "es": "una serpiente mordio a mi papa",
        "pt": "uma cobra mordeu meu pai",
        "fr": "un serpent a mordu mon pere",
        "sw": "nyoka amemuuma baba",
        "hi": "saanp ne kaat liya papa ko",
    },
    "vomiting_blood": {
        "en": "he is throwing up blood",
        "es": "esta vomitando sangre",
        "pt": "ele ta vomitando sangue",
        "fr": "il vomit du sang",
        "sw": "anatapika damu",
        "hi": "khoon ki ulti ho rahi hai",
    },
    "severe_abdominal_pain": {
        "en": "sudden severe stomach pain",
        "es": "dolor de barriga insoportable",
        "pt": "dor de barriga insuportavel",
        "fr": "douleur au ventre insupportable",
        "sw": "maumivu makali ya tumbo",
        "hi": "पेट में बहुत तेज दर्द",
    },
    "electric_shock": {
        "en": "my son got an electric shock from a socket",
        "es": "le dio la corriente",
        "pt": "levou um choque eletrico",
        "fr": "il a pris une decharge electrique",
        "sw": "amepigwa na shoti ya umeme",
        "hi": "bijli ka jhatka laga",
    },
    "drowning": {
        "en": "we pulled him out of the river",
        "es": "se cayo a la piscina",
        "pt": "ele caiu no rio",
        "fr": "il est tombe dans la piscine",
        "sw": "mtoto amezama majini",
        "hi": "bacha paani mein doob gaya",
    },
    "reduced_fetal_movement": {
        "en": "i cant feel the baby move today",
        "es": "el bebe no se mueve desde ayer",
        "pt": "o bebe parou de mexer",
        "fr": "je ne sens plus bebe bouger",
        "sw": "mtoto tumboni hachezi",
        "hi": "pet mein baby hil nahi raha",
    },
    "severe_dehydration": {
        "en": "he hasnt peed all day",
        "es": "tiene los ojos hundidos",
        "pt": "ela ta com os olhos fundos",
        "fr": "il a les yeux creux",
        "sw": "macho yamedidimia",
        "hi": "आंखें धंस गई हैं",
    },
    "nonblanching_rash": {
        "en": "rash that doesnt fade with the glass test",
        "es": "manchas moradas en las piernas",
        "pt": "manchas roxas no corpo",
        "fr": "taches violettes sur les jambes",
        "sw": "madoa ya zambarau mwilini",
        "hi": "बैंगनी दाने हो गए",
    },
    "meningitis_signs": {
        "en": "fever and a stiff neck",
        "es": "fiebre y cuello rigido",
        "pt": "febre e pescoco duro",
        "fr": "fievre et nuque raide",
        "sw": "homa na shingo ngumu",
        "hi": "bukhar aur gardan akad gayi",
    },
    "fever_young_infant": {
        "en": "my 2 week old has a fever",
        "es": "mi bebe de 2 semanas tiene fiebre",
        "pt": "meu bebe de 2 semanas ta com febre",
        "fr": "mon bebe de 2 semaines a de la fievre",
        "sw": "mtoto mchanga ana homa",
        "hi": "नवजात को बुखार है",
    },
    "child_not_drinking": {
        "en": "my baby is not breastfeeding",
        "es": "mi bebe no quiere mamar",
        "pt": "meu bebe nao quer mamar",
        "fr": "mon bebe ne tete plus",
        "sw": "mtoto hanyonyi",
        "hi": "baby doodh nahi pi raha",
    },
    "pregnancy_bleeding": {
        "en": "im pregnant and bleeding a lot",
        "es": "estoy embarazada y sangrando",
        "pt": "to gravida e sangrando",
        "fr": "je suis enceinte et je saigne",
        "sw": "mimi ni mjamzito natokwa na damu",
        "hi": "मैं गर्भवती हूं और खून आ रहा है",
    },
    "fever_confusion": {
        "en": "high temperature and very confused",
        "es": "tiene fiebre y esta confundido",
        "pt": "febre e ta confuso",
        "fr": "fievre et il est confus",
        "sw": "homa na amechanganyikiwa",
        "hi": "bukhar hai aur ulta seedha baat kar raha hai",
    },
    "head_injury_serious": {
        "en": "hit his head and passed out",
        "es": "se golpeo la cabeza y se desmayo",
        "pt": "bateu a cabeca e desmaiou",
        "fr": "il sest cogne la tete et sest evanoui",
        "sw": "amejigonga kichwa na amezimia",
        "hi": "sir par chot lagi aur ulti ho rahi hai",
    },
    # Urgent and self-care levels, so the lower rungs of the ladder are checked too.
    "fever_prolonged": {
        "en": "fever for 4 days",
        "es": "fiebre hace 4 dias",
        "pt": "febre ha 4 dias",
        "fr": "fievre depuis 4 jours",
        "sw": "homa kwa siku 4",
        "hi": "4 din se bukhar",
    },
    "blood_in_urine": {
        "en": "blood in my pee",
        "es": "orina con sangre",
        "pt": "xixi com sangue",
        "fr": "du sang dans les urines",
        "sw": "damu kwenye mkojo",
        "hi": "peshab mein khoon",
    },
    "sore_throat": {
        "en": "sore throat",
        "es": "dolor de garganta",
        "pt": "dor de garganta",
        "fr": "mal a la gorge",
        "sw": "koo linauma",
        "hi": "gale mein dard",
    },
    "heartburn": {
        "en": "heartburn again",
        "es": "tengo acidez",
        "pt": "to com azia",
        "fr": "jai des brulures destomac",
        "sw": "nina kiungulia",
        "hi": "acidity ho rahi hai",
    },
}

CASES = [(rule, lang, text) for rule, by_lang in TABLE.items() for lang, text in by_lang.items()]


@pytest.mark.parametrize(("rule_id", "lang", "text"), CASES)
def test_rule_fires_in_every_language(rule_id: str, lang: str, text: str) -> None:
    result = assess(text)
    assert rule_id in result.rule_ids, (lang, text, result.rule_ids)
    rule = load_rules().rules[rule_id]
    assert result.level.rank >= rule.level.rank


def test_table_covers_every_language() -> None:
    for rule_id, by_lang in TABLE.items():
        assert set(by_lang) == {"en", "es", "pt", "fr", "sw", "hi"}, rule_id


@pytest.mark.parametrize(
    "rule_id",
    sorted(r.id for r in load_rules().rules.values() if r.level is TriageLevel.EMERGENCY),
)
def test_every_emergency_rule_is_reachable(rule_id: str) -> None:
    """Every emergency rule has patterns in every language file, or is a combination."""
    rs = load_rules()
    rule = rs.rules[rule_id]
    if rule.requires:
        return
    missing = [code for code, pack in rs.packs.items() if rule_id not in pack.rule_ids]
    assert not missing, f"{rule_id} has no patterns in {missing}"

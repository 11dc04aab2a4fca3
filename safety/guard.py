"""The reply guard: screens every model draft before it is sent and repairs what it must.

It removes sentences that diagnose with certainty, dose or recommend prescription-only medicines
(or dose any medicine for a child), tell people to stop prescribed treatment, claim to be a doctor
or a human, play down or put off care for an urgent assessment, carry prompt-injection text, or
link outside an allowlist. An urgent or emergency assessment always ends with the matching care
advice. If too much is removed, the whole draft is replaced by `texts.safe_fallback`.

Every rule is written for English, Spanish, Portuguese, French, Swahili and Hindi (Devanagari and
common Hinglish), whatever language the assessment names, because models switch language. Doses
count in figures, in words ("five hundred milligrams") and in household measures ("a teaspoon").
The prescription-only medicines (generics, translations, brands) are data:
`data/prescription_medicines.yaml`. Sentences quoted word for word from vetted, sourced content
(`vetted=`) are exempt from the two dose rules only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safety.texts import care_advice, safe_fallback
from safety.types import Assessment, GuardedReply, TriageLevel, Violation

DEFAULT_ALLOWED_DOMAINS: frozenset[str] = frozenset(
    {"who.int", "cdc.gov", "nhs.uk", "medlineplus.gov", "nih.gov", "unicef.org"}
)

# Link shorteners hide where a link goes, so they are refused even if a caller allows them.
LINK_SHORTENERS: frozenset[str] = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "v.gd",
        "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc", "s.id",
        "lnkd.in", "adf.ly", "shorte.st", "bl.ink", "soo.gd", "qr.ae", "trib.al", "short.io",
        "tiny.one", "u.to", "clck.ru", "x.co", "mcaf.ee", "db.tt", "po.st", "ift.tt", "dlvr.it",
    }
)  # fmt: skip

# A draft that loses more than this share of its text is replaced, not sent half-mangled.
MAX_REMOVED_SHARE = 0.5
_EXCERPT = 120

_F = re.IGNORECASE

# Devanagari vowel signs are not \w, so \b is useless there: these stand in for it (the danda
# U+0964/5 ends a sentence, so it counts as a boundary).
_DB = r"(?<![\u0900-\u0963\u0966-\u097F])"
_DE = r"(?![\u0900-\u0963\u0966-\u097F])"
# Some keyboards type nukta letters as one code point, others as letter + U+093C.
# Text and patterns are compared in NFC, which spells these as letter + U+093C.
_RH = "(?:\u0921\u093c)"  # ड़
_ZA = "(?:\u091c\u093c|\u091c)"  # ज़, often typed without the nukta


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(_nfc("|".join(f"(?:{p})" for p in patterns)), _F)


def _words(words: Iterable[str]) -> str:
    """Return an alternation matching any of the words (longest first, spaces flexible)."""
    escaped = (re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return "|".join(sorted(escaped, key=len, reverse=True))


def _is_devanagari(word: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in word)


def _names(words: Iterable[str]) -> str:
    """Return a whole-word alternation for names written in Latin or Devanagari script."""
    items = list(dict.fromkeys(words))
    latin = [w for w in items if not _is_devanagari(w)]
    deva = [w for w in items if _is_devanagari(w)]
    parts = []
    if latin:
        parts.append(rf"(?<![\w-])(?:{_words(latin)})(?![\w-])")
    if deva:
        parts.append(rf"{_DB}(?:{_words(deva)}){_DE}")
    return "|".join(parts) or r"(?!x)x"


# --- Sentence splitting ------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•·‣▪◦–—]|\d{1,2}[.)])\s+")
# Split after . ! ? (followed by space), after the Devanagari danda, and around inline bullets.
_SPLIT = re.compile(r"(?<=[.!?…])\s+|(?<=[।॥])\s*|\s+[•▪‣◦]\s+")


@dataclass(slots=True)
class _Line:
    prefix: str
    sentences: list[str]
    removed: list[bool]


def _parse(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        match = _BULLET.match(raw)
        prefix = match.group(0).strip() + " " if match else ""
        body = raw[match.end() :] if match else raw
        parts = [p.strip() for p in _SPLIT.split(body) if p and p.strip()]
        lines.append(_Line(prefix, parts, [False] * len(parts)))
    return lines


def _render(lines: list[_Line]) -> str:
    out: list[str] = []
    for line in lines:
        kept = [s for s, gone in zip(line.sentences, line.removed, strict=True) if not gone]
        if kept:
            out.append(line.prefix + " ".join(kept))
        elif not line.sentences and out and out[-1] != "":
            out.append("")  # keep paragraph breaks, but never two in a row
    return "\n".join(out).strip()


def _normal(sentence: str) -> str:
    """Return the sentence with whitespace collapsed and case folded, for vetted look-ups."""
    return " ".join(sentence.split()).casefold()


def _vetted_sentences(vetted: Sequence[str]) -> frozenset[str]:
    """Return every sentence of the vetted texts, normalised, split exactly as drafts are split.

    Each text is split as written and also with its line breaks collapsed, so a sentence that
    the source wraps over two lines is still found whole.
    """
    found: set[str] = set()
    for text in vetted:
        for source in (text or "", " ".join((text or "").split())):
            for line in _parse(source):
                for sentence in line.sentences:
                    bullet = _BULLET.match(sentence)
                    found.add(_normal(sentence[bullet.end() :] if bullet else sentence))
    return frozenset(found)


# --- Vocabulary: conditions --------------------------------------------------------------------

_DISEASES_EN = [
    "malaria", "dengue", "dengue fever", "typhoid", "typhoid fever", "cholera", "tuberculosis",
    "tb", "covid", "covid-19", "coronavirus", "pneumonia", "diabetes", "hypertension",
    "high blood pressure", "hiv", "aids", "cancer", "leukaemia", "leukemia", "a tumour",
    "a tumor", "meningitis", "appendicitis", "sepsis", "hepatitis", "the flu", "flu",
    "influenza", "measles", "chickenpox", "mumps", "rubella", "gonorrhoea", "gonorrhea",
    "syphilis", "chlamydia", "herpes", "ebola", "mpox", "monkeypox", "zika", "chikungunya",
    "yellow fever", "lassa fever", "anaemia", "anemia", "an ulcer", "a stomach ulcer",
    "gastritis", "migraine", "epilepsy", "depression", "an anxiety disorder", "bipolar disorder",
    "schizophrenia", "kidney disease", "kidney stones", "gallstones", "heart disease",
    "heart failure", "a heart attack", "a stroke", "asthma", "copd", "bronchitis", "sinusitis",
    "tonsillitis", "strep throat", "conjunctivitis", "eczema", "psoriasis", "scabies",
    "ringworm", "worms", "lupus", "arthritis", "gout", "hypothyroidism", "hyperthyroidism",
    "pre-eclampsia", "preeclampsia", "eclampsia", "an ectopic pregnancy", "a miscarriage",
    "an ovarian cyst", "pcos", "endometriosis", "rabies", "tetanus", "diphtheria",
    "whooping cough", "pertussis", "polio", "leprosy", "bilharzia", "schistosomiasis",
    "dysentery", "gastroenteritis", "food poisoning", "a concussion", "a fracture",
    "a broken bone", "a broken arm", "a broken leg", "jaundice", "glaucoma", "cataracts",
    "dementia", "alzheimer's", "parkinson's", "sickle cell disease", "thalassaemia", "a uti",
    "uti", "an std", "an sti", "covid19",
    # Everyday diagnoses a model names with false confidence.
    "shingles", "colic", "thrush", "oral thrush", "hay fever", "an allergy", "allergies",
    "an allergic reaction", "hives", "a cold sore", "cold sores", "impetigo", "head lice",
    "lice", "a kidney stone", "a gallstone", "a hernia", "haemorrhoids", "hemorrhoids", "ibs",
    "irritable bowel syndrome", "acid reflux", "reflux", "gerd", "gord", "a panic attack",
    "panic attacks", "panic disorder", "ptsd", "adhd", "ocd", "autism", "insomnia",
    "sleep apnoea", "sleep apnea", "angina", "a blood clot", "dvt", "deep vein thrombosis",
    "a pulmonary embolism", "atrial fibrillation", "an arrhythmia", "vertigo", "sciatica",
    "a slipped disc", "a sprain", "a sprained ankle", "a pulled muscle", "glandular fever",
    "scarlet fever", "croup", "hand foot and mouth disease", "hand, foot and mouth disease",
    "norovirus", "rotavirus", "rsv", "a stomach bug", "a tummy bug", "typhus", "trachoma",
    "malnutrition", "kwashiorkor", "rickets", "goitre", "goiter", "hypoglycaemia",
    "hypoglycemia", "pid", "pelvic inflammatory disease", "postnatal depression",
    "postpartum depression", "prediabetes", "pre-diabetes", "a cyst", "an abscess", "a boil",
    "a tia", "a mini-stroke", "bell's palsy", "pink eye", "a stye", "athlete's foot", "candida",
    "hpv", "genital warts",
]  # fmt: skip
# "… infection", "-itis", "-osis" and similar cover most other named conditions.
_DISEASE_EN = (
    rf"(?:{_words(_DISEASES_EN)})(?![\w-])"
    r"|(?:an?\s+)?(?:[\w-]+\s+){0,2}infection\b"
    r"|\b(?!(?:diagnosis|prognosis|hypnosis)\b)\w{3,}(?:itis|osis|aemia|emia)\b"
)
# Words after a disease name that show it is not a diagnosis ("malaria season").
_NOT_DIAGNOSIS_AFTER = (
    r"(?!\s+(?:season|prevention|vaccines?|medicines?|tests?|testing|symptoms?|cases?|risk|"
    r"areas?|zones?|nets?|information|treatment|outbreak|programme|program|campaign|day)\b)"
)
_DISEASES_ES = [
    "dengue", "malaria", "paludismo", "fiebre tifoidea", "tifoidea", "cólera", "tuberculosis",
    "covid", "covid-19", "neumonía", "diabetes", "hipertensión", "vih", "sida", "cáncer",
    "meningitis", "apendicitis", "sepsis", "hepatitis", "gripe", "influenza", "sarampión",
    "varicela", "zika", "chikungunya", "fiebre amarilla", "asma", "anemia", "una úlcera",
    "gastritis", "migraña", "epilepsia", "depresión", "preeclampsia", "un tumor",
    "un embarazo ectópico", "un infarto", "un ictus", "un derrame cerebral",
    "amigdalitis", "anginas", "una angina", "otitis", "sinusitis", "cistitis", "faringitis",
    "bronquitis", "conjuntivitis", "gastroenteritis", "herpes zóster", "culebrilla",
    "infección urinaria", "infección de orina", "alergia", "una alergia", "piedras en el riñón",
    "cálculos renales", "cólico", "cólicos", "sarna", "tiña", "candidiasis", "hemorroides",
    "reflujo", "un ataque de pánico", "una crisis de ansiedad", "paperas", "escarlatina",
]  # fmt: skip
_DISEASE_ES = (
    rf"(?:(?:un|una)\s+)?(?:{_words(_DISEASES_ES)})(?![\w-])"
    r"|(?:una\s+)?infecci[oó]n\b|\b\w{3,}(?:itis|osis)\b"
)
# Everyday French / Portuguese words that end like "-ite" / "-ose" diseases ("une petite toux").
_NOT_ITE = (
    r"(?!(?:petite|suite|limite|visite|conduite|faillite|réussite|fuite|élite|elite|leite|"
    r"apetite|noite|convite|palpite|boite|boîte|chose|prose|glucose|dose|pose|rose|cause|"
    r"grandiose|ventose|virose|explose|propose|suppose|repose|dispose|impose|expose)\b)"
)
_DISEASES_PT = [
    "dengue", "malária", "malaria", "febre tifoide", "cólera", "tuberculose", "covid",
    "covid-19", "pneumonia", "diabetes", "hipertensão", "pressão alta", "hiv", "aids", "câncer",
    "cancro", "meningite", "apendicite", "sepse", "septicemia", "hepatite", "gripe", "sarampo",
    "catapora", "varicela", "zika", "chikungunya", "febre amarela", "asma", "anemia",
    "uma úlcera", "gastrite", "enxaqueca", "epilepsia", "depressão", "pré-eclâmpsia",
    "um tumor", "gravidez ectópica", "um infarto", "um avc",
    "sinusite", "amigdalite", "otite", "cistite", "faringite", "bronquite", "conjuntivite",
    "gastroenterite", "infecção urinária", "herpes-zóster", "herpes zóster", "cobreiro",
    "pedra nos rins", "cálculo renal", "alergia", "uma alergia", "sarna", "micose",
    "candidíase", "hemorroidas", "refluxo", "crise de pânico", "ataque de pânico", "caxumba",
    "escarlatina",
]  # fmt: skip
_DISEASE_PT = (
    rf"(?:(?:um|uma)\s+)?(?:{_words(_DISEASES_PT)})(?![\w-])"
    rf"|(?:uma\s+)?infec[cç][aã]o\b|\b{_NOT_ITE}\w{{3,}}(?:ite|ose)\b"
)
_DISEASES_FR = [
    "paludisme", "malaria", "dengue", "typhoïde", "fièvre typhoïde", "choléra", "tuberculose",
    "covid", "covid-19", "pneumonie", "diabète", "hypertension", "vih", "sida", "cancer",
    "méningite", "appendicite", "septicémie", "sepsis", "hépatite", "grippe", "rougeole",
    "varicelle", "zika", "chikungunya", "fièvre jaune", "asthme", "anémie", "un ulcère",
    "gastrite", "migraine", "épilepsie", "dépression", "prééclampsie", "pré-éclampsie",
    "une tumeur", "grossesse extra-utérine", "un infarctus", "un avc",
    "angine", "une angine", "otite", "cystite", "sinusite", "bronchite", "bronchiolite",
    "conjonctivite", "gastro", "une gastro", "gastro-entérite", "zona", "un zona", "allergie",
    "une allergie", "calculs rénaux", "colique néphrétique", "hémorroïdes", "reflux",
    "une crise d'angoisse", "une attaque de panique", "oreillons", "scarlatine", "mycose",
]  # fmt: skip
_DISEASE_FR = (
    rf"(?:(?:le|la|l'|un|une|du|de\s+la)\s*)?(?:{_words(_DISEASES_FR)})(?![\w-])"
    rf"|(?:une\s+)?infection\b|\b{_NOT_ITE}\w{{3,}}(?:ite|ose)\b"
)
_DISEASES_SW = [
    "malaria", "dengue", "homa ya matumbo", "taifodi", "typhoid", "kipindupindu",
    "kifua kikuu", "tb", "covid", "korona", "nimonia", "kisukari", "shinikizo la damu",
    "presha", "vvu", "ukimwi", "saratani", "homa ya uti wa mgongo", "maambukizi", "pumu",
    "upungufu wa damu", "vidonda vya tumbo", "kifafa", "surua", "tetekuwanga", "homa ya manjano",
    "uti", "mafua", "kipandauso", "mawe kwenye figo", "kaswende", "kisonono", "homa ya ini",
    "minyoo", "upele", "mzio", "bawasiri", "kichocho", "kuhara damu", "kiharusi",
    "ugonjwa wa moyo", "ugonjwa wa figo", "shambulio la moyo",
]  # fmt: skip
_DISEASE_SW = rf"(?:{_words(_DISEASES_SW)})(?![\w-])"
_DISEASES_HI = [
    "मलेरिया", "डेंगू", "टाइफाइड", "टायफाइड", "हैजा", "टीबी", "तपेदिक", "क्षय रोग", "कोविड",
    "कोरोना", "निमोनिया", "मधुमेह", "डायबिटीज़", "डायबिटीज", "शुगर", "हाई ब्लड प्रेशर",
    "उच्च रक्तचाप", "एचआईवी", "एड्स", "कैंसर", "मेनिन्जाइटिस", "पीलिया", "हेपेटाइटिस", "संक्रमण",
    "इन्फेक्शन", "इंफेक्शन", "दमा", "अस्थमा", "एनीमिया", "खून की कमी", "अल्सर", "मिर्गी",
    "खसरा", "चिकनपॉक्स", "चिकनगुनिया", "दिल का दौरा", "हार्ट अटैक",
    "यूटीआई", "माइग्रेन", "पथरी", "गुर्दे की पथरी", "एलर्जी", "वायरल", "वायरल बुखार", "फ्लू",
    "साइनस", "साइनसाइटिस", "गठिया", "बवासीर", "गैस्ट्राइटिस", "चेचक", "दाद", "हर्पीस",
    "ब्रोंकाइटिस", "टॉन्सिल", "टॉन्सिलाइटिस", "अपेंडिसाइटिस", "गैस्ट्रोएंटेराइटिस", "मोतियाबिंद",
    "थायराइड",
]  # fmt: skip
_DISEASE_HI = _words(_DISEASES_HI)
_DISEASES_HINGLISH = [
    "malaria", "dengue", "typhoid", "tb", "sugar", "diabetes", "covid", "corona", "pneumonia",
    "cancer", "infection", "jaundice", "piliya", "bp", "asthma", "heart attack",
    "uti", "migraine", "pathri", "stone", "kidney stone", "viral", "viral fever", "flu",
    "allergy", "gastric", "piles", "sinus", "tonsils", "appendix", "thyroid", "acidity",
    "khasra", "chikungunya", "hepatitis",
]  # fmt: skip
_DISEASE_HINGLISH = _words(_DISEASES_HINGLISH)


# --- Vocabulary: medicines ---------------------------------------------------------------------


def _load_prescription_medicines() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the prescription-only medicine names and class words from the data file."""
    path = resources.files("safety").joinpath("data/prescription_medicines.yaml")
    data: Any = yaml.safe_load(path.read_text("utf-8"))
    names: list[str] = []
    classes: list[str] = []
    for group in data["groups"]:
        classes += [str(w) for w in group.get("class_words") or ()]
        for entry in group["medicines"]:
            names += [str(n) for n in entry["names"]]
    return tuple(names), tuple(classes)


RX_NAMES, RX_CLASS_WORDS = _load_prescription_medicines()
# A named prescription-only medicine; `_RX` also counts class words ("antibiotics").
_RX_NAME = _names(RX_NAMES)
_RX = _rx(rf"{_RX_NAME}|{_names(RX_CLASS_WORDS)}")

_OTC_DRUGS = [
    "paracetamol", "acetaminophen", "ibuprofen", "ibuprofeno", "ibuprofène", "aspirin",
    "aspirina", "aspirine", "calpol", "nurofen", "tylenol", "panadol", "dipyrone", "dipirona",
    "metamizol", "metamizole", "zinc", "zinco", "diclofenac", "naproxen", "cetirizine",
    "loratadine", "chlorphenamine", "promethazine", "domperidone", "loperamide",
    "paracétamol", "पैरासिटामोल", "क्रोसिन", "आइबुप्रोफेन",
    # Common brands of the same medicines.
    "doliprane", "efferalgan", "dafalgan", "crocin", "dolo", "advil", "motrin", "brufen",
    "tempra", "novalgin", "piriton", "benadryl", "डोलो", "कैलपोल",
    # ORS is left out on purpose: WHO volume guidance for children is not medicine dosing.
]  # fmt: skip
_OTC_NAME = _names(_OTC_DRUGS)
_ANY_DRUG = _rx(rf"{_OTC_NAME}|{_RX.pattern}")
# Words that make a measured amount a medicine dose even when no medicine is named.
_MEDICINE_WORD = _rx(
    r"\b(?:medicines?|medications?|syrups?|suspension|tablets?|pills?|capsules?|suppositor(?:y|ies)|"
    r"linctus|elixir|painkillers?|antihistamines?|cough\s+mixture|medicinas?|medicamentos?|"
    r"jarabes?|remedios?|pastillas?|comprimidos?|supositorios?|analg[ée]sicos?|antit[ée]rmicos?|"
    r"rem[ée]dios?|xaropes?|pastilhas?|supositórios?|m[ée]dicaments?|sirops?|comprim[ée]s?|"
    r"suppositoires?|antidouleurs?|cachets?|dawa|sharubati|vidonge|kidonge|tembe|dawai|dawaai|"
    r"goli|goliyan)\b"
    rf"|{_DB}(?:दवा|दवाई|दवाइयाँ|दवाइयां|सिरप|गोली|गोलियाँ|गोलियां|टैबलेट){_DE}",
)

# --- Doses -------------------------------------------------------------------------------------

_NUMBER_WORDS = [
    # en
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
    "ninety", "hundred", "thousand",
    # es
    "uno", "una", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez",
    "doce", "quince", "veinte", "treinta", "cuarenta", "cincuenta", "cien", "ciento",
    "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos", "ochocientos",
    "mil",
    # pt
    "um", "uma", "dois", "duas", "três", "quatro", "sete", "oito", "nove", "dez", "doze",
    "vinte", "trinta", "quarenta", "cinquenta", "cem", "cento", "duzentos", "trezentos",
    "quatrocentos", "quinhentos", "seiscentos", "oitocentos",
    # fr
    "un", "une", "deux", "trois", "quatre", "cinq", "sept", "huit", "neuf", "dix", "douze",
    "vingt", "trente", "quarante", "cinquante", "cent", "cents", "mille",
    # sw (incl. the ki-/vi- noun-class forms used with kidonge / vijiko)
    "moja", "mbili", "tatu", "nne", "tano", "sita", "saba", "nane", "tisa", "kumi", "mia",
    "kimoja", "viwili", "vitatu", "vinne", "vitano", "mmoja",
    # Hinglish ("do", two, is left out: it is also the English verb)
    "ek", "teen", "char", "chaar", "paanch", "panch", "saat", "aath", "das", "bees", "sau",
]  # fmt: skip
_NUMW = rf"(?:{_words(_NUMBER_WORDS)})"
# A number in figures or words: "500", "2.5", "five hundred", "one hundred and twenty".
_NUMBER = (
    rf"(?:(?<![\d.,])\d+(?:[.,]\d+)?|\b{_NUMW}(?:[\s-]+(?:(?:and|y|e|et)\s+)?{_NUMW}){{0,3}})"
    r"(?![\w-])"
)
_FRACTION = (
    r"\b(?:(?:a|one)\s+half|(?:a|one)\s+quarter|half|quarter|media|medio|meio|meia|"
    r"(?:un\s+|une\s+)?demie?|nusu|robo|aadha|aadhi|aadhe|dedh|dhai)(?![\w])"
)
_MASS = (
    r"(?:mg|mcg|µg|μg|g|grams?|gramos?|gramas?|grammes?|ml|mls|millilit(?:re|er)s?|iu|units?|"
    r"unidades|unités|vitengo|मिलीग्राम|एमजी|यूनिट)"
)
_MASS_WORD = (
    r"(?:milligrams?|milligrammes?|miligramos?|miligramas?|miligramu|micrograms?|grams?|"
    r"gramos?|gramas?|grammes?|gramu|millilit(?:re|er)s?|mililitros?|mililita|units?|"
    r"unidades|unités|vitengo|mg|ml|g)"
)
_COUNT = (
    r"(?:tablets?|tabs?|pills?|capsules?|caps?|doses?|puffs?|drops?|injections?|comprimidos?|"
    r"pastillas?|c[áa]psulas?|comprim[ée]s?|g[ée]lules?|vidonge|kidonge|dozi|sindano|"
    r"गोलियाँ|गोलियां|गोली|कैप्सूल|खुराक)"
)
_COUNT_MORE = (
    r"(?:sachets?|suppositor(?:y|ies)|sobres?|gotas|gouttes|matone|tembe|pastilhas?|"
    r"supositorios?|supositórios?|suppositoires?|cachets?|boond|boondein|goli|goliyan)"
)
# Household measures; "a teaspoon" is a dose, "a kitchen teaspoon" is a utensil.
_SPOON = (
    r"(?:teaspoons?|teaspoonfuls?|tsp|tablespoons?|tablespoonfuls?|tbsp|spoons?|spoonfuls?|"
    r"capfuls?|cucharaditas?|cucharadas?|cucharas?|cucharitas?|"
    r"colher(?:es|inhas?)?(?:\s+(?:de|das)\s+(?:ch[áa]|sopa|sobremesa|caf[ée]))?|colheradas?|"
    r"cuill(?:è|e)res?(?:[\s-]+(?:à|a)\s+(?:caf[ée]|soupe|dessert)|-mesures?)?|cuiller[ée]es?|"
    r"vijiko|kijiko|chammach|chamach|chammich|chamcha)"
)
_DOSE_ADJ = (
    r"(?:(?:adult|children's|child|kids'?|infant|junior|paediatric|pediatric|small|full|level|"
    r"heaped|whole|extra|chewable|soluble|dispersible|effervescent|petites?|pequeñ[ao]s?)\s+)"
)
_DRUG_NAME = rf"(?:{_RX_NAME}|{_OTC_NAME})"
_NUM_HI = r"(?:एक|दो|तीन|चार|पाँच|पांच|छह|सात|आठ|दस|बीस|पचास|सौ|आधा|आधी|आधे|चौथाई|डेढ़|ढाई|\d+)"
_UNIT_HI = (
    r"(?:चम्मच|ढक्कन|गोली|गोलियाँ|गोलियां|कैप्सूल|बूंद|बूँद|बूंदें|बूँदें|खुराक|टैबलेट|मिलीग्राम|"
    r"एमएल|मिली)"
)
# Numbers only match from their first digit, and ranges need a connector, so long digit runs
# cannot make the search quadratic.
_AMOUNT = _rx(
    # A strength ("120 mg/5 ml") says what is in the bottle, not how much to give.
    rf"(?<![\d.,/])(?<!/\s)\d+(?:[.,]\d+)?\s*{_MASS}(?:\s*/\s*kg)?(?![a-z])(?!\s*/\s*\d)",
    rf"\b(?:\d+(?:[.,]\d+)?|one|two|three|four|half\s+an?|an?\s+half|half|un[ao]?|dos|tres|uma?|"
    rf"duas|três|une?|deux|trois|moja|mbili|tatu|nusu|एक|दो|तीन|आधी?)"
    rf"(?:\s*(?:-|to|a|or|ou|o)\s*(?:\d+(?:[.,]\d+)?|one|two|three|four|un[ao]?|dos|tres|"
    rf"uma?|duas|três|une?|deux|trois))?\s*{_COUNT}",
    # Amounts in words or with household measures: "five hundred milligrams", "two teaspoons".
    rf"{_NUMBER}(?:\s*(?:-|to|or|ou|o|a)\s*{_NUMBER})?\s+{_DOSE_ADJ}?"
    rf"(?:{_MASS_WORD}|{_COUNT}|{_COUNT_MORE}|{_SPOON})(?![\w])",
    rf"\b(?:a|an)\s+{_DOSE_ADJ}?{_SPOON}(?![\w])",
    rf"{_FRACTION}(?:\s+of)?(?:\s+(?:a|an|un|una|um|uma|une))?[\s-]+(?:{_DRUG_NAME}\s+)?"
    rf"(?:{_COUNT}|{_COUNT_MORE}|{_SPOON})(?![\w])",
    # A number straight before a medicine: "two Valium", "half a Xanax", "one adult aspirin";
    # not an article ("un paracetamol infantil" is a kind of medicine, not an amount).
    rf"(?!(?:un|una|uno|um|uma|une)\s)(?:{_NUMBER}|{_FRACTION})(?:\s+(?:a|an|of))?\s+{_DOSE_ADJ}?(?:{_DRUG_NAME})",
    # Swahili puts the number after the unit: "vidonge viwili", "kijiko kimoja".
    rf"\b(?:kijiko|vijiko|kidonge|vidonge|tembe|matone|dozi)\s+(?:vya\s+|cha\s+)?"
    rf"(?:{_NUMW}|\d+)(?![\w])",
    # "Kijiko (kidogo) cha dawa", a spoon of medicine, is itself an amount.
    r"\bkijiko\s+(?:(?:kidogo|kikubwa|kizima)\s+)?cha\s+\w+",
    # Hinglish measures, where "do" is two.
    r"\b(?:do|ek|teen|char|aadha|aadhi|\d+)\s+(?:chammach|chamach|chammich|goli|goliyan|"
    r"boond|boondein|tablet|capsule|dhakkan)\b",
    rf"{_DB}{_NUM_HI}\s+{_UNIT_HI}{_DE}",
)
# How often and how long: a dose for a prescription-only medicine, and for a child's medicine
# when the medicine is named ("paracetamol every 4 hours", not "brush twice a day").
_SCHEDULE = _rx(
    r"\b(?:once|twice|thrice|(?:one|two|three|four|five|six|\d+)\s+times)\s+(?:(?:a|per|each|every)\s+"
    r"day|daily|nightly)\b",
    r"\b(?:one|two|1|2)\s+a\s+day\b",
    rf"\bevery\s+(?:\d+|{_NUMW})(?:\s*(?:-|to|or)\s*(?:\d+|{_NUMW}))?\s*(?:hours?|hrs?|h)\b",
    r"\b(?:bd|bid|tds|tid|qds|qid|od)\b|\bq\d+h\b",
    r"\b(?:each|every)\s+(?:morning|evening|night)\b|\bat\s+bedtime\b|"
    r"\bmorning\s+and\s+(?:evening|night)\b",
    rf"\bcada\s+(?:\d+|{_NUMW})\s*horas\b|\b(?:una|dos|tres|cuatro|\d)\s+veces?\s+(?:al|por)\s+d[ií]a\b",
    r"\bpor\s+la\s+mañana\s+y\s+(?:por\s+)?la\s+noche\b",
    # How long to take it: a course length is part of a prescription.
    rf"\bfor\s+(?:a|one|\d+|{_NUMW})\s+(?:more\s+)?(?:days?|weeks?)\b",
    rf"\b(?:durante|por)\s+(?:\d+|{_NUMW})\s+d[íi]as\b|\bpendant\s+(?:\d+|{_NUMW})\s+jours\b",
    rf"\bkwa\s+siku\s+(?:\d+|{_NUMW})\b",
    rf"\b(?:a\s+cada|de)\s+(?:\d+|{_NUMW})\s*(?:em\s+(?:\d+|{_NUMW})\s*)?horas\b",
    r"\b(?:uma|duas|três|\d)\s+vez(?:es)?\s+(?:ao|por)\s+dia\b",
    rf"\btoutes\s+les\s+(?:\d+|{_NUMW})\s*heures\b|\b(?:une|deux|trois|\d)\s+fois\s+par\s+jour\b",
    r"\bmatin(?:\s*,\s*midi)?\s+et\s+soir\b",
    rf"\bmara\s+(?:moja|mbili|tatu|nne|\d)\s+kwa\s+siku\b|\bkila\s+saa\s+(?:\d+|{_NUMW})\b",
    r"\basubuhi\s+na\s+jioni\b",
    r"दिन\s+में\s+(?:एक|दो|तीन|चार|\d)\s+बार|हर\s+\d+\s+घंटे|सुबह[\s-]+शाम",
    r"\bdin\s+m(?:e|ei|ein)n?\s+(?:ek|do|teen|char|\d)\s+baar\b|\bsubah[\s-]+shaam\b",
    r"\bhar\s+\d+\s+ghante\b",
)
_DOSE = re.compile(f"{_AMOUNT.pattern}|{_SCHEDULE.pattern}", _F)
# "Keflex 500", "Augmentin 625", "Keflex de 500", "co-codamol 30/500": a strength after the name.
_RX_STRENGTH = _rx(
    rf"(?:{_RX_NAME})\s*(?:de\s+|of\s+)?\d{{2,4}}(?:\s*/\s*\d{{2,4}})?(?![\d.,])"
    r"(?!\s*(?:%|years?|yrs?|months?|weeks?|days?|hours?|años|anos|ans|miaka|साल|saal|people|"
    r"patients?|cases?|deaths?))",
)
_PER_KG = re.compile(r"\d\s*(?:mg|mcg|ml)\s*/\s*kg\b", _F)
_CHILD = _rx(
    r"\b(?:child|children|child's|children's|kid|kids|baby|babies|baby's|infant|infants|toddler|"
    r"toddlers|newborn|daughter|little\s+one|(?:your|my|his|her|their|the|a)\s+son|"
    r"\d+\s*(?:-|\s)?(?:year|month|week)s?[\s-]old|"
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)[\s-](?:year|month|week)s?"
    r"[\s-]old|niñ[oa]s?|beb[ée]s?|hij[oa]s?|criança|crianças|bebê|nenê|neném|filh[oa]s?|"
    r"enfants?|bébés?|nourrissons?|fils|fille|mtoto|watoto|mwanao|kichanga|"
    r"bachch?[ae]|bacch?[ae]|bachchi|munna|munni)\b"
    r"|\b(?:au|le|la|votre|ton|ta)\s+petite?\b(?!\s+(?:cuill|dose|comprim|quantit|verre))"
    r"|बच्च|शिशु|बेटा|बेटी|नवजात",
)

# --- Violation patterns: claims to be a clinician or a human -----------------------------------

_ROLE_EN = (
    r"(?:doctor|physician|nurse|pharmacist|clinician|medic|surgeon|midwife|health\s+worker|gp|"
    r"paediatrician|pediatrician|consultant|specialist|medical\s+professional)"
)
# Adjectives allowed between "I'm a" and the role; never "not" ("I'm a bot, not a doctor").
_ROLE_FILL = r"(?:(?!(?:not|no|nor|but|and|or)\b)[\w-]+\s+){0,2}"
_CLAIMS_HUMAN = _rx(
    # No \b around it: "I am a doctor" must go even when glued to neighbouring text.
    r"I\s*(?:am|'m|’m)\s+(?:a|an|your)\s+(?:real\s+|qualified\s+|licensed\s+|registered\s+|"
    r"trained\s+|medical\s+|human\s+)?(?:doctor|physician|nurse|pharmacist|clinician|medic|"
    r"surgeon|midwife|health\s+worker)",
    rf"\bI\s*(?:am|'m|’m)\s+(?:a|an|your|the)\s+{_ROLE_FILL}{_ROLE_EN}\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:a|an|your)\s+gp\b",
    r"\bI(?:'ve|’ve|\s+have)\s+(?:been|worked\s+as)\s+(?:a|an)\s+(?:doctor|nurse|physician|"
    r"pharmacist|midwife|clinician)\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:dr\.?|doctor)\s+[A-Z]",
    # "This is Nurse Mary", "my name is Dr Okafor": a named clinician signs the message.
    r"\b(?:this\s+is|it(?:'s|’s|\s+is)|here\s+is|my\s+name\s+is|I\s*(?:am|'m|’m))\s+"
    r"(?:nurse|doctor|dr\.?|sister|matron|midwife)\s+(?-i:[A-Z])",
    # "As a doctor, I…" claims a role; "see a GP, as a doctor can check…" does not.
    r"(?:^|[,;:]\s*|\band\s+|\bbut\s+)as\s+(?:a|an|your)\s+(?:doctor|physician|nurse|"
    r"pharmacist|clinician|medic|medical\s+professional)\b(?!\s+(?:can|will|would|may|might|"
    r"could|should|is|does)\b)",
    r"\bas\s+(?:a|an|your)\s+(?:doctor|physician|nurse|clinician),?\s+(?:I|I'm|I've|my)\b",
    rf"\bspeaking\s+as\s+(?:a|an|your)\s+{_ROLE_FILL}{_ROLE_EN}\b",
    r"\bin\s+my\s+(?:professional\s+|clinical\s+|medical\s+)(?:opinion|experience|practice)\b",
    r"\b(?:in\s+my\s+(?:years\s+of\s+)?practice|my\s+patients)\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+)?(?:human|person|human\s+being|"
    r"real\s+person|living\s+person)\b",
    r"\bI\s*(?:am|'m|’m)\s+not\s+(?:a\s+|an\s+)?(?:bot|robot|ai|machine|computer|chatbot|"
    r"program|assistant)\b",
    r"\bI\s*(?:am|'m|’m)\s+no\s+(?:bot|robot|ai|machine|computer|chatbot|program)\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:one\s+of\s+the|part\s+of\s+the|on\s+the)\s+(?:[\w'’-]+\s+){0,2}"
    r"(?:nurses|doctors|clinicians|team|staff)\b",
    r"\bsoy\s+(?:un\s+|una\s+|tu\s+|su\s+)?(?:médic[oa]|doctor(?:a)?|enfermer[oa]|"
    r"farmacéutic[oa])\b",
    r"\bsoy\s+(?:el|la)\s+(?:doctor(?:a)?|dr(?:a)?\.?|médic[oa]|enfermer[oa])\b",
    r"\b(?:le|te|les)\s+habla\s+(?:el|la)\s+(?:doctor(?:a)?|dr(?:a)?\.?|médic[oa]|"
    r"enfermer[oa])\b",
    r"(?:^|hablando\s+)como\s+(?:tu\s+|su\s+)?(?:médic[oa]|doctor(?:a)?)\b",
    # "Como enfermera, …": a role with no article is a claim; "como un médico" compares.
    r"\bcomo\s+(?:tu\s+|su\s+)?(?:médic[oa]|doctor(?:a)?|enfermer[oa]|farmacéutic[oa]|"
    r"partera|matrona)\b",
    r"\bsoy\s+(?:una\s+)?(?:persona\s+real|human[oa]|un\s+ser\s+humano)\b",
    r"\bno\s+soy\s+(?:un\s+)?(?:bot|robot|programa|asistente\s+virtual)\b",
    r"\bsou\s+(?:um\s+|uma\s+|seu\s+|sua\s+|o\s+seu\s+)?(?:médic[oa]|doutor(?:a)?|"
    r"enfermeir[oa]|farmacêutic[oa])\b",
    r"\bsou\s+(?:o|a)\s+(?:dr\.?|dra\.?|doutor(?:a)?|enfermeir[oa])\b",
    r"\b(?:aqui\s+(?:é|fala)|quem\s+fala\s+é)\s+(?:o\s+|a\s+)?(?:dr\.?|dra\.?|doutor(?:a)?|"
    r"enfermeir[oa])(?:\s|$)",
    r"(?:^|falando\s+)como\s+(?:seu\s+|sua\s+)?(?:médic[oa]|doutor(?:a)?)\b",
    r"\bcomo\s+(?:seu\s+|sua\s+)?(?:médic[oa]|doutor(?:a)?|enfermeir[oa]|farmacêutic[oa])\b",
    r"\bsou\s+(?:uma\s+)?(?:pessoa\s+(?:real|de\s+verdade)|human[oa]|um\s+ser\s+humano)\b",
    r"\bnão\s+sou\s+(?:um\s+)?(?:bot|robô|programa)\b",
    r"\bje\s+suis\s+(?:un\s+|une\s+|votre\s+)?(?:médecin|docteur|infirmi(?:er|ère)|"
    r"pharmacien(?:ne)?)\b",
    r"\bje\s+suis\s+(?:le|la|ton|ta)\s+(?:docteur|dr\.?|médecin|infirmi(?:er|ère)|"
    r"pharmacien(?:ne)?|sage-femme)\b",
    r"\ben\s+tant\s+que\s+(?:votre\s+)?(?:médecin|docteur)\b",
    r"\ben\s+tant\s+qu['’]\s*(?:infirmi(?:er|ère)|pharmacien(?:ne)?)\b",
    r"\bje\s+suis\s+(?:une\s+)?(?:vraie\s+personne|personne\s+réelle|humain(?:e)?|"
    r"un\s+être\s+humain)\b",
    r"\bje\s+ne\s+suis\s+pas\s+un\s+(?:robot|bot|programme)\b",
    r"\bmimi\s+ni\s+(?:daktari|muuguzi|mfamasia|binadamu|mtu\s+halisi|nesi|mkunga|tabibu|"
    r"dokta)\b",
    r"\bkama\s+daktari\s+wako\b",
    r"\bkama\s+(?:daktari|muuguzi|nesi)\s+(?:wako|mwenye)\b",
    r"\bmimi\s+si\s+(?:roboti|mashine|programu)\b",
    r"मैं\s+(?:एक\s+)?(?:असली\s+)?(?:डॉक्टर|डाक्टर|चिकित्सक|नर्स|इंसान|मनुष्य)\s+"
    r"(?:हूँ|हूं|हु)",
    r"(?:एक\s+)?(?:डॉक्टर|चिकित्सक)\s+(?:के\s+)?(?:रूप|तौर)\s+(?:में|पर)",
    r"मैं\s+(?:कोई\s+|एक\s+)?(?:रोबोट|बॉट|मशीन|कंप्यूटर|प्रोग्राम)\s+नहीं\s+(?:हूँ|हूं|हु)",
    r"\bmai+n?\s+(?:ek\s+)?(?:doctor|daktar|insaan|insan)\s+h(?:oo|u)n?\b",
    r"\bmai+n?\s+(?:ek\s+)?(?:(?:real|asli|sachcha|qualified|trained|experienced)\s+)?"
    r"(?:doctor|daktar|nurse|insaan|insan|human|person|aadmi)\s+h(?:oo|u)n?\b",
    r"\bmai+n?\s+(?:koi\s+|ek\s+)?(?:bot|robot|machine|computer|ai)\s+nahi+n?\s+h(?:oo|u)n?\b",
)

# Words just before a "you have X" that make it conditional, a question or hedged.
_HEDGE_BEFORE = _rx(
    r"\b(?:if|whether|when|whenever|unless|in case|do|did|don't|do not|may|might|could|"
    r"think|suspect|worried|fear|before|since|because|given|once|after|people who|perhaps|"
    r"possible|possibly|probably|likely|"
    r"those who|si|puede que|quizás?|tal vez|posiblemente|caso|talvez|pode|se|peut-être|"
    r"il est possible que|ikiwa|kama|huenda|labda|pengine|iwapo|shayad|agar|yadi|"
    r"quien|quienes|los que|las que|quem|ceux qui|celles qui|mwenye|wenye|jinhe|jinko|jisko)\b"
    r"[^.!?।]{0,25}$|(?:शायद|अगर|यदि|क्या|जिन्हें|जिनको|जिसे|जिसको)[^।]{0,25}$",
)

# --- Violation patterns: diagnosis with certainty ----------------------------------------------

_CERTAIN_DIAGNOSIS_ALWAYS = _rx(
    r"\byou\s+(?:definitely|certainly|clearly|obviously|surely|undoubtedly)\s+(?:have|'ve got|"
    r"got|are\s+suffering\s+from)\b",
    r"\byou(?:'ve|’ve|\s+have)\s+(?:definitely|certainly|clearly|obviously|surely|undoubtedly)\s+"
    r"got\b",
    r"\b(?:I|we)\s+(?:can\s+)?(?:diagnose|am\s+diagnosing)\s+(?:you|this|it)\b",
    r"\bmy\s+diagnosis\s+is\b",
    r"\bI(?:'m|\s+am)\s+(?:sure|certain|confident)\s+(?:that\s+)?(?:you\s+have|you've\s+got|"
    r"it(?:'s|\s+is)|this\s+is)\b",
    r"\bthere\s+is\s+no\s+doubt\s+(?:that\s+)?(?:you|it|this)\b",
    r"\b(?:seguro\s+que|sin\s+duda|definitivamente|claramente)\s+(?:tienes|tiene|padeces)\b",
    r"\bte\s+diagnostico\b|\bmi\s+diagnóstico\s+es\b",
    r"\b(?:com\s+certeza|sem\s+dúvida|definitivamente|certamente)\s+(?:você\s+)?"
    r"(?:tem|está\s+com)\b",
    r"\bmeu\s+diagnóstico\s+é\b",
    r"\b(?:vous\s+avez|tu\s+as)\s+(?:certainement|sûrement|forcément)\b",
    r"\bmon\s+diagnostic\s+est\b",
    r"\b(?:hakika|bila\s+shaka)\s+una\b",
)
# "This is X" names only listed diseases: "it is an infection caused by…" is explanation.
_NAMED_EN = rf"(?:{_words(_DISEASES_EN)})(?![\w-]){_NOT_DIAGNOSIS_AFTER}"
_ANY_EN = rf"(?:(?:a|an)\s+)?(?:{_DISEASE_EN}){_NOT_DIAGNOSIS_AFTER}"
_KIN_EN = (
    r"(?:your\s+(?:(?:little|baby|young|eldest|oldest|youngest|older|younger)\s+)?(?:child|baby|"
    r"son|daughter|kid|boy|girl|toddler|infant|husband|wife|partner|mother|father|mum|mom|dad)"
    r"|he|she)"
)
_KIN_PT = r"(?:seu|sua)\s+(?:filh[oa]|beb[êe]|marido|esposa|m[ãa]e|pai)"
_KIN_FR = r"(?:votre|ton|ta)\s+(?:enfant|b[ée]b[ée]|fils|fille|mari|femme|m[èe]re|p[èe]re)|il|elle"
_NAMED_ES = rf"(?:(?:un|una)\s+)?(?:{_words(_DISEASES_ES)})(?![\w-]){_NOT_DIAGNOSIS_AFTER}"
_ANY_ES = rf"(?:(?:un|una)\s+)?(?:{_DISEASE_ES}){_NOT_DIAGNOSIS_AFTER}"
_NAMED_PT = rf"(?:(?:um|uma)\s+)?(?:{_words(_DISEASES_PT)})(?![\w-]){_NOT_DIAGNOSIS_AFTER}"
_ANY_PT = rf"(?:(?:um|uma)\s+)?(?:{_DISEASE_PT}){_NOT_DIAGNOSIS_AFTER}"
_NAMED_FR = (
    rf"(?:(?:le|la|l'|un|une|du|de\s+la)\s*)?(?:{_words(_DISEASES_FR)})(?![\w-])"
    rf"{_NOT_DIAGNOSIS_AFTER}"
)
_ANY_FR = (
    rf"(?:(?:le|la|l['’]|un|une|du|de\s+la|d['’]une?)\s*)?(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}"
)
_NAMED_HI = _words(d for d in _DISEASES_HI if d not in {"संक्रमण", "इन्फेक्शन", "इंफेक्शन"})
_NAMED_HINGLISH = _words(d for d in _DISEASES_HINGLISH if d != "infection")

# Words that state certainty. A hedge ("I'm not sure", "it may be") never matches these.
_SURE_EN = (
    r"(?:definitely|(?:almost\s+|most\s+)?certainly|clearly|obviously|surely|undoubtedly|"
    r"unmistakably|absolutely|100\s*%|100\s+per\s*cent|a\s+hundred\s+per\s*cent|for\s+sure|without\s+(?:a\s+|any\s+)?"
    r"doubt|beyond\s+(?:any\s+)?doubt|no\s+doubt(?:\s+about\s+it)?|"
    r"there(?:'s|’s|\s+is)\s+no\s+(?:doubt|question)(?:\s+about\s+it)?(?:\s+that)?|"
    r"I(?:'m|’m|\s+am)\s+(?:(?!not\b)\w+\s+)?(?:sure|certain|confident|positive|convinced)"
    r"(?:\s+that)?|it(?:'s|’s|\s+is)\s+(?:clear|obvious|certain)(?:\s+that)?)"
)
_COPULA_EN = (
    r"(?:it(?:'s|’s|\s+is)|this\s+is|that(?:'s|’s|\s+is)|what\s+you\s+have\s+is|"
    r"you(?:'ve|’ve|\s+have)(?:\s+got)?|you(?:'re|’re|\s+are)\s+(?:dealing\s+with|suffering\s+"
    r"from|having|experiencing)|(?:he|she)(?:'s|’s)\s+got|(?:he|she)\s+has(?:\s+got)?|"
    r"your\s+\w+(?:'s|’s)?\s+(?:has(?:\s+got)?|is\s+suffering\s+from))"
)
_TYPICAL_EN = r"(?:classic|textbook|clear-cut|typical)"
_SURE_ES = (
    r"(?:sin\s+(?:ninguna\s+)?duda(?:\s+alguna)?|sin\s+lugar\s+a\s+dudas|definitivamente|"
    r"claramente|con\s+(?:toda\s+)?(?:seguridad|certeza)|estoy\s+(?:\w+\s+)?segur[oa]\s+de\s+que|"
    r"no\s+hay\s+(?:ninguna\s+)?duda\s+de\s+que|est[áa]\s+(?:muy\s+)?clar(?:o|[íi]simo)\s+que|"
    r"es\s+(?:evidente|obvio|seguro)\s+que|100\s*%)"
)
_COPULA_ES = r"(?:es|se\s+trata\s+de|tienes|tiene|padeces|padece|est[áa]s?\s+con)"
_SURE_PT = (
    r"(?:com\s+(?:toda\s+(?:a\s+)?)?certeza|sem\s+(?:nenhuma\s+)?d[úu]vida|definitivamente|"
    r"claramente|certamente|tenho\s+(?:\w+\s+)?certeza\s+(?:de\s+)?que|"
    r"n[ãa]o\s+h[áa]\s+d[úu]vida\s+(?:de\s+)?que|[ée]\s+(?:[óo]bvio|claro|certo)\s+que|100\s*%)"
)
_COPULA_PT = r"(?:[ée]|se\s+trata\s+de|(?:voc[êe]\s+)?tem|(?:voc[êe]\s+)?est[áa]\s+com)"
_SURE_FR = (
    r"(?:sans\s+(?:aucun\s+)?doute|certainement|clairement|assur[ée]ment|[àa]\s+coup\s+s[ûu]r|"
    r"forc[ée]ment|je\s+suis\s+(?:\w+\s+)?(?:s[ûu]re?|certaine?|convaincue?)\s+que|"
    r"il\s+est\s+(?:clair|[ée]vident|certain|s[ûu]r)\s+que|aucun\s+doute|100\s*%)"
)
_COPULA_FR = (
    r"(?:c['’]est|ceci\s+est|il\s+s['’]agit\s+d(?:e\s+|['’])|vous\s+avez|tu\s+as|"
    r"vous\s+faites|tu\s+fais)"
)
_SURE_SW = (
    r"(?:bila\s+(?:shaka|wasiwasi)|kwa\s+(?:hakika|uhakika)|hakika|"
    r"nina\s+uhakika(?:\s+(?:kwamba|kuwa))?|ni\s+wazi\s+(?:kwamba|kuwa)|ni\s+dhahiri"
    r"(?:\s+(?:kwamba|kuwa))?)"
)

_CERTAIN_DIAGNOSIS = {
    "en": _rx(
        rf"\byou\s*(?:have|'ve\s+got|’ve\s+got|have\s+got|are\s+suffering\s+from|are\s+"
        rf"infected\s+with|caught|(?:have\s+|'ve\s+)?(?:contracted|developed)|are\s+having)\s+"
        rf"(?:(?:a|an)\s+)?(?:{_DISEASE_EN}){_NOT_DIAGNOSIS_AFTER}",
        rf"\byou(?:'re|’re|\s+are)\s+(?:having|dealing\s+with|suffering\s+from|experiencing)\s+"
        rf"{_ANY_EN}",
        rf"\b{_KIN_EN}\s+(?:has|has\s+got|'s\s+got|is\s+suffering\s+from|is\s+having|"
        rf"(?:has\s+)?(?:contracted|developed|caught))\s+(?:(?:a|an)\s+)?(?:{_DISEASE_EN})"
        rf"{_NOT_DIAGNOSIS_AFTER}",
        rf"\bthe\s+diagnosis\s+is\s+(?:(?:a|an)\s+)?{_NAMED_EN}",
        rf"\b(?:the|my|your|our)\s+diagnosis\s+(?:here\s+|in\s+your\s+case\s+|for\s+you\s+)?"
        rf"(?:is|would\s+be|:)\s+(?:{_SURE_EN}\s+)?{_ANY_EN}",
        rf"(?:^|[,;:]\s*)(?:definitely|certainly|clearly|surely)\s+(?:(?:a|an)\s+)?{_NAMED_EN}",
        r"\byou\s*(?:are|'re|’re)\s+(?:definitely\s+|clearly\s+)?(?:diabetic|hypertensive|"
        r"anaemic|anemic|pregnant)\b",
        rf"\b(?:this|that|it)\s*(?:is|'s|’s)\s+(?:definitely\s+|certainly\s+|clearly\s+|just\s+|"
        rf"simply\s+|obviously\s+)?(?:(?:a|an)\s+)?(?:case\s+of\s+)?{_NAMED_EN}",
        # A certainty word before the claim: "I'm quite confident this is a migraine".
        rf"\b{_SURE_EN}[\s,:;—–-]*(?:{_COPULA_EN}\s+|(?=(?:a|an)\s))(?:(?:a|an)\s+)?"
        rf"(?:(?:classic|clear|typical)\s+)?(?:case\s+of\s+)?{_ANY_EN}",
        # … or after it: "this is clearly a viral infection", "it's 100% a UTI".
        rf"\b{_COPULA_EN}\s+{_SURE_EN}[\s,]*(?:(?:a|an)\s+)?(?:case\s+of\s+)?{_ANY_EN}",
        rf"\b(?:like|is|be|'s|’s|:)\s+(?:a\s+)?{_TYPICAL_EN}\s+(?:case\s+of\s+)?{_NAMED_EN}",
        rf"\b(?:a|the)\s+(?:classic|textbook|typical|clear)\s+case\s+of\s+{_ANY_EN}",
        rf"\bwhat\s+(?:you|{_KIN_EN})\s+(?:have|has|'ve\s+got|’ve\s+got|have\s+got|has\s+got|"
        rf"are\s+dealing\s+with|is\s+dealing\s+with)\s+(?:here\s+)?is\s+{_ANY_EN}",
        rf"\b(?:your|{_KIN_EN}(?:'s|’s)?)\s+(?:(?:child's|baby's|son's|daughter's)\s+)?"
        rf"(?:rash|pain|cough|illness|sickness|problem|condition|symptoms?|headaches?|fever|"
        rf"diarrh(?:o)?ea|spots|lump|swelling|trouble)\s+(?:is|are)\s+(?:(?:caused\s+by|due\s+to|"
        rf"down\s+to)\s+)?{_ANY_EN}",
        rf"\bthe\s+(?:cause|reason)\s+(?:of|for)\s+(?:your|{_KIN_EN}(?:'s|’s)?)\s+(?:[\w'’-]+\s+)"
        rf"{{0,2}}(?:is|are)\s+{_ANY_EN}",
    ),
    "es": _rx(
        rf"\b(?:usted\s+)?(?:tienes|tiene|padeces|padece|sufres\s+de|sufre\s+de)\s+(?:de\s+)?"
        rf"(?:{_DISEASE_ES}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b(?:esto|eso|lo\s+que\s+tienes|lo\s+que\s+tiene)\s+)(?:es|se\s+trata\s+de)\s+"
        rf"(?:claramente\s+|seguramente\s+)?(?:un\s+caso\s+(?:cl[áa]sico\s+|t[íi]pico\s+|"
        rf"claro\s+)?de\s+)?{_NAMED_ES}",
        r"\bestás\s+embarazada\b",
        rf"\b{_SURE_ES}[\s,:]*(?:(?:esto|eso|lo\s+que\s+(?:usted\s+)?tienes?)\s+)?"
        rf"(?:{_COPULA_ES}\s+|(?=(?:un|una)\s))(?:un\s+caso\s+(?:cl[áa]sico\s+|t[íi]pico\s+|claro\s+)?de\s+)?"
        rf"{_ANY_ES}",
        rf"\b(?:esto|eso|lo\s+que\s+(?:usted\s+)?tienes?)\s+(?:es|se\s+trata\s+de)\s+{_SURE_ES}"
        rf"\s+{_ANY_ES}",
        rf"\b(?:el|mi|tu|su)\s+diagn[óo]stico\s+(?:aqu[íi]\s+|en\s+tu\s+caso\s+)?(?:es|ser[íi]a|:)"
        rf"\s+(?:{_SURE_ES}\s+)?{_ANY_ES}",
        rf"\blo\s+que\s+(?:usted\s+|t[úu]\s+|(?:tu|su)\s+\w+\s+)?(?:tienes|tiene)\s+es\s+"
        rf"(?:{_SURE_ES}\s+)?{_ANY_ES}",
        rf"\bes\s+un\s+caso\s+(?:cl[áa]sico|t[íi]pico|claro)\s+de\s+{_ANY_ES}",
    ),
    "pt": _rx(
        rf"\b(?:você|tu|{_KIN_PT})\s+(?:tem|tens|está\s+com|estás\s+com|sofre\s+de)\s+"
        rf"(?:{_DISEASE_PT}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b(?:isso|isto|o\s+que\s+você\s+tem)\s+)(?:é|se\s+trata\s+de)\s+"
        rf"(?:claramente\s+)?{_NAMED_PT}",
        r"\bvocê\s+está\s+grávida\b",
        rf"\b{_SURE_PT}[\s,:]*(?:(?:isso|isto|o\s+que\s+voc[êe]\s+tem)\s+)?"
        rf"(?:{_COPULA_PT}\s+|(?=(?:um|uma)\s))"
        rf"(?:um\s+caso\s+(?:cl[áa]ssico\s+|t[íi]pico\s+)?de\s+)?{_ANY_PT}",
        rf"\b(?:isso|isto|o\s+que\s+voc[êe]\s+tem)\s+(?:[ée]|se\s+trata\s+de)\s+{_SURE_PT}\s+"
        rf"{_ANY_PT}",
        rf"\b(?:o|meu|seu)\s+diagn[óo]stico\s+(?:aqui\s+|no\s+seu\s+caso\s+)?(?:[ée]|seria|:)\s+"
        rf"(?:{_SURE_PT}\s+)?{_ANY_PT}",
        rf"\bo\s+que\s+(?:voc[êe]|tu|{_KIN_PT})\s+(?:tem|tens|t[êe]m)\s+[ée]\s+(?:{_SURE_PT}\s+)?"
        rf"{_ANY_PT}",
        rf"\b[ée]\s+um\s+caso\s+(?:cl[áa]ssico|t[íi]pico|claro)\s+de\s+{_ANY_PT}",
    ),
    "fr": _rx(
        rf"\b(?:vous\s+avez|tu\s+as|vous\s+souffrez\s+d[e']|tu\s+souffres\s+d[e'])\s*"
        rf"(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}",
        rf"\b(?:{_KIN_FR})\s+(?:a|souffre\s+d[e'])\s*(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b)(?:c'est|c’est|ceci\s+est|il\s+s'agit\s+d[e']|il\s+s’agit\s+d[e'])\s*"
        rf"(?:clairement\s+)?{_NAMED_FR}",
        r"\bvous\s+êtes\s+enceinte\b",
        rf"\b{_SURE_FR}[\s,:]*(?:{_COPULA_FR}\s*|(?=(?:un|une)\s))(?:un\s+cas\s+(?:typique\s+)?d['’e]\s*)?"
        rf"{_ANY_FR}",
        rf"\b{_COPULA_FR}\s*{_SURE_FR}[\s,]*{_ANY_FR}",
        rf"\bil\s+s['’]agit\s+{_SURE_FR}\s+{_ANY_FR}",
        rf"\b(?:le|mon|votre)\s+diagnostic\s+(?:ici\s+)?(?:est|serait|:)\s+(?:{_SURE_FR}\s+)?"
        rf"{_ANY_FR}",
        rf"\bce\s+que\s+(?:vous\s+avez|tu\s+as|(?:votre|ton|ta)\s+\w+\s+a)\s*,?\s*"
        rf"(?:c['’]est|est)\s+(?:{_SURE_FR}\s+)?{_ANY_FR}",
        # "Vous faites une otite": French says "make" an illness.
        rf"\b(?:vous\s+faites|tu\s+fais|(?:{_KIN_FR})\s+fait)\s+(?:une?\s+|de\s+la\s+|du\s+)?"
        rf"(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}",
        rf"\bc['’]est\s+(?:un\s+cas\s+)?(?:typique|classique)\s+d['’e]\s*{_ANY_FR}",
    ),
    "sw": _rx(
        rf"\b(?:umepata|unaugua|unaumwa)\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
        rf"\b(?:hii|huu|hiyo)\s+ni\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
        r"\bwewe\s+ni\s+mjamzito\b",
        rf"\b{_SURE_SW}[\s,]*(?:(?:hii|huu|hiyo|hili|huo|wewe|yeye|mtoto\s+wako)\s+)?"
        rf"(?:ni|una|ana|umepata|anaumwa|unaugua|anaugua)\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
        rf"\b(?:ugonjwa|tatizo|shida|maradhi|utambuzi)\s+(?:lako|wako|lake|yako|wangu|"
        rf"la\s+\w+|wa\s+\w+)?\s*ni\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
    ),
    # Swahili "una" (you have) is also the Spanish article, so it is not checked on Spanish.
    # "ana" (he/she has) is also a name in Spanish and Portuguese.
    "sw_una": _rx(rf"\b(?:una|ana)\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})"),
    "hi": _rx(
        rf"(?:आपको|तुम्हें|तुमको|(?<!\S)\S+\s+को)\s+(?:\S+\s+){{0,3}}?(?:{_DISEASE_HI})\s+"
        r"(?:ही\s+)?(?:(?:हो\s+)?(?:गया|गई|गयी)\s+)?"
        r"(?:है|हैं)",
        rf"(?:यह|ये)\s+(?:\S+\s+){{0,4}}?(?:{_NAMED_HI})\s+(?:ही\s+)?है",
        rf"निदान\s+(?:\S+\s+){{0,4}}?(?:{_DISEASE_HI})\s+(?:ही\s+)?है",
        rf"(?:आपकी|आपके|तुम्हारी|तुम्हारे|उसकी|उसके|बच्चे\s+की)\s+(?:बीमारी|समस्या|तकलीफ़?|"
        rf"परेशानी)\s+(?:\S+\s+){{0,2}}?(?:{_DISEASE_HI})\s+(?:ही\s+)?है",
        rf"\b(?:aapko|apko|aap\s+ko|tumko|tumhe|tumhein|[a-z]+\s+ko)\s+(?:\w+\s+){{0,2}}?"
        rf"(?:{_DISEASE_HINGLISH})\s+(?:hi\s+)?(?:ho\s+gaya\s+|ho\s+gayi\s+)?hai\b",
        rf"\b(?:yeh|ye|yah|ise|isko)\s+(?:\w+\s+){{0,3}}?(?:{_NAMED_HINGLISH})\s+(?:hi\s+)?hai\b",
        rf"\b(?:diagnosis|nidan)\s+(?:\w+\s+){{0,3}}?(?:{_DISEASE_HINGLISH})\s+(?:hi\s+)?hai\b",
        rf"\b(?:aapki|apki|tumhari|uski)\s+(?:bimari|bimaari|problem|samasya|takleef)\s+"
        rf"(?:\w+\s+){{0,2}}?(?:{_DISEASE_HINGLISH})\s+(?:hi\s+)?hai\b",
    ),
}

# --- Violation patterns: stopping treatment ----------------------------------------------------

_RX_ANY = _RX.pattern
_TREATMENT_EN = (
    rf"(?:medications?|medicines?|meds|treatment|tablets|pills|insulin|antibiotics?|inhalers?|"
    rf"arvs?|injections?|therapy|steroids|antidepressants|statins?|prescriptions?|{_RX_ANY})"
)
_TREATMENT_ES = (
    rf"(?:tratamientos?|medicamentos?|medicaci[oó]n|medicinas?|insulina|pastillas?|comprimidos|"
    rf"remedios?|inyecciones|{_RX_ANY})"
)
_TREATMENT_PT = (
    rf"(?:tratamentos?|rem[ée]dios?|medicamentos?|medica[çc][ãa]o|insulina|comprimidos?|"
    rf"p[íi]lulas?|pastilhas?|{_RX_ANY})"
)
_TREATMENT_FR = rf"(?:traitements?|m[ée]dicaments?|insuline|comprim[ée]s|cachets|pilules|{_RX_ANY})"
_TREATMENT_SW = rf"(?:dawa|vidonge|sindano|matibabu|insulini|{_RX_ANY})"
_TREATMENT_HI = (
    rf"(?:{_DB}(?:दवा|दवाई|दवाइयाँ|दवाइयां|दवाओं|दवाएँ|दवाएं|इलाज|इंसुलिन|गोली|गोलियाँ|गोलियां|"
    rf"टैबलेट){_DE}|{_RX_ANY})"
)
_TREATMENT_HINGLISH = (
    rf"(?:\b(?:dawa|dawai|dawaai|dawaiyan|goli|goliyan|tablet|tablets|medicine|ilaj|insulin|"
    rf"injection)\b|{_RX_ANY})"
)
# Up to three words between the verb and the treatment ("skip tonight's insulin", "stop your
# blood pressure tablets"), but never across a clause ("cut out alcohol while on antibiotics").
_FILL = (
    r"(?:(?!(?:and|or|but|while|with|before|after|when|if|then|to|from|for|until|so|by|of)\b)"
    r"[\w'’-]+\s+){0,3}?"
)
_FILL_ES = r"(?:(?!(?:y|o|pero|mientras|antes|después|cuando|si|para|hasta)\b)[\w'’-]+\s+){0,3}?"
_DET_EN = r"(?:your|the|these|those|this|that|all\s+(?:your|the))"
_DET_ES = r"(?:el|la|los|las|tu|tus|su|sus)"
_DET_PT = r"(?:o|a|os|as|seu|sua|seus|suas|teu|tua)"
_DET_FR = r"(?:votre|vos|le|la|les|l['’]|ce|ces|ton|ta|tes)"
_HI_NOT = r"(?!(?:न|मत|नहीं)(?:\s|$))"

_STOP_TREATMENT = _rx(
    r"\b(?:stop|quit|discontinue|cease|halt)\s+(?:taking|using)\s+(?:your|the|this|these|those|"
    r"that|all|any|it|them)\b",
    r"\b(?:stop|quit|discontinue)\s+(?:your|the|all)\s+(?:\w+\s+){0,2}(?:medications?|medicines?|"
    r"meds|treatment|tablets|pills|insulin|antibiotics?|inhalers?|arvs?|injections?|therapy)\b",
    r"\b(?:you\s+)?(?:don't|do\s+not|no\s+longer)\s+need\s+(?:to\s+(?:take|use)\s+)?(?:your|the|"
    r"any)\s+(?:medications?|medicines?|meds|treatment|tablets|pills|insulin|inhalers?)\b",
    r"\bno\s+need\s+to\s+(?:continue|keep\s+taking|take|use)\s+(?:your|the)\s+(?:\w+\s+){0,2}"
    r"(?:medications?|medicines?|meds|treatment|tablets|pills|insulin|antibiotics?|inhalers?)\b",
    r"\b(?:throw\s+away|skip|come\s+off)\s+your\s+(?:\w+\s+)?(?:medications?|medicines?|meds|"
    r"pills|tablets|insulin|treatment)\b",
    # Any way of saying "stop it": drop, ditch, skip, come off, leave off, give up the treatment.
    rf"\b(?:stop|quit|discontinue|cease|halt|drop(?!\s+(?:off|by)\b)|ditch|skip|dump|bin|pause|"
    rf"give\s+up|come\s+off|go\s+off|get\s+off|leave\s+off|lay\s+off|ease\s+off|wean\s+"
    rf"(?:yourself\s+)?off|taper\s+off|cut\s+out|cut\s+(?:down|back)\s+on|halve|reduce|lower|"
    rf"throw\s+(?:away|out)|do\s+without|hold\s+off\s+on|(?:don't|do\s+not)\s+bother\s+"
    rf"(?:with|taking|using|continuing))\s+(?:(?:taking|using|on|with)\s+)?{_FILL}"
    rf"{_TREATMENT_EN}(?![\w-])(?!\s+(?:in|into|off|at)\b)",
    rf"\bno\s+(?:need|point|reason)\s+(?:in\s+|to\s+)?(?:continue|continuing|keep(?:ing)?\s+"
    rf"(?:taking|using|on)|take|taking|use|using|carry(?:ing)?\s+on\s+with|stay(?:ing)?\s+on)\s+"
    rf"{_FILL}{_TREATMENT_EN}(?![\w-])",
    rf"\b(?:don't|do\s+not|dont|no\s+longer|won't|will\s+not)\s+(?:have|need)\s+to\s+(?:take|"
    rf"use|continue|keep\s+(?:taking|using)|be\s+on|stay\s+on)\s+{_DET_EN}\s+{_FILL}"
    rf"{_TREATMENT_EN}(?![\w-])",
    r"\b(?:deja|deje|dejen)\s+de\s+(?:tomar|usar|ponerte|ponerse|aplicar)\b",
    r"\b(?:dejar|dejes|dejas)\s+de\s+(?:tomar|usar|ponerte|ponerse|aplicar(?:te)?|inyectarte)\b",
    r"\b(?:suspende|suspenda|abandona|abandone|interrumpe|interrumpa)\s+(?:el|la|tu|su|sus|tus)\s+"
    r"(?:\w+\s+)?(?:tratamiento|medicamentos?|medicaci[oó]n|medicinas?|insulina|pastillas)\b",
    rf"\b(?:suspende[rs]?|suspenda|abandona[rs]?|abandone|interrumpe|interrumpa|interrumpir|"
    rf"olv[íi]d(?:ate|ese|a|e|ar)\s+de|deja[rs]?|deje)\s+{_DET_ES}\s+{_FILL_ES}{_TREATMENT_ES}"
    rf"(?![\w-])",
    r"\bno\s+(?:necesitas|necesita)\s+(?:tomar\s+)?(?:tu|su|el|la|sus)\s+(?:medicamentos?|"
    r"tratamiento|medicinas?|insulina)\b",
    rf"\bya\s+no\s+(?:necesitas|necesita|te\s+hace\s+falta|le\s+hace\s+falta)\s+"
    rf"(?:tomar\s+|usar\s+)?{_DET_ES}\s+{_FILL_ES}{_TREATMENT_ES}(?![\w-])",
    rf"\bno\s+(?:hace\s+falta|es\s+necesario|necesitas|necesita)\s+(?:que\s+(?:sigas|siga|"
    rf"continúes|continúe)|seguir|continuar)\s+(?:tomando\s+|usando\s+|con\s+)?{_FILL_ES}"
    rf"{_TREATMENT_ES}(?![\w-])",
    r"\b(?:pare|pára|deixe|parem)\s+de\s+(?:tomar|usar)\b",
    r"\b(?:parar|deixar|pode\s+parar)\s+de\s+(?:tomar|usar)\b",
    r"\b(?:pare|suspenda|interrompa|abandone)\s+(?:o|a|os|as|seu|sua|seus|suas)\s+(?:\w+\s+)?"
    r"(?:tratamento|rem[ée]dios?|medicamentos?|medica[çc][ãa]o|insulina)\b",
    rf"\b(?:largue|largar|larga|abandonar|suspender|interromper|esque[çc]a|esquecer|"
    rf"(?:pare|pára|parar|parem)(?:\s+com)?)\s+{_DET_PT}\s+{_FILL_ES}{_TREATMENT_PT}(?![\w-])",
    rf"\bn[ãa]o\s+(?:precisa|[ée]\s+preciso|[ée]\s+necess[áa]rio|tem\s+que)\s+(?:mais\s+)?"
    rf"(?:tomar|usar|continuar|seguir)\s+(?:com\s+|tomando\s+)?{_DET_PT}\s+{_FILL_ES}"
    rf"{_TREATMENT_PT}(?![\w-])",
    r"\b(?:arr[êe]tez|arr[êe]te|cessez|cesse)\s+de\s+(?:prendre|utiliser)\b",
    r"\b(?:arr[êe]tez|arr[êe]te|interrompez|cessez)\s+(?:votre|vos|le|les|ce|ces|ton|tes)\s+"
    r"(?:\w+\s+)?(?:traitements?|m[ée]dicaments?|insuline|comprim[ée]s)\b",
    rf"\b(?:arr[êe]t(?:ez|e|er)|cess(?:ez|e|er)|interromp(?:ez|re)|stopp(?:ez|er)|"
    rf"abandonn(?:ez|er)|laiss(?:ez|er)\s+tomber|oubli(?:ez|er))\s+(?:de\s+prendre\s+)?"
    rf"{_DET_FR}\s*{_FILL_ES}{_TREATMENT_FR}(?![\w-])",
    rf"\b(?:(?:plus|pas)\s+besoin|inutile)\s+de\s+(?:prendre|continuer|poursuivre|utiliser|"
    rf"garder)\s+{_DET_FR}\s*{_FILL_ES}{_TREATMENT_FR}(?![\w-])",
    rf"\b(?:vous\s+n['’]avez|tu\s+n['’]as)\s+plus\s+besoin\s+d(?:e\s+|['’])\s*"
    rf"(?:(?:prendre|continuer|utiliser)\s+)?(?:{_DET_FR}\s*)?{_FILL_ES}{_TREATMENT_FR}(?![\w-])",
    r"\b(?:acha|acheni|aache)\s+(?:kutumia|kunywa|kumeza)\b",
    r"\b(?:acha|acheni)\s+dawa\b",
    r"\busiendelee\s+(?:kutumia|kunywa|kumeza)\b",
    r"\b(?:ku)?(?:acha|acheni|aache)\s+(?:ku)?(?:tumia|nywa|meza|chukua)\b",
    rf"\b(?:huna|hakuna|hamna)\s+haja\s+ya\s+(?:kuendelea|kutumia|kunywa|kumeza)\s+(?:na\s+|"
    rf"kutumia\s+)?(?:\w+\s+){{0,2}}?{_TREATMENT_SW}(?![\w-])",
    rf"\bsi\s+lazima\s+(?:u|ku)?(?:nywe|nywa|tumie|tumia|endelee|endelea|meze|meza)\s+(?:na\s+)?"
    rf"(?:\w+\s+){{0,2}}?{_TREATMENT_SW}(?![\w-])",
    rf"\b(?:ku)?(?:sitisha|simamisha)\s+(?:\w+\s+){{0,1}}?{_TREATMENT_SW}(?![\w-])",
    r"(?:दवा|दवाई|दवाइयाँ|दवाइयां|दवाओं|इलाज|इंसुलिन|गोली|गोलियाँ|गोलियां)\s+(?:\S+\s+){0,2}?"
    r"बंद\s+कर",
    rf"{_TREATMENT_HI}\s+(?:{_HI_NOT}\S+\s+){{0,3}}?छो{_RH}(?:ें|िए|िये|ो|\s*(?:दें|दो|दीजिए|दीजिये|देना|सकते))",
    rf"{_TREATMENT_HI}\s+(?:\S+\s+){{0,2}}?(?:लेने|खाने|लगाने)\s+की\s+(?:कोई\s+)?"
    rf"(?:{_ZA}रूरत|आवश्यकता)\s+नहीं",
    r"\b(?:dawa|dawai|dawaai|medicine|goli|ilaj|insulin)\s+(?:\w+\s+){0,2}?band\s+kar\b",
    rf"{_TREATMENT_HINGLISH}\s+(?:(?!(?:mat|na|nahi|nahin)\b)\w+\s+){{0,2}}?(?:chhod|chod|chhor|"
    rf"chor|skip|band)\s+(?:do|dein|den|dijiye|de|karo|kar\s+do|kar\s+dein|kar\s+dijiye|sakte)\b",
    rf"{_TREATMENT_HINGLISH}\s+(?:\w+\s+){{0,2}}?(?:lene|khane|lagane)\s+ki\s+(?:koi\s+)?"
    rf"(?:zaroorat|zarurat|jarurat|jaroorat)\s+nahi",
)

# --- Violation patterns: playing down urgency --------------------------------------------------

_REASSURANCE = _rx(
    r"\bno\s+need\s+to\s+(?:see|visit|go\s+to|call|consult|worry)\b",
    r"\b(?:you\s+)?(?:don't|do\s+not|dont|won't|will\s+not)\s+need\s+(?:to\s+(?:see|visit|go\s+"
    r"to|call|consult)|a\s+doctor|medical|an?\s+ambulance|to\s+worry|any\s+treatment)\b",
    r"\bnothing\s+(?:to\s+worry\s+about|serious|to\s+be\s+concerned\s+about|to\s+worry)\b",
    r"\b(?:it(?:'s|’s|\s+is)|this\s+is|that(?:'s|’s|\s+is))\s+not\s+(?:serious|an?\s+emergency|"
    r"dangerous|urgent)\b",
    r"\byou\s+can\s+(?:safely\s+)?wait\b|\b(?:it|this)\s+can\s+wait\b|\bwait\s+and\s+see\b",
    r"\b(?:don't|do\s+not)\s+worry\b",
    r"\b(?:probably|likely|most\s+likely)\s+nothing\b|\bno\s+need\s+for\s+(?:a|an)\s+"
    r"(?:doctor|hospital|clinic|ambulance)\b",
    r"\b(?:it|this)\s*(?:is|'s|’s)\s+(?:completely\s+|perfectly\s+|totally\s+)?normal\b",
    r"\byou\s+can\s+(?:manage|treat)\s+(?:this|it)\s+at\s+home\b",
    r"\b(?:it|this)\s+will\s+(?:go\s+away|pass|get\s+better|clear\s+up|settle)\s+on\s+its\s+own\b",
    r"\b(?:will|should|would|'ll|’ll|usually|probably)\s+(?:\w+\s+)?(?:go\s+away|pass|"
    r"get\s+better|clear(?:\s+up)?|settle(?:\s+down)?|calm\s+down|improve|heal|resolve|"
    r"sort\s+itself\s+out)\s+(?:by\s+itself|on\s+its\s+own|without\s+(?:any\s+)?treatment)\b",
    r"\b(?:hold\s+off|put\s+off|delay|postpone)\s+(?:on\s+)?(?:seeing|going|calling|visiting|"
    r"getting|contacting)\b",
    r"\bno\s+need\s+to\s+(?:see|visit|call|contact)\s+(?:anyone|anybody)\b",
    r"\bno\s+(?:rush|hurry)\b|\bwhen(?:ever)?\s+(?:it(?:'s|’s|\s+is)\s+)?convenient\b|"
    r"\bin\s+your\s+own\s+time\b",
    r"\bno\s+hay\s+(?:ninguna\s+)?prisa\b|\bn[ãa]o\s+(?:tem|h[áa])\s+pressa\b|"
    r"\brien\s+ne\s+presse\b|\bhakuna\s+haraka\b|कोई\s+जल्दी\s+नहीं|\bkoi\s+jaldi\s+nahi",
    r"\bno\s+(?:es|hace)\s+(?:necesario|falta)\s+(?:ir|ver|acudir|llamar|consultar)\b",
    r"\bno\s+(?:necesitas|necesita)\s+(?:ir|ver|acudir|llamar|un\s+médico|una\s+ambulancia)\b",
    r"\bno\s+hay\s+(?:nada\s+)?(?:de\s+)?(?:qué|que)\s+preocuparse\b",
    r"\bno\s+(?:es|parece)\s+(?:nada\s+)?(?:grave|serio|una\s+emergencia|urgente)\b",
    r"\b(?:puedes|puede)\s+esperar\b|\bno\s+te\s+preocupes\b|\bno\s+se\s+preocupe\b",
    r"\bse\s+(?:le\s+|te\s+)?pasar[áa]\s+sol[oa]\b",
    r"\bnão\s+(?:é\s+necessário|precisa|há\s+necessidade\s+de)\s+(?:ir|procurar|ver|ligar|"
    r"consultar|se\s+preocupar)\b",
    r"\bnada\s+(?:com\s+que\s+se\s+preocupar|grave|sério)\b",
    r"\bnão\s+(?:é|parece)\s+(?:nada\s+)?(?:grave|sério|uma\s+emergência|urgente)\b",
    r"\b(?:pode|podes)\s+esperar\b|\bnão\s+se\s+preocupe\b|\bvai\s+passar\s+sozinh[oa]\b",
    r"\bpas\s+(?:besoin|la\s+peine|nécessaire)\s+d[e']\s*(?:voir|aller|consulter|appeler|"
    r"s'inquiéter|vous\s+inquiéter)\b",
    r"\binutile\s+d[e']\s*(?:voir|aller|consulter|appeler|vous\s+inqui[ée]ter)\b",
    r"\brien\s+d[e']\s*(?:grave|inquiétant|sérieux)\b",
    r"\bce\s+n'est\s+pas\s+(?:grave|sérieux|une\s+urgence|urgent)\b",
    r"\bne\s+vous\s+inquiétez\s+pas\b|\bne\s+t'inquiète\s+pas\b|\bvous\s+pouvez\s+attendre\b",
    r"\bhakuna\s+haja\s+ya\s+(?:kwenda|kumuona|kuona|kupiga|kuwa\s+na\s+wasiwasi)\b",
    r"\b(?:huna|hamna|hakuna)\s+haja\s+ya\s+(?:kwenda|kumuona|kuona|kupiga|kuwa\s+na\s+wasiwasi)\b",
    r"\bsi\s+lazima\s+(?:uende|kwenda|umuone|kumuona)\b",
    r"\busijali\b|\bsi\s+(?:jambo\s+kubwa|hatari|dharura|tatizo\s+kubwa)\b",
    r"\bunaweza\s+kusubiri\b|\bitaisha\s+yenyewe\b",
    r"(?:डॉक्टर|अस्पताल)\s+(?:के\s+पास\s+)?(?:जाने|दिखाने)\s+की\s+(?:कोई\s+)?"
    r"(?:ज़रूरत|जरूरत|आवश्यकता)\s+नहीं",
    rf"(?:डॉक्टर|अस्पताल|किसी)\s+(?:को\s+|के\s+पास\s+)?(?:जाने|दिखाने|दिखाने\s+जाने)\s+की\s+"
    rf"(?:कोई\s+)?(?:{_ZA}रूरत|आवश्यकता)\s+नहीं",
    r"(?:चिंता|घबराने|फिक्र)\s+(?:की|करने\s+की)\s+(?:कोई\s+)?(?:बात|ज़रूरत|जरूरत)\s+नहीं",
    r"कोई\s+गंभीर\s+बात\s+नहीं|(?:इंतज़ार|इंतजार)\s+कर\s+सकते|अपने\s+आप\s+ठीक\s+हो\s+जाएगा",
    r"\b(?:chinta|ghabrane)\s+ki\s+(?:koi\s+)?(?:baat|zaroorat|jarurat)\s+nahi",
    r"\bdoctor\s+ke\s+paas\s+jaane\s+ki\s+(?:koi\s+)?(?:zaroorat|jarurat)\s+nahi",
    r"\b(?:doctor|kisi|hospital|aspatal)\s+(?:ko\s+|ke\s+paas\s+)?(?:dikhane|jaane|jane)\s+ki\s+"
    r"(?:koi\s+)?(?:zaroorat|zarurat|jarurat|jaroorat)\s+nahi",
)

# Putting care off by days or weeks. Too slow for an urgent or emergency assessment, but not when
# negated ("don't wait a few days"), so these are checked with the words just before them.
_LATER_EN = (
    r"(?:(?:next|the\s+coming)\s+week(?:end)?|(?:sometime|later)\s+(?:next|this)\s+week|"
    r"next\s+month|the\s+weekend|"
    r"(?:(?:in|within|over|for|after)\s+(?:the\s+)?(?:next\s+|coming\s+)?)?"
    r"(?:a\s+few|a\s+couple(?:\s+of)?|a|one|two|three|four|five|several|few|some|\d+)\s+"
    r"(?:more\s+)?(?:days|weeks?|months?)(?:'|’)?(?:\s+time)?)"
)
_DEFER_EN = (
    r"(?:wait|give\s+it|leave\s+it|see\s+(?:if|whether|how)|check\s+(?:again|back|in)|book|"
    r"make\s+an?\s+appointment|come\s+back|sleep\s+on\s+it|keep\s+an\s+eye|monitor|"
    r"hold\s+off|put\s+off|delay|postpone|rest\s+(?:up\s+)?for)"
)
_LATER_ES = (
    r"(?:unos\s+d[íi]as|algunos\s+d[íi]as|un\s+par\s+de\s+d[íi]as|varios\s+d[íi]as|"
    r"(?:una|un\s+par\s+de|unas)\s+semanas?|la\s+pr[óo]xima\s+semana|la\s+semana\s+que\s+viene|"
    r"(?:\d+|dos|tres|cuatro|cinco)\s+d[íi]as|el\s+fin\s+de\s+semana)"
)
_DEFER_ES = (
    r"(?:esper\w*|d[ae]le|d[ée]jalo\s+pasar|a\s+ver\s+si|ver\s+si|pid[ae]\s+(?:una\s+)?cita|"
    r"vuelv[ae]|consult[ae]|aguard\w*|observ[ae])"
)
_LATER_PT = (
    r"(?:alguns\s+dias|uns\s+dias|poucos\s+dias|(?:uma|umas)\s+semanas?|"
    r"a\s+pr[óo]xima\s+semana|a\s+semana\s+que\s+vem|(?:\d+|dois|tr[êe]s|quatro|cinco)\s+dias|"
    r"o\s+fim\s+de\s+semana)"
)
_DEFER_PT = (
    r"(?:esper\w*|dê(?:-lhe)?(?!\w)|deixe\s+passar|ver\s+se|veja\s+se|marqu\w*|volte|observe|"
    r"aguard\w*)"
)
_LATER_FR = (
    r"(?:quelques\s+jours|(?:deux|trois)\s+ou\s+(?:trois|quatre)\s+jours|une\s+semaine|"
    r"la\s+semaine\s+prochaine|(?:\d+|deux|trois|quatre|cinq)\s+jours|plusieurs\s+jours|"
    r"le\s+week-end)"
)
_DEFER_FR = (
    r"(?:attend\w*|laiss\w*\s+passer|voir\s+si|voyez\s+si|prenez\s+rendez-vous|reconsult\w*|"
    r"revenez|patientez|surveill\w*)"
)
_LATER_SW = (
    r"(?:siku\s+(?:chache|kadhaa|mbili|tatu|moja|\d+)|wiki\s+(?:moja|ijayo|mbili)|"
    r"\d+\s+siku|mwisho\s+wa\s+wiki)"
)
_DEFER_SW = r"(?:(?:ku|u)?(?:subiri|ngoja|ngojea)|ipe|mpe\s+muda|uone\s+kama|angalia\s+kama|rudi)"
_LATER_HI = (
    r"(?:(?:कुछ|दो|तीन|चार|एक|\d+)\s+(?:दिन|दिनों|हफ़्ते|हफ्ते|हफ़्ता|हफ्ता|सप्ताह)|"
    r"अगले\s+(?:हफ़्ते|हफ्ते|सप्ताह))"
)
_DEFER_HI = rf"(?:इंत{_ZA}ार|रुक|देख|प्रतीक्षा)"
_LATER_HINGLISH = (
    r"(?:(?:kuch|do|teen|ek|\d+)\s+(?:din|dino|dinon|hafte|hafta|week|weeks)|agle\s+hafte)"
)
_DEFER_HINGLISH = r"(?:wait|intezaar|intezar|intjar|ruk|dekh)"

_DEFERRAL = _rx(
    # Waiting with no date at all: "leave it for now", "see if it improves".
    r"\b(?:leave\s+it|hold\s+off|wait)\s+(?:for\s+now|for\s+the\s+moment|for\s+a\s+while)\b",
    # "…to see if it settles" hangs on the verb before it ("don't wait … to see if"), so skip it.
    r"(?<!\bto\s)\bsee\s+(?:if|whether|how)\s+(?:it|things|this|the\s+\w+)\s+(?:improves?|gets?\s+better|"
    r"settles?(?:\s+down)?|goes\s+away|clears?(?:\s+up)?|calms?\s+down)\b",
    rf"\b{_DEFER_EN}\b[^.!?;:]{{0,60}}?\b{_LATER_EN}\b",
    rf"\b{_LATER_EN}[^.!?;:]{{0,40}}?\b(?:book|make\s+an?\s+appointment|come\s+back|"
    rf"check\s+back)\b",
    # "If it isn't better in a few days, see someone": too late when it is urgent now.
    rf"\b(?:if|when|once)\s+(?:[\w'’-]+\s+){{0,4}}?(?:not|isn't|isn’t|doesn't|doesn’t|hasn't|"
    rf"hasn’t|haven't|haven’t|don't|don’t|aren't|aren’t|no)\s+(?:\w+\s+){{0,2}}?(?:better|"
    rf"improv\w*|settl\w*|gone|clear\w*|go\s+away)\s+(?:in|within|after|by)\s+{_LATER_EN}",
    rf"\b(?:will|should|would|'ll|’ll|usually|probably)\s+(?:\w+\s+)?(?:go\s+away|pass|"
    rf"get\s+better|clear(?:\s+up)?|settle(?:\s+down)?|calm\s+down|improve|heal|resolve)\s+"
    rf"(?:(?:by\s+itself|on\s+its\s+own)\s+)?(?:in|within|over)\s+{_LATER_EN}",
    rf"\b{_DEFER_ES}\b[^.!?;:]{{0,50}}?\b{_LATER_ES}\b",
    rf"\b{_LATER_ES}\b[^.!?;:]{{0,40}}?\b(?:pid[ae]\s+(?:una\s+)?cita|vuelv[ae]|esper\w*)\b",
    rf"\b{_DEFER_PT}[^.!?;:]{{0,50}}?\b{_LATER_PT}\b",
    rf"\b{_LATER_PT}\b[^.!?;:]{{0,40}}?\b(?:marqu\w*|volte|esper\w*)",
    rf"\b{_DEFER_FR}[^.!?;:]{{0,50}}?\b{_LATER_FR}\b",
    rf"\b{_LATER_FR}\b[^.!?;:]{{0,40}}?\b(?:prenez\s+rendez-vous|revenez|reconsult\w*)",
    rf"\b{_DEFER_SW}\b[^.!?;:]{{0,40}}?\b{_LATER_SW}\b",
    rf"{_LATER_HI}\s+(?:के\s+)?बाद",
    rf"\b{_LATER_HINGLISH}\s+(?:ke\s+)?baad\b",
    rf"{_LATER_HI}\s+(?:तक\s+)?{_DEFER_HI}(?!\S*\s+(?:न|मत|नहीं)(?:\s|$|।))",
    rf"\b{_LATER_HINGLISH}\s+(?:tak\s+)?{_DEFER_HINGLISH}\w*+(?!\s+(?:mat|na|nahi|nahin)\b)",
)
# Words just before a deferral that turn it around ("don't wait a few days").
_DEFERRAL_NEGATED = _rx(
    r"(?:n't|n’t|\bnot|\bnever|\bno|\bnão|\bnunca|\bjamais|\bn['’]|\bne|\bpas|\bsin|\bsem|\bsans|"
    r"\binstead\s+of|\brather\s+than|\ben\s+lugar\s+de|\bem\s+vez\s+de|\bau\s+lieu\s+d[e'])"
    r"(?:\s+[\w'’-]+){0,2}\s*$",
)

_INJECTION = _rx(
    r"\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|your)\s+"
    r"(?:instructions|prompts?|rules|messages)\b",
    r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|original|system)\s+(?:instructions|prompts?|"
    r"rules|messages|guidelines|directions)\b",
    r"\b(?:system|developer)\s+prompt\b|\bjailbreak\b|\bdeveloper\s+mode\b|\bDAN\s+mode\b",
    r"\bsystem\s+(?:message|instructions)\b",
    r"\bignora\s+(?:las\s+|todas\s+las\s+)?instrucciones\s+anteriores\b",
    r"\b(?:ignora|olvida|olvide|descarta|ignore)\s+(?:las\s+|todas\s+las\s+)?instrucciones\s+"
    r"(?:anteriores|previas)\b",
    r"\bignore\s+(?:as\s+)?instruções\s+anteriores\b",
    r"\b(?:ignore|esqueça|esqueca|desconsidere)\s+(?:as\s+|todas\s+as\s+)?instru[çc][õo]es\s+"
    r"(?:anteriores|pr[ée]vias)\b",
    r"\bignorez\s+(?:les\s+|toutes\s+les\s+)?instructions\s+(?:précédentes|ci-dessus)\b",
    r"\b(?:ignorez|oubliez|ignore|oublie)\s+(?:les\s+|toutes\s+les\s+)?instructions\s+"
    r"(?:précédentes|precedentes|ci-dessus|antérieures)\b",
    r"\bpuuza\s+maelekezo\b",
    r"पिछले\s+(?:सभी\s+)?निर्देशों\s+को\s+(?:अनदेखा|नज़रअंदाज़|नजरअंदाज)",
    r"\bpichhle\s+(?:saare\s+)?instructions\s+(?:ignore|bhool)",
)

# Care advice the draft must carry at urgent level: a time word and a care word in one sentence.
_URGENT_TIME = _rx(
    r"\btoday\b|\bwithin\s+(?:24|48|a\s+day|the\s+next\s+day|hours)\b",
    r"\bas\s+soon\s+as\s+possible\b",
    r"\bright\s+away\b|\bimmediately\b|\burgent(?:ly)?\b|\basap\b|\bnow\b|\btonight\b",
    r"\bhoy\b|\ben\s+(?:las\s+próximas\s+)?24\b|\blo\s+antes\s+posible\b|\bcuanto\s+antes\b",
    r"\bde\s+inmediato\b|\binmediatamente\b|\burgen(?:te|cias)\b|\bahora\b",
    r"\bhoje\b|\bem\s+24\b|\bo\s+quanto\s+antes\b|\bo\s+mais\s+r[aá]pido\s+poss[ií]vel\b",
    r"\bimediatamente\b|\burg[êe]n(?:te|cia)\b|\bagora\b|\bpronto-socorro\b",
    r"\baujourd'hui\b|\baujourd’hui\b|\bdans\s+les\s+24\b|\bdès\s+que\s+possible\b",
    r"\bau\s+plus\s+vite\b|\bimmédiatement\b|\burgen(?:t|ce|ces)\b|\bmaintenant\b",
    r"\bleo\b|\bndani\s+ya\s+saa\b|\bharaka\b|\bmara\s+moja\b|\bsasa\b|\bdharura\b",
    r"आज|24\s+घंटे|तुरंत|जल्द\s+से\s+जल्द|अभी|इमरजेंसी|आपातकाल",
    r"\baaj\b|\bturant\b|\bfauran\b|\babhi\b|\bjald\s+se\s+jald\b",
)
_CARE_WORD = _rx(
    r"\bdoctors?\b|\bclinic\b|\bhealth\s+(?:worker|centre|center|facility|professional)\b",
    r"\bhospital\b|\bnurse\b|\bmedical\b|\bclinician\b|\bgp\b|\bemergency\b|\bA&E\b",
    r"\bm[ée]dic[oa]\b|\bcl[ií]nica\b|\bcentro\s+de\s+salud\b|\bpersonal\s+sanitario\b",
    r"\burgencias\b|\bposto\s+de\s+sa[úu]de\b|\bunidade\s+de\s+sa[úu]de\b|\bprofissional\b",
    r"\bpronto-socorro\b|\bm[ée]decin\b|\bdocteur\b|\bclinique\b|\bcentre\s+de\s+sant[ée]\b",
    r"\bh[ôo]pital\b|\bagent\s+de\s+sant[ée]\b|\bdaktari\b|\bkliniki\b|\bhospitali\b",
    r"\bkituo\s+cha\s+afya\b|\bmhudumu\s+wa\s+afya\b",
    r"डॉक्टर|क्लिनिक|अस्पताल|स्वास्थ्य\s+(?:केंद्र|कर्मी)",
    r"\baspatal\b|\bdaktar\b|\bconsult(?:ez|e|er|a|ar|en)\b|\batendimento\b",
)
# Emergency level needs an explicit "call the emergency number / go to emergency now".
_EMERGENCY_ACTION = _rx(
    r"\bemergency\s+(?:number|department|room|services?)\b|\b(?:call|phone|ring)\s+(?:for\s+)?"
    r"(?:an\s+)?ambulance\b|\b(?:call|dial|phone|ring)\s+\d{2,5}\b|\bA&E\b",
    r"\bn[úu]mero\s+de\s+emergencias?\b|\b(?:servicio\s+de\s+)?urgencias\b|\bambulancia\b",
    r"\bllam[ae]\s+(?:al|a)\s+\d{2,5}\b",
    r"\bn[úu]mero\s+de\s+emerg[êe]ncia\b|\bpronto-socorro\b|\bambul[âa]ncia\b",
    r"\bligue\s+(?:para\s+)?(?:o\s+)?\d{2,5}\b",
    r"\bnum[ée]ro\s+d'urgence\b|\burgences\b|\bambulance\b|\bappelez\s+le\s+\d{2,5}\b",
    r"\bnamba\s+ya\s+dharura\b|\bkitengo\s+cha\s+dharura\b|\bgari\s+la\s+wagonjwa\b",
    r"\bambulensi\b|\bpiga\s+simu\s+\d{2,5}\b",
    r"आपातकालीन\s+नंबर|इमरजेंसी\s+विभाग|एम्बुलेंस|एंबुलेंस|\d{2,5}\s+पर\s+कॉल",
)


# --- Links -------------------------------------------------------------------------------------

_TLDS = (
    "com|org|net|info|biz|io|co|ly|me|in|br|mx|ng|ke|za|uk|gov|edu|int|es|pt|fr|de|ru|cn|xyz|"
    "site|online|app|link|click|top|tk|ml|ga|cf|gq|to|gl|gd|at|us|ca|au|nz|it|nl|be|ch|ar|cl|"
    "pe|ec|ve|tz|ug|gh|et|ma|dz|eg|pk|bd|id|ph|vn|th|my|sg|ae|sa|ir|il|tr|pl|ua|ro|gr|se|lk|np|"
    "ws|cc|tv|sh|live|shop|store|health|care|clinic|ai|pro|ink|lol|icu|buzz|rest|fit|life"
)
_URL = re.compile(
    r"(?:https?://|hxxps?://|www\.)[^\s<>\"']+"
    # Not \b: a bare domain glued to non-ASCII text ("¹bit.ly/x") is still a link.
    rf"|(?<![a-z0-9.-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![a-z0-9-])"
    r"(?:[/?#:][^\s<>\"']*)?",
    _F,
)
# Shortener hosts are refused wherever they appear, even glued to the next word.
_SHORTENER = re.compile(rf"(?<![a-z0-9.-])(?:{_words(LINK_SHORTENERS)})", _F)
_TRAILING = ".,;:!?)]}>'\"»”’*_"


def _host(url: str) -> str:
    """Return the lower-case host of a URL-ish string (scheme, userinfo, port, path removed)."""
    rest = re.sub(r"^(?:https?|hxxps?)://", "", url.strip(_TRAILING), flags=_F)
    rest = re.split(r"[/?#\\]", rest, maxsplit=1)[0]
    rest = rest.rsplit("@", 1)[-1]
    rest = rest.split(":", 1)[0]
    return rest.strip(".").lower()


def _domain_allowed(host: str, allowed: Collection[str]) -> bool:
    if not host or any(host == s or host.endswith("." + s) for s in LINK_SHORTENERS):
        return False
    for raw in allowed:
        domain = raw.strip().lower().lstrip(".")
        domain = domain[4:] if domain.startswith("www.") else domain
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def disallowed_links(
    text: str, allowed_domains: Collection[str] = DEFAULT_ALLOWED_DOMAINS
) -> list[str]:
    """Return the links in `text` whose host is not on the allowlist (or is a shortener)."""
    links = [
        m.group(0)
        for m in _URL.finditer(text)
        if not _domain_allowed(_host(m.group(0)), allowed_domains)
    ]
    if not links:
        links = [m.group(0) for m in _SHORTENER.finditer(text)]
    return links


# --- Checks ------------------------------------------------------------------------------------


# An "if" after the main clause makes the rest of the sentence a condition: "Seek care if you
# have a fever, a stiff neck, or you are pregnant". A sentence that starts with "if" does not
# ("If you are worried, you have malaria" still diagnoses), and "but" or ";" ends the condition.
_CONDITION_AFTER_MAIN = _rx(
    r"\S\s+(?:if|unless|whether|si|ikiwa|iwapo|agar|yadi|uki(?!mwi)\w+|"
    r"se\s+(?:voc[êe]|tiver|estiver|for|houver|ele|ela|sentir))\b"
    r"(?:(?![;:]|\b(?:but|pero|mas|mais|lakini|lekin|however)\b).)*$",
    r"\S\s+(?:अगर|यदि)(?:(?![;:]|लेकिन).)*$",
)


def _hedged(sentence: str, start: int) -> bool:
    """True when the words before a match make it conditional or hedged."""
    return bool(
        _HEDGE_BEFORE.search(sentence[max(0, start - 30) : start])
        or _CONDITION_AFTER_MAIN.search(sentence[:start])
    )


# The sentence checks below are pure functions of the sentence (and its language), and the
# offline model's answers are vetted passages whose sentences come back again and again: each
# is screened once per process. The cache holds a few MB at most.
_SENTENCE_CACHE = 8192


@lru_cache(maxsize=_SENTENCE_CACHE)
def _certain_diagnosis(sentence: str, language: str) -> bool:
    if _CERTAIN_DIAGNOSIS_ALWAYS.search(sentence):
        return True
    if sentence.rstrip().endswith(("?", "？")):
        return False  # a question ("Do you have malaria?") asserts nothing
    for name, pattern in _CERTAIN_DIAGNOSIS.items():
        if name == "sw_una" and language in {"es", "pt"}:
            continue
        for match in pattern.finditer(sentence):
            if not _hedged(sentence, match.start()):
                return True
    return False


# --- Recommending a prescription-only medicine -------------------------------------------------

_REC_FILL = (
    r"(?:(?:some|a|an|more|extra|any|yourself|a\s+course\s+of|a\s+(?:pack|box|strip|bottle|"
    r"dose|tablet)\s+of|taking|using|on|with|un|una|unos|unas|algo\s+de|más|con|tomando|um|uma|"
    r"uns|umas|um\s+pouco\s+de|mais|du|des|une|de\s+la|de|d['’]|l['’]|plus\s+de|dawa\s+(?:ya|za)|"
    r"vidonge\s+vya|kidonge\s+cha|sindano\s+ya)\s*){0,3}"
)
# English "take X" is an instruction only where an imperative can stand ("Take…", "…, take",
# "please take", "you should take"); "many people take metformin" is a description.
_REC_LEAD_EN = (
    r"(?:^\s*|[,;:(—–-]\s*|\b(?:please|just|so|then|and|also|simply|now|first|instead|maybe|"
    r"go\s+and|you\s+(?:should|can|could|must|need\s+to|might\s+want\s+to|may\s+want\s+to|"
    r"ought\s+to|'d\s+better|had\s+better)|I'd|I\s+would|we'd|try\s+to|be\s+sure\s+to|"
    r"make\s+sure\s+(?:you|to))\s+)"
)
_RECOMMEND = _rx(
    rf"{_REC_LEAD_EN}(?:take|start(?:\s+(?:on|taking))?|begin|try|use|buy|get|pick\s+up|grab|pop|"
    rf"add|switch\s+to|go\s+(?:on|for|with)|opt\s+for|ask\s+(?:the|a|your)\s+(?:pharmacist|"
    rf"chemist|pharmacy|drugstore)\s+for)\s+{_REC_FILL}(?:{_RX_ANY})",
    rf"\b(?:I|we)\s+(?:would\s+|'d\s+|’d\s+)?(?:recommend|suggest|advise)(?:\s+(?:taking|using|"
    rf"trying|starting))?\s+{_REC_FILL}(?:{_RX_ANY})",
    rf"\byou\s+(?:need|should\s+(?:be|go|get)\s+on|need\s+to\s+(?:be|go|get)\s+on|"
    rf"must\s+(?:be|go)\s+on)\s+{_REC_FILL}(?:{_RX_ANY})",
    rf"\b(?:toma|tome|t[óo]mate|t[óo]mese|tomar|compra|compre|c[óo]mprate|comprar|empieza|"
    rf"empiece|comienza|comience|usa|use|prueba|pruebe|pide|pida|(?:te|le)\s+recomiendo|"
    rf"recomiendo|necesitas|necesita)\s+{_REC_FILL}(?:{_RX_ANY})",
    rf"\b(?:tome|toma|tomar|compre|compra|comprar|comece|come[çc]a|use|usa|experimente|"
    rf"pe[çc]a|recomendo|(?:voc[êe]\s+)?precisa(?:\s+de)?)\s+{_REC_FILL}(?:{_RX_ANY})",
    rf"\b(?:prenez|prends|prendre|achetez|ach[èe]te|acheter|commencez|commence|utilisez|"
    rf"essayez|demandez|je\s+(?:vous\s+)?(?:recommande|conseille)|il\s+vous\s+faut|"
    rf"vous\s+avez\s+besoin)\s*{_REC_FILL}(?:{_RX_ANY})",
    rf"\b(?:meza|kunywa|unywe|kunywe|tumia|utumie|nunua|anza|chukua|jaribu|pata)\s+{_REC_FILL}"
    rf"(?:{_RX_ANY})",
)
# Hindi and Hinglish put the verb last ("ऑगमेंटिन ले लें", "azithromycin le lo"), so a
# negation comes between, not before, and "se" there means "from", not "if".
_RECOMMEND_LAST = _rx(
    rf"(?:{_RX_ANY})\s+(?:{_HI_NOT}\S+\s+){{0,3}}?(?:लें|लीजिए|लीजिये|ले\s+लें|ले\s+लो|लो|खाएँ|"
    rf"खाएं|खा\s+लें|खाइए|खरीदें|खरीद\s+लें|शुरू\s+करें){_DE}",
    rf"(?:{_RX_ANY})\s+(?:(?!(?:mat|na|nahi|nahin)\b)\w+\s+){{0,3}}?(?:le\s+lo|lo|le\s+lijiye|"
    rf"lijiye|kha\s+lo|khao|khaiye|kharid\s+lo|khareed\s+lo|shuru\s+karo|le\s+lena)\b"
    rf"(?!\s+(?:mat|na|nahi)\b)",
)
# A clinician deciding makes it a description of care, not a recommendation from the bot.
_PRESCRIBER = _rx(
    r"prescri|\breceta|\brecetad|\breceit|\bordonnance|\bcheti\b|andikiw|पर्च|प्रिस्क्रिप्शन|सलाह|"
    r"लिख(?:ी|ा|े)\s+(?:गई|गयी|गया|गए|हो|है)|\bsalah\b|\bparchi\b|\bas\s+directed\b",
    r"\b(?:doctor|clinician|health\s+worker|nurse|m[ée]dic[oa]|médecin|daktari|डॉक्टर)\s+"
    r"(?:\w+\s+){0,2}(?:says|advises|recommends|decides|tells|gives|indique|indica|recomienda|"
    r"recomenda|conseille|anasema)",
)
_NO_PRESCRIPTION = _rx(
    r"\b(?:without|no|sin|sem|sans|bila)\s+(?:a\s+|una\s+|uma\s+|une\s+)?(?:prescri\w*|receta|"
    r"receita|ordonnance|cheti)"
)
_POSSESSIVE_END = _rx(r"(?:\b(?:your|apni|apna|apne)|अपनी|अपना|अपने)\s*$")
# Words just before a match that negate it or make it conditional ("don't take", "if you stop").
_NEGATED_BEFORE = _rx(
    r"(?:n't|n’t|\bnot|\bnever|\bno|\bnão|\bnunca|\bjamais|\bne|\bn['’]|\bif|\bsi|\bse|\bwhen|"
    r"\bwhether|\bunless|\bavoid|\bmat)(?:\s+[\w'’-]+){0,2}\s*$",
    r"\b(?:before|without|until|unless|sin|sem|sans|antes\s+de|avant\s+d[e'])(?:\s+[\w'’-]+)"
    r"{0,3}\s*$",
)


def _recommends_rx(sentence: str) -> bool:
    if sentence.rstrip().endswith(("?", "？")):
        return False
    if _PRESCRIBER.search(sentence) and not _NO_PRESCRIPTION.search(sentence):
        return False
    for match in _RECOMMEND.finditer(sentence):
        before = sentence[max(0, match.start() - 40) : match.start()]
        if not (_NEGATED_BEFORE.search(before) or _POSSESSIVE_END.search(before)):
            return True
    for match in _RECOMMEND_LAST.finditer(sentence):
        if not _POSSESSIVE_END.search(sentence[max(0, match.start() - 20) : match.start()]):
            return True
    return False


# A reading of blood sugar or another lab value ("72-126 mg/dL", "4-7 mmol/L", "1,26 g/L") is a
# measurement, not an amount of medicine: it is taken out before the dose rules look.
_LAB_VALUE = re.compile(
    r"\d[\d.,]*(?:\s*(?:-|–|to|a|à|hadi|से)\s*\d[\d.,]*)?\s*(?:mg|g|mmol|µmol|umol)\s*/\s*(?:dl|l)\b",
    _F,
)


@lru_cache(maxsize=_SENTENCE_CACHE)
def _prescription_dose(sentence: str) -> bool:
    sentence = _LAB_VALUE.sub(" ", sentence)
    if not _RX.search(sentence):
        return False
    if _DOSE.search(sentence) or _RX_STRENGTH.search(sentence):
        return True
    return _recommends_rx(sentence)


_SON_EN = re.compile(r"\bson\b", _F)
# Milligrams measure medicines, never honey or ORS: "7.5 ml of 120 mg/5 ml" is a medicine dose
# even when the sentence does not name the medicine.
_MILLIGRAMS = _rx(
    r"\d\s*(?:mg|mcg|µg|μg)(?![a-z])|\b(?:milligrams?|milligrammes?|miligramos?|miligramas?|"
    r"miligramu|micrograms?)\b|मिलीग्राम"
)


def _child_dose(sentence: str, assessment: Assessment) -> bool:
    sentence = _LAB_VALUE.sub(" ", sentence)
    if _PER_KG.search(sentence):
        return True
    child = (
        assessment.subject in {"infant", "child"}
        or bool(_CHILD.search(sentence))
        # Bare "son" only in English: in Spanish it is "they are".
        or (assessment.language == "en" and bool(_SON_EN.search(sentence)))
    )
    if not child:
        return False
    if not (
        _ANY_DRUG.search(sentence)
        or _MEDICINE_WORD.search(sentence)
        or _MILLIGRAMS.search(sentence)
    ):
        return False
    return bool(
        _AMOUNT.search(sentence)
        or _RX_STRENGTH.search(sentence)
        or (_SCHEDULE.search(sentence) and _ANY_DRUG.search(sentence))
    )


# "Your doctor may lower your insulin": a clinician changing treatment is not the bot telling
# the reader to.
_CLINICIAN_BEFORE = _rx(
    r"\b(?:doctor|clinician|health\s+worker|nurse|pharmacist|gp|m[ée]dic[oa]|médecin|daktari|"
    r"mhudumu\s+wa\s+afya)\s+(?:[\w'’-]+\s+){0,2}$|डॉक्टर\s+(?:\S+\s+){0,2}$"
)


@lru_cache(maxsize=_SENTENCE_CACHE)
def _stop_treatment(sentence: str) -> bool:
    for match in _STOP_TREATMENT.finditer(sentence):
        if _CLINICIAN_BEFORE.search(sentence[max(0, match.start() - 40) : match.start()]):
            continue
        before = sentence[max(0, match.start() - 40) : match.start()].lower()
        # "Don't suddenly stop taking your medicine", "if you stop taking…", "ask before you
        # stop…" and "it is dangerous to stop taking…" warn against stopping; they are safe.
        negated = _NEGATED_BEFORE.search(before)
        warned = re.search(
            r"\b(?:dangerous|unsafe|risky|harmful|peligroso|perigoso|dangereux|hatari)\b|खतरनाक",
            before,
        )
        if not (negated or warned):
            return True
    return False


@lru_cache(maxsize=_SENTENCE_CACHE)
def _defers_care(sentence: str) -> bool:
    for match in _DEFERRAL.finditer(sentence):
        if not _DEFERRAL_NEGATED.search(sentence[max(0, match.start() - 40) : match.start()]):
            return True
    return False


def _violation_of(
    sentence: str, assessment: Assessment, allowed: Collection[str], *, vetted: bool = False
) -> str | None:
    """Return the kind of the first rule the sentence breaks, or None."""
    text = _nfc(sentence)
    if _INJECTION.search(text):
        return "prompt_injection"
    if _CLAIMS_HUMAN.search(text):
        return "claims_human"
    if _certain_diagnosis(text, assessment.language):
        return "certain_diagnosis"
    if not vetted and _prescription_dose(text):
        return "prescription_dose"
    if not vetted and _child_dose(text, assessment):
        return "child_dose"
    if _stop_treatment(text):
        return "stop_treatment"
    if assessment.level.rank >= TriageLevel.URGENT.rank and (
        _REASSURANCE.search(text) or _defers_care(text)
    ):
        return "urgency_too_low"
    if disallowed_links(sentence, allowed):
        return "link_not_allowed"
    return None


def _has_care_advice(text: str, assessment: Assessment) -> bool:
    """True when the text already says to seek care as fast as the assessment requires."""
    level = assessment.level
    if care_advice(level, assessment.language) in text:
        return True
    sentences = [_nfc(s) for line in _parse(text) for s in line.sentences]
    if level is TriageLevel.EMERGENCY:
        number = assessment.contact.emergency
        return any(
            _EMERGENCY_ACTION.search(s)
            or (number and re.search(rf"(?<!\d){re.escape(number)}(?!\d)", s))
            for s in sentences
        )
    return any(_URGENT_TIME.search(s) and _CARE_WORD.search(s) for s in sentences)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def check_reply(
    draft: str,
    assessment: Assessment,
    *,
    allowed_domains: Collection[str] = DEFAULT_ALLOWED_DOMAINS,
    vetted: Sequence[str] = (),
) -> GuardedReply:
    """Screen a model draft; remove unsafe sentences, add care advice, or replace it.

    `vetted` holds curated, sourced texts (e.g. a public OTC dosing table) the reply may quote:
    a sentence found word for word in one of them (ignoring whitespace and case) is exempt from
    the dose rules, and from nothing else.
    """
    lines = _parse(draft or "")
    quoted = _vetted_sentences(vetted) if vetted else frozenset()
    violations: list[Violation] = []
    total = removed = 0
    for line in lines:
        for i, sentence in enumerate(line.sentences):
            total += len(sentence)
            kind = _violation_of(
                sentence, assessment, allowed_domains, vetted=_normal(sentence) in quoted
            )
            if kind is not None:
                line.removed[i] = True
                removed += len(sentence)
                violations.append(Violation(kind, _excerpt(sentence), "removed_sentence"))

    text = _render(lines) if violations else (draft or "").strip()
    # Nothing but bullets or punctuation left counts as empty.
    if not re.search(r"\w", text) or removed > MAX_REMOVED_SHARE * total:
        if not violations:
            violations.append(Violation("empty_reply", _excerpt(draft or ""), "replaced_reply"))
        else:
            violations = [Violation(v.kind, v.excerpt, "replaced_reply") for v in violations]
        return GuardedReply(safe_fallback(assessment), tuple(violations))

    if assessment.level.rank >= TriageLevel.URGENT.rank and not _has_care_advice(text, assessment):
        advice = care_advice(assessment.level, assessment.language)
        text = f"{text}\n\n{advice}"
        violations.append(Violation("urgency_too_low", _excerpt(advice), "appended_urgency"))

    if not violations:
        # Untouched drafts go out exactly as written.
        return GuardedReply(draft)
    return GuardedReply(text, tuple(violations))

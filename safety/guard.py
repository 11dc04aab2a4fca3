"""The reply guard: screens every model draft before it is sent and repairs what it must.

It removes sentences that diagnose with certainty, dose prescription-only medicines (or any
medicine for a child), tell people to stop prescribed treatment, claim to be a doctor or a human,
play down an urgent assessment, carry prompt-injection text, or link outside an allowlist. An
urgent or emergency assessment always ends with the matching care advice. If too much is removed,
the whole draft is replaced by `texts.safe_fallback`. English is covered thoroughly; Spanish,
Portuguese, French, Swahili and Hindi (incl. common Hinglish) for the main patterns.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

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


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), _F)


def _words(words: Iterable[str]) -> str:
    """Return an alternation matching any of the words (longest first)."""
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


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


# --- Vocabulary --------------------------------------------------------------------------------

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
]  # fmt: skip
_DISEASE_SW = rf"(?:{_words(_DISEASES_SW)})(?![\w-])"
_DISEASES_HI = [
    "मलेरिया", "डेंगू", "टाइफाइड", "टायफाइड", "हैजा", "टीबी", "तपेदिक", "क्षय रोग", "कोविड",
    "कोरोना", "निमोनिया", "मधुमेह", "डायबिटीज़", "डायबिटीज", "शुगर", "हाई ब्लड प्रेशर",
    "उच्च रक्तचाप", "एचआईवी", "एड्स", "कैंसर", "मेनिन्जाइटिस", "पीलिया", "हेपेटाइटिस", "संक्रमण",
    "इन्फेक्शन", "इंफेक्शन", "दमा", "अस्थमा", "एनीमिया", "खून की कमी", "अल्सर", "मिर्गी",
    "खसरा", "चिकनपॉक्स", "चिकनगुनिया", "दिल का दौरा", "हार्ट अटैक",
]  # fmt: skip
_DISEASE_HI = _words(_DISEASES_HI)
_DISEASES_HINGLISH = [
    "malaria", "dengue", "typhoid", "tb", "sugar", "diabetes", "covid", "corona", "pneumonia",
    "cancer", "infection", "jaundice", "piliya", "bp", "asthma", "heart attack",
]  # fmt: skip
_DISEASE_HINGLISH = _words(_DISEASES_HINGLISH)

# Words just before a "you have X" that make it conditional, a question or hedged.
_HEDGE_BEFORE = re.compile(
    r"\b(?:if|whether|when|whenever|unless|in case|do|did|don't|do not|may|might|could|"
    r"think|suspect|worried|fear|before|since|because|given|once|after|people who|perhaps|"
    r"possible|possibly|probably|likely|"
    r"those who|si|puede que|quizás?|tal vez|posiblemente|caso|talvez|pode|se|peut-être|"
    r"il est possible que|ikiwa|kama|huenda|labda|pengine|iwapo|shayad|agar|yadi)\b"
    r"[^.!?।]{0,25}$|(?:शायद|अगर|यदि|क्या)[^।]{0,25}$",
    _F,
)

_RX_DRUGS = [
    # antibiotics
    "amoxicillin", "amoxicilina", "amoxicilline", "amoksilini", "amoxiclav", "co-amoxiclav",
    "augmentin", "azithromycin", "azitromicina", "azithromycine", "ciprofloxacin",
    "ciprofloxacino", "ciprofloxacine", "cipro", "levofloxacin", "levofloxacino", "ofloxacin",
    "norfloxacin", "doxycycline", "doxiciclina", "metronidazole", "metronidazol", "flagyl",
    "cotrimoxazole", "co-trimoxazole", "septrin", "bactrim", "cephalexin", "cefalexina",
    "cefalexin", "ceftriaxone", "ceftriaxona", "cefixime", "cefuroxime", "clarithromycin",
    "erythromycin", "eritromicina", "penicillin", "penicilina", "pénicilline", "gentamicin",
    "nitrofurantoin", "clindamycin", "tetracycline", "tinidazole", "fluconazole", "cloxacillin",
    "flucloxacillin", "ampicillin", "antibiotic", "antibiotics", "antibiótico", "antibióticos",
    "antibiotique", "antibiotiques", "antibiotiki", "viuavijasumu",
    # opioids and other controlled pain / sleep medicines
    "tramadol", "codeine", "codeína", "codéine", "morphine", "morfina", "oxycodone",
    "hydrocodone", "fentanyl", "pethidine", "methadone", "buprenorphine", "tapentadol",
    "diazepam", "lorazepam", "alprazolam", "clonazepam", "midazolam", "temazepam",
    "bromazepam", "nitrazepam", "valium", "xanax", "zolpidem", "pregabalin", "gabapentin",
    "ketamine",
    # insulin, anticoagulants, steroids
    "insulin", "insulina", "insuline", "warfarin", "warfarina", "heparin", "enoxaparin",
    "apixaban", "rivaroxaban", "clopidogrel", "prednisolone", "prednisolona", "prednisone",
    "prednisona", "dexamethasone", "dexametasona", "methylprednisolone", "betamethasone",
    # antimalarials
    "artemether", "lumefantrine", "artemether-lumefantrine", "coartem", "artesunate",
    "quinine", "quinina", "chloroquine", "cloroquina", "hydroxychloroquine", "primaquine",
    "mefloquine", "amodiaquine", "sulfadoxine", "fansidar", "atovaquone", "malarone",
    # antihypertensives and other chronic-disease medicines
    "amlodipine", "amlodipino", "lisinopril", "enalapril", "losartan", "ramipril", "atenolol",
    "metoprolol", "bisoprolol", "propranolol", "hydrochlorothiazide", "furosemide",
    "spironolactone", "nifedipine", "captopril", "valsartan", "telmisartan", "metformin",
    "metformina", "glibenclamide", "gliclazide", "glimepiride", "levothyroxine", "digoxin",
    # reproductive, neuro/psychiatric, TB and HIV medicines
    "sildenafil", "misoprostol", "mifepristone", "oxytocin", "methotrexate", "carbamazepine",
    "phenytoin", "valproate", "phenobarbital", "lamotrigine", "levetiracetam", "haloperidol",
    "olanzapine", "risperidone", "quetiapine", "fluoxetine", "sertraline", "amitriptyline",
    "citalopram", "escitalopram", "paroxetine", "lithium", "isoniazid", "rifampicin",
    "ethambutol", "pyrazinamide", "tenofovir", "efavirenz", "dolutegravir", "lamivudine",
    "zidovudine", "nevirapine", "arvs", "antiretrovirals", "oseltamivir", "acyclovir",
]  # fmt: skip
_RX_DRUGS_HI = [
    "इंसुलिन", "एंटीबायोटिक", "एमोक्सिसिलिन", "अमोक्सिसिलिन", "एज़िथ्रोमाइसिन", "एजिथ्रोमाइसिन",
    "सिप्रोफ्लोक्सासिन", "मेट्रोनिडाजोल", "ट्रामाडोल", "कोडीन", "मॉर्फिन", "डायजेपाम",
    "वारफेरिन", "प्रेडनिसोलोन", "क्लोरोक्वीन", "मेटफॉर्मिन",
]  # fmt: skip
_RX = re.compile(rf"\b(?:{_words(_RX_DRUGS)})\b|{_words(_RX_DRUGS_HI)}", _F)

_OTC_DRUGS = [
    "paracetamol", "acetaminophen", "ibuprofen", "ibuprofeno", "ibuprofène", "aspirin",
    "aspirina", "aspirine", "calpol", "nurofen", "tylenol", "panadol", "dipyrone", "dipirona",
    "metamizol", "metamizole", "zinc", "zinco", "diclofenac", "naproxen", "cetirizine",
    "loratadine", "chlorphenamine", "promethazine", "domperidone", "loperamide",
    "paracétamol", "पैरासिटामोल", "क्रोसिन", "आइबुप्रोफेन",
    # ORS is left out on purpose: WHO volume guidance for children is not medicine dosing.
]  # fmt: skip
_ANY_DRUG = re.compile(rf"\b(?:{_words(_OTC_DRUGS)})\b|{_RX.pattern}", _F)

_NUM = (
    r"(?:\d+(?:[.,]\d+)?|one|two|three|four|half\s+an?|an?\s+half|half|un[ao]?|dos|tres|uma?|"
    r"duas|três|une?|deux|trois|moja|mbili|tatu|nusu|एक|दो|तीन|आधी?)"
)
_MASS = (
    r"(?:mg|mcg|µg|μg|g|grams?|gramos?|gramas?|grammes?|ml|mls|millilit(?:re|er)s?|iu|units?|"
    r"unidades|unités|vitengo|मिलीग्राम|एमजी|यूनिट)"
)
_COUNT = (
    r"(?:tablets?|tabs?|pills?|capsules?|caps?|doses?|puffs?|drops?|injections?|comprimidos?|"
    r"pastillas?|c[áa]psulas?|comprim[ée]s?|g[ée]lules?|vidonge|kidonge|dozi|sindano|"
    r"गोलियाँ|गोलियां|गोली|कैप्सूल|खुराक)"
)
# Numbers only match from their first digit, and ranges need a connector, so long digit runs
# cannot make the search quadratic.
_DOSE = _rx(
    rf"(?<![\d.,])\d+(?:[.,]\d+)?\s*{_MASS}(?:\s*/\s*kg)?(?![a-z])",
    rf"\b{_NUM}(?:\s*(?:-|to|a|or|ou|o)\s*{_NUM})?\s*{_COUNT}",
    r"\b(?:once|twice|thrice|(?:one|two|three|four|\d)\s+times)\s+(?:a|per|each|every)\s+day\b",
    r"\bevery\s+\d+\s*(?:hours?|hrs?|h)\b|\b(?:bd|bid|tds|tid|qds|qid|od)\b|\bq\d+h\b",
    r"\bcada\s+\d+\s*horas\b|\b(?:una|dos|tres|cuatro|\d)\s+veces?\s+(?:al|por)\s+d[ií]a\b",
    r"\b(?:a\s+cada|de)\s+\d+\s*(?:em\s+\d+\s*)?horas\b",
    r"\b(?:uma|duas|três|\d)\s+vez(?:es)?\s+(?:ao|por)\s+dia\b",
    r"\btoutes\s+les\s+\d+\s*heures\b|\b(?:une|deux|trois|\d)\s+fois\s+par\s+jour\b",
    r"\bmara\s+(?:moja|mbili|tatu|\d)\s+kwa\s+siku\b|\bkila\s+saa\s+\d+\b",
    r"दिन\s+में\s+(?:एक|दो|तीन|\d)\s+बार|हर\s+\d+\s+घंटे",
    r"\bdin\s+m(?:e|ei|ein)n?\s+(?:ek|do|teen|\d)\s+baar\b",
)
_PER_KG = re.compile(r"\d\s*(?:mg|mcg|ml)\s*/\s*kg\b", _F)
_CHILD = re.compile(
    r"\b(?:child|children|kid|kids|baby|babies|infant|infants|toddler|newborn|son|daughter|"
    r"\d+\s*(?:-|\s)?(?:year|month|week)s?[\s-]old|niñ[oa]s?|beb[ée]s?|hij[oa]s?|criança|crianças|"
    r"bebê|filh[oa]|enfants?|bébé|nourrisson|fils|fille|mtoto|watoto|mwanao|kichanga)\b"
    r"|बच्च|शिशु|बेटा|बेटी|नवजात",
    _F,
)

# --- Violation patterns ------------------------------------------------------------------------

_CLAIMS_HUMAN = _rx(
    # No \b around it: "I am a doctor" must go even when glued to neighbouring text.
    r"I\s*(?:am|'m|’m)\s+(?:a|an|your)\s+(?:real\s+|qualified\s+|licensed\s+|registered\s+|"
    r"trained\s+|medical\s+|human\s+)?(?:doctor|physician|nurse|pharmacist|clinician|medic|"
    r"surgeon|midwife|health\s+worker)",
    r"\bI\s*(?:am|'m|’m)\s+(?:a|an|your)\s+gp\b",
    r"\bI(?:'ve|’ve|\s+have)\s+(?:been|worked\s+as)\s+(?:a|an)\s+(?:doctor|nurse|physician|"
    r"pharmacist|midwife|clinician)\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:dr\.?|doctor)\s+[A-Z]",
    # "As a doctor, I…" claims a role; "see a GP, as a doctor can check…" does not.
    r"(?:^|[,;:]\s*|\band\s+|\bbut\s+)as\s+(?:a|an|your)\s+(?:doctor|physician|nurse|"
    r"pharmacist|clinician|medic|medical\s+professional)\b(?!\s+(?:can|will|would|may|might|"
    r"could|should|is|does)\b)",
    r"\bas\s+(?:a|an|your)\s+(?:doctor|physician|nurse|clinician),?\s+(?:I|I'm|I've|my)\b",
    r"\bspeaking\s+as\s+a\s+(?:doctor|nurse|physician)\b",
    r"\bin\s+my\s+(?:professional\s+|clinical\s+|medical\s+)(?:opinion|experience|practice)\b",
    r"\bI\s*(?:am|'m|’m)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+)?(?:human|person|human\s+being|"
    r"real\s+person|living\s+person)\b",
    r"\bI\s*(?:am|'m|’m)\s+not\s+(?:a\s+|an\s+)?(?:bot|robot|ai|machine|computer|chatbot|"
    r"program|assistant)\b",
    r"\bsoy\s+(?:un\s+|una\s+|tu\s+|su\s+)?(?:médic[oa]|doctor(?:a)?|enfermer[oa]|"
    r"farmacéutic[oa])\b",
    r"(?:^|hablando\s+)como\s+(?:tu\s+|su\s+)?(?:médic[oa]|doctor(?:a)?)\b",
    r"\bsoy\s+(?:una\s+)?(?:persona\s+real|human[oa]|un\s+ser\s+humano)\b",
    r"\bno\s+soy\s+(?:un\s+)?(?:bot|robot|programa|asistente\s+virtual)\b",
    r"\bsou\s+(?:um\s+|uma\s+|seu\s+|sua\s+|o\s+seu\s+)?(?:médic[oa]|doutor(?:a)?|"
    r"enfermeir[oa]|farmacêutic[oa])\b",
    r"(?:^|falando\s+)como\s+(?:seu\s+|sua\s+)?(?:médic[oa]|doutor(?:a)?)\b",
    r"\bsou\s+(?:uma\s+)?(?:pessoa\s+(?:real|de\s+verdade)|human[oa]|um\s+ser\s+humano)\b",
    r"\bnão\s+sou\s+(?:um\s+)?(?:bot|robô|programa)\b",
    r"\bje\s+suis\s+(?:un\s+|une\s+|votre\s+)?(?:médecin|docteur|infirmi(?:er|ère)|"
    r"pharmacien(?:ne)?)\b",
    r"\ben\s+tant\s+que\s+(?:votre\s+)?(?:médecin|docteur)\b",
    r"\bje\s+suis\s+(?:une\s+)?(?:vraie\s+personne|personne\s+réelle|humain(?:e)?|"
    r"un\s+être\s+humain)\b",
    r"\bje\s+ne\s+suis\s+pas\s+un\s+(?:robot|bot|programme)\b",
    r"\bmimi\s+ni\s+(?:daktari|muuguzi|mfamasia|binadamu|mtu\s+halisi)\b",
    r"\bkama\s+daktari\s+wako\b",
    r"\bmimi\s+si\s+(?:roboti|mashine|programu)\b",
    r"मैं\s+(?:एक\s+)?(?:असली\s+)?(?:डॉक्टर|डाक्टर|चिकित्सक|नर्स|इंसान|मनुष्य)\s+"
    r"(?:हूँ|हूं|हु)",
    r"(?:एक\s+)?(?:डॉक्टर|चिकित्सक)\s+(?:के\s+)?(?:रूप|तौर)\s+(?:में|पर)",
    r"\bmai+n?\s+(?:ek\s+)?(?:doctor|daktar|insaan|insan)\s+h(?:oo|u)n?\b",
)

_CERTAIN_DIAGNOSIS_ALWAYS = _rx(
    r"\byou\s+(?:definitely|certainly|clearly|obviously|surely|undoubtedly)\s+(?:have|'ve got|"
    r"got|are\s+suffering\s+from)\b",
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
_KIN_EN = (
    r"(?:your\s+(?:child|baby|son|daughter|kid|husband|wife|partner|mother|father|mum|mom|dad)"
    r"|he|she)"
)
_KIN_PT = r"(?:seu|sua)\s+(?:filh[oa]|beb[êe]|marido|esposa|m[ãa]e|pai)"
_KIN_FR = r"(?:votre|ton|ta)\s+(?:enfant|b[ée]b[ée]|fils|fille|mari|femme|m[èe]re|p[èe]re)|il|elle"
_NAMED_ES = rf"(?:(?:un|una)\s+)?(?:{_words(_DISEASES_ES)})(?![\w-]){_NOT_DIAGNOSIS_AFTER}"
_NAMED_PT = rf"(?:(?:um|uma)\s+)?(?:{_words(_DISEASES_PT)})(?![\w-]){_NOT_DIAGNOSIS_AFTER}"
_NAMED_FR = (
    rf"(?:(?:le|la|l'|un|une|du|de\s+la)\s*)?(?:{_words(_DISEASES_FR)})(?![\w-])"
    rf"{_NOT_DIAGNOSIS_AFTER}"
)
_NAMED_HI = _words(d for d in _DISEASES_HI if d not in {"संक्रमण", "इन्फेक्शन", "इंफेक्शन"})

_CERTAIN_DIAGNOSIS = {
    "en": _rx(
        rf"\byou\s*(?:have|'ve\s+got|’ve\s+got|have\s+got|are\s+suffering\s+from|are\s+"
        rf"infected\s+with|caught|(?:have\s+|'ve\s+)?(?:contracted|developed)|are\s+having)\s+"
        rf"(?:(?:a|an)\s+)?(?:{_DISEASE_EN}){_NOT_DIAGNOSIS_AFTER}",
        rf"\b{_KIN_EN}\s+(?:has|has\s+got|'s\s+got|is\s+suffering\s+from|is\s+having|"
        rf"(?:has\s+)?(?:contracted|developed|caught))\s+(?:(?:a|an)\s+)?(?:{_DISEASE_EN})"
        rf"{_NOT_DIAGNOSIS_AFTER}",
        rf"\bthe\s+diagnosis\s+is\s+(?:(?:a|an)\s+)?{_NAMED_EN}",
        rf"(?:^|[,;:]\s*)(?:definitely|certainly|clearly|surely)\s+(?:(?:a|an)\s+)?{_NAMED_EN}",
        r"\byou\s*(?:are|'re|’re)\s+(?:definitely\s+|clearly\s+)?(?:diabetic|hypertensive|"
        r"anaemic|anemic|pregnant)\b",
        rf"\b(?:this|that|it)\s*(?:is|'s|’s)\s+(?:definitely\s+|certainly\s+|clearly\s+|just\s+|"
        rf"simply\s+|obviously\s+)?(?:(?:a|an)\s+)?(?:case\s+of\s+)?{_NAMED_EN}",
    ),
    "es": _rx(
        rf"\b(?:usted\s+)?(?:tienes|tiene|padeces|padece|sufres\s+de|sufre\s+de)\s+(?:de\s+)?"
        rf"(?:{_DISEASE_ES}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b(?:esto|eso|lo\s+que\s+tienes|lo\s+que\s+tiene)\s+)(?:es|se\s+trata\s+de)\s+"
        rf"(?:claramente\s+|seguramente\s+)?(?:un\s+caso\s+de\s+)?{_NAMED_ES}",
        r"\bestás\s+embarazada\b",
    ),
    "pt": _rx(
        rf"\b(?:você|tu|{_KIN_PT})\s+(?:tem|tens|está\s+com|estás\s+com|sofre\s+de)\s+"
        rf"(?:{_DISEASE_PT}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b(?:isso|isto|o\s+que\s+você\s+tem)\s+)(?:é|se\s+trata\s+de)\s+"
        rf"(?:claramente\s+)?{_NAMED_PT}",
        r"\bvocê\s+está\s+grávida\b",
    ),
    "fr": _rx(
        rf"\b(?:vous\s+avez|tu\s+as|vous\s+souffrez\s+d[e']|tu\s+souffres\s+d[e'])\s*"
        rf"(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}",
        rf"\b(?:{_KIN_FR})\s+(?:a|souffre\s+d[e'])\s*(?:{_DISEASE_FR}){_NOT_DIAGNOSIS_AFTER}",
        rf"(?:^|\b)(?:c'est|c’est|ceci\s+est|il\s+s'agit\s+d[e']|il\s+s’agit\s+d[e'])\s*"
        rf"(?:clairement\s+)?{_NAMED_FR}",
        r"\bvous\s+êtes\s+enceinte\b",
    ),
    "sw": _rx(
        rf"\b(?:umepata|unaugua|unaumwa)\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
        rf"\b(?:hii|huu|hiyo)\s+ni\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})",
        r"\bwewe\s+ni\s+mjamzito\b",
    ),
    # Swahili "una" (you have) is also the Spanish article, so it is not checked on Spanish.
    # "ana" (he/she has) is also a name in Spanish and Portuguese.
    "sw_una": _rx(rf"\b(?:una|ana)\s+(?:ugonjwa\s+wa\s+)?(?:{_DISEASE_SW})"),
    "hi": _rx(
        rf"(?:आपको|तुम्हें|तुमको|(?<!\S)\S+\s+को)\s+(?:\S+\s+){{0,3}}?(?:{_DISEASE_HI})\s+"
        r"(?:(?:हो\s+)?(?:गया|गई|गयी)\s+)?"
        r"(?:है|हैं)",
        rf"(?:यह|ये)\s+(?:\S+\s+){{0,2}}?(?:{_NAMED_HI})\s+(?:ही\s+)?है",
        rf"\b(?:aapko|apko|aap\s+ko|tumko|tumhe|tumhein)\s+(?:\w+\s+){{0,2}}?"
        rf"(?:{_DISEASE_HINGLISH})\s+(?:ho\s+gaya\s+|ho\s+gayi\s+)?hai\b",
    ),
}

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
    r"\b(?:deja|deje|dejen)\s+de\s+(?:tomar|usar|ponerte|ponerse|aplicar)\b",
    r"\b(?:suspende|suspenda|abandona|abandone|interrumpe|interrumpa)\s+(?:el|la|tu|su|sus|tus)\s+"
    r"(?:\w+\s+)?(?:tratamiento|medicamentos?|medicaci[oó]n|medicinas?|insulina|pastillas)\b",
    r"\bno\s+(?:necesitas|necesita)\s+(?:tomar\s+)?(?:tu|su|el|la|sus)\s+(?:medicamentos?|"
    r"tratamiento|medicinas?|insulina)\b",
    r"\b(?:pare|pára|deixe|parem)\s+de\s+(?:tomar|usar)\b",
    r"\b(?:pare|suspenda|interrompa|abandone)\s+(?:o|a|os|as|seu|sua|seus|suas)\s+(?:\w+\s+)?"
    r"(?:tratamento|rem[ée]dios?|medicamentos?|medica[çc][ãa]o|insulina)\b",
    r"\b(?:arr[êe]tez|arr[êe]te|cessez|cesse)\s+de\s+(?:prendre|utiliser)\b",
    r"\b(?:arr[êe]tez|arr[êe]te|interrompez|cessez)\s+(?:votre|vos|le|les|ce|ces|ton|tes)\s+"
    r"(?:\w+\s+)?(?:traitements?|m[ée]dicaments?|insuline|comprim[ée]s)\b",
    r"\b(?:acha|acheni|aache)\s+(?:kutumia|kunywa|kumeza)\b",
    r"\b(?:acha|acheni)\s+dawa\b",
    r"\busiendelee\s+(?:kutumia|kunywa|kumeza)\b",
    r"(?:दवा|दवाई|दवाइयाँ|दवाइयां|दवाओं|इलाज|इंसुलिन|गोली|गोलियाँ|गोलियां)\s+(?:\S+\s+){0,2}?"
    r"बंद\s+कर",
    r"\b(?:dawa|dawai|dawaai|medicine|goli|ilaj|insulin)\s+(?:\w+\s+){0,2}?band\s+kar\b",
)

_REASSURANCE = _rx(
    r"\bno\s+need\s+to\s+(?:see|visit|go\s+to|call|consult|worry)\b",
    r"\b(?:you\s+)?(?:don't|do\s+not|dont|won't|will\s+not)\s+need\s+(?:to\s+(?:see|visit|go\s+"
    r"to|call|consult)|a\s+doctor|medical|an?\s+ambulance|to\s+worry|any\s+treatment)\b",
    r"\bnothing\s+(?:to\s+worry\s+about|serious|to\s+be\s+concerned\s+about|to\s+worry)\b",
    r"\b(?:it(?:'s|’s|\s+is)|this\s+is|that(?:'s|’s|\s+is))\s+not\s+(?:serious|an?\s+emergency|"
    r"dangerous|urgent)\b",
    r"\byou\s+can\s+(?:safely\s+)?wait\b|\b(?:it|this)\s+can\s+wait\b|\bwait\s+and\s+see\b",
    r"\bwait\s+(?:a\s+few|a\s+couple\s+of|several|\d+)\s+(?:days|weeks)\b",
    r"\b(?:don't|do\s+not)\s+worry\b",
    r"\b(?:probably|likely|most\s+likely)\s+nothing\b|\bno\s+need\s+for\s+(?:a|an)\s+"
    r"(?:doctor|hospital|clinic|ambulance)\b",
    r"\b(?:it|this)\s*(?:is|'s|’s)\s+(?:completely\s+|perfectly\s+|totally\s+)?normal\b",
    r"\byou\s+can\s+(?:manage|treat)\s+(?:this|it)\s+at\s+home\b",
    r"\b(?:it|this)\s+will\s+(?:go\s+away|pass|get\s+better|clear\s+up|settle)\s+on\s+its\s+own\b",
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
    r"\brien\s+d[e']\s*(?:grave|inquiétant|sérieux)\b",
    r"\bce\s+n'est\s+pas\s+(?:grave|sérieux|une\s+urgence|urgent)\b",
    r"\bne\s+vous\s+inquiétez\s+pas\b|\bne\s+t'inquiète\s+pas\b|\bvous\s+pouvez\s+attendre\b",
    r"\bhakuna\s+haja\s+ya\s+(?:kwenda|kumuona|kuona|kupiga|kuwa\s+na\s+wasiwasi)\b",
    r"\busijali\b|\bsi\s+(?:jambo\s+kubwa|hatari|dharura|tatizo\s+kubwa)\b",
    r"\bunaweza\s+kusubiri\b|\bitaisha\s+yenyewe\b",
    r"(?:डॉक्टर|अस्पताल)\s+(?:के\s+पास\s+)?(?:जाने|दिखाने)\s+की\s+(?:कोई\s+)?"
    r"(?:ज़रूरत|जरूरत|आवश्यकता)\s+नहीं",
    r"(?:चिंता|घबराने|फिक्र)\s+(?:की|करने\s+की)\s+(?:कोई\s+)?(?:बात|ज़रूरत|जरूरत)\s+नहीं",
    r"कोई\s+गंभीर\s+बात\s+नहीं|(?:इंतज़ार|इंतजार)\s+कर\s+सकते|अपने\s+आप\s+ठीक\s+हो\s+जाएगा",
    r"\b(?:chinta|ghabrane)\s+ki\s+(?:koi\s+)?(?:baat|zaroorat|jarurat)\s+nahi",
    r"\bdoctor\s+ke\s+paas\s+jaane\s+ki\s+(?:koi\s+)?(?:zaroorat|jarurat)\s+nahi",
)

_INJECTION = _rx(
    r"\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|your)\s+"
    r"(?:instructions|prompts?|rules|messages)\b",
    r"\b(?:system|developer)\s+prompt\b|\bjailbreak\b|\bdeveloper\s+mode\b|\bDAN\s+mode\b",
    r"\bignora\s+(?:las\s+|todas\s+las\s+)?instrucciones\s+anteriores\b",
    r"\bignore\s+(?:as\s+)?instruções\s+anteriores\b",
    r"\bignorez\s+(?:les\s+|toutes\s+les\s+)?instructions\s+(?:précédentes|ci-dessus)\b",
    r"पिछले\s+(?:सभी\s+)?निर्देशों\s+को\s+(?:अनदेखा|नज़रअंदाज़|नजरअंदाज)",
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


def _hedged(sentence: str, start: int) -> bool:
    """True when the few words just before a match make it conditional or hedged."""
    return bool(_HEDGE_BEFORE.search(sentence[max(0, start - 30) : start]))


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


def _prescription_dose(sentence: str) -> bool:
    return bool(_RX.search(sentence) and _DOSE.search(sentence))


def _child_dose(sentence: str, assessment: Assessment) -> bool:
    if _PER_KG.search(sentence):
        return True
    if not _ANY_DRUG.search(sentence) or not re.search(rf"\d\s*{_MASS}(?![a-z])", sentence, _F):
        return False
    return assessment.subject in {"infant", "child"} or bool(_CHILD.search(sentence))


def _stop_treatment(sentence: str) -> bool:
    for match in _STOP_TREATMENT.finditer(sentence):
        before = sentence[max(0, match.start() - 40) : match.start()].lower()
        # "Don't suddenly stop taking your medicine", "if you stop taking…" and "it is
        # dangerous to stop taking…" warn against stopping; they are safe.
        negated = re.search(
            r"(?:n't|\bnot|\bnever|\bno|\bnão|\bne|\bif|\bsi|\bse|\bwhen)(?:\s+\w+){0,2}\s*$",
            before,
        )
        warned = re.search(
            r"\b(?:dangerous|unsafe|risky|harmful|peligroso|perigoso|dangereux|hatari)\b|खतरनाक",
            before,
        )
        if not (negated or warned):
            return True
    return False


def _violation_of(sentence: str, assessment: Assessment, allowed: Collection[str]) -> str | None:
    """Return the kind of the first rule the sentence breaks, or None."""
    if _INJECTION.search(sentence):
        return "prompt_injection"
    if _CLAIMS_HUMAN.search(sentence):
        return "claims_human"
    if _certain_diagnosis(sentence, assessment.language):
        return "certain_diagnosis"
    if _prescription_dose(sentence):
        return "prescription_dose"
    if _child_dose(sentence, assessment):
        return "child_dose"
    if _stop_treatment(sentence):
        return "stop_treatment"
    if assessment.level.rank >= TriageLevel.URGENT.rank and _REASSURANCE.search(sentence):
        return "urgency_too_low"
    if disallowed_links(sentence, allowed):
        return "link_not_allowed"
    return None


def _has_care_advice(text: str, assessment: Assessment) -> bool:
    """True when the text already says to seek care as fast as the assessment requires."""
    level = assessment.level
    if care_advice(level, assessment.language) in text:
        return True
    sentences = [s for line in _parse(text) for s in line.sentences]
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
) -> GuardedReply:
    """Screen a model draft; remove unsafe sentences, add care advice, or replace it."""
    lines = _parse(draft or "")
    violations: list[Violation] = []
    total = removed = 0
    for line in lines:
        for i, sentence in enumerate(line.sentences):
            total += len(sentence)
            kind = _violation_of(sentence, assessment, allowed_domains)
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

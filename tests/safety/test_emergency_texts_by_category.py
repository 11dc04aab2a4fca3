"""Emergency replies by category: age-specific CPR, pregnancy, dehydration, conflict-free mixes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from safety import texts
from safety.guard import check_reply
from safety.types import LANGUAGES, Assessment, EmergencyContact, TriageLevel

KNOWN = EmergencyContact(
    country="IN",
    emergency="112",
    crisis_line="14416",
    crisis_name="Tele-MANAS",
    source="https://example.invalid/",
    reviewed="2026-11-29",
)
NUMBER_ONLY = EmergencyContact(country="NG", emergency="199")
UNKNOWN = EmergencyContact(country=None, emergency=None)
CONTACTS = (KNOWN, NUMBER_ONLY, UNKNOWN)
SUBJECTS: tuple[str | None, ...] = (None, "infant", "child", "pregnant", "elderly")
NEW = ("not_breathing", "pregnancy_waters", "pregnancy_bleeding", "dehydration")

# The key instruction each new text must carry, per language: (category, subject) -> phrases.
KEY: dict[str, dict[tuple[str, str | None], tuple[str, ...]]] = {
    "en": {
        ("not_breathing", None): ("CPR", "30 chest compressions", "100 to 120", "hands-only"),
        ("not_breathing", "child"): ("5 rescue breaths first", "one or two hands", "30:2"),
        ("not_breathing", "infant"): ("5 gentle rescue breaths", "mouth and nose", "two fingers"),
        ("pregnancy_waters", None): ("maternity unit now", "not a tampon", "colour", "bath"),
        ("pregnancy_bleeding", None): ("drive yourself", "Go now", "pads"),
        ("dehydration", "child"): ("ORS", "sips", "On the way"),
        ("dehydration", "infant"): ("NOW", "under 2 months", "Keep breastfeeding"),
    },
    "es": {
        ("not_breathing", None): ("RCP", "30 compresiones", "de 100 a 120", "solo con las manos"),
        ("not_breathing", "child"): ("primero 5 respiraciones", "una o dos manos", "30:2"),
        ("not_breathing", "infant"): ("5 respiraciones", "la boca y la nariz", "dos dedos"),
        ("pregnancy_waters", None): ("a la maternidad", "no un tampón", "color", "bañera"),
        ("pregnancy_bleeding", None): ("No conduzca", "Vaya ahora", "compresas"),
        ("dehydration", "child"): ("SRO", "sorbos", "Por el camino"),
        ("dehydration", "infant"): ("YA", "menos de 2 meses", "Siga dándole el pecho"),
    },
    "pt": {
        ("not_breathing", None): ("RCP", "30 compressões", "100 a 120", "só com as mãos"),
        ("not_breathing", "child"): ("primeiro 5 respirações", "uma ou duas mãos", "30:2"),
        ("not_breathing", "infant"): ("5 respirações", "a boca e o nariz", "dois dedos"),
        ("pregnancy_waters", None): ("à maternidade", "não tampão", "cor do líquido", "banheira"),
        ("pregnancy_bleeding", None): ("Não dirija", "Vá agora", "absorventes"),
        ("dehydration", "child"): ("SRO", "goles", "No caminho"),
        ("dehydration", "infant"): ("JÁ", "menos de 2 meses", "Continue amamentando"),
    },
    "fr": {
        ("not_breathing", None): ("RCP", "30 compressions", "100 à 120", "mains seules"),
        ("not_breathing", "child"): ("d'abord 5 insufflations", "une ou deux mains", "30:2"),
        ("not_breathing", "infant"): ("5 insufflations", "la bouche et le nez", "deux doigts"),
        ("pregnancy_waters", None): ("à la maternité", "pas de tampon", "couleur", "bain"),
        ("pregnancy_bleeding", None): ("Ne conduisez pas", "Partez maintenant", "serviettes"),
        ("dehydration", "child"): ("SRO", "gorgées", "En chemin"),
        ("dehydration", "infant"): ("TOUT DE SUITE", "moins de 2 mois", "Continuez l'allaitement"),
    },
    "sw": {
        ("not_breathing", None): ("CPR", "mara 30", "100 hadi 120", "mikono tu"),
        ("not_breathing", "child"): ("kwanza pumzi 5", "mkono mmoja au miwili", "30:2"),
        ("not_breathing", "infant"): ("pumzi 5", "mdomo na pua yake", "vidole viwili"),
        ("pregnancy_waters", None): ("wodi ya wazazi", "si tamponi", "rangi ya maji", "beseni"),
        ("pregnancy_bleeding", None): ("Usiendeshe gari", "Nenda sasa", "pedi"),
        ("dehydration", "child"): ("ORS", "mafunda", "Njiani"),
        ("dehydration", "infant"): ("SASA", "chini ya miezi 2", "Endelea kumnyonyesha"),
    },
    "hi": {
        ("not_breathing", None): ("CPR", "30 बार", "100 से 120", "सिर्फ़ हाथों से"),
        ("not_breathing", "child"): ("पहले 5 बार", "एक या दोनों हाथों", "30:2"),
        ("not_breathing", "infant"): ("5 बार", "मुँह और नाक", "दो उँगलियों"),
        ("pregnancy_waters", None): ("प्रसूति वार्ड", "टैम्पोन नहीं", "रंग", "टब"),
        ("pregnancy_bleeding", None): ("गाड़ी न चलाएँ", "अभी जाएँ", "पैड"),
        ("dehydration", "child"): ("ORS", "घूँट", "रास्ते में"),
        ("dehydration", "infant"): ("2 महीने से छोटा", "स्तनपान कराते रहें"),
    },
}
# "Sips" in each language: advice that suits an adult or an older child, never a young baby.
SIPS = {"en": "sips", "es": "sorbo", "pt": "gole", "fr": "gorgée", "sw": "mafunda", "hi": "घूँट"}


def _assessment(
    lang: str,
    categories: set[str] | frozenset[str] | tuple[str, ...],
    subject: str | None = None,
    contact: EmergencyContact = KNOWN,
) -> Assessment:
    return Assessment(
        level=TriageLevel.EMERGENCY,
        hits=(),
        escalate=True,
        contact=contact,
        language=lang,
        subject=subject,
        categories=frozenset(categories),
    )


def _reply(lang: str, *categories: str, subject: str | None = None) -> str:
    return texts.emergency_reply(_assessment(lang, categories, subject))


def _leaves(node: Any) -> Iterator[str]:
    """Yield every text of a language file (plain strings and {text, source} items)."""
    if isinstance(node, Mapping) and "text" in node:
        yield str(node["text"])
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key not in {"language", "reviewed"}:
                yield from _leaves(value)
    else:
        yield str(node)


# --- data: variants and the conflict table -------------------------------------------------------


def test_new_categories_are_known_and_not_breathing_leads() -> None:
    cats = texts.categories()
    assert set(NEW) <= set(cats)
    assert cats[0] == "not_breathing"
    assert cats.index("pregnancy_bleeding") < cats.index("pregnancy")
    assert cats.index("pregnancy_waters") < cats.index("pregnancy")


def test_conflict_table_names_known_categories_and_is_acyclic() -> None:
    table = texts.conflicts()
    known = set(texts.categories())
    assert table, "the conflict table must not be empty"
    for lead, dropped in table.items():
        assert lead in known, lead
        assert dropped <= known, (lead, dropped - known)
        assert lead not in dropped, lead
    # A cycle would drop every category in it; walk the graph to prove there is none.
    state: dict[str, str] = {}

    def visit(node: str) -> None:
        assert state.get(node) != "open", f"cycle through {node}"
        if state.get(node) == "done":
            return
        state[node] = "open"
        for nxt in table.get(node, frozenset()):
            visit(nxt)
        state[node] = "done"

    for lead in table:
        visit(lead)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_variant_entries_have_a_default_and_known_subjects(lang: str) -> None:
    allowed = {"default", "infant", "child", "pregnant", "elderly"}
    variants = {
        name: entry
        for name, entry in texts.load_texts(lang)["first_aid"].items()
        if isinstance(entry, Mapping) and "text" not in entry
    }
    assert {"not_breathing", "dehydration"} <= set(variants)
    assert set(variants["not_breathing"]) == {"default", "child", "infant"}
    assert {"default", "child", "infant"} <= set(variants["dehydration"])
    for name, entry in variants.items():
        assert "default" in entry and set(entry) <= allowed, (name, set(entry))
        bodies = [str(item["text"]) for item in entry.values()]
        assert len(set(bodies)) == len(bodies), name  # each variant says something different


def test_composition_does_not_depend_on_order() -> None:
    fired = ["poisoning", "snake_bite", "burn", "not_breathing", "bleeding", "electric_shock"]
    assert texts.composed_categories(fired) == texts.composed_categories(fired[::-1])
    assert texts.composed_categories(fired) == ("not_breathing", "bleeding", "electric_shock",
                                                "snake_bite")  # fmt: skip


def test_conflict_table_overrides_priority() -> None:
    # poisoning and breathing rank higher, but the table lets the specific category lead.
    assert texts.composed_categories(["poisoning", "snake_bite"]) == ("snake_bite",)
    assert texts.composed_categories(["breathing", "anaphylaxis"]) == ("anaphylaxis",)
    assert texts.composed_categories(["bleeding", "pregnancy_bleeding"]) == ("pregnancy_bleeding",)
    assert texts.composed_categories(["unresponsive", "self_harm"]) == ("self_harm",)


# --- each new category, each language ------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("category", "subject"), sorted(KEY["en"], key=str))
def test_new_category_reply_has_number_and_key_instruction(
    lang: str, category: str, subject: str | None
) -> None:
    for contact in CONTACTS:
        reply = texts.emergency_reply(_assessment(lang, {category}, subject, contact))
        if contact.emergency:
            assert contact.emergency in reply
        assert texts.first_aid(category, lang, subject) in reply
        for phrase in KEY[lang][(category, subject)]:
            assert phrase in reply, (phrase, reply)
        assert len(reply) < texts.EMERGENCY_REPLY_LIMIT


@pytest.mark.parametrize("lang", LANGUAGES)
def test_cpr_differs_by_age(lang: str) -> None:
    adult = _reply(lang, "not_breathing")
    child = _reply(lang, "not_breathing", subject="child")
    infant = _reply(lang, "not_breathing", subject="infant")
    assert len({adult, child, infant}) == 3
    by_age = {
        "adult": texts.first_aid("not_breathing", lang),
        "child": texts.first_aid("not_breathing", lang, "child"),
        "infant": texts.first_aid("not_breathing", lang, "infant"),
    }
    for age, reply in (("adult", adult), ("child", child), ("infant", infant)):
        for other, text in by_age.items():
            assert (text in reply) == (other == age), (age, other)
    # Adults and unknown ages get adult CPR; a baby is a baby however the age was found.
    for subject in ("elderly", "pregnant", "unknown-thing"):
        assert _reply(lang, "not_breathing", subject=subject) == adult
    assert _reply(lang, "not_breathing", subject="young_infant") == infant
    assert _reply(lang, "not_breathing", "infant") == infant


def test_cpr_english_wording() -> None:
    adult = _reply("en", "not_breathing")
    assert "30 chest compressions" in adult and "centre of the chest" in adult
    assert "2 rescue breaths if you are trained" in adult and "hands-only" in adult
    child = _reply("en", "not_breathing", subject="child")
    assert child.index("5 rescue breaths") < child.index("30 chest compressions")
    infant = _reply("en", "not_breathing", subject="infant")
    assert "mouth and nose" in infant and "two fingers" in infant
    assert infant.index("5 gentle rescue breaths") < infant.index("30 chest compressions")


# --- composition: the lead first, nothing that contradicts it -----------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_not_breathing_drops_every_conflicting_step(lang: str, subject: str | None) -> None:
    for other in texts.categories():
        if "not_breathing" in texts.conflicts().get(other, frozenset()):
            continue  # self_harm: the crisis reply, tested below
        assessment = _assessment(lang, {"not_breathing", other}, subject)
        reply = texts.emergency_reply(assessment)
        # A baby's CPR when the `infant` category fired, even without a detected subject.
        age = "infant" if other == "infant" and subject is None else subject
        cpr = texts.first_aid("not_breathing", lang, age)
        assert cpr in reply, other
        assert reply.index(cpr) < reply.index(texts.load_texts(lang)["emergency"]["staff_notified"])
        if other in texts.conflicts()["not_breathing"]:
            assert texts.first_aid(other, lang, subject) not in reply, other
        if lang == "en":
            for banned in ("upright", "inhaler", "recovery position", "sips", "sugary"):
                assert banned not in reply, (other, banned)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_lead_comes_first_and_others_follow(lang: str) -> None:
    reply = _reply(lang, "bleeding", "not_breathing", "electric_shock")
    cpr = texts.first_aid("not_breathing", lang)
    assert reply.index(cpr) < reply.index(texts.first_aid("bleeding", lang))


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("physical", ["unresponsive", "not_breathing", "drowning"])
def test_self_harm_never_gets_unconscious_person_first_aid(lang: str, physical: str) -> None:
    reply = _reply(lang, "self_harm", physical)
    data = texts.load_texts(lang)["self_harm"]
    assert reply.startswith(data["opening"])
    assert "14416" in reply and "Tele-MANAS" in reply and "112" in reply
    assert data["stay"] in reply and data["means"] in reply
    for subject in SUBJECTS:
        assert texts.first_aid(physical, lang, subject) not in reply
    assert texts.first_aid("unresponsive", lang) not in reply
    if lang == "en":
        assert "recovery position" not in reply and "on their side" not in reply
        assert "CPR" not in reply


@pytest.mark.parametrize("lang", LANGUAGES)
def test_self_harm_keeps_physical_steps_that_fit(lang: str) -> None:
    reply = _reply(lang, "self_harm", "unresponsive", "overdose")
    assert texts.first_aid("overdose", lang) in reply
    assert texts.first_aid("unresponsive", lang) not in reply


@pytest.mark.parametrize("lang", LANGUAGES)
def test_snake_bite_gets_no_poisoning_advice(lang: str) -> None:
    reply = _reply(lang, "snake_bite", "poisoning")
    assert texts.first_aid("snake_bite", lang) in reply
    assert texts.first_aid("poisoning", lang) not in reply
    if lang == "en":
        assert "vomit" not in reply.lower() and "container" not in reply


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("subject", ["infant", "young_infant"])
def test_dehydration_in_a_baby_gets_no_sips(lang: str, subject: str) -> None:
    baby = texts.first_aid("dehydration", lang, "infant")
    for other in texts.categories():
        reply = _reply(lang, "dehydration", other, subject=subject)
        assert SIPS[lang] not in reply.lower(), (other, reply)
        if texts.composed_categories([other, "dehydration"])[0] == "dehydration":
            assert baby in reply, other
    # The `infant` category alone tells the age, even when no subject was detected.
    assert baby in _reply(lang, "dehydration", "infant")
    assert SIPS[lang] not in _reply(lang, "dehydration", "high_fever", "infant").lower()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dehydration_in_a_child_gets_ors_on_the_way(lang: str) -> None:
    reply = _reply(lang, "dehydration", subject="child")
    assert texts.first_aid("dehydration", lang, "child") in reply
    assert "ORS" in reply or "SRO" in reply
    assert texts.first_aid("dehydration", lang) not in reply


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pregnancy_bleeding_is_not_treated_as_a_wound(lang: str) -> None:
    reply = _reply(lang, "pregnancy_bleeding", "bleeding", "pregnancy", subject="pregnant")
    assert texts.first_aid("pregnancy_bleeding", lang) in reply
    assert texts.first_aid("bleeding", lang) not in reply
    assert texts.first_aid("pregnancy", lang) not in reply


# --- length, placeholders, guard, for every mix -------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_pair_stays_under_the_limit(lang: str) -> None:
    for subject in SUBJECTS:
        for a, b in itertools.combinations_with_replacement(texts.categories(), 2):
            for contact in CONTACTS:
                reply = texts.emergency_reply(_assessment(lang, {a, b}, subject, contact))
                assert len(reply) < texts.EMERGENCY_REPLY_LIMIT, (subject, a, b, len(reply))
                assert "{" not in reply and "}" not in reply
                if contact.emergency:
                    assert contact.emergency in reply, (a, b)
                if "self_harm" in {a, b} and contact.crisis_line:
                    assert contact.crisis_line in reply, (a, b)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_age_specific_texts_pass_the_guard(lang: str) -> None:
    for category in texts.categories():
        for subject in ("infant", "child"):
            assessment = _assessment(lang, {category}, subject)
            reply = texts.emergency_reply(assessment)
            assert check_reply(reply, assessment).violations == (), (category, subject)


# --- Spanish register: usted, never tú -----------------------------------------------------------

# Pronouns and verb forms of "tú" (and voseo), as whole words.
_TU_WORDS = {
    "tú", "tu", "tus", "ti", "te", "contigo", "tuyo", "tuya", "tuyos", "tuyas", "vos",
    "estás", "eres", "puedes", "tienes", "quieres", "necesitas", "sientes", "sientas",
    "mereces", "debes", "pudieras", "llamas", "ve", "ven", "haz", "sé", "dime",
}  # fmt: skip
# Enclitic "te" on an infinitive (hacerte, escucharte) or an accented imperative (quédate).
_TU_CLITIC = re.compile(r"\b(?:\w+(?:ar|er|ir)te|\w*[áéíóú]\w*te)\b")
_NOT_CLITIC = {"parte", "aparte", "arte", "muerte", "fuerte", "suerte"}
# Imperatives of "tú" followed by what they are said to ("llama al 112", "aparta cualquier").
_TU_IMPERATIVE = re.compile(r"\b(?:llama|aparta|cuéntales?|quédate|acuéstate)\b")


def _tu_forms(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    found = [w for w in words if w in _TU_WORDS]
    found += [m for m in _TU_CLITIC.findall(text.lower()) if m not in _NOT_CLITIC]
    found += _TU_IMPERATIVE.findall(text.lower())
    return found


@pytest.mark.parametrize(
    "sample",
    [
        "Siento mucho que te sientas así.",
        "Por favor, llama a {crisis_name} al {crisis_line}. Están ahí para escucharte.",
        "Si puedes, quédate con alguien de confianza y cuéntale lo que está pasando.",
        "Si es seguro hacerlo, aparta cualquier cosa que pudieras usar para hacerte daño.",
        "se pondrán en contacto contigo.",
        "Lleva tu carné del embarazo.",
    ],
)
def test_tu_detector_finds_tu(sample: str) -> None:
    assert _tu_forms(sample)


def test_spanish_texts_use_usted_only() -> None:
    found = {text: _tu_forms(text) for text in _leaves(texts.load_texts("es"))}
    assert {text: forms for text, forms in found.items() if forms} == {}
    crisis = texts.emergency_reply(_assessment("es", {"self_harm"}))
    assert "llame" in crisis.lower() and "usted" in crisis

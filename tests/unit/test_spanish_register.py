"""Every Spanish text the bot can send addresses the reader as "usted", never as "tú"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from babel.messages.pofile import read_po

import bot
import safety
from bot import i18n
from bot.llm import offline

BOT = Path(bot.__file__).parent
CATALOG = BOT / "locales" / "es" / "LC_MESSAGES" / "messages.po"
TOPICS = BOT / "knowledge" / "topics"
PASSAGES = BOT / "knowledge" / "passages"
SAFETY_TEXTS = Path(safety.__file__).parent / "data" / "texts" / "es.yaml"

# --- The detector ----------------------------------------------------------------------------
# Only forms that are "tú" wherever they stand. Third-person and usted indicative share their
# verb forms ("toma", "usa", "llama"), so bare verbs are never enough on their own.

# Pronouns, possessives (the reader's "tu hijo" is tú too), voseo, and "tú" verb forms that no
# other person shares.
_WORDS = (
    r"tú|tu|tus|ti|te|contigo|tuy[oa]s?|vos"
    r"|estás|estés|eres|seas|tienes|tengas|puedes|puedas|debes|debas|quieres|quieras"
    r"|necesitas|necesites|sientes|sientas|sabes|sepas|vas|vayas|haces|hagas|dices|digas"
    r"|crees|vives|notes|tenés|podés|querés|sabés|necesitás"
    r"|podrías|deberías|tendrías|querrías"
    r"|dime|escríbeme|cuéntame|avísame|llámame|pregúntame|envíame|mándame"
    r"|llévalo|llévala|tráelo|tráela|dale|dile|ponle|hazlo"
)
# Imperatives that open a clause, where a third-person verb would need its subject. After a comma
# only verbs that never describe a patient ("no come, vomita todo" is third person).
_AFTER_COMMA = r"llama|envía|escribe|describe|explica|haz|pon|ten|mantén"
_AFTER_SENTENCE = (
    r"cuenta|acude|vigila|ofrece|lava|revisa|mide|cuida|aplica|cubre|busca|descansa|espera|usa"
    r"|toma|evita|pide|procura|intenta|recuerda|consulta(?=\s+(?:con|a|al|en|hoy|pronto|ya)\b)"
)
# "¿Toma algún medicamento?" is usted: a question mark does not open an imperative.
_SENTENCE_START = r"(?:^|(?<=[.!?:;¡•(\-–—])|(?<=[.!?:;¡•(\-–—]\s))"
_COMMA = r"(?:(?<=,)|(?<=,\s))"
# Negative imperatives ("no esperes"); the usted form ends differently ("no espere").
_NEGATIVE = (
    r"esperes|tomes|uses|des|dejes|bebas|comas|vayas|manejes|conduzcas|intentes|pongas|hagas"
    r"|compartas|metas|frotes|rasques|apliques|olvides|dudes|sigas|automediques|tengas|pares"
)
_TU = re.compile(
    rf"\b(?:{_WORDS})\b"
    rf"|{_SENTENCE_START}\s*(?:{_AFTER_COMMA}|{_AFTER_SENTENCE})\b"
    rf"|{_COMMA}\s*(?:{_AFTER_COMMA})\b"
    rf"|\bno\s+(?:(?:lo|la|los|las|le|les|se)\s+)?(?:{_NEGATIVE})\b"
    # Future ("recibirás") and preterite ("tomaste", "tuviste") of "tú".
    r"|\b\w+rás\b"
    r"|\b\w+(?:aste|iste)\b"
    # Enclitic "te": on an infinitive ("examinarte") or an accented imperative ("quédate").
    r"|\b\w+(?:ar|er|ir|ír)te\b"
    r"|\b\w*[áéíóú]\w*te\b",
    re.IGNORECASE | re.MULTILINE,
)
# Words the morphological patterns above would catch but that are not "tú".
_NOT_TU = re.compile(
    r"(?:parte|uerte|ierte|inerte|alerte|estandarte|baluarte|descarte|encarte|marte|mente|límite"
    r"|atrás|detrás|siste|xiste|triste|quiste|chiste|alpiste|traste|gaste|baste|viste)$",
    re.IGNORECASE,
)


def tu_forms(text: str) -> list[str]:
    """Return the "tú" forms found in a Spanish text."""
    found = (match.group(0).strip() for match in _TU.finditer(text))
    return [form for form in found if not _NOT_TU.search(form)]


@pytest.mark.parametrize(
    "sample",
    [
        "Llama ya al 112.",
        "En una emergencia, llama al 112.",
        "Por favor, describe con palabras lo que pasa.",
        "Envía AYUDA para ver los comandos.",
        "Guardamos tus mensajes.",
        "Lleva el carné de tu bebé.",
        "No puedo examinarte.",
        "Si puede, quédate con alguien de confianza.",
        "Si tienes fiebre, beba agua.",
        "En una emergencia, no esperes a este chat.",
        "Ya no recibirás más mensajes.",
        "¿Tomaste el medicamento?",
        "Cuéntame qué pasa.",
        "Estoy aquí para ti.",
        "Si vos tenés fiebre, consulte.",
        "- Toma paracetamol cada 6 horas.",
        "Podría ser una infección; consulta con un médico.",
        "Dale suero oral al niño.",
        "Podrías pedir ayuda.",
        "Puedes escribirme cuando quieras.",
        "Se pondrán en contacto contigo.",
        "Siento que te sientas así.",
    ],
)
def test_detector_finds_tu(sample: str) -> None:
    assert tu_forms(sample), sample


@pytest.mark.parametrize(
    "sample",
    [
        "Llame ya al 112. Envíe AYUDA para ver los comandos.",
        "Si llama al 112, diga dónde está.",
        "¿Toma algún medicamento? ¿Usa anticonceptivos?",
        "Pregunte también si tiene más de 65 años o toma anticoagulantes.",
        "Haga gárgaras con agua tibia y sal. Mezcle agua, sal y azúcar.",
        "Esta enfermedad se llama dengue.",
        "Despierte al niño y ofrézcale el pecho; aparte los objetos duros.",
        "Tome el té de manzanilla poco a poco.",
        "Un dolor fuerte y repentino necesita atención rápidamente, por suerte es raro.",
        "No supere el límite de la dosis. Mire hacia atrás.",
        "El quiste existe desde hace meses y persiste.",
        "El niño llora, no come, vomita todo o no bebe. Da mucha picazón.",
        "Todavía no puedo ver las notas de voz. Anote las tomas.",
        "Le responderá aquí cuando esté disponible. Puede escribirme cuando quiera.",
        "Guardamos sus mensajes para poder responderle. Cuénteme qué le preocupa.",
        "Si el bebé no quiere mamar, busque atención hoy.",
        "Consulta prenatal: lleve su carné. Consulte con un médico.",
    ],
)
def test_detector_accepts_usted(sample: str) -> None:
    assert tu_forms(sample) == [], sample


# --- The texts ---------------------------------------------------------------------------------

Text = tuple[str, str]  # (where, text)


def _catalog() -> Iterator[Text]:
    with CATALOG.open("rb") as handle:
        for message in read_po(handle):
            if message.id and isinstance(message.string, str):
                yield f"{CATALOG.name}: {message.id}", message.string


def _spanish(node: Any) -> str:
    return str(node.get("es", "")) if isinstance(node, dict) else ""


def _topics() -> Iterator[Text]:
    for path in sorted(TOPICS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for field in ("title", "answer"):
            yield f"topics/{path.name}: {field}", _spanish(data.get(field))


def _passages() -> Iterator[Text]:
    for path in sorted(PASSAGES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        yield f"passages/{path.name}: title", _spanish(data.get("title"))
        for passage in data.get("passages") or []:
            for field in ("title", "answer"):
                where = f"passages/{path.name}: {passage.get('id')}.{field}"
                yield where, _spanish(passage.get(field))


def _leaves(node: Any, path: str) -> Iterator[Text]:
    if isinstance(node, dict):
        for key, value in node.items():
            # Metadata, not words the reader sees.
            if key not in {"language", "reviewed", "source", "also"}:
                yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield f"{SAFETY_TEXTS.name}: {path}", node


def _safety() -> Iterator[Text]:
    yield from _leaves(yaml.safe_load(SAFETY_TEXTS.read_text(encoding="utf-8")), "")


def _offline() -> Iterator[Text]:
    yield "bot/llm/offline.py: NO_ANSWER", offline.NO_ANSWER["es"]
    yield "bot/llm/offline.py: ENGLISH_ONLY_NOTE", offline.ENGLISH_ONLY_NOTE["es"]


SOURCES = {
    "catalog": _catalog,
    "topics": _topics,
    "passages": _passages,
    "safety_texts": _safety,
    "offline": _offline,
}


def test_every_source_is_read() -> None:
    """Guard against a scan that passes because it read nothing."""
    catalog = [text for _, text in _catalog() if text]
    assert len(catalog) == len(i18n.KEYS)
    topics = [text for _, text in _topics() if text]
    assert len(topics) == 2 * len(list(TOPICS.glob("*.yaml"))) > 0
    assert any(text for _, text in _passages())
    assert sum(1 for _, text in _safety() if text) > 20
    assert all(text for _, text in _offline())


@pytest.mark.parametrize("source", SOURCES)
def test_spanish_texts_use_usted(source: str) -> None:
    found = [
        f"{where}: {forms} in {text.strip()[:160]!r}"
        for where, text in SOURCES[source]()
        if (forms := tu_forms(text))
    ]
    assert not found, "Spanish texts in 'tú' (write them in 'usted'):\n" + "\n".join(found)

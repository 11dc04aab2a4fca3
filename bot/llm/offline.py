"""The offline model: answers from the curated knowledge base, needs no network and no API key."""

from __future__ import annotations

import math
import time

from bot.knowledge import Hit, KnowledgeBase, content_tokens
from bot.ports import CallRecord, ChatRequest, ChatResponse, Usage, VettedPassage

# A follow-up this short ("and for a child?") leans on what was asked before it.
_FOLLOW_UP_MAX_TOKENS = 3
# How many earlier user messages a follow-up may borrow words from.
_HISTORY_MESSAGES = 3
# How much the earlier questions count next to a short follow-up (which counts 1.0).
_EARLIER_WEIGHT = 0.6

_SOURCE_LABEL: dict[str, str] = {
    "en": "Source",
    "es": "Fuente",
    "pt": "Fonte",
    "fr": "Source",
    "sw": "Chanzo",
    "hi": "स्रोत",
}

# Shown above an English answer when the topic has no translation in the user's language.
ENGLISH_ONLY_NOTE: dict[str, str] = {
    "es": "(Este tema solo está disponible en inglés por ahora.)",
    "pt": "(Este tema só está disponível em inglês por enquanto.)",
    "fr": "(Ce sujet n'est disponible qu'en anglais pour le moment.)",
    "sw": "(Mada hii inapatikana kwa Kiingereza tu kwa sasa.)",
    "hi": "(यह विषय अभी केवल अंग्रेज़ी में उपलब्ध है।)",
}

NO_ANSWER: dict[str, str] = {
    "en": (
        "I don't have reliable information on that one, so I'd rather not guess.\n\n"
        "- A health worker, nurse or pharmacist can help you with this question.\n"
        "- If symptoms are severe or getting worse, please seek care at a clinic or "
        "hospital now.\n\n"
        "You can also ask me about common problems such as fever, diarrhoea, cough, "
        "pregnancy, wounds or medicines."
    ),
    "es": (
        "No tengo información fiable sobre eso, así que prefiero no adivinar.\n\n"
        "- Un trabajador de salud, enfermera o farmacéutico puede ayudarle con esta "
        "pregunta.\n"
        "- Si los síntomas son graves o empeoran, busque atención en un centro de salud "
        "u hospital ahora.\n\n"
        "También puede preguntarme por problemas comunes como fiebre, diarrea, tos, "
        "embarazo, heridas o medicamentos."
    ),
    "pt": (
        "Não tenho informação confiável sobre isso, por isso prefiro não adivinhar.\n\n"
        "- Um profissional de saúde, enfermeiro ou farmacêutico pode ajudar com esta "
        "pergunta.\n"
        "- Se os sintomas forem graves ou estiverem piorando, procure atendimento num "
        "posto de saúde ou hospital agora.\n\n"
        "Você também pode me perguntar sobre problemas comuns como febre, diarreia, "
        "tosse, gravidez, feridas ou remédios."
    ),
    "fr": (
        "Je n'ai pas d'information fiable sur ce sujet, je préfère donc ne pas deviner.\n\n"
        "- Un agent de santé, un infirmier ou un pharmacien peut vous aider pour cette "
        "question.\n"
        "- Si les symptômes sont graves ou s'aggravent, consultez maintenant dans un "
        "centre de santé ou à l'hôpital.\n\n"
        "Vous pouvez aussi me poser des questions sur la fièvre, la diarrhée, la toux, "
        "la grossesse, les plaies ou les médicaments."
    ),
    "sw": (
        "Sina taarifa za kuaminika kuhusu jambo hilo, kwa hiyo sitaki kubahatisha.\n\n"
        "- Mhudumu wa afya, muuguzi au mfamasia anaweza kukusaidia na swali hili.\n"
        "- Ikiwa dalili ni kali au zinazidi, tafadhali nenda kituo cha afya au "
        "hospitali sasa.\n\n"
        "Unaweza pia kuniuliza kuhusu matatizo ya kawaida kama homa, kuhara, kikohozi, "
        "ujauzito, vidonda au dawa."
    ),
    "hi": (
        "इस बारे में मेरे पास भरोसेमंद जानकारी नहीं है, इसलिए मैं अंदाज़ा नहीं लगाना चाहता।\n\n"
        "- स्वास्थ्य कार्यकर्ता, नर्स या फार्मासिस्ट इस सवाल में आपकी मदद कर सकते हैं।\n"
        "- अगर लक्षण गंभीर हैं या बढ़ रहे हैं, तो अभी स्वास्थ्य केंद्र या अस्पताल जाएँ।\n\n"
        "आप मुझसे बुखार, दस्त, खांसी, गर्भावस्था, घाव या दवाओं जैसी आम समस्याओं के बारे में "
        "भी पूछ सकते हैं।"
    ),
}


def _base_language(language: str) -> str:
    # "pt-BR", "PT" and "pt_BR" all mean the Portuguese texts.
    return language.replace("_", "-").split("-")[0].strip().lower() or "en"


def render_vetted(passage: VettedPassage, language: str) -> str:
    """A vetted passage as a reply: heading, the reviewed text, its source."""
    parts: list[str] = []
    if passage.language != language and language in ENGLISH_ONLY_NOTE:
        parts.append(ENGLISH_ONLY_NOTE[language])
    parts.append(f"*{passage.title}*")
    parts.append(passage.text)
    label = _SOURCE_LABEL.get(passage.language, _SOURCE_LABEL["en"])
    parts.append(f"{label}: {passage.source}")
    return "\n\n".join(parts)


def _estimate_tokens(chars: int) -> int:
    # About four characters per token is the usual rule of thumb; never report zero.
    return max(1, math.ceil(chars / 4))


class OfflineModel:
    """A ChatModel that answers from the knowledge base; never raises for ordinary input."""

    provider = "offline"

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.model = f"kb-{kb.version}"

    def find(self, request: ChatRequest) -> Hit | None:
        """The topic to answer with, reading a short follow-up together with earlier questions."""
        language = _base_language(request.language)
        user_texts = [m.content for m in request.messages if m.role == "user"]
        if not user_texts:
            return None
        last = user_texts[-1]
        earlier = " ".join(user_texts[-_HISTORY_MESSAGES:-1])
        if earlier and len(content_tokens(last)) <= _FOLLOW_UP_MAX_TOKENS:
            return self._follow_up(last, earlier, language)
        hits = self.kb.search(last, language=language, limit=1)
        if hits or not earlier:
            return hits[0] if hits else None
        # Nothing in the last message alone: the earlier questions may say what it is about.
        joined = self.kb.search(f"{earlier} {last}", language=language, limit=1)
        return joined[0] if joined else None

    def _follow_up(self, last: str, earlier: str, language: str) -> Hit | None:
        """Rank topics by the short last message first, with the earlier questions as context."""
        # "and for a child?" after a fever question: "child" alone is vague, but together with
        # the fever question "Fever in children" wins; "what about malaria?" keeps malaria because
        # the last message's own match outweighs the discounted earlier one.
        scores = self.kb.score_topics(last, language)
        for topic_id, score in self.kb.score_topics(earlier, language).items():
            scores[topic_id] = scores.get(topic_id, 0.0) + _EARLIER_WEIGHT * score
        hits = self.kb.rank(scores, limit=1)
        return hits[0] if hits else None

    def render(self, hit: Hit | None, language: str) -> str:
        """The reply text for a hit (or for no hit) in the user's language where possible."""
        if hit is None:
            return NO_ANSWER.get(language, NO_ANSWER["en"])
        topic = hit.topic
        used, answer = topic.answer_in(language)
        parts: list[str] = []
        if used != language and language in ENGLISH_ONLY_NOTE:
            parts.append(ENGLISH_ONLY_NOTE[language])
        parts.append(f"*{topic.title_in(used)}*")
        parts.append(answer)
        label = _SOURCE_LABEL.get(used, _SOURCE_LABEL["en"])
        parts.append(f"{label}: {topic.main_source}")
        return "\n\n".join(parts)

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer the last user message from the knowledge base."""
        started = time.monotonic()
        language = _base_language(request.language)
        hit: Hit | None = None
        urgency: str | None = None
        if request.passages is not None:
            # Retrieval already ran in the understanding layer: answer with its best passage.
            found = request.passages[0] if request.passages else None
            text = render_vetted(found, language) if found else self.render(None, language)
            urgency = found.level_hint if found else None
        else:
            hit = self.find(request)
            text = self.render(hit, language)
            urgency = hit.topic.level_hint if hit else None
        matched = hit is not None or bool(request.passages)
        ended = time.monotonic()
        input_chars = len(request.system) + sum(len(m.content) for m in request.messages)
        call = CallRecord(
            provider=self.provider,
            model=self.model,
            outcome="ok",
            latency_ms=(ended - started) * 1000.0,
            usage=Usage(
                input_tokens=_estimate_tokens(input_chars),
                output_tokens=_estimate_tokens(len(text)),
                estimated=True,
            ),
            perspective=request.perspective,
            cost_usd=0.0,  # runs locally: genuinely free, unlike an unknown cost
            started_at=started,
            ended_at=ended,
        )
        return ChatResponse(
            text=text,
            provider=self.provider,
            model=self.model,
            calls=(call,),
            urgency=urgency,
            mode="offline",
            finish_reason="stop" if matched else "no_match",
        )

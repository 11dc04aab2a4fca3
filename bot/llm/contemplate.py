"""Contemplating mode: a panel of perspectives consulted in parallel, then one synthesised reply.

    request ──gate──> single (greetings, thanks, short non-symptom follow-ups)
        │
        ├─ triage_nurse ─┐
        ├─ clinician ────┼─ concurrently, each bounded by min(perspective_timeout_s, time left)
        ├─ pharmacist ───┘    stragglers are abandoned
        │
        ├─ triage + >=1 other returned? no ──> single (the Router ending at offline)
        └─ yes ─> synthesis (plain-language communicator) ─> deterministic checks ─> reply

The final urgency is computed in code (the most cautious level wins, including the rules'
`triage_level`); red flags and medicine warnings from any perspective are appended when the
synthesis dropped them; a fixed sentence is appended when the panel disagreed on urgency.
Wall-clock is close to the slowest perspective plus the synthesis, not the sum of all calls.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.errors import ModelError
from bot.llm.http import describe_error, outcome_of
from bot.ports import CallRecord, ChatModel, ChatRequest, ChatResponse
from safety.types import TriageLevel, max_level

log = logging.getLogger(__name__)

TRIAGE = "triage_nurse"
CLINICIAN = "clinician"
PHARMACIST = "pharmacist"
PERSPECTIVE_MAX_TOKENS = 450
_MAX_ITEMS = 6
_MAX_ITEM_CHARS = 240

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "fr": "French",
    "sw": "Swahili",
    "hi": "Hindi",
}

# Spellings some models use for the levels (PROVIDERS.md's scale) mapped onto ours.
_URGENCY_ALIASES = {
    "urgent_same_day": TriageLevel.URGENT,
    "same_day": TriageLevel.URGENT,
    "soon_days": TriageLevel.ROUTINE,
    "soon": TriageLevel.ROUTINE,
    "self-care": TriageLevel.SELF_CARE,
    "selfcare": TriageLevel.SELF_CARE,
    "none": TriageLevel.INFO,
}


@dataclass(frozen=True, slots=True)
class Perspective:
    """One panel member: a name, its instructions and the model (or router) that answers as it."""

    name: str
    system_prompt: str
    model: ChatModel


@dataclass(frozen=True, slots=True)
class Opinion:
    """A perspective's parsed structured output."""

    urgency: TriageLevel
    red_flags: tuple[str, ...] = ()
    key_advice: tuple[str, ...] = ()
    questions_to_ask: tuple[str, ...] = ()
    med_warnings: tuple[str, ...] = ()
    evidence_quotes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The opinion as a plain JSON-able dict (for the synthesis prompt)."""
        return {
            "urgency": self.urgency.value,
            "red_flags": list(self.red_flags),
            "key_advice": list(self.key_advice),
            "questions_to_ask": list(self.questions_to_ask),
            "med_warnings": list(self.med_warnings),
            "evidence_quotes": list(self.evidence_quotes),
        }


@dataclass(slots=True)
class _Outcome:
    """What one perspective's thread produced."""

    perspective: Perspective
    calls: list[CallRecord] = field(default_factory=list)
    opinion: Opinion | None = None


# ---------------------------------------------------------------------------- prompts

_JSON_CONTRACT = """\
Return ONE JSON object and nothing else (no prose, no code fences) with exactly these keys:
{"urgency": "emergency|urgent|routine|self_care|info", "red_flags": [], "key_advice": [],
 "questions_to_ask": [], "med_warnings": [], "evidence_quotes": []}
- urgency: emergency = call an ambulance or go to an emergency department now; urgent = be seen
  by a clinician today; routine = see a health worker within days; self_care = can be looked
  after at home; info = a general question with no health concern. When torn between two levels,
  choose the more urgent one.
- red_flags: warning signs present in the messages, or to watch for, that mean getting care sooner.
- med_warnings: cautions about medicines (interactions, allergies, pregnancy, children, overdose).
- evidence_quotes: exact short quotes from the person's own messages your judgement relies on.
- At most 5 items per list, each under 20 words, written in {language}.
- Never state a diagnosis as certain. Never give prescription-only doses."""

_ROLE_PROMPTS = {
    TRIAGE: (
        "You are an experienced telephone triage nurse. Decide how soon this person needs "
        "care and which warning signs matter most. Consider who the patient is (a baby, a "
        "child, a pregnant woman, an older adult) and how long the problem has lasted."
    ),
    CLINICIAN: (
        "You are a careful general practitioner thinking through the possible causes, from "
        "common ones to serious ones that must not be missed. You are never certain: say what "
        "it could be, not what it is. Put the questions that would tell the causes apart in "
        "questions_to_ask."
    ),
    PHARMACIST: (
        "You are a community pharmacist focused on medicines: what the person takes or "
        "mentions, interactions, allergies, cautions in pregnancy, children and older adults, "
        "and which over-the-counter options are safe. Never give prescription-only doses and "
        "never tell anyone to stop a prescribed medicine: refer them to their prescriber. "
        "If no medicine is involved, leave med_warnings empty."
    ),
}

_MISSING_NOTES = {
    TRIAGE: "urgency was not double-checked by a triage nurse: advise care if in doubt",
    CLINICIAN: "possible causes were not reviewed: do not speculate about causes",
    PHARMACIST: "medication interactions were not checked — tell the person to confirm with a "
    "pharmacist before taking anything new",
}

_ACTION_EN = {
    TriageLevel.EMERGENCY: "call the local emergency number or go to the nearest emergency "
    "department now",
    TriageLevel.URGENT: "be seen by a doctor or nurse today",
    TriageLevel.ROUTINE: "see a health worker within the next few days",
    TriageLevel.SELF_CARE: "self-care at home, seeing a health worker if it gets worse",
    TriageLevel.INFO: "general information; no care needed unless something changes",
}

# Fixed sentences for "the panel disagreed, so seek care at the higher level". Translations
# other than English need native-speaker review before clinical use.
_DISAGREE_PREFIX = {
    "en": "The assessments of how urgent this is differed, so to be safe: ",
    "es": "Las valoraciones sobre la urgencia no coincidieron; por seguridad: ",
    "pt": "As avaliações sobre a urgência não coincidiram; por segurança: ",
    "fr": "Les avis sur l'urgence divergeaient ; par prudence : ",
    "sw": "Tathmini kuhusu uharaka zilitofautiana; kwa usalama: ",
    "hi": "यह कितना ज़रूरी है, इस पर आकलन अलग-अलग थे, इसलिए सुरक्षा के लिए: ",
}
_DISAGREE_ACTION = {
    "en": {
        TriageLevel.EMERGENCY: "call your local emergency number or go to the nearest "
        "emergency department now.",
        TriageLevel.URGENT: "please see a doctor or nurse today.",
        TriageLevel.ROUTINE: "please see a health worker in the next few days.",
        TriageLevel.SELF_CARE: "see a health worker if it gets worse or does not improve.",
        TriageLevel.INFO: "ask a health worker if you are unsure.",
    },
    "es": {
        TriageLevel.EMERGENCY: "llame ahora al número de emergencias o vaya al servicio de "
        "urgencias más cercano.",
        TriageLevel.URGENT: "consulte hoy mismo con un médico o enfermero.",
        TriageLevel.ROUTINE: "consulte con un profesional de salud en los próximos días.",
        TriageLevel.SELF_CARE: "consulte con un profesional de salud si empeora o no mejora.",
        TriageLevel.INFO: "pregunte a un profesional de salud si tiene dudas.",
    },
    "pt": {
        TriageLevel.EMERGENCY: "ligue agora para o número de emergência ou vá ao pronto-socorro "
        "mais próximo.",
        TriageLevel.URGENT: "procure um médico ou enfermeiro hoje.",
        TriageLevel.ROUTINE: "procure um profissional de saúde nos próximos dias.",
        TriageLevel.SELF_CARE: "procure um profissional de saúde se piorar ou não melhorar.",
        TriageLevel.INFO: "pergunte a um profissional de saúde se tiver dúvidas.",
    },
    "fr": {
        TriageLevel.EMERGENCY: "appelez maintenant le numéro d'urgence ou allez aux urgences "
        "les plus proches.",
        TriageLevel.URGENT: "consultez un médecin ou un infirmier aujourd'hui.",
        TriageLevel.ROUTINE: "consultez un professionnel de santé dans les prochains jours.",
        TriageLevel.SELF_CARE: "consultez un professionnel de santé si cela s'aggrave ou ne "
        "s'améliore pas.",
        TriageLevel.INFO: "demandez à un professionnel de santé en cas de doute.",
    },
    "sw": {
        TriageLevel.EMERGENCY: "piga simu namba ya dharura sasa au nenda kitengo cha dharura "
        "kilicho karibu.",
        TriageLevel.URGENT: "tafadhali muone daktari au muuguzi leo.",
        TriageLevel.ROUTINE: "tafadhali muone mhudumu wa afya katika siku chache zijazo.",
        TriageLevel.SELF_CARE: "muone mhudumu wa afya hali ikizidi au isipoimarika.",
        TriageLevel.INFO: "uliza mhudumu wa afya kama huna uhakika.",
    },
    "hi": {
        TriageLevel.EMERGENCY: "अभी अपने स्थानीय आपातकालीन नंबर पर कॉल करें या नज़दीकी "
        "आपातकालीन विभाग जाएँ।",
        TriageLevel.URGENT: "कृपया आज ही किसी डॉक्टर या नर्स से मिलें।",
        TriageLevel.ROUTINE: "कृपया अगले कुछ दिनों में किसी स्वास्थ्य कर्मी से मिलें।",
        TriageLevel.SELF_CARE: "हालत बिगड़े या सुधार न हो तो किसी स्वास्थ्य कर्मी से मिलें।",
        TriageLevel.INFO: "अगर आप निश्चित नहीं हैं तो किसी स्वास्थ्य कर्मी से पूछें।",
    },
}


def disagreement_sentence(level: TriageLevel | str, language: str) -> str:
    """The fixed "assessments differed, seek care at the higher level" sentence."""
    lang = language if language in _DISAGREE_PREFIX else "en"
    return _DISAGREE_PREFIX[lang] + _DISAGREE_ACTION[lang][TriageLevel(level)]


def perspective_prompt(name: str, role_text: str) -> str:
    """A perspective's system prompt, starting `Role: <name>.` so logs and fakes tell them apart."""
    return f"Role: {name}.\n{role_text}\n\n{_JSON_CONTRACT}"


def default_perspectives(model_for: Callable[[str], ChatModel]) -> list[Perspective]:
    """The default panel: triage nurse, clinician and pharmacist, each on `model_for(name)`."""
    return [
        Perspective(name, perspective_prompt(name, _ROLE_PROMPTS[name]), model_for(name))
        for name in (TRIAGE, CLINICIAN, PHARMACIST)
    ]


# ---------------------------------------------------------------------------- the gate


def _words(text: str) -> list[str]:
    """Split a whitespace-separated word list (keeps the multilingual lists readable)."""
    return text.split()


# Stems matched anywhere in the message (false positives only cost a panel, never safety).
_SYMPTOM_STEMS = tuple(
    _words(
        """
    pain hurt ache fever temperature bleed blood vomit diarr cough breath chest rash swell dizz
    faint headache nause pregnan baby infant child injur wound itch lump medic tablet pill dose
    drug antibiot paracetamol ibuprofen aspirin insulin allerg symptom seizure unconscious
    suicid overdose infect malaria diabet pressure period
    dolor duele fiebre sangr vómit respir mareo embaraz pastilla febre grávida gravida remédio
    remedio douleur fièvre fievre saign toux enceinte
    maumivu homa damu kikohozi kutapika mimba dawa kuhara kizunguzungu
    दर्द बुखार खून उल्टी खांसी साँस सांस गर्भ दवा चक्कर
    """
    )
)
# Short words matched only as whole words ("dor" is Portuguese pain, but sits inside "vendor").
_SYMPTOM_WORDS = frozenset(_words("dor tos sick sore weak numb burn ill flu mal"))
_ACKNOWLEDGEMENTS = frozenset(
    [
        *_words("hi hello hey hola ola olá oi bonjour salut habari jambo mambo namaste नमस्ते"),
        *_words("thanks gracias obrigado obrigada merci asante धन्यवाद शुक्रिया"),
        *_words("ok okay k yes no sure great good fine sí si não nao oui non ndiyo hapana sawa हाँ"),
        *_words("bye goodbye adiós adios tchau kwaheri"),
        "thank you", "thanks a lot", "thank you so much", "muchas gracias", "merci beaucoup",
        "asante sana", "ठीक है", "au revoir",
    ]
)  # fmt: skip
_GATE_MAX_WORDS = 8


def _plain(text: str) -> str:
    """Lowercase, NFKC, punctuation and emoji turned to spaces (letters, digits and marks kept)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = [c if unicodedata.category(c)[0] in "LNM" else " " for c in text]
    return " ".join("".join(kept).split())


def default_gate(request: ChatRequest) -> bool:
    """True when the message deserves the full panel; False sends it straight to `single`."""
    if request.triage_level != TriageLevel.INFO.value:
        return True
    raw = request.last_user_text
    text = _plain(raw)
    if not text:
        return False
    if any(stem in text for stem in _SYMPTOM_STEMS) or _SYMPTOM_WORDS & set(text.split()):
        return True
    if text in _ACKNOWLEDGEMENTS:
        return False
    # Short, symptom-free, rules said "info": logistics or a simple follow-up.
    return len(text.split()) > _GATE_MAX_WORDS


# ---------------------------------------------------------------------------- parsing


def _items(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    raw: Iterable[object] = (
        [value]
        if isinstance(value, str | int | float)
        else (value if isinstance(value, list) else [])
    )
    out: list[str] = []
    for item in raw:
        text = " ".join(str(item).split()) if not isinstance(item, dict | list) else ""
        if text and text not in out:
            out.append(text[:_MAX_ITEM_CHARS])
    return tuple(out[:_MAX_ITEMS])


def _urgency(value: object) -> TriageLevel | None:
    if not isinstance(value, str):
        return None
    word = value.strip().lower().replace(" ", "_")
    try:
        return TriageLevel(word)
    except ValueError:
        return _URGENCY_ALIASES.get(word)


def parse_opinion(text: str) -> Opinion | None:
    """Parse a perspective's output (tolerating code fences and surrounding text), or None."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            data, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            urgency = _urgency(data.get("urgency"))
            if urgency is not None:
                return Opinion(
                    urgency=urgency,
                    red_flags=_items(data.get("red_flags")),
                    key_advice=_items(data.get("key_advice")),
                    questions_to_ask=_items(data.get("questions_to_ask")),
                    med_warnings=_items(data.get("med_warnings")),
                    evidence_quotes=_items(data.get("evidence_quotes")),
                )
        start = text.find("{", start + 1)
    return None


# ---------------------------------------------------------------------------- checks


def reflected(item: str, reply: str) -> bool:
    """True when the reply visibly carries `item` (verbatim, or most of its content words)."""
    needle, haystack = _plain(item), _plain(reply)
    if not needle or needle in haystack:
        return True
    words = [w for w in needle.split() if len(w) >= 4] or needle.split()
    # Five-character stems tolerate plurals and inflections ("breathing" / "breathe").
    hits = sum(1 for w in words if w[:5] in haystack)
    return hits / len(words) >= 0.6


def enforce(
    text: str,
    *,
    required: Sequence[str],
    disagreement: str | None,
) -> str:
    """Append every required item the reply lost, and the disagreement sentence when missing."""
    missing = [item for item in required if not reflected(item, text)]
    out = text.rstrip()
    if missing:
        out += "\n\n" + "\n".join(f"• {item}" for item in missing)
    if disagreement and _plain(disagreement) not in _plain(out):
        out += "\n\n" + disagreement
    return out


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(_plain(item), item)
    return tuple(v for k, v in seen.items() if k)


# ---------------------------------------------------------------------------- the model


class ContemplatingModel:
    """A ChatModel that consults parallel perspectives and synthesises one reply."""

    def __init__(
        self,
        perspectives: Sequence[Perspective],
        synthesizer: ChatModel,
        single: ChatModel,
        *,
        perspective_timeout_s: float = 12.0,
        executor: concurrent.futures.ThreadPoolExecutor | None = None,
        gate: Callable[[ChatRequest], bool] = default_gate,
        required: Sequence[str] = (TRIAGE,),
        min_perspectives: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not perspectives:
            raise ValueError("contemplating mode needs at least one perspective")
        self.perspectives = tuple(perspectives)
        self.synthesizer = synthesizer
        self.single = single
        self.provider = "contemplate"
        self.model = f"{synthesizer.provider}/{synthesizer.model}"
        self.perspective_timeout_s = perspective_timeout_s
        self.gate = gate
        # Proceed only with the triage perspective plus at least one other.
        self.required = tuple(required)
        self.min_perspectives = min_perspectives
        self._clock = clock
        self._own_executor = executor is None
        # Shared by every conversation in this process: a perspective queued behind busy workers
        # would silently serialise the fan-out, and stragglers hold a worker until their HTTP
        # timeout fires, so leave generous head-room (threads mostly wait on sockets).
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=max(32, 8 * len(self.perspectives)), thread_name_prefix="perspective"
        )
        self._closed = threading.Event()

    def __repr__(self) -> str:
        names = ",".join(p.name for p in self.perspectives)
        return f"ContemplatingModel(perspectives={names}, synthesizer={self.model})"

    def close(self) -> None:
        """Shut down the executor if this object made it (abandoned calls finish on their own)."""
        if self._own_executor and not self._closed.is_set():
            self._closed.set()
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ContemplatingModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ perspectives

    def _perspective_request(
        self, perspective: Perspective, request: ChatRequest, deadline: float
    ) -> ChatRequest:
        language = LANGUAGE_NAMES.get(request.language, request.language)
        system = perspective.system_prompt.replace("{language}", language)
        if request.triage_level != TriageLevel.INFO.value:
            system += (
                f"\n\nSafety rules already rated this message at least '{request.triage_level}'."
            )
        return replace(
            request,
            system=system,
            json_output=True,
            perspective=perspective.name,
            max_tokens=PERSPECTIVE_MAX_TOKENS,
            deadline=deadline,
        )

    def _run_perspective(self, perspective: Perspective, request: ChatRequest) -> _Outcome:
        outcome = _Outcome(perspective)
        started = self._clock()
        try:
            response = perspective.model.complete(request)
        except Exception as exc:  # a failed perspective is data, never a crash of the turn
            ended = self._clock()
            if not isinstance(exc, ModelError):
                log.exception("perspective %s raised unexpectedly", perspective.name)
            outcome.calls.append(
                CallRecord(
                    provider=perspective.model.provider,
                    model=perspective.model.model,
                    outcome=outcome_of(exc),
                    latency_ms=(ended - started) * 1000.0,
                    perspective=perspective.name,
                    started_at=started,
                    ended_at=ended,
                    error=describe_error(exc),
                )
            )
            return outcome
        calls = [
            c if c.perspective is not None else replace(c, perspective=perspective.name)
            for c in response.calls
        ]
        outcome.opinion = parse_opinion(response.text)
        if outcome.opinion is None:
            if response.text.strip():
                log.warning("perspective %s: output is not the expected JSON", perspective.name)
            else:
                # An empty answer is a chain that gave up (bot.llm.factory.Abstain), not bad JSON.
                log.warning("perspective %s: no answer (every model it may use failed)",
                            perspective.name)
            if calls and calls[-1].outcome == "ok":
                calls[-1] = replace(
                    calls[-1],
                    outcome="bad_response",
                    error="perspective output is not the expected JSON object",
                )
        outcome.calls = calls
        return outcome

    def _consult(self, request: ChatRequest) -> list[_Outcome]:
        start = self._clock()
        left = request.time_left(start)
        budget = (
            self.perspective_timeout_s if left is None else min(self.perspective_timeout_s, left)
        )
        deadline = start + budget
        futures = {
            self._executor.submit(
                self._run_perspective, p, self._perspective_request(p, request, deadline)
            ): p
            for p in self.perspectives
        }
        done, _ = concurrent.futures.wait(futures, timeout=budget)
        outcomes: list[_Outcome] = []
        for future, perspective in futures.items():
            if future in done:
                outcomes.append(future.result())
                continue
            # Abandoned: its thread finishes (or times out) on its own; we stop waiting for it.
            future.cancel()
            now = self._clock()
            log.warning("perspective %s abandoned after %.1fs", perspective.name, budget)
            outcomes.append(
                _Outcome(
                    perspective,
                    calls=[
                        CallRecord(
                            provider=perspective.model.provider,
                            model=perspective.model.model,
                            outcome="timeout",
                            latency_ms=(now - start) * 1000.0,
                            perspective=perspective.name,
                            started_at=start,
                            ended_at=now,
                            error=f"abandoned after {budget:.1f}s",
                        )
                    ],
                )
            )
        return outcomes

    # ------------------------------------------------------------------ complete

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer through the panel and synthesis, or through `single` when gated or degraded."""
        if request.perspective is not None or request.json_output or not self.gate(request):
            return self.single.complete(request)
        left = request.time_left(self._clock())
        if left is not None and left <= 0:
            # No time left for a panel: fanning out would only abandon every perspective at once
            # and store three "timeout" rows; single mode goes straight to its last resort.
            log.warning("deadline already passed: answering in single mode")
            return self.single.complete(request)
        outcomes = self._consult(request)
        calls = [c for o in outcomes for c in o.calls]
        ok = {o.perspective.name: o.opinion for o in outcomes if o.opinion is not None}
        missing = [o.perspective.name for o in outcomes if o.opinion is None]
        enough = all(name in ok for name in self.required) and len(ok) >= min(
            self.min_perspectives, len(self.perspectives)
        )
        if not enough:
            log.warning("contemplating degraded to single (missing: %s)", ", ".join(missing))
            return self._fallback(request, calls, ok)
        opinions = list(ok.values())
        final = max_level(request.triage_level, *(o.urgency for o in opinions))
        red_flags = _unique(f for o in opinions for f in o.red_flags)
        warnings = _unique(w for o in opinions for w in o.med_warnings)
        disagreement = self._disagreement(request, opinions, final)
        synth_request = self._synthesis_request(
            request, ok, missing, final, red_flags, warnings, disagreement
        )
        synth_started = self._clock()
        try:
            synthesis = self.synthesizer.complete(synth_request)
        except ModelError as exc:
            log.warning("synthesis failed (%s): answering in single mode", exc)
            now = self._clock()
            calls.append(
                CallRecord(
                    provider=self.synthesizer.provider,
                    model=self.synthesizer.model,
                    outcome=outcome_of(exc),
                    latency_ms=(now - synth_started) * 1000.0,
                    perspective="synthesis",
                    started_at=synth_started,
                    ended_at=now,
                    error=describe_error(exc),
                )
            )
            return self._fallback(request, calls, ok)
        calls.extend(
            c if c.perspective is not None else replace(c, perspective="synthesis")
            for c in synthesis.calls
        )
        text = enforce(synthesis.text, required=(*red_flags, *warnings), disagreement=disagreement)
        return ChatResponse(
            text=text,
            provider=synthesis.provider,
            model=synthesis.model,
            calls=tuple(calls),
            urgency=final.value,
            red_flags=red_flags,
            warnings=warnings,
            caution=(disagreement,) if disagreement else (),
            mode="contemplate",
            finish_reason=synthesis.finish_reason,
        )

    @staticmethod
    def _disagreement(
        request: ChatRequest, opinions: Sequence[Opinion], final: TriageLevel
    ) -> str | None:
        levels = {o.urgency for o in opinions}
        if request.triage_level != TriageLevel.INFO.value:
            levels.add(TriageLevel(request.triage_level))  # the rules count as a voice
        return disagreement_sentence(final, request.language) if len(levels) > 1 else None

    def _synthesis_request(
        self,
        request: ChatRequest,
        ok: dict[str, Opinion],
        missing: Sequence[str],
        final: TriageLevel,
        red_flags: Sequence[str],
        warnings: Sequence[str],
        disagreement: str | None,
    ) -> ChatRequest:
        language = LANGUAGE_NAMES.get(request.language, request.language)
        lines = [
            "Role: synthesis.",
            "You are a plain-language health communicator. Write ONE short WhatsApp reply "
            f"(at most about 120 words, no headings, no tables) in {language} to the person in "
            "the conversation, answering their latest message.",
            "A panel assessed the message; its findings are constraints you must respect:",
            f"- Urgency is '{final.value}': {_ACTION_EN[final]}. Never suggest a lower urgency.",
            "- Mention every red flag and every medicine warning listed below, in plain words.",
            "- Never state a diagnosis as certain, never give prescription-only doses, never "
            "claim to be a human or a doctor.",
            "- Ask at most two of the panel's questions, if they would change the advice.",
        ]
        if disagreement:
            lines.append(
                f'- The panel disagreed on urgency: include this sentence: "{disagreement}"'
            )
        for name in missing:
            lines.append(f"- Not available this time: {_MISSING_NOTES.get(name, name)}.")
        if red_flags:
            lines.append("Red flags: " + "; ".join(red_flags))
        if warnings:
            lines.append("Medicine warnings: " + "; ".join(warnings))
        panel = {name: opinion.as_json() for name, opinion in ok.items()}
        lines.append("Panel findings (JSON): " + json.dumps(panel, ensure_ascii=False))
        if request.system:
            lines.append(
                "Instructions from the service that runs this assistant:\n" + request.system
            )
        return replace(
            request,
            system="\n".join(lines),
            json_output=False,
            perspective="synthesis",
        )

    def _fallback(
        self, request: ChatRequest, calls: list[CallRecord], ok: dict[str, Opinion]
    ) -> ChatResponse:
        """Answer with `single`, still carrying what the perspectives that did answer found."""
        response = self.single.complete(request)
        opinions = list(ok.values())
        red_flags = _unique([*response.red_flags, *(f for o in opinions for f in o.red_flags)])
        warnings = _unique([*response.warnings, *(w for o in opinions for w in o.med_warnings)])
        levels: list[str | TriageLevel | None] = [request.triage_level]
        levels.extend(o.urgency for o in opinions)
        try:
            levels.append(response.urgency)
            final = max_level(*levels)
        except ValueError:  # a model's own urgency word we don't know: ignore it, keep ours
            final = max_level(*levels[:-1])
        text = response.text
        if opinions:
            own = {*response.red_flags, *response.warnings}
            text = enforce(
                text,
                required=[x for x in (*red_flags, *warnings) if x not in own],
                disagreement=self._disagreement(request, opinions, final)
                if len(opinions) > 1
                else None,
            )
        return replace(
            response,
            text=text,
            calls=(*calls, *response.calls),
            urgency=final.value,
            red_flags=red_flags,
            warnings=warnings,
        )

"""What the model is told: the system prompt and the recent conversation within a size budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.ports import ChatMessage, Role, VettedPassage

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "pt": "Portuguese",
    "fr": "French",
    "sw": "Swahili",
    "hi": "Hindi",
}

SYSTEM_PROMPT = """\
You are a careful health information assistant that answers on WhatsApp for a health \
organisation. You are not a doctor, nurse or human, and you never say you are.
Rules you always follow:
- Never state a diagnosis as certain; say what it could be and what would help tell.
- Never prescribe, and never give doses of prescription-only medicines. General safety advice \
about common over-the-counter remedies is fine ("follow the pack or ask a pharmacist").
- Never advise stopping a prescribed treatment; say to talk to the prescriber first.
- Always say when and where to seek care, and which warning signs mean going now.
- Plain, warm, short language for a phone screen: at most about 900 characters, short \
paragraphs or "- " bullets, no markdown headings, no links except who.int, cdc.gov, nhs.uk, \
medlineplus.gov.
- Write your whole reply in {language}.
The safety rules have assessed this message as: {level}. Never suggest less urgency than that."""


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str


GROUNDING = """
Vetted content from the organisation's reviewed knowledge base follows. Answer the person's \
question from it: keep its facts, numbers and warning signs, leave out what does not fit the \
question, add nothing it does not support, and end with "{source_label}: " and the source URL of \
the passage you used. If it does not answer the question, say so briefly and suggest a health \
worker or pharmacist.
{passages}"""

NO_VETTED_CONTENT = """
The organisation's reviewed knowledge base has nothing on this question. Give only brief, \
general, widely agreed safety information, say plainly that you cannot be specific, and suggest \
a health worker or pharmacist."""


def system_prompt(
    language: str, level: str, passages: Sequence[VettedPassage] | None = None
) -> str:
    """The system prompt; with `passages` (what retrieval found) the answer must rest on them."""
    text = SYSTEM_PROMPT.format(language=LANGUAGE_NAMES.get(language, "English"), level=level)
    if passages is None:
        return text
    if not passages:
        return text + "\n" + NO_VETTED_CONTENT
    blocks = "\n".join(
        f"[{i}] {p.title}\n{p.text}\nSource: {p.source}" for i, p in enumerate(passages, 1)
    )
    return text + "\n" + GROUNDING.format(source_label="Source", passages=blocks)


def history_window(turns: Sequence[Turn], budget_chars: int) -> tuple[ChatMessage, ...]:
    """Keep the newest turns whose total size fits the budget; the oldest are dropped first.

    The newest turn (the message being answered) is always kept, cut to the budget if it must be.
    """
    kept: list[ChatMessage] = []
    used = 0
    for turn in reversed(turns):
        text = turn.text.strip()
        if not text:
            continue
        role: Role = "assistant" if turn.role == "assistant" else "user"
        if kept and used + len(text) > budget_chars:
            break
        if not kept and len(text) > budget_chars:
            text = text[-budget_chars:]
        kept.append(ChatMessage(role=role, content=text))
        used += len(text)
    kept.reverse()
    # Chat APIs want the conversation to start with the user: drop a leading assistant turn.
    while kept and kept[0].role == "assistant":
        kept.pop(0)
    return tuple(kept)

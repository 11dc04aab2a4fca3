"""Small talk is understood in every language, and only when it is all a message says."""

from __future__ import annotations

import pytest

from bot.understanding import smalltalk

CASES = [
    ("hi", "greeting", "en"),
    ("Hello there!!", "greeting", "en"),
    ("hola", "greeting", "es"),
    ("Buenos días doctor", "greeting", "es"),
    ("bom dia", "greeting", "pt"),
    ("Olá, tudo bem?", "greeting", "pt"),
    ("bonjour", "greeting", "fr"),
    ("mambo", "greeting", "sw"),
    ("Habari za asubuhi", "greeting", "sw"),
    ("नमस्ते", "greeting", "hi"),
    ("namaste ji", "greeting", "hi"),
    ("how far", "greeting", "pcm"),
    ("ok thanks!", "thanks", "en"),
    ("thank you so much doctor 🙏", "thanks", "en"),
    ("muchas gracias", "thanks", "es"),
    ("obrigada", "thanks", "pt"),
    ("merci beaucoup", "thanks", "fr"),
    ("asante sana", "thanks", "sw"),
    ("धन्यवाद", "thanks", "hi"),
    ("shukriya", "thanks", "hi"),
    ("👍", "acknowledgement", None),
    ("🙏", "thanks", None),
    ("ok", "acknowledgement", "en"),
    ("okkk", "acknowledgement", "en"),
    ("sawa", "acknowledgement", "sw"),
    ("theek hai", "acknowledgement", "hi"),
    ("d'accord", "acknowledgement", "fr"),
    ("bye", "goodbye", "en"),
    ("kwaheri", "goodbye", "sw"),
    ("who are you?", "identity", "en"),
    ("¿quién es usted?", "identity", "es"),
    ("are you a real doctor?", "is_human", "en"),
    ("Are you a robot", "is_human", "en"),
    ("você é médico?", "is_human", "pt"),
    ("êtes-vous un robot ?", "is_human", "fr"),
    ("wewe ni daktari?", "is_human", "sw"),
    ("kya aap doctor ho", "is_human", "hi"),
]


@pytest.mark.parametrize(("text", "intent", "language"), CASES)
def test_small_talk_is_understood(text: str, intent: str, language: str | None) -> None:
    found = smalltalk.detect(text)
    assert found is not None, text
    assert found.intent == intent
    assert found.language == language


@pytest.mark.parametrize(
    "text",
    [
        "hi my baby has a fever",
        "thanks, and how much paracetamol can I give?",
        "ok but the pain is worse now",
        "hola, tengo dolor de cabeza",
        "asante, mtoto bado ana homa",
        "are you a doctor? my chest hurts",
        "",
        "   ",
        "🤒",
        "38.5",
    ],
)
def test_anything_more_than_small_talk_is_not(text: str) -> None:
    assert smalltalk.detect(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "r u a real doctor",
        "eres un robot o una persona?",
        "É um médico de verdade que está respondendo?",
        "C'est un robot qui répond ?",
        "Wewe ni daktari wa kweli au ni mashine?",
        "क्या आप असली डॉक्टर हैं?",
        "kya aap real doctor ho ya bot?",
        "na real doctor dey answer or na machine?",
    ],
)
def test_asking_whether_the_bot_is_a_person_is_understood_in_other_words(text: str) -> None:
    found = smalltalk.detect(text)
    assert found is not None and found.intent == "is_human", text


@pytest.mark.parametrize(
    "text",
    ["are you a doctor? my baby has a rash", "my doctor said I have a rash",
     "is a human bite dangerous for a child?"],
)
def test_a_question_that_says_more_is_not_small_talk(text: str) -> None:
    assert smalltalk.detect(text) is None


def test_ok_with_thanks_is_thanks() -> None:
    for text, language in [("ok gracias", "es"), ("ok thanks", "en"), ("ok merci", "fr")]:
        found = smalltalk.detect(text)
        assert found is not None and found.intent == "thanks" and found.language == language

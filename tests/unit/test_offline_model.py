"""The offline model: answers from the knowledge base in the user's language, never goes silent."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.knowledge import KnowledgeBase, Topic, load_topics
from bot.llm.offline import ENGLISH_ONLY_NOTE, NO_ANSWER, OfflineModel
from bot.ports import ChatMessage, ChatModel, ChatRequest, ChatResponse

TOPICS = load_topics()


@pytest.fixture(scope="module")
def kb() -> Iterator[KnowledgeBase]:
    with KnowledgeBase(TOPICS) as knowledge_base:
        yield knowledge_base


@pytest.fixture(scope="module")
def model(kb: KnowledgeBase) -> OfflineModel:
    return OfflineModel(kb)


def ask(model: OfflineModel, *user_texts: str, language: str = "en") -> ChatResponse:
    messages: list[ChatMessage] = []
    for i, text in enumerate(user_texts):
        if i:
            messages.append(ChatMessage(role="assistant", content="(earlier answer)"))
        messages.append(ChatMessage(role="user", content=text))
    request = ChatRequest(
        system="You are a careful health assistant.", messages=tuple(messages), language=language
    )
    return model.complete(request)


def test_implements_the_chat_model_protocol(model: OfflineModel, kb: KnowledgeBase) -> None:
    assert isinstance(model, ChatModel)
    assert model.provider == "offline"
    assert model.model == f"kb-{kb.version}"


def test_answer_has_title_text_source_and_call_record(
    model: OfflineModel, kb: KnowledgeBase
) -> None:
    response = ask(model, "how do I make ORS at home?")
    topic = kb.get("diarrhoea_ors")
    assert response.mode == "offline"
    assert response.provider == "offline" and response.model == model.model
    assert response.urgency == topic.level_hint
    assert topic.title["en"] in response.text
    assert topic.answer["en"] in response.text
    assert f"Source: {topic.main_source}" in response.text
    (call,) = response.calls
    assert call.outcome == "ok" and call.provider == "offline" and call.model == model.model
    assert call.cost_usd == 0.0
    assert call.latency_ms >= 0.0 and call.ended_at >= call.started_at
    assert call.usage.estimated
    assert call.usage.input_tokens is not None and call.usage.input_tokens > 0
    assert call.usage.output_tokens == -(-len(response.text) // 4)


@pytest.mark.parametrize(
    ("language", "question", "label"),
    [
        ("es", "tengo fiebre y escalofrios", "Fuente"),
        ("pt", "estou com febre", "Fonte"),
        ("fr", "j'ai de la fievre", "Source"),
        ("sw", "nina homa", "Chanzo"),
        ("hi", "mujhe bukhar hai", "स्रोत"),
    ],
)
def test_answers_in_the_users_language(
    model: OfflineModel, kb: KnowledgeBase, language: str, question: str, label: str
) -> None:
    response = ask(model, question, language=language)
    topic = kb.get("fever_adult")
    assert topic.answer[language] in response.text
    assert topic.title[language] in response.text
    assert f"{label}: {topic.main_source}" in response.text
    assert ENGLISH_ONLY_NOTE[language] not in response.text


def _english_only_kb() -> KnowledgeBase:
    """The shipped topics, except that "burns" has lost its translations."""
    topics: list[Topic] = []
    for topic in TOPICS:
        if topic.id == "burns":
            data = topic.model_dump()
            data["answer"] = {"en": topic.answer["en"]}
            data["title"] = {"en": topic.title["en"]}
            topic = Topic.model_validate(data)
        topics.append(topic)
    return KnowledgeBase(topics)


@pytest.mark.parametrize("language", ["es", "pt", "fr", "sw", "hi"])
def test_english_fallback_with_a_note_in_the_users_language(language: str) -> None:
    with _english_only_kb() as english_only:
        response = ask(
            OfflineModel(english_only),
            "burn blister boiling water quemadura brulure",
            language=language,
        )
    assert response.text.startswith(ENGLISH_ONLY_NOTE[language])
    assert "Cool it under cool running water" in response.text
    assert "Source: https://" in response.text
    assert response.urgency == "routine"


@pytest.mark.parametrize("language", ["pt-BR", "PT", "pt_BR"])
def test_regional_language_codes(model: OfflineModel, kb: KnowledgeBase, language: str) -> None:
    response = ask(model, "dor de dente", language=language)
    assert kb.get("toothache").answer["pt"] in response.text


def test_unknown_language_gets_english_without_a_note(model: OfflineModel) -> None:
    response = ask(model, "toothache", language="de")
    assert response.text.startswith("*Toothache*")


@pytest.mark.parametrize("language", ["en", "es", "pt", "fr", "sw", "hi", "zz"])
def test_unmatched_question_is_honest_and_points_to_care(
    model: OfflineModel, language: str
) -> None:
    response = ask(model, "who won the football?", language=language)
    assert response.text == NO_ANSWER.get(language, NO_ANSWER["en"])
    assert response.urgency is None
    assert response.mode == "offline"
    assert response.calls[0].outcome == "ok"


def test_no_answer_texts_say_what_to_do_next() -> None:
    assert set(NO_ANSWER) == {"en", "es", "pt", "fr", "sw", "hi"}
    assert "health worker" in NO_ANSWER["en"] and "seek care" in NO_ANSWER["en"]


def test_follow_up_uses_earlier_questions(model: OfflineModel) -> None:
    response = ask(model, "I have a fever", "and for a child?")
    assert response.text.startswith("*Fever in children*")


def test_follow_up_with_no_match_of_its_own(model: OfflineModel) -> None:
    response = ask(model, "my baby has diarrhoea", "what else can I do?")
    assert response.text.startswith("*Diarrhoea and oral rehydration (ORS)*")


def test_clear_new_topic_is_not_dragged_back_by_history(model: OfflineModel) -> None:
    response = ask(model, "I have a fever", "what about a snake bite?")
    assert response.text.startswith("*Snake bite first aid*")


def test_short_new_topic_wins_over_history(model: OfflineModel) -> None:
    response = ask(model, "I have a fever", "what about malaria?")
    assert response.text.startswith("*Malaria and its warning signs*")


def test_long_new_question_ignores_history(model: OfflineModel) -> None:
    response = ask(model, "I have asthma", "I burned my hand with boiling water yesterday")
    assert response.text.startswith("*Burns and scalds*")


def test_long_unmatched_question_falls_back_to_history(model: OfflineModel) -> None:
    response = ask(
        model, "my baby has diarrhoea", "is there anything else I can do at home for him"
    )
    assert response.text.startswith("*Diarrhoea and oral rehydration (ORS)*")


def test_follow_up_in_another_language(model: OfflineModel) -> None:
    response = ask(model, "tengo fiebre", "y para un niño?", language="es")
    assert response.text.startswith("*Fiebre en niños*")


def test_only_user_messages_are_searched(model: OfflineModel) -> None:
    request = ChatRequest(
        system="malaria dengue cholera",
        messages=(
            ChatMessage(role="assistant", content="Tell me about your malaria symptoms"),
            ChatMessage(role="user", content="who won the football?"),
        ),
    )
    assert model.complete(request).text == NO_ANSWER["en"]


@pytest.mark.parametrize(
    "messages",
    [
        (),
        (ChatMessage(role="assistant", content="hello"),),
        (ChatMessage(role="user", content=""),),
        (ChatMessage(role="user", content='" OR NEAR( * -'),),
        (ChatMessage(role="user", content="\x00\ufffd" * 100),),
        (ChatMessage(role="user", content="fever " * 2000),),
    ],
)
def test_never_raises_for_odd_input(model: OfflineModel, messages: tuple[ChatMessage, ...]) -> None:
    response = model.complete(ChatRequest(system="", messages=messages))
    assert response.text
    assert response.calls[0].outcome == "ok"


def test_urgent_topics_report_urgency(model: OfflineModel) -> None:
    assert ask(model, "face drooping and slurred speech").urgency == "urgent"
    assert ask(model, "runny nose and sneezing").urgency == "self_care"


def test_no_disclaimer_or_emergency_numbers_added(model: OfflineModel, kb: KnowledgeBase) -> None:
    response = ask(model, "I want to kill myself")
    topic = kb.get("suicidal_thoughts")
    expected = f"*{topic.title['en']}*\n\n{topic.answer['en']}\n\nSource: {topic.main_source}"
    assert response.text == expected


def test_concurrent_completions(model: OfflineModel) -> None:
    questions = ["malaria symptoms", "toothache", "a dog bit me", "asdfgh", "pregnant and bleeding"]
    expected = {q: ask(model, q).text for q in questions}
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(100):
                q = questions[i % len(questions)]
                assert ask(model, q).text == expected[q]
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]

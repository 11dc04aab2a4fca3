"""Whole-message commands in six languages, and what must NOT be taken for one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands import (
    LANGUAGE_NAMES,
    LANGUAGES,
    WORDS,
    YES,
    Command,
    command_language,
    command_word,
    confirm_phrase,
    normalize,
    parse,
    parse_command,
    requested_language,
)

C = Command

# (message, command, the one language of its words or None when shared/ambiguous)
POSITIVE: list[tuple[str, Command, str | None]] = [
    # English, with Twilio's standard keywords
    ("STOP", C.STOP, None),  # also the French SMS opt-out word, so no single language
    ("Stop", C.STOP, None),
    (" STOP! ", C.STOP, None),
    ("stop.", C.STOP, None),
    ("*STOP*", C.STOP, None),
    ("stop 🛑", C.STOP, None),
    ("STOPALL", C.STOP, "en"),
    ("Unsubscribe", C.STOP, "en"),
    ("END", C.STOP, "en"),
    ("quit", C.STOP, "en"),
    ("stop please", C.STOP, None),
    ("Please unsubscribe", C.STOP, "en"),
    ("START", C.START, "en"),
    ("unstop", C.START, "en"),
    ("HELP", C.HELP, "en"),
    ("help?", C.HELP, "en"),
    ("info", C.HELP, "en"),
    ("human", C.HUMAN, "en"),
    ("Agent", C.HUMAN, None),  # English and French
    ("person", C.HUMAN, "en"),
    ("talk to a human", C.HUMAN, "en"),
    ("DELETE", C.DELETE, "en"),
    ("delete my data", C.DELETE, "en"),
    ("DELETE YES", C.CONFIRM_DELETE, "en"),
    ("yes, delete", C.CONFIRM_DELETE, "en"),
    ("Delete yes!", C.CONFIRM_DELETE, "en"),
    ("cancel", C.CANCEL, "en"),
    # Spanish
    ("parar", C.STOP, None),  # Spanish and Portuguese
    ("PARE", C.STOP, None),
    ("Detener", C.STOP, "es"),
    ("empezar", C.START, "es"),
    ("¡Ayuda!", C.HELP, "es"),
    ("humano", C.HUMAN, None),  # Spanish and Portuguese
    ("persona", C.HUMAN, "es"),
    ("borrar", C.DELETE, "es"),
    ("Eliminar", C.DELETE, "es"),
    ("BORRAR SI", C.CONFIRM_DELETE, "es"),
    ("borrar sí", C.CONFIRM_DELETE, "es"),
    ("Sí, eliminar.", C.CONFIRM_DELETE, "es"),
    ("cancelar", C.CANCEL, None),  # Spanish and Portuguese
    ("parar por favor", C.STOP, None),
    # Portuguese
    ("sair", C.STOP, "pt"),
    ("Começar", C.START, "pt"),
    ("comecar", C.START, "pt"),
    ("AJUDA", C.HELP, "pt"),
    ("pessoa", C.HUMAN, "pt"),
    ("Atendente", C.HUMAN, "pt"),
    ("apagar", C.DELETE, "pt"),
    ("excluir", C.DELETE, "pt"),
    ("APAGAR SIM", C.CONFIRM_DELETE, "pt"),
    ("excluir sim", C.CONFIRM_DELETE, "pt"),
    # French
    ("arrêter", C.STOP, "fr"),
    ("ARRETER", C.STOP, "fr"),
    ("Arrêt", C.STOP, "fr"),
    ("stop svp", C.STOP, None),
    ("commencer", C.START, "fr"),
    ("aide", C.HELP, "fr"),
    ("humain", C.HUMAN, "fr"),
    ("Conseiller", C.HUMAN, "fr"),
    ("supprimer", C.DELETE, "fr"),
    ("effacer", C.DELETE, "fr"),
    ("SUPPRIMER OUI", C.CONFIRM_DELETE, "fr"),
    ("oui supprimer", C.CONFIRM_DELETE, "fr"),
    ("annuler", C.CANCEL, "fr"),
    ("arrêter s'il vous plaît", C.STOP, "fr"),
    # Swahili
    ("acha", C.STOP, "sw"),
    ("KOMESHA", C.STOP, "sw"),
    ("anza", C.START, "sw"),
    ("msaada", C.HELP, "sw"),
    ("binadamu", C.HUMAN, "sw"),
    ("mtu", C.HUMAN, "sw"),
    ("futa", C.DELETE, "sw"),
    ("FUTA NDIYO", C.CONFIRM_DELETE, "sw"),
    ("futa ndio", C.CONFIRM_DELETE, "sw"),
    ("ghairi", C.CANCEL, "sw"),
    ("acha tafadhali", C.STOP, "sw"),
    # Hindi, in Devanagari and romanised
    ("बंद करो", C.STOP, "hi"),
    ("बंद करो।", C.STOP, "hi"),
    ("band karo", C.STOP, "hi"),
    ("Band Karo!", C.STOP, "hi"),
    ("शुरू करो", C.START, "hi"),
    ("shuru karo", C.START, "hi"),
    ("मदद", C.HELP, "hi"),
    ("madad", C.HELP, "hi"),
    ("इंसान", C.HUMAN, "hi"),
    ("मनुष्य", C.HUMAN, "hi"),
    ("insaan", C.HUMAN, "hi"),
    ("मिटाओ", C.DELETE, "hi"),
    ("hatao", C.DELETE, "hi"),
    ("delete karo", C.DELETE, "hi"),
    ("मिटाओ हाँ", C.CONFIRM_DELETE, "hi"),
    ("मिटाओ हां", C.CONFIRM_DELETE, "hi"),  # anusvara typed for chandrabindu
    ("हाँ, मिटाओ", C.CONFIRM_DELETE, "hi"),
    ("HATAO HAAN", C.CONFIRM_DELETE, "hi"),
    ("रद्द करो", C.CANCEL, "hi"),
    ("कृपया बंद करो", C.STOP, "hi"),
]

NEGATIVE = [
    "",
    "   ",
    "!!!",
    "🙂",
    "I can't stop coughing",
    "my baby won't stop crying",
    "help me my child is sick",
    "please help",  # a plea, not the HELP keyword: the pipeline triages it
    "help!! my father fell",
    "is it safe to start antibiotics?",
    "what does delete mean",
    "stop stop",
    "yes",  # an ordinary answer, never an opt-in or a deletion
    "YES!",
    "no",
    "si",
    "sí",
    "sim",
    "oui",
    "ndiyo",
    "हाँ",
    "haan",
    "hi",  # a greeting, not the code for Hindi
    "Hi!",
    "es",
    "pt",
    "ok",
    "thanks",
    "alto",  # "high" in Spanish: an answer, not STOP
    "personne",  # "nobody" in French
    "socorro",  # distress calls go to triage
    "au secours",
    "bachao",
    "necesito ayuda mi hijo tiene fiebre",
    "preciso de ajuda, estou com dor",
    "j'ai besoin d'aide",
    "nahitaji msaada mtoto ana homa",
    "मुझे मदद चाहिए",
    "mujhe madad chahiye",
    "delete yes no",
    "borrar oui",  # confirm words must come from the same language
    "delete ndiyo",
    "yes yes",
    "language barrier is a problem",
    "language klingon",
    "idioma de señas",
    "what language do you speak?",
    "english please doctor",
    "stop" * 30,
    "stop " + "x" * 200,
]


@pytest.mark.parametrize(("text", "command", "language"), POSITIVE)
def test_positive(text: str, command: Command, language: str | None) -> None:
    assert parse_command(text) is command
    assert command_language(text) == language


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative(text: str) -> None:
    assert parse_command(text) is None
    assert parse(text) is None
    assert command_language(text) is None
    assert requested_language(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("language es", "es"),
        ("LANGUAGE English", "en"),
        ("Language: pt", "pt"),
        ("lang fr", "fr"),
        ("idioma pt", "pt"),
        ("idioma português", "pt"),
        ("Idioma inglés", "en"),
        ("langue fr", "fr"),
        ("langue anglais", "en"),
        ("lugha sw", "sw"),
        ("lugha Kiingereza", "en"),
        ("bhasha hi", "hi"),
        ("भाषा हिंदी", "hi"),
        ("भाषा अंग्रेजी", "en"),  # nukta left out of अंग्रेज़ी
        ("English", "en"),
        ("english.", "en"),
        ("Español", "es"),
        ("espanol", "es"),
        ("Spanish", "es"),
        ("Português", "pt"),
        ("PORTUGUES", "pt"),
        ("Français", "fr"),
        ("francais", "fr"),
        ("Kiswahili", "sw"),
        ("Swahili", "sw"),
        ("हिन्दी", "hi"),
        ("हिंदी", "hi"),
        ("Hindi", "hi"),
        ("language es please", "es"),
    ],
)
def test_language_choice(text: str, code: str) -> None:
    parsed = parse(text)
    assert parsed is not None and parsed.command is Command.LANGUAGE
    assert parsed.argument == code
    assert requested_language(text) == code
    # The reply to a language choice is written in the chosen language.
    assert command_language(text) == code


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("language", "en"),
        ("IDIOMA", None),
        ("langue", "fr"),
        ("lugha", "sw"),
        ("भाषा", "hi"),
        ("bhasha", "hi"),
    ],
)
def test_bare_language_word_asks_for_a_choice(text: str, language: str | None) -> None:
    parsed = parse(text)
    assert parsed is not None and parsed.command is Command.LANGUAGE
    assert parsed.argument is None
    assert requested_language(text) is None
    assert command_language(text) == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_listed_word_parses_in_any_case(language: str) -> None:
    for command, words in WORDS[language].items():
        for word in words:
            for variant in (word, word.upper(), f"  {word.title()}!! ", f"{word}."):
                parsed = parse(variant)
                assert parsed is not None and parsed.command is command, (language, variant)
                assert language in parsed.word_languages, (language, variant)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_delete_and_yes_pair_confirms(language: str) -> None:
    for delete in WORDS[language][Command.DELETE]:
        for yes in YES[language]:
            assert parse_command(f"{delete} {yes}") is Command.CONFIRM_DELETE
            assert parse_command(f"{yes}, {delete}!") is Command.CONFIRM_DELETE
            assert command_language(f"{delete} {yes}") == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_name_alone_chooses_it(language: str) -> None:
    for name in LANGUAGE_NAMES[language]:
        assert requested_language(name) == language, name
        assert requested_language(name.upper()) == language, name


@pytest.mark.parametrize(
    ("language", "phrase"),
    [
        ("en", "DELETE YES"),
        ("es", "BORRAR SÍ"),
        ("pt", "APAGAR SIM"),
        ("fr", "SUPPRIMER OUI"),
        ("sw", "FUTA NDIYO"),
        ("hi", "मिटाओ हाँ"),
        ("xx", "DELETE YES"),
    ],
)
def test_confirm_phrase(language: str, phrase: str) -> None:
    assert confirm_phrase(language) == phrase
    assert command_word(Command.CONFIRM_DELETE, language) == phrase
    assert parse_command(phrase) is Command.CONFIRM_DELETE


@pytest.mark.parametrize(
    ("language", "stop", "help_word"),
    [
        ("en", "STOP", "HELP"),
        ("es", "PARAR", "AYUDA"),
        ("pt", "PARAR", "AJUDA"),
        ("fr", "STOP", "AIDE"),
        ("sw", "ACHA", "MSAADA"),
        ("hi", "बंद करो", "मदद"),
        ("de", "STOP", "HELP"),
    ],
)
def test_command_word(language: str, stop: str, help_word: str) -> None:
    assert command_word(Command.STOP, language) == stop
    assert command_word(Command.HELP, language) == help_word


def test_every_command_has_words_in_every_language() -> None:
    assert set(WORDS) == set(LANGUAGES) == set(YES) == set(LANGUAGE_NAMES)
    for language in LANGUAGES:
        expected = set(Command) - {Command.CONFIRM_DELETE}
        assert set(WORDS[language]) == expected, language
        assert all(WORDS[language][command] for command in expected)


def test_no_phrase_means_two_commands() -> None:
    # The index refuses such data at import; check that language names do not shadow words.
    for names in LANGUAGE_NAMES.values():
        for name in names:
            parsed = parse(name)
            assert parsed is not None and parsed.command is Command.LANGUAGE, name


def test_no_word_is_an_ordinary_answer() -> None:
    ordinary = {"yes", "no", "si", "sim", "oui", "ndiyo", "hapana", "ok", "hi", "hello"}
    every_word = {
        normalize(word) for commands in WORDS.values() for ws in commands.values() for word in ws
    }
    assert not every_word & ordinary


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("  ARRÊTER!! ", "arreter"),
        ("Borrar, sí.", "borrar si"),
        ("*stop*", "stop"),
        ("_Ajuda_", "ajuda"),
        ("बंद करो।", "बंद करो"),
        ("हाँ", normalize("हां")),
        ("अंग्रेज़ी", normalize("अंग्रेजी")),
        ("ＳＴＯＰ", "stop"),  # full-width letters from some keyboards
        ("stop\u200b", "stop"),  # zero-width space
    ],
)
def test_normalize(raw: str, folded: str) -> None:
    assert normalize(raw) == folded


def test_devanagari_vowel_signs_are_kept() -> None:
    # Dropping Devanagari marks like Latin accents would merge different words.
    assert normalize("मिटाओ") != normalize("मटओ")
    assert normalize("शुरू") == "शुरू"


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse(text)
    assert parse_command(text) is (parsed.command if parsed else None)
    language = command_language(text)
    assert language is None or language in LANGUAGES
    chosen = requested_language(text)
    assert chosen is None or chosen in LANGUAGES


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([word for c in WORDS.values() for ws in c.values() for word in ws]),
    st.text(alphabet=st.characters(categories=["L"]), min_size=2, max_size=12),
)
def test_a_command_word_inside_a_sentence_is_not_a_command(word: str, other: str) -> None:
    # Adding a real word (letters only, not a polite filler) to a command makes it a sentence,
    # unless the result happens to be another listed phrase.
    for sentence in (f"{word} {other}", f"{other} {word}"):
        if normalize(sentence) in _ALL_PHRASES or _ends_with_polite(sentence):
            continue
        parsed = parse(sentence)
        assert parsed is None or parsed.command is Command.LANGUAGE, sentence


_POLITE = {"please", "pls", "plz", "svp", "tafadhali", "कृपया", "kripya", "kripaya"}
_ALL_PHRASES = {
    normalize(phrase)
    for language in LANGUAGES
    for phrase in (
        *(word for ws in WORDS[language].values() for word in ws),
        *(f"{d} {y}" for d in WORDS[language][Command.DELETE] for y in YES[language]),
        *(f"{y} {d}" for d in WORDS[language][Command.DELETE] for y in YES[language]),
    )
}


def _ends_with_polite(sentence: str) -> bool:
    words = normalize(sentence).split()
    return bool(words) and (words[0] in _POLITE or words[-1] in _POLITE)

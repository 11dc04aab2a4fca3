"""The bot's own texts: every key in every language, same placeholders, English fallback."""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot import i18n
from bot.commands import Command, command_word, confirm_phrase, parse, parse_command
from bot.i18n import SUPPORTED, MissingParameter, placeholders, t

LOCALES = Path(i18n.__file__).parent / "locales"

# The brief's list, written out again so a key dropped from both i18n.KEYS and the .pot fails.
EXPECTED_KEYS = frozenset(
    {
        "welcome",
        "help",
        "stopped",
        "started",
        "human_requested",
        "human_active",
        "delete_confirm",
        "deleted",
        "delete_cancelled",
        "language_set",
        "media_unsupported",
        "location_received",
        "empty_message",
        "model_unavailable",
        "emergency_hint_unknown",
        "answer_pending",
        "store_unavailable",
        "smalltalk_greeting",
        "smalltalk_thanks",
        "smalltalk_acknowledgement",
        "smalltalk_goodbye",
        "smalltalk_identity",
        "smalltalk_is_human",
        "already_answered",
        "episode_reminder_emergency",
        "episode_reminder_urgent",
        "voice_heard",
        "voice_not_heard",
    }
)

# A long but realistic hint, to measure texts at their longest.
LONG_HINT = "112 (or 999 for an ambulance, 0800 123 456 for the poison centre)"


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _entries(catalog: Catalog) -> dict[str, tuple[str, bool]]:
    """Map each message id to (msgstr, fuzzy), without the header."""
    entries: dict[str, tuple[str, bool]] = {}
    for message in catalog:
        if not message.id:
            continue
        assert isinstance(message.id, str) and isinstance(message.string, str)
        entries[message.id] = (message.string, message.fuzzy)
    return entries


def _po(language: str) -> dict[str, tuple[str, bool]]:
    return _entries(_read(LOCALES / language / "LC_MESSAGES" / "messages.po"))


def _params(language: str) -> dict[str, str]:
    return {
        "emergency_hint": t("emergency_hint_unknown", language),
        "confirm_word": confirm_phrase(language),
        "topic": "Malaria",
        "transcript": "my baby is not breathing properly",
    }


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_supported_languages() -> None:
    assert SUPPORTED == ("en", "es", "pt", "fr", "sw", "hi")


def test_pot_lists_exactly_the_keys() -> None:
    pot = _entries(_read(LOCALES / "messages.pot"))
    assert set(pot) == EXPECTED_KEYS
    assert all(text == "" for text, _ in pot.values())
    assert set(i18n.KEYS) == EXPECTED_KEYS and len(i18n.KEYS) == len(EXPECTED_KEYS)


@pytest.mark.parametrize("language", SUPPORTED)
def test_catalog_has_every_key_translated(language: str) -> None:
    entries = _po(language)
    assert set(entries) == EXPECTED_KEYS
    for key, (text, fuzzy) in entries.items():
        assert text.strip(), f"{language}: {key} is empty"
        assert not fuzzy, f"{language}: {key} is fuzzy"


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED if lang != "en"])
def test_translations_are_not_copies_of_english(language: str) -> None:
    english, translated = _po("en"), _po(language)
    for key in EXPECTED_KEYS:
        assert translated[key][0] != english[key][0], f"{language}: {key} is untranslated"


@pytest.mark.parametrize("language", SUPPORTED)
def test_placeholders_match_english(language: str) -> None:
    english, translated = _po("en"), _po(language)
    for key in EXPECTED_KEYS:
        assert _fields(translated[key][0]) == _fields(english[key][0]), f"{language}: {key}"


def test_english_placeholders_are_the_documented_ones() -> None:
    english = _po("en")
    with_hint = {
        "welcome",
        "human_requested",
        "media_unsupported",
        "model_unavailable",
        "store_unavailable",
        "episode_reminder_emergency",
        "voice_not_heard",
    }
    for key in EXPECTED_KEYS:
        expected = {"emergency_hint"} if key in with_hint else set()
        if key == "delete_confirm":
            expected = {"confirm_word"}
        if key == "already_answered":
            expected = {"topic"}
        if key == "voice_heard":
            expected = {"transcript"}
        assert _fields(english[key][0]) == expected, key
        assert placeholders(english[key][0]) == frozenset(expected)


@pytest.mark.parametrize("language", SUPPORTED)
def test_texts_fit_a_whatsapp_message(language: str) -> None:
    for key in EXPECTED_KEYS:
        for hint in (t("emergency_hint_unknown", language), LONG_HINT):
            text = t(key, language, **{**_params(language), "emergency_hint": hint})
            assert 0 < len(text) <= 1600, f"{language}: {key} is {len(text)} chars"
            assert "{" not in text and "}" not in text
    welcome = t("welcome", language, emergency_hint=t("emergency_hint_unknown", language))
    assert len(welcome) <= 650, f"{language}: welcome is {len(welcome)} chars"


def test_hindi_is_written_in_devanagari() -> None:
    for key, (text, _) in _po("hi").items():
        assert any("\u0900" <= char <= "\u097f" for char in text), key


@pytest.mark.parametrize("language", ["xx", "de", "", "klingon", "EN-GB"])
def test_unknown_language_falls_back_to_english(language: str) -> None:
    for key in EXPECTED_KEYS:
        assert t(key, language, **_params("en")) == t(key, "en", **_params("en"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [("pt-BR", "pt"), ("pt_BR", "pt"), ("ES", "es"), (" fr ", "fr"), ("sw-KE", "sw"), ("hi", "hi")],
)
def test_regional_codes_use_the_base_language(code: str, expected: str) -> None:
    assert i18n.normalize_language(code) == expected
    assert t("language_set", code) == t("language_set", expected)


def test_missing_or_empty_translation_falls_back_to_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = i18n.catalog

    def partial(language: str) -> Mapping[str, str]:
        texts = dict(real(language))
        if language == "sw":
            del texts["deleted"]
            texts["delete_cancelled"] = ""
        return texts

    monkeypatch.setattr(i18n, "catalog", partial)
    assert t("deleted", "sw") == t("deleted", "en")
    assert t("delete_cancelled", "sw") == t("delete_cancelled", "en")
    assert t("language_set", "sw") != t("language_set", "en")


def test_fuzzy_and_empty_entries_are_not_read(tmp_path: Path) -> None:
    po = tmp_path / "messages.po"
    po.write_text(
        '#, fuzzy\nmsgid "welcome"\nmsgstr "a guess"\n\n'
        'msgid "help"\nmsgstr "ok"\n\n'
        'msgid "deleted"\nmsgstr ""\n',
        encoding="utf-8",
    )
    with po.open("rb") as handle:
        assert i18n.read_texts(handle) == {"help": "ok"}


def test_missing_parameter_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as caught:
        t("welcome", "es")
    assert isinstance(caught.value, MissingParameter)
    assert caught.value.name == "emergency_hint"
    message = str(caught.value)
    assert "welcome" in message and "emergency_hint" in message and "es" in message
    with pytest.raises(MissingParameter):
        t("delete_confirm", "fr", emergency_hint="112")


def test_extra_parameters_are_ignored() -> None:
    assert t("empty_message", "en", emergency_hint="112") == t("empty_message", "en")


def test_parameters_are_inserted() -> None:
    assert "112" in t("welcome", "fr", emergency_hint="112")
    assert "BORRAR SÍ" in t("delete_confirm", "es", confirm_word=confirm_phrase("es"))
    # A value that looks like a field is inserted as text, never formatted again.
    assert "{confirm_word}" in t("welcome", "en", emergency_hint="{confirm_word}")


def test_unknown_key_raises() -> None:
    with pytest.raises(KeyError, match="no_such_key"):
        t("no_such_key", "en")


def test_field_with_attribute_access_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "catalog", lambda language: {"welcome": "{emergency_hint.upper}"})
    with pytest.raises(ValueError, match="bad field"):
        t("welcome", "en", emergency_hint="112")


def test_catalog_is_read_once_and_rejects_unsupported() -> None:
    assert i18n.catalog("en") is i18n.catalog("en")
    with pytest.raises(ValueError):
        i18n.catalog("de")


def test_english_texts_say_the_essentials() -> None:
    welcome = t("welcome", "en", emergency_hint="112").lower()
    for phrase in ("not a doctor", "112", "never sold", "stop", "delete", "help", "language"):
        assert phrase in welcome
    assert t("emergency_hint_unknown", "en") == "your local emergency number"
    assert "English" in t("language_set", "en")


# --- The catalogs and bot/commands.py must name the same command words. ---

_SHOWN_IN = {
    "help": (
        Command.STOP,
        Command.START,
        Command.HUMAN,
        Command.DELETE,
        Command.LANGUAGE,
        Command.HELP,
    ),
    "welcome": (Command.STOP, Command.DELETE, Command.HELP, Command.LANGUAGE),
    "delete_confirm": (Command.CANCEL,),
    "stopped": (Command.START,),
    "started": (Command.HELP,),
    "smalltalk_identity": (Command.HELP,),
    "smalltalk_is_human": (Command.HUMAN,),
}


@pytest.mark.parametrize("language", SUPPORTED)
def test_texts_name_the_command_words_of_their_language(language: str) -> None:
    for key, commands in _SHOWN_IN.items():
        text = t(key, language, **_params(language)).casefold()
        for command in commands:
            word = command_word(command, language)
            assert word.casefold() in text, f"{language}: {key} lacks {word}"
            assert parse_command(word) is command, f"{language}: {word} is not {command}"


@pytest.mark.parametrize("language", SUPPORTED)
def test_confirm_phrase_in_the_text_confirms(language: str) -> None:
    phrase = confirm_phrase(language)
    assert phrase in t("delete_confirm", language, confirm_word=phrase)
    assert parse_command(phrase) is Command.CONFIRM_DELETE


@pytest.mark.parametrize("language", SUPPORTED)
def test_language_names_in_help_switch_language(language: str) -> None:
    help_text = t("help", language, **_params(language))
    for code, name in [
        ("en", "English"),
        ("es", "Español"),
        ("pt", "Português"),
        ("fr", "Français"),
        ("sw", "Kiswahili"),
        ("hi", "हिन्दी"),
    ]:
        assert name in help_text
        parsed = parse(name)
        assert parsed is not None and parsed.command is Command.LANGUAGE
        assert parsed.argument == code

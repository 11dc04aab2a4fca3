"""The OpenAI-compatible transcriber: the multipart it sends, retries, errors, language, cost."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.config import ConfigError
from bot.errors import ModelBadResponse, ModelRateLimited, ModelUnavailable
from bot.voice.factory import build_transcriber
from bot.voice.transcribe import (
    Audio,
    LocalWhisperTranscriber,
    OpenAICompatTranscriber,
    audio_seconds,
    cost_of,
    language_code,
    price_of,
)
from tests.helpers import make_settings
from tests.voice.voice_fakes import ogg_opus_seconds, speak

KEY = "sk-secret-key-abc"


def transcriber(handler: httpx.MockTransport, model: str = "whisper-1",
                provider: str = "openai") -> tuple[OpenAICompatTranscriber, list[float]]:
    slept: list[float] = []
    return OpenAICompatTranscriber(
        model, base_url="https://api.example/v1", api_key=KEY,
        client=httpx.Client(transport=handler), provider=provider, sleep=slept.append,
    ), slept


def multipart(request: httpx.Request) -> tuple[dict[str, str], bytes, str]:
    """The form fields, the file's bytes and its part headers, read with the stdlib parser."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields: dict[str, str] = {}
    data, part_headers = b"", ""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "file":
            data = part.get_payload(decode=True)
            part_headers = str(part)
        else:
            fields[str(name)] = part.get_content().strip()
    return fields, data, part_headers


@pytest.mark.usefixtures("speech_tools")
def test_the_upload_is_the_voice_note_itself_as_valid_multipart() -> None:
    audio = Audio(speak("I have a headache", "en"), "audio/ogg")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"text": " I have a  headache. ", "language": "english",
                                         "duration": 1.5})

    model, _ = transcriber(httpx.MockTransport(handler))
    result = model.transcribe(audio, language=None)
    request = seen[0]
    assert str(request.url) == "https://api.example/v1/audio/transcriptions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    fields, data, part = multipart(request)
    assert fields == {"model": "whisper-1", "response_format": "verbose_json",
                      "temperature": "0"}
    assert data == audio.data and ogg_opus_seconds(data) > 0.5
    assert 'filename="voice.ogg"' in part and "audio/ogg" in part
    assert (result.text, result.language, result.transcriber) == (
        "I have a headache.", "en", "openai/whisper-1")
    assert result.seconds == 1.5 and result.cost_usd == pytest.approx(0.006 * 1.5 / 60)


def test_a_language_hint_is_sent_and_gpt4o_models_get_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"text": "nina homa",
                                         "usage": {"type": "duration", "seconds": 3}})

    model, _ = transcriber(httpx.MockTransport(handler), model="gpt-4o-mini-transcribe")
    result = model.transcribe(Audio(b"OggS", "audio/ogg"), language="sw")
    fields, _, _ = multipart(seen[0])
    assert fields["language"] == "sw" and fields["response_format"] == "json"
    # No language in a json answer: the hint stands; the length comes from usage.
    assert result.language == "sw" and result.seconds == 3
    assert result.cost_usd == pytest.approx(0.003 * 3 / 60)


def test_retryable_failures_are_retried_then_succeed() -> None:
    answers = [httpx.Response(503, json={"error": {"message": "overloaded"}}),
               httpx.Response(429, headers={"retry-after": "2"},
                              json={"error": {"message": "slow down"}}),
               httpx.Response(200, json={"text": "ok"})]
    model, slept = transcriber(httpx.MockTransport(lambda request: answers.pop(0)))
    assert model.transcribe(Audio(b"x", "audio/ogg")).text == "ok"
    assert len(slept) == 2 and slept[1] == 2.0  # the server's retry-after is obeyed


def test_a_bad_key_is_not_retried_and_never_leaks() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key {KEY}"}})

    model, slept = transcriber(httpx.MockTransport(handler))
    with pytest.raises(ModelUnavailable) as info:
        model.transcribe(Audio(b"x", "audio/ogg"))
    assert len(calls) == 1 and slept == []
    assert KEY not in str(info.value)


def test_retries_stop_after_two() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, json={"error": {"message": "rate"}})

    model, _ = transcriber(httpx.MockTransport(handler))
    with pytest.raises(ModelRateLimited):
        model.transcribe(Audio(b"x", "audio/ogg"))
    assert len(calls) == 3


def test_a_result_without_text_is_a_bad_response() -> None:
    model, _ = transcriber(httpx.MockTransport(lambda r: httpx.Response(200, json={"x": 1})))
    with pytest.raises(ModelBadResponse):
        model.transcribe(Audio(b"x", "audio/ogg"))
    model, _ = transcriber(httpx.MockTransport(lambda r: httpx.Response(200, text="nope")))
    with pytest.raises(ModelBadResponse):
        model.transcribe(Audio(b"x", "audio/ogg"))


@pytest.mark.parametrize(("reported", "code"), [
    ("english", "en"), ("Swahili", "sw"), ("hindi", "hi"), ("pt-BR", "pt"), ("fr", "fr"),
    ("portuguese", "pt"), ("", None), (None, None), ("klingonese", None),
])
def test_reported_languages_become_codes(reported: str | None, code: str | None) -> None:
    assert language_code(reported) == code


def test_prices_per_minute_and_unknown_is_none_not_zero() -> None:
    assert cost_of("openai/whisper-1", 60) == pytest.approx(0.006)
    assert cost_of("openai/gpt-4o-transcribe", 30) == pytest.approx(0.003)
    assert cost_of("openai/gpt-4o-mini-transcribe", 120) == pytest.approx(0.006)
    assert cost_of("local/small", 60) == 0.0 and price_of("local/small").self_hosted  # type: ignore[union-attr]
    assert cost_of("groq/some-new-model", 60) is None
    assert cost_of("openai/whisper-1", None) is None
    for name in ("openai/whisper-1", "openai/gpt-4o-transcribe", "openai/gpt-4o-mini-transcribe"):
        row = price_of(name)
        assert row is not None and row.source.startswith("https://") and row.as_of


@pytest.mark.usefixtures("speech_tools")
def test_the_length_is_read_from_the_ogg_container() -> None:
    data = speak("one two three four five six", "en")
    assert audio_seconds(Audio(data, "audio/ogg")) == pytest.approx(ogg_opus_seconds(data),
                                                                     abs=0.05)
    assert audio_seconds(Audio(b"not audio", "audio/ogg")) is None


def test_the_factory_reads_the_setting(tmp_path: Path) -> None:
    assert build_transcriber(make_settings(tmp_path), httpx.Client()) is None
    groq = make_settings(tmp_path, HEALTHBOT_TRANSCRIBE_MODEL="groq/whisper-large-v3",
                         OPENAI_API_KEY="k")
    made = build_transcriber(groq, httpx.Client())
    assert isinstance(made, OpenAICompatTranscriber)
    assert made.base_url == "https://api.groq.com/openai/v1"
    assert made.name == "groq/whisper-large-v3"
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_transcriber(make_settings(tmp_path, HEALTHBOT_TRANSCRIBE_MODEL="openai/whisper-1"),
                          httpx.Client())
    with pytest.raises(ConfigError, match="unknown provider"):
        build_transcriber(make_settings(tmp_path, HEALTHBOT_TRANSCRIBE_MODEL="acme/x"),
                          httpx.Client())
    local = make_settings(tmp_path, HEALTHBOT_TRANSCRIBE_MODEL="local/small",
                          HEALTHBOT_WHISPER_DIR=str(tmp_path / "models"))
    with pytest.raises(ConfigError, match=r"faster-whisper"):
        build_transcriber(local, httpx.Client())


def test_local_whisper_recognises_when_a_model_is_present(tmp_path: Path) -> None:
    """Real local recognition: needs faster-whisper and a CTranslate2 model on disk.

    Nothing can be downloaded here, so this runs only where WHISPER_TEST_MODEL_DIR points
    at a model directory (e.g. faster-whisper-tiny); elsewhere it is skipped and says why.
    """
    import os

    pytest.importorskip("faster_whisper", reason="faster-whisper (healthbot[whisper]) is not "
                        "installed")
    model_dir = os.environ.get("WHISPER_TEST_MODEL_DIR")
    if not model_dir or not (Path(model_dir) / "model.bin").is_file():
        pytest.skip("no faster-whisper model on this machine (set WHISPER_TEST_MODEL_DIR)")
    local = LocalWhisperTranscriber(Path(model_dir), name="test")
    result = local.transcribe(Audio(speak("he is not breathing", "en"), "audio/ogg"))
    assert "breath" in result.text.lower() and result.language == "en"
    assert result.cost_usd == 0.0


def test_json_error_bodies_are_read(tmp_path: Path) -> None:
    body = json.dumps({"error": {"message": "model not found", "code": "model_not_found"}})
    model, _ = transcriber(httpx.MockTransport(lambda r: httpx.Response(404, text=body)))
    with pytest.raises(ModelUnavailable, match="model not found"):
        model.transcribe(Audio(b"x", "audio/ogg"))

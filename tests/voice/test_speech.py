"""The speakers: espeak-ng makes real OGG/Opus; the OpenAI-compatible one asks for opus."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.config import ConfigError
from bot.errors import ModelBadResponse, ModelUnavailable
from bot.voice.factory import build_speaker
from bot.voice.speech import EspeakSpeaker, OpenAICompatSpeaker
from tests.helpers import make_settings
from tests.voice.voice_fakes import ogg_opus_seconds

KEY = "sk-speech-secret"


@pytest.mark.usefixtures("speech_tools")
@pytest.mark.parametrize("language", ["en", "es", "pt", "fr", "sw", "hi"])
def test_espeak_speaks_every_supported_language_as_ogg_opus(language: str) -> None:
    speech = EspeakSpeaker().speak("Piga 112 sasa. Call the emergency number now.", language)
    assert speech.content_type == "audio/ogg" and speech.speaker.startswith("espeak-ng/")
    assert ogg_opus_seconds(speech.data) > 1.5


def test_the_openai_compatible_speaker_asks_for_opus_and_checks_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"OggS\x00rest-of-audio")

    speaker = OpenAICompatSpeaker("gpt-4o-mini-tts", base_url="https://api.example/v1",
                                  api_key=KEY, client=httpx.Client(
                                      transport=httpx.MockTransport(handler)), voice="nova")
    speech = speaker.speak("Call 999 now.", "en")
    assert speech.data.startswith(b"OggS") and speech.speaker == "openai/gpt-4o-mini-tts"
    assert str(seen[0].url) == "https://api.example/v1/audio/speech"
    assert json.loads(seen[0].content) == {"model": "gpt-4o-mini-tts", "voice": "nova",
                                           "input": "Call 999 now.", "response_format": "opus"}
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"

    mp3 = OpenAICompatSpeaker("tts-1", base_url="https://api.example/v1", api_key=KEY,
                              client=httpx.Client(transport=httpx.MockTransport(
                                  lambda r: httpx.Response(200, content=b"ID3..."))))
    with pytest.raises(ModelBadResponse):
        mp3.speak("x", "en")
    refused = OpenAICompatSpeaker("tts-1", base_url="https://api.example/v1", api_key=KEY,
                                  client=httpx.Client(transport=httpx.MockTransport(
                                      lambda r: httpx.Response(401, json={"error": {
                                          "message": f"bad key {KEY}"}}))))
    with pytest.raises(ModelUnavailable) as info:
        refused.speak("x", "en")
    assert KEY not in str(info.value)


def test_the_speaker_setting(tmp_path: Path) -> None:
    assert build_speaker(make_settings(tmp_path), httpx.Client()) is None
    on = make_settings(tmp_path, HEALTHBOT_VOICE_REPLIES="true",
                       HEALTHBOT_SPEECH_MODEL="openai/gpt-4o-mini-tts")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_speaker(on, httpx.Client())
    bad = make_settings(tmp_path, HEALTHBOT_VOICE_REPLIES="true", HEALTHBOT_SPEECH_MODEL="acme")
    with pytest.raises(ConfigError, match="HEALTHBOT_SPEECH_MODEL"):
        build_speaker(bad, httpx.Client())

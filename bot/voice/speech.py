"""Text to speech for voice replies (HEALTHBOT_VOICE_REPLIES): a Speaker port, two adapters.

- `espeak` (default): espeak-ng (Debian package; offline; English, Spanish, Portuguese, French,
  Swahili, Hindi and many more), encoded by ffmpeg as OGG/Opus, which WhatsApp plays as a voice
  note;
- `provider/model`: an OpenAI-compatible `POST {base}/audio/speech` (e.g. openai/gpt-4o-mini-tts,
  voice HEALTHBOT_SPEECH_VOICE) asked for `opus` (OGG/Opus), at the chat adapters' base URL/key.

Safety texts are spoken from the very text that was sent: the caller passes the fixed text, never
a model's paraphrase of it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

import httpx

from bot.errors import ModelBadResponse, ModelError, ModelUnavailable
from bot.llm.http import (
    Secret,
    error_body,
    error_for_status,
    join_url,
    map_transport_error,
    scrub,
)

# espeak-ng voice per reply language (Brazilian Portuguese and Latin American Spanish are the
# bot's main audiences for those two).
ESPEAK_VOICES = {"en": "en", "es": "es-419", "pt": "pt-br", "fr": "fr", "sw": "sw", "hi": "hi"}
OGG = "audio/ogg"
SPEAK_TIMEOUT_S = 30.0
MAX_SPOKEN_CHARS = 1500  # a few minutes of speech at most; WhatsApp caps audio at 16 MB


@dataclass(frozen=True, slots=True)
class Speech:
    data: bytes
    content_type: str
    speaker: str  # "espeak-ng/sw" or "openai/gpt-4o-mini-tts"


class Speaker(Protocol):
    """Turns text into audio WhatsApp can play; raises bot.errors.ModelError on failure."""

    name: str

    def speak(self, text: str, language: str) -> Speech: ...


class EspeakSpeaker:
    """espeak-ng to WAV, ffmpeg to OGG/Opus: offline, nothing to download."""

    name = "espeak-ng"

    def __init__(self) -> None:
        espeak, ffmpeg = shutil.which("espeak-ng"), shutil.which("ffmpeg")
        if espeak is None or ffmpeg is None:
            missing = [n for n, p in (("espeak-ng", espeak), ("ffmpeg", ffmpeg)) if p is None]
            raise ModelUnavailable(
                f"voice replies with espeak need {' and '.join(missing)} "
                "(apt-get install espeak-ng ffmpeg)", provider="espeak", retryable=False)
        # Full paths, found once: no PATH lookup per reply.
        self._espeak, self._ffmpeg = espeak, ffmpeg

    def speak(self, text: str, language: str) -> Speech:
        """Say `text` in `language`'s voice.

        Raises:
            bot.errors.ModelError: espeak-ng or ffmpeg failed or took too long.
        """
        voice = ESPEAK_VOICES.get(language, "en")
        try:
            wav = subprocess.run(  # noqa: S603 - fixed binaries, text passed as one argument
                [self._espeak, "-v", voice, "-s", "150", "--stdout", text[:MAX_SPOKEN_CHARS]],
                capture_output=True, check=True, timeout=SPEAK_TIMEOUT_S).stdout
            ogg = subprocess.run(  # noqa: S603 - fixed binary and arguments
                [self._ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-ac", "1", "-c:a", "libopus",
                 "-b:a", "24k", "-application", "voip", "-f", "ogg", "pipe:1"],
                input=wav, capture_output=True, check=True, timeout=SPEAK_TIMEOUT_S).stdout
        except (subprocess.SubprocessError, OSError) as exc:
            raise ModelUnavailable(f"espeak: speaking failed: {type(exc).__name__}",
                                   provider="espeak") from exc
        return Speech(ogg, OGG, f"espeak-ng/{voice}")


class OpenAICompatSpeaker:
    """`POST {base_url}/audio/speech` with `response_format=opus` (OGG/Opus)."""

    def __init__(self, model: str, *, base_url: str, api_key: str | None, client: httpx.Client,
                 provider: str = "openai", voice: str = "alloy",
                 timeout_s: float = SPEAK_TIMEOUT_S) -> None:
        self.provider, self.model, self.voice = provider, model, voice
        self.name = f"{provider}/{model}"
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self._client = client
        self._timeout_s = timeout_s

    def speak(self, text: str, language: str) -> Speech:
        """Ask the server to say `text` (the model reads the language from the text).

        Raises:
            bot.errors.ModelError: any failure, with no key in it.
        """
        headers = {"content-type": "application/json"}
        key = self._key.reveal()
        if key:
            headers["authorization"] = f"Bearer {key}"
        body = {"model": self.model, "voice": self.voice, "input": text[:MAX_SPOKEN_CHARS],
                "response_format": "opus"}
        try:
            try:
                response = self._client.post(join_url(self.base_url, "audio/speech"),
                                             headers=headers, json=body,
                                             timeout=self._timeout_s)
            except httpx.HTTPError as exc:
                raise map_transport_error(exc, provider=self.provider,
                                          secret=self._key) from exc
            if response.status_code >= 300:
                err = error_body(response)
                raise error_for_status(response.status_code, provider=self.provider,
                                       message=str(err.get("message") or ""))
            if not response.content.startswith(b"OggS"):
                raise ModelBadResponse(f"{self.provider}: speech is not OGG/Opus",
                                       provider=self.provider)
            return Speech(response.content, OGG, self.name)
        except ModelError as exc:
            raise scrub(exc, self._key) from exc.__cause__

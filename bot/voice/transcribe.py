"""Speech to text: the Transcriber port, its adapters, and what hearing a voice note cost.

    HEALTHBOT_TRANSCRIBE_MODEL=provider/model      (like HEALTHBOT_MODEL)

- `openai/whisper-1`, `openai/gpt-4o-transcribe`, `groq/whisper-large-v3`, `vllm/...`, ...:
  any OpenAI-compatible `POST {base}/audio/transcriptions` (multipart upload), at the base URL
  and key the chat adapters use (OPENAI_BASE_URL / OPENAI_API_KEY, bot/llm/factory.py);
- `local/NAME`: faster-whisper (the optional `healthbot[whisper]` extra) loading a CTranslate2
  model from HEALTHBOT_WHISPER_DIR/NAME (or an absolute path); nothing is ever downloaded.

Errors are the model layer's (bot/errors.py): an adapter translates every failure into a
ModelError. Unlike the chat adapters there is no router behind a transcriber, so the
OpenAI-compatible adapter retries a retryable failure itself, with the router's policy
(`bot/llm/retry.py`: twice, with backoff, honouring `retry-after`, within its time budget).
"""

from __future__ import annotations

import io
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

from bot.errors import ModelBadResponse, ModelError, ModelTimeout, ModelUnavailable
from bot.llm.http import (
    Secret,
    error_body,
    error_for_status,
    join_url,
    map_transport_error,
    parse_wait_hint,
    response_json,
    scrub,
)
from bot.llm.retry import retry_wait

log = logging.getLogger(__name__)

PRICES_PATH = Path(__file__).with_name("transcribe_prices.yaml")
MAX_RETRIES = 2
RETRY_CAP_S = 8.0
BACKOFF_BASE_S = 0.5
# OpenAI's GPT-4o transcription models answer only `json` or `text` (no verbose_json, so no
# detected language); Whisper and the servers that mimic it (Groq, faster-whisper-server,
# LocalAI, vLLM) give `verbose_json` with `language` and `duration`.
_JSON_ONLY_PREFIXES = ("gpt-4o",)


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes
    content_type: str  # "audio/ogg" for a WhatsApp voice note

    @property
    def filename(self) -> str:
        """A file name whose extension tells the server the container (OpenAI checks it)."""
        ext = _EXTENSIONS.get(self.content_type, "ogg")
        return f"voice.{ext}"


_EXTENSIONS = {
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
    "audio/mp4": "m4a", "audio/x-m4a": "m4a", "audio/aac": "m4a", "audio/amr": "amr",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/webm": "webm", "audio/flac": "flac",
}


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a transcriber heard, in which language, and what it cost (None: unknown)."""

    text: str
    language: str | None  # an ISO 639-1 code when known ("sw")
    transcriber: str  # "provider/model"
    seconds: float | None  # the audio's length
    cost_usd: float | None
    latency_ms: float


class Transcriber(Protocol):
    """Turns audio into text; raises bot.errors.ModelError on any failure."""

    name: str  # "provider/model"

    def transcribe(self, audio: Audio, *, language: str | None = None) -> Transcript: ...


# --------------------------------------------------------------------------- prices


@dataclass(frozen=True, slots=True)
class MinutePrice:
    usd_per_minute: float
    as_of: str
    source: str
    self_hosted: bool = False
    verify: bool = False


@cache
def price_table(path: Path = PRICES_PATH) -> dict[str, MinutePrice]:
    """The per-minute prices in transcribe_prices.yaml, by lower-case "provider/model"."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    table: dict[str, MinutePrice] = {}
    for key, row in data.items():
        try:
            table[str(key).lower()] = MinutePrice(
                usd_per_minute=float(row["usd_per_minute"]), as_of=str(row["as_of"]),
                source=str(row["source"]), self_hosted=bool(row.get("self_hosted", False)),
                verify=bool(row.get("verify", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"transcription price row {key!r} is malformed: {exc}") from exc
    return table


def price_of(name: str, table: Mapping[str, MinutePrice] | None = None) -> MinutePrice | None:
    """The row for "provider/model" (exact, then "provider/*"), or None when unknown."""
    rows = price_table() if table is None else table
    provider = name.split("/", 1)[0].lower()
    return rows.get(name.lower()) or rows.get(f"{provider}/*")


def cost_of(name: str, seconds: float | None) -> float | None:
    """USD for `seconds` of audio on `name`; None when its price or the length is unknown."""
    price = price_of(name)
    if price is None or seconds is None:
        return None
    return price.usd_per_minute * seconds / 60.0


def audio_seconds(audio: Audio) -> float | None:
    """The audio's length read from its container (OGG/Opus, MP3, M4A...), None if unreadable."""
    import mutagen

    try:
        parsed = mutagen.File(io.BytesIO(audio.data))
    except Exception:  # mutagen raises many kinds on a malformed file
        return None
    length = getattr(getattr(parsed, "info", None), "length", None)
    return float(length) if isinstance(length, int | float) and length > 0 else None


# --------------------------------------------------------------------------- languages


@cache
def _language_codes() -> dict[str, str]:
    """English language names ("swahili") to ISO 639-1 codes, from Babel's CLDR data."""
    from babel import Locale

    names = Locale("en").languages
    return {name.casefold(): code for code, name in names.items() if len(code) == 2}


def language_code(value: object) -> str | None:
    """An ISO 639-1 code from what a server reports: "sw", "sw-KE" or Whisper's "swahili"."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("_", "-")
    if len(text.split("-", 1)[0]) == 2:
        return text.split("-", 1)[0].lower()
    return _language_codes().get(text.casefold())


# --------------------------------------------------------------------------- OpenAI-compatible


class OpenAICompatTranscriber:
    """`POST {base_url}/audio/transcriptions` with the audio as a multipart upload."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        client: httpx.Client,
        provider: str = "openai",
        timeout_s: float = 60.0,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider}/{model}"
        self.base_url = base_url.rstrip("/")
        self._key = Secret(api_key)
        self._client = client
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"OpenAICompatTranscriber({self.name!r}, base_url={self.base_url!r})"

    def transcribe(self, audio: Audio, *, language: str | None = None) -> Transcript:
        """Send the audio, retrying a retryable failure; return what was heard.

        Raises:
            bot.errors.ModelError: every failure, after the retries, with no key in it.
        """
        started = time.monotonic()
        deadline = started + self._timeout_s
        attempt = 0
        while True:
            try:
                data = self._once(audio, language, deadline)
                break
            except ModelError as exc:
                scrub(exc, self._key)
                wait = retry_wait(exc, attempt, max_retries=self._max_retries,
                                  backoff_base_s=BACKOFF_BASE_S, cap_s=RETRY_CAP_S,
                                  time_left=deadline - time.monotonic(), rng=random.random)
                if wait is None:
                    raise
                attempt += 1
                log.warning("transcriber %s failed (%s); retry %d in %.1fs", self.name,
                            type(exc).__name__, attempt, wait)
                self._sleep(wait)
        text = data.get("text")
        if not isinstance(text, str):
            raise ModelBadResponse(f"{self.provider}: transcription has no text",
                                   provider=self.provider)
        seconds = _reported_seconds(data) or audio_seconds(audio)
        return Transcript(
            text=" ".join(text.split()),
            language=language_code(data.get("language")) or language,
            transcriber=self.name,
            seconds=seconds,
            cost_usd=cost_of(self.name, seconds),
            latency_ms=(time.monotonic() - started) * 1000.0,
        )

    def _once(self, audio: Audio, language: str | None, deadline: float) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ModelTimeout(f"{self.provider}: no time left to transcribe",
                               provider=self.provider)
        form = {"model": self.model, "response_format": self._response_format(),
                "temperature": "0"}
        if language:
            form["language"] = language
        headers = {"accept": "application/json"}
        key = self._key.reveal()
        if key:
            headers["authorization"] = f"Bearer {key}"
        try:
            response = self._client.post(
                join_url(self.base_url, "audio/transcriptions"),
                headers=headers,
                data=form,
                files={"file": (audio.filename, audio.data, audio.content_type)},
                timeout=httpx.Timeout(left, connect=min(5.0, left)),
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, provider=self.provider, secret=self._key) from exc
        if response.status_code >= 300:
            err = error_body(response)
            raise error_for_status(response.status_code, provider=self.provider,
                                   message=str(err.get("message") or ""),
                                   retry_after=parse_wait_hint(response.headers),
                                   headers=response.headers)
        data = response_json(response, provider=self.provider)
        if not isinstance(data, dict) or data.get("error"):
            raise ModelBadResponse(f"{self.provider}: transcription body is not a result",
                                   provider=self.provider, status=response.status_code)
        return data

    def _response_format(self) -> str:
        return "json" if self.model.startswith(_JSON_ONLY_PREFIXES) else "verbose_json"


def _reported_seconds(data: Mapping[str, Any]) -> float | None:
    """The audio length the server reported: verbose_json `duration`, or usage in seconds."""
    duration = data.get("duration")
    if isinstance(duration, int | float) and duration > 0:
        return float(duration)
    usage = data.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "duration":
        seconds = usage.get("seconds")
        if isinstance(seconds, int | float) and seconds > 0:
            return float(seconds)
    return None


# --------------------------------------------------------------------------- local faster-whisper


class LocalWhisperTranscriber:
    """faster-whisper on this machine, from a CTranslate2 model directory (never downloaded)."""

    def __init__(self, model_dir: Path, *, name: str, compute_type: str = "int8") -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelUnavailable(
                "local transcription needs faster-whisper: pip install 'healthbot[whisper]'",
                provider="local", retryable=False,
            ) from exc
        if not (model_dir / "model.bin").is_file():
            raise ModelUnavailable(
                f"no faster-whisper model at {model_dir} (a CTranslate2 directory with "
                "model.bin; convert or copy one there, nothing is downloaded)",
                provider="local", retryable=False,
            )
        self.name = f"local/{name}"
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                   local_files_only=True)
        # CTranslate2 runs one decode at a time well on a small CPU; queue the rest.
        self._lock = threading.Lock()

    def transcribe(self, audio: Audio, *, language: str | None = None) -> Transcript:
        """Decode the audio (PyAV reads OGG/Opus) and recognise it.

        Raises:
            bot.errors.ModelError: the audio could not be decoded or recognised.
        """
        started = time.monotonic()
        try:
            with self._lock:
                segments, info = self._model.transcribe(
                    io.BytesIO(audio.data), language=language, beam_size=1, vad_filter=True)
                text = " ".join(s.text.strip() for s in segments)
        except Exception as exc:  # decoding and inference errors come in many kinds
            raise ModelBadResponse(f"local: transcription failed: {type(exc).__name__}",
                                   provider="local") from exc
        seconds = float(info.duration) if info.duration else audio_seconds(audio)
        return Transcript(
            text=" ".join(text.split()),
            language=language_code(info.language) or language,
            transcriber=self.name,
            seconds=seconds,
            cost_usd=cost_of(self.name, seconds),
            latency_ms=(time.monotonic() - started) * 1000.0,
        )

"""Build the configured Transcriber from Settings (HEALTHBOT_TRANSCRIBE_MODEL), like the chat model.

    openai/whisper-1, openai/gpt-4o-transcribe, groq/whisper-large-v3, vllm/<served name>, ...
        -> OpenAICompatTranscriber at the chat adapters' base URL and key
    local/NAME or local//abs/path
        -> LocalWhisperTranscriber from HEALTHBOT_WHISPER_DIR/NAME (faster-whisper extra)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.config import ConfigError, Settings
from bot.errors import ModelError
from bot.llm.factory import _KEYED_HOSTS, COMPAT_BASE_URLS, compat_base_url
from bot.voice.media import MediaPolicy
from bot.voice.speech import EspeakSpeaker, OpenAICompatSpeaker, Speaker
from bot.voice.transcribe import LocalWhisperTranscriber, OpenAICompatTranscriber, Transcriber

VARIABLE = "HEALTHBOT_TRANSCRIBE_MODEL"


def build_transcriber(settings: Settings, client: httpx.Client) -> Transcriber | None:
    """The configured transcriber, or None when HEALTHBOT_TRANSCRIBE_MODEL is unset.

    Raises:
        ConfigError: an unknown provider, a missing key, or a local model that can't load.
    """
    spec = settings.transcribe_model
    if not spec:
        return None
    provider, _, model = spec.partition("/")
    provider = provider.strip().lower()
    if not model.strip():
        raise ConfigError(f"invalid setting {VARIABLE}: {spec!r} must be 'provider/model'")
    if provider == "local":
        path = Path(model) if model.startswith("/") else settings.whisper_dir / model
        try:
            return LocalWhisperTranscriber(path, name=model.strip("/").rsplit("/", 1)[-1])
        except ModelError as exc:
            raise ConfigError(f"invalid setting {VARIABLE}: {exc}") from None
    if provider not in COMPAT_BASE_URLS:
        raise ConfigError(
            f"invalid setting {VARIABLE}: unknown provider {provider!r} "
            f"(known: {', '.join(COMPAT_BASE_URLS)}, local)"
        )
    url = compat_base_url(settings, provider)
    key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
    if not key and (urlsplit(url).hostname or "").lower() in _KEYED_HOSTS:
        raise ConfigError(
            f"missing setting OPENAI_API_KEY: {VARIABLE}={spec} calls {url}, which needs an "
            "API key"
        )
    return OpenAICompatTranscriber(
        model.strip(), base_url=url, api_key=key or None, client=client, provider=provider,
        timeout_s=settings.transcribe_timeout_s,
    )


def build_speaker(settings: Settings, client: httpx.Client) -> Speaker | None:
    """The voice-reply speaker, or None when HEALTHBOT_VOICE_REPLIES is off.

    Raises:
        ConfigError: an unknown provider, a missing key, or espeak-ng/ffmpeg missing.
    """
    if not settings.voice_replies:
        return None
    spec = settings.speech_model.strip()
    if spec.lower() in ("espeak", "espeak-ng"):
        try:
            return EspeakSpeaker()
        except ModelError as exc:
            raise ConfigError(f"invalid setting HEALTHBOT_SPEECH_MODEL: {exc}") from None
    provider, _, model = spec.partition("/")
    provider = provider.lower()
    if provider not in COMPAT_BASE_URLS or not model:
        raise ConfigError(
            f"invalid setting HEALTHBOT_SPEECH_MODEL: {spec!r} must be 'espeak' or "
            f"'provider/model' with a provider among {', '.join(COMPAT_BASE_URLS)}")
    url = compat_base_url(settings, provider)
    key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
    if not key and (urlsplit(url).hostname or "").lower() in _KEYED_HOSTS:
        raise ConfigError(
            f"missing setting OPENAI_API_KEY: HEALTHBOT_SPEECH_MODEL={spec} calls {url}, "
            "which needs an API key")
    return OpenAICompatSpeaker(model, base_url=url, api_key=key or None, client=client,
                               provider=provider, voice=settings.speech_voice)


def media_policy(settings: Settings) -> MediaPolicy:
    """Where voice notes may be fetched from, with the account's credentials."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    auth = (settings.twilio_account_sid, token) if settings.twilio_account_sid and token else None
    return MediaPolicy(
        api_base_url=settings.twilio_api_base_url,
        account_sid=settings.twilio_account_sid,
        auth=auth,
        max_bytes=settings.media_max_bytes,
        extra_redirect_hosts=tuple(settings.media_redirect_host_list),
    )

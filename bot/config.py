"""Every setting the bot reads, typed and validated in one place (pydantic-settings).

Nothing else in the project reads os.environ: the entry point builds one `Settings` and passes it
down. A missing or malformed setting becomes one clear `ConfigError` line, never a traceback.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_FILE = "dev_twilio_auth_token"  # noqa: S105 - a file name, not a secret
# The database URL schemes the bot runs on (SQLAlchemy dialect+driver; psycopg 3 for PostgreSQL).
SUPPORTED_DATABASES = frozenset({
    "sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg",
})


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    """The bot's configuration, from environment variables (and an optional .env file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Where the bot keeps local files: the SQLite database, the development secret, the spool.
    instance_dir: Path = Field(default=Path("instance"), alias="HEALTHBOT_INSTANCE_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")

    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_whatsapp_from: str | None = Field(default=None, alias="TWILIO_WHATSAPP_FROM")
    twilio_sms_from: str | None = Field(default=None, alias="TWILIO_SMS_FROM")
    twilio_api_base_url: str = Field(default="https://api.twilio.com", alias="TWILIO_API_BASE_URL")
    public_url: str = Field(default="http://127.0.0.1:5000", alias="HEALTHBOT_PUBLIC_URL")

    # Signs the staff console's session cookies and keys the audit log's hashes of erased
    # contacts. Unset: a random secret is kept in the instance folder (fine for one host).
    secret_key: SecretStr | None = Field(default=None, alias="HEALTHBOT_SECRET_KEY")
    staff_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, alias="HEALTHBOT_STAFF_SESSION_HOURS"
    )

    model: str = Field(default="offline", alias="HEALTHBOT_MODEL")
    # The sentence encoder behind retrieval and the semantic safety check: auto (the bundled
    # multilingual E5 when it loads, else words only), e5, none, st/NAME or provider/model.
    embeddings: str = Field(default="auto", alias="HEALTHBOT_EMBEDDINGS")
    # The semantic red-flag check beside the rules (needs an encoder); it can only raise a level.
    semantic_triage: bool = Field(default=True, alias="HEALTHBOT_SEMANTIC_TRIAGE")
    fallback_models: str = Field(default="", alias="HEALTHBOT_FALLBACK_MODELS")
    mode: Literal["single", "contemplate"] = Field(default="single", alias="HEALTHBOT_MODE")
    perspectives: str = Field(
        default="triage_nurse,clinician,pharmacist", alias="HEALTHBOT_PERSPECTIVES"
    )
    answer_deadline_s: float = Field(
        default=25.0, gt=0, le=600, alias="HEALTHBOT_ANSWER_DEADLINE_S"
    )
    openai_base_url: str = Field(default="https://api.openai.com/v1", alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    anthropic_base_url: str = Field(default="https://api.anthropic.com", alias="ANTHROPIC_BASE_URL")
    anthropic_api_key: SecretStr | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    gemini_base_url: str = Field(
        default="https://generativelanguage.googleapis.com/v1beta", alias="GEMINI_BASE_URL"
    )
    gemini_api_key: SecretStr | None = Field(default=None, alias="GEMINI_API_KEY")

    # Voice notes: `provider/model` of a speech-to-text model (OpenAI-compatible
    # /audio/transcriptions through OPENAI_BASE_URL, or `local/<dir>` for faster-whisper). Unset:
    # a voice note gets the honest "I can't listen to voice notes yet" with the emergency number.
    transcribe_model: str | None = Field(default=None, alias="HEALTHBOT_TRANSCRIBE_MODEL")
    # Where `local/NAME` finds a faster-whisper (CTranslate2) model: nothing is ever downloaded.
    whisper_dir: Path = Field(default=Path("instance/whisper"), alias="HEALTHBOT_WHISPER_DIR")
    transcribe_timeout_s: float = Field(
        default=60.0, gt=0, le=600, alias="HEALTHBOT_TRANSCRIBE_TIMEOUT_S"
    )
    # Media fetched from Twilio (voice notes) is refused past this size; WhatsApp caps audio at
    # 16 MB. Extra hosts Twilio's media URLs may redirect to (comma list), beyond the built-in
    # ones (*.twiliocdn.com and Twilio's S3 bucket).
    media_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, alias="HEALTHBOT_MEDIA_MAX_BYTES"
    )
    media_redirect_hosts: str = Field(default="", alias="HEALTHBOT_MEDIA_REDIRECT_HOSTS")
    # Photos: `provider/model` of a vision-capable chat model (image parts / blocks / inline
    # data); the photo goes to it with the caption. Unset: "I can't look at photos yet".
    vision_model: str | None = Field(default=None, alias="HEALTHBOT_VISION_MODEL")
    # Voice replies: a person who wrote by voice also gets the answer spoken, from `espeak`
    # (espeak-ng + ffmpeg, offline) or an OpenAI-compatible /audio/speech `provider/model`.
    # Twilio fetches the audio from a short-lived, unguessable URL under HEALTHBOT_PUBLIC_URL.
    voice_replies: bool = Field(default=False, alias="HEALTHBOT_VOICE_REPLIES")
    speech_model: str = Field(default="espeak", alias="HEALTHBOT_SPEECH_MODEL")
    speech_voice: str = Field(default="alloy", max_length=40, alias="HEALTHBOT_SPEECH_VOICE")
    speech_url_ttl_s: int = Field(default=600, ge=30, le=86_400,
                                  alias="HEALTHBOT_SPEECH_URL_TTL_S")

    # How much recent conversation the model sees, in characters; oldest turns are dropped first.
    history_chars: int = Field(default=4000, ge=200, le=100_000, alias="HEALTHBOT_HISTORY_CHARS")
    history_turns: int = Field(default=12, ge=1, le=100, alias="HEALTHBOT_HISTORY_TURNS")

    alert_webhook_url: str | None = Field(default=None, alias="HEALTHBOT_ALERT_WEBHOOK_URL")
    alert_webhook_secret: SecretStr | None = Field(
        default=None, alias="HEALTHBOT_ALERT_WEBHOOK_SECRET"
    )
    oncall_numbers: str = Field(default="", alias="HEALTHBOT_ONCALL_NUMBERS")

    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # Delivery of slow answers: "auto" queues remote models and contemplating mode (sent through
    # Twilio REST once ready) and answers the offline model inline; "inline" / "queue" force it.
    answer_delivery: Literal["auto", "inline", "queue"] = Field(
        default="auto", alias="HEALTHBOT_ANSWER_DELIVERY"
    )
    ack_pending: bool = Field(default=True, alias="HEALTHBOT_ACK_PENDING")
    # The RQ queue, and the prefix of our own Redis keys: deployments may share one Redis.
    queue_name: str = Field(default="healthbot", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                            alias="HEALTHBOT_QUEUE")
    job_threads: int = Field(default=4, ge=1, le=64, alias="HEALTHBOT_JOB_THREADS")
    twilio_messaging_service_sid: str | None = Field(
        default=None, alias="TWILIO_MESSAGING_SERVICE_SID"
    )
    # Approved WhatsApp templates (ContentSid HX...) used outside the 24-hour window, per purpose;
    # each gets the text as variable "1".
    template_answer: str | None = Field(default=None, alias="HEALTHBOT_TEMPLATE_ANSWER")
    template_staff_reply: str | None = Field(default=None, alias="HEALTHBOT_TEMPLATE_STAFF_REPLY")
    log_level: str = Field(default="INFO", alias="HEALTHBOT_LOG_LEVEL")
    # "json": one JSON object per line (what log collectors parse); "text": one readable line.
    log_format: Literal["json", "text"] = Field(default="json", alias="HEALTHBOT_LOG_FORMAT")
    # Who may scrape GET /metrics without a staff API token, besides loopback: addresses and
    # CIDRs, e.g. "10.0.0.0/8,192.0.2.7".
    metrics_allow: str = Field(default="", alias="HEALTHBOT_METRICS_ALLOW")

    @field_validator("public_url", "twilio_api_base_url", "openai_base_url",
                     "anthropic_base_url", "gemini_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL like https://bot.example.org")
        return value.rstrip("/")

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be the 34-character Account SID starting with AC")
        return value or None

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp_from(cls, value: str | None) -> str | None:
        if value and not value.startswith("whatsapp:+"):
            raise ValueError("must look like whatsapp:+14155238886")
        return value or None

    @field_validator("template_answer", "template_staff_reply")
    @classmethod
    def _content_sid(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"HX[0-9a-fA-F]{32}", value):
            raise ValueError("must be a Content SID: HX followed by 32 hex digits")
        return value or None

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _messaging_service_sid(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            raise ValueError("must be a Messaging Service SID: MG followed by 32 hex digits")
        return value or None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and "://" not in value:
            raise ValueError("must be a SQLAlchemy URL like postgresql+psycopg://user@host/db")
        if value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in SUPPORTED_DATABASES:
                raise ValueError(
                    f"{scheme} is not supported: use postgresql://user:password@host/db "
                    "(psycopg 3) or sqlite:///path/to/file.db"
                )
        return value or None

    @field_validator("metrics_allow")
    @classmethod
    def _metrics_allow(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{item.strip()!r} is not an address or a CIDR like 10.0.0.0/8"
                    ) from None
        return value

    @field_validator("transcribe_model")
    @classmethod
    def _transcribe_model(cls, value: str | None) -> str | None:
        if value and "/" not in value.strip():
            raise ValueError("must be 'provider/model', e.g. openai/whisper-1 or local/small")
        return (value or "").strip() or None

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value != "offline" and "/" not in value:
            raise ValueError("must be 'offline' or 'provider/model', e.g. openai/gpt-4.1-mini")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file in the instance folder."""
        if self.database_url:
            url = self.database_url
            # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 spelled out.
            if url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://"):]
            elif url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        return f"sqlite:///{(self.instance_dir / 'healthbot.db').resolve()}"

    @property
    def defers_answers(self) -> bool:
        """True when model answers go through the queue: remote or contemplating models."""
        if self.answer_delivery != "auto":
            return self.answer_delivery == "queue"
        return self.model != "offline" or self.mode != "single"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def fallback_model_list(self) -> list[str]:
        return [m.strip() for m in self.fallback_models.split(",") if m.strip()]

    @property
    def perspective_list(self) -> list[str]:
        return [p.strip() for p in self.perspectives.split(",") if p.strip()]

    @property
    def metrics_allow_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(item.strip(), strict=False)
                for item in self.metrics_allow.split(",") if item.strip()]

    @property
    def media_redirect_host_list(self) -> list[str]:
        return [h.strip().lower() for h in self.media_redirect_hosts.split(",") if h.strip()]

    @property
    def oncall_number_list(self) -> list[str]:
        return [n.strip() for n in self.oncall_numbers.split(",") if n.strip()]

    def dev_token_path(self) -> Path:
        return self.instance_dir / DEV_TOKEN_FILE

    def webhook_auth_token(self, *, create: bool = False) -> tuple[str, bool]:
        """Return (the secret Twilio signs with, whether it is the local development secret).

        Fail closed: without TWILIO_AUTH_TOKEN a random development secret is kept in the
        instance folder, so `healthbot chat` can sign and nothing unsigned is ever accepted.
        """
        if self.twilio_auth_token is not None and self.twilio_auth_token.get_secret_value():
            return self.twilio_auth_token.get_secret_value(), False
        path = self.dev_token_path()
        if path.exists():
            return path.read_text("utf-8").strip(), True
        if not create:
            raise ConfigError(
                f"TWILIO_AUTH_TOKEN is not set and there is no development secret at {path}: "
                "start `healthbot serve` once, or set TWILIO_AUTH_TOKEN"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        path.write_text(token + "\n", "utf-8")
        path.chmod(0o600)
        return token, True


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, turning validation errors into one ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        raise ConfigError(f"invalid setting {name}: {first.get('msg')}") from None

"""Build the configured chat model from Settings: adapters, the fallback router, contemplating mode.

    HEALTHBOT_MODEL=provider/model   HEALTHBOT_FALLBACK_MODELS=p/m,p/m   HEALTHBOT_MODE=...

    single:       Router([primary, *fallbacks], last_resort=OfflineModel)
    contemplate:  ContemplatingModel(
                      perspectives = HEALTHBOT_PERSPECTIVES, each on
                                     Router([primary, *fallbacks], last_resort=abstain),
                      synthesizer  = the single-mode router,
                      single       = the single-mode router)
    offline:      OfflineModel (no network, no key, no router); contemplate mode is ignored

Perspectives do not end at the offline model: it cannot write the structured JSON opinion, so a
perspective whose remote chain is exhausted abstains (an empty answer, no call recorded) and counts
as failed; the contemplating model's partial-failure rules then decide (proceed, or answer in
single mode, which does end at the offline model). Every failed attempt stays in the calls.

Every OpenAI-compatible provider (openai, ollama, vllm, llamacpp, lmstudio, openrouter, groq) uses
OPENAI_BASE_URL and OPENAI_API_KEY. `openai` always uses OPENAI_BASE_URL; the others use it when it
was changed from OpenAI's URL, else their well-known default. The provider name is kept on every
call, so prices.yaml prices `ollama/*` as self-hosted and an unknown `groq/...` row as unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.config import ConfigError, Settings
from bot.knowledge import KnowledgeBase
from bot.llm.anthropic import AnthropicModel
from bot.llm.contemplate import (
    CLINICIAN,
    PHARMACIST,
    TRIAGE,
    ContemplatingModel,
    Perspective,
    default_perspectives,
)
from bot.llm.gemini import GeminiModel
from bot.llm.http import build_client
from bot.llm.offline import OfflineModel
from bot.llm.openai_compat import OpenAICompatModel
from bot.llm.router import Router
from bot.ports import ChatModel, ChatRequest, ChatResponse

log = logging.getLogger(__name__)

Closer = Callable[[], object]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Well-known base URLs of OpenAI-compatible servers (PROVIDERS.md §1.5 and the gateways' docs).
COMPAT_BASE_URLS: dict[str, str] = {
    "openai": OPENAI_DEFAULT_BASE_URL,
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "lmstudio": "http://localhost:1234/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
}
# Hosted APIs that refuse every request without a key: fail at start-up, not on the first message.
_KEYED_HOSTS = frozenset({"api.openai.com", "openrouter.ai", "api.groq.com"})
# LM Studio documents only json_schema structured output and rejects {"type": "json_object"};
# perspective parsing is tolerant of prose around the JSON, so it can do without.
_NO_JSON_MODE = frozenset({"lmstudio"})
# OpenAI's own API deprecated max_tokens for max_completion_tokens (reasoning models require it);
# compatible servers mostly still read max_tokens.
_COMPLETION_TOKENS_HOSTS = frozenset({"api.openai.com"})
PROVIDERS: tuple[str, ...] = (*COMPAT_BASE_URLS, "anthropic", "gemini")
PERSPECTIVE_NAMES: tuple[str, ...] = (TRIAGE, CLINICIAN, PHARMACIST)
# Perspectives get at most this share of the answer deadline, leaving the rest for the synthesis.
_PERSPECTIVE_SHARE = 0.5
_PERSPECTIVE_TIMEOUT_S = 12.0


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One `provider/model` entry of HEALTHBOT_MODEL or HEALTHBOT_FALLBACK_MODELS."""

    provider: str
    model: str
    variable: str  # the setting it came from, for error messages

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def is_offline(self) -> bool:
        return self.provider == "offline"


def parse_spec(text: str, variable: str = "HEALTHBOT_MODEL") -> ModelSpec:
    """Parse `provider/model` (or `offline`); the model part may itself contain slashes.

    Raises:
        ConfigError: malformed entry or unknown provider, naming `variable`.
    """
    raw = text.strip()
    if raw.lower() == "offline":
        return ModelSpec("offline", "kb", variable)
    provider, sep, model = raw.partition("/")
    provider = provider.strip().lower()
    model = model.strip()
    if not sep or not provider or not model:
        raise ConfigError(
            f"invalid setting {variable}: {raw!r} must be 'offline' or 'provider/model', "
            "e.g. openai/gpt-4o-mini"
        )
    if provider == "offline":
        return ModelSpec("offline", "kb", variable)
    if provider not in PROVIDERS:
        raise ConfigError(
            f"invalid setting {variable}: unknown provider {provider!r} in {raw!r} "
            f"(known: {', '.join(PROVIDERS)}, offline)"
        )
    return ModelSpec(provider, model, variable)


def model_specs(settings: Settings) -> list[ModelSpec]:
    """The configured chain in order: HEALTHBOT_MODEL, then HEALTHBOT_FALLBACK_MODELS."""
    specs = [parse_spec(settings.model, "HEALTHBOT_MODEL")]
    specs += [parse_spec(s, "HEALTHBOT_FALLBACK_MODELS") for s in settings.fallback_model_list]
    return specs


def compat_base_url(settings: Settings, provider: str) -> str:
    """The base URL an OpenAI-compatible provider is called at."""
    configured = settings.openai_base_url.rstrip("/")
    if provider == "openai" or configured != OPENAI_DEFAULT_BASE_URL:
        return configured
    return COMPAT_BASE_URLS[provider]


def _secret(value: SecretStr | None) -> str | None:
    raw = value.get_secret_value().strip() if value is not None else ""
    return raw or None


def _require(key: str | None, variable: str, spec: ModelSpec, where: str) -> str | None:
    if key is None:
        raise ConfigError(
            f"missing setting {variable}: {spec.variable}={spec.label} calls {where}, "
            "which needs an API key"
        )
    return key


def build_adapter(spec: ModelSpec, settings: Settings, client: httpx.Client) -> ChatModel:
    """One remote adapter for one spec (never the offline model).

    Raises:
        ConfigError: the provider needs an API key that is not set.
    """
    # The per-call budget is the answer deadline; the router and the request deadline cut it.
    timeout_s = settings.answer_deadline_s
    if spec.provider == "anthropic":
        url = settings.anthropic_base_url
        key = _require(_secret(settings.anthropic_api_key), "ANTHROPIC_API_KEY", spec, url)
        return AnthropicModel(
            spec.model, api_key=key, client=client, base_url=url, timeout_s=timeout_s
        )
    if spec.provider == "gemini":
        url = settings.gemini_base_url
        key = _require(_secret(settings.gemini_api_key), "GEMINI_API_KEY", spec, url)
        return GeminiModel(
            spec.model, api_key=key, client=client, base_url=url, timeout_s=timeout_s
        )
    url = compat_base_url(settings, spec.provider)
    host = (urlsplit(url).hostname or "").lower()
    key = _secret(settings.openai_api_key)
    if host in _KEYED_HOSTS:
        _require(key, "OPENAI_API_KEY", spec, url)
    return OpenAICompatModel(
        spec.model,
        base_url=url,
        api_key=key,
        client=client,
        provider=spec.provider,
        max_tokens_param=(
            "max_completion_tokens" if host in _COMPLETION_TOKENS_HOSTS else "max_tokens"
        ),
        timeout_s=timeout_s,
        json_mode=spec.provider not in _NO_JSON_MODE,
    )


class Abstain:
    """The last resort of a perspective's router: an empty answer, so the perspective fails.

    It records no call (nothing was called); the router keeps the failed remote attempts.
    """

    provider = "abstain"
    model = "no-opinion"

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Return an empty answer that no opinion parser accepts."""
        return ChatResponse(text="", provider=self.provider, model=self.model, mode="abstain")


def perspective_names(settings: Settings) -> list[str]:
    """HEALTHBOT_PERSPECTIVES in the order given, without repeats.

    Raises:
        ConfigError: an unknown name, or none at all.
    """
    names: list[str] = []
    for name in settings.perspective_list:
        key = name.lower()
        if key not in PERSPECTIVE_NAMES:
            raise ConfigError(
                f"invalid setting HEALTHBOT_PERSPECTIVES: unknown perspective {name!r} "
                f"(known: {', '.join(PERSPECTIVE_NAMES)})"
            )
        if key not in names:
            names.append(key)
    if not names:
        raise ConfigError(
            "invalid setting HEALTHBOT_PERSPECTIVES: contemplating mode needs at least one of "
            + ", ".join(PERSPECTIVE_NAMES)
        )
    return names


def build_chat_model(
    settings: Settings,
    *,
    knowledge: KnowledgeBase,
    http: httpx.Client | None = None,
) -> tuple[ChatModel, list[Closer]]:
    """Build the configured ChatModel and the callables that release what it holds.

    `http` is shared when given (the caller closes it); otherwise a client is built and closed
    by the returned closers. Keys are never logged: adapters keep them in `Secret`.

    Raises:
        ConfigError: a malformed model entry, unknown provider or perspective, or a missing key.
    """
    offline = OfflineModel(knowledge)
    specs = model_specs(settings)
    # Validate HEALTHBOT_PERSPECTIVES whatever the mode, so a typo shows before it is switched on.
    names = perspective_names(settings)
    primary, fallbacks = specs[0], specs[1:]
    if primary.is_offline:
        if fallbacks:
            log.warning(
                "HEALTHBOT_MODEL=offline always answers, so HEALTHBOT_FALLBACK_MODELS is unused"
            )
        if settings.mode == "contemplate":
            # The offline model can't write the perspectives' JSON opinions or a synthesis.
            log.warning(
                "HEALTHBOT_MODE=contemplate needs a remote HEALTHBOT_MODEL; answering in single "
                "mode from the offline knowledge base"
            )
        log.info("chat model: offline knowledge base (%s)", offline.model)
        return offline, []

    closers: list[Closer] = []
    client = http
    if client is None:
        client = build_client(timeout_s=settings.answer_deadline_s)
        closers.append(client.close)
    try:
        remote: list[ChatModel] = []
        for spec in specs:
            if spec.is_offline:
                continue  # the offline model is always the last resort anyway
            remote.append(build_adapter(spec, settings, client))
    except ConfigError:
        for close in closers:
            close()
        raise
    router = Router(remote, last_resort=offline)
    if settings.mode != "contemplate":
        log.info("chat model: %r", router)
        return router, closers

    panel_router = Router(remote, last_resort=Abstain())
    by_name = {p.name: p for p in default_perspectives(lambda _name: panel_router)}
    perspectives: list[Perspective] = [by_name[n] for n in names]
    contemplating = ContemplatingModel(
        perspectives,
        synthesizer=router,
        single=router,
        perspective_timeout_s=min(
            _PERSPECTIVE_TIMEOUT_S, settings.answer_deadline_s * _PERSPECTIVE_SHARE
        ),
        # Without the triage perspective in the panel, requiring it would always degrade.
        required=(TRIAGE,) if TRIAGE in names else (),
        min_perspectives=min(2, len(perspectives)),
    )
    closers.append(contemplating.close)
    log.info("chat model: %r over %r", contemplating, router)
    return contemplating, closers

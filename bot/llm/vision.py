"""The vision chat model (HEALTHBOT_VISION_MODEL), built like HEALTHBOT_MODEL's (bot/llm/images.py
has the wire formats and the rule)."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.llm.factory import build_adapter, parse_spec
from bot.llm.http import build_client
from bot.llm.offline import OfflineModel
from bot.llm.router import Router
from bot.ports import ChatModel


def build_vision_model(
    settings: Settings, knowledge: KnowledgeBase
) -> tuple[ChatModel | None, list[Any]]:
    """The vision chat model (its router ends at the offline model), or None when unset.

    Raises:
        bot.config.ConfigError: a malformed entry, unknown provider or missing key.
    """
    if not settings.vision_model:
        return None, []
    spec = parse_spec(settings.vision_model, "HEALTHBOT_VISION_MODEL")
    if spec.is_offline:
        return None, []
    client = build_client(timeout_s=settings.answer_deadline_s)
    try:
        adapter = build_adapter(spec, settings, client)
    except Exception:
        client.close()
        raise
    return Router([adapter], last_resort=OfflineModel(knowledge)), [client.close]

"""Photos for vision-capable models: the wire format of each provider, and the rule they follow.

    HEALTHBOT_VISION_MODEL=provider/model    e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4,
                                             gemini/gemini-2.0-flash, ollama/llava

The image goes with the person's last message: OpenAI-compatible `image_url` parts with a data
URL, Anthropic base64 `image` blocks, Gemini `inlineData` parts. The system prompt gains a rule
that the model never diagnoses from a photo; the reply guard and the rules (on the caption) apply
as to any answer. Unset: photos get the honest "I can't look at photos yet".
"""

from __future__ import annotations

import base64
from typing import Any

from bot.ports import ImagePart

# Formats every one of the three APIs accepts.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_IMAGES = 3

VISION_RULE = (
    "The person sent a photo with this message. Describe only what is plainly visible, in "
    "general terms, and never diagnose from a photo: a photo cannot show what a clinician's "
    "examination shows. Never name a condition as certain from it. Use it only to understand "
    "their question, say what a health worker should look at, and when to seek care; if the "
    "photo could show something serious (a spreading rash with fever, a deep wound, a burn, "
    "a very swollen or discoloured limb), tell them to seek care now."
)


def data_url(image: ImagePart) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


def openai_content(text: str, images: tuple[ImagePart, ...]) -> list[dict[str, Any]]:
    """A user message's content as OpenAI Chat Completions parts: the text, then the images."""
    return [{"type": "text", "text": text},
            *({"type": "image_url", "image_url": {"url": data_url(i)}} for i in images)]


def anthropic_content(text: str, images: tuple[ImagePart, ...]) -> list[dict[str, Any]]:
    """Anthropic content blocks: images first (their documented best practice), then the text."""
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": i.media_type,
                                     "data": base64.b64encode(i.data).decode()}}
        for i in images
    ]
    return [*blocks, {"type": "text", "text": text}]


def gemini_parts(images: tuple[ImagePart, ...]) -> list[dict[str, Any]]:
    """Gemini inline data parts (base64), to put before the text part."""
    return [{"inlineData": {"mimeType": i.media_type, "data": base64.b64encode(i.data).decode()}}
            for i in images]

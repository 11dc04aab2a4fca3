"""Photos reach a vision model when one is configured: the image with the person's words and a
rule against diagnosing from a photo; the rules still run on the caption; the guard applies."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import safety
from bot import i18n
from bot.llm.anthropic import AnthropicModel
from bot.llm.gemini import GeminiModel
from bot.llm.images import VISION_RULE
from bot.llm.openai_compat import OpenAICompatModel
from bot.ports import ChatMessage, ChatRequest, ImagePart
from tests.delivery.delivery_fakes import FakeMessenger
from tests.e2e.faults import RecordingAlerter
from tests.helpers import make_settings, signed_post, twilio_form
from tests.voice.test_voice_e2e import Stack
from tests.voice.voice_fakes import API_KEY, FakeVoiceServer

_numbers = itertools.count(1)
JPEG = ImagePart(b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg")
B64 = base64.b64encode(JPEG.data).decode()
REQUEST = ChatRequest(system="sys", messages=(ChatMessage("user", "earlier"),
                                              ChatMessage("assistant", "answer"),
                                              ChatMessage("user", "what is this rash?")),
                      images=(JPEG,))


def sent_body(model_cls: Any, reply: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=reply)

    model = model_cls(client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)
    model.complete(REQUEST)
    return json.loads(seen[0].content)  # type: ignore[no-any-return]


def test_openai_compatible_models_get_image_url_parts() -> None:
    body = sent_body(OpenAICompatModel, {"choices": [{"message": {"content": "ok"}}]},
                     model="gpt-4o-mini", base_url="https://x/v1", api_key="k")
    assert body["messages"][1] == {"role": "user", "content": "earlier"}
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "what is this rash?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{B64}"}}]


def test_anthropic_gets_base64_image_blocks() -> None:
    body = sent_body(AnthropicModel, {"content": [{"type": "text", "text": "ok"}],
                                      "stop_reason": "end_turn"},
                     model="claude-sonnet-4", api_key="k", base_url="https://x")
    assert body["messages"][-1] == {"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": B64}},
        {"type": "text", "text": "what is this rash?"}]}
    assert body["messages"][0] == {"role": "user", "content": "earlier"}


def test_gemini_gets_inline_data() -> None:
    body = sent_body(GeminiModel, {"candidates": [{"content": {"parts": [{"text": "ok"}]},
                                                   "finishReason": "STOP"}]},
                     model="gemini-2.0-flash", api_key="k", base_url="https://x")
    assert body["contents"][-1]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": B64}}, {"text": "what is this rash?"}]


def test_a_request_without_images_is_unchanged() -> None:
    plain = ChatRequest(system="s", messages=(ChatMessage("user", "hi"),))
    seen: list[httpx.Request] = []
    model = OpenAICompatModel("m", base_url="https://x/v1", api_key=None, client=httpx.Client(
        transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}}]}))))
    model.complete(plain)
    assert json.loads(seen[0].content)["messages"][-1] == {"role": "user", "content": "hi"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to draw the test photo")
    from bot.app import create_app

    server = FakeVoiceServer()
    server.chat_reply = ("It looks like a red patch of skin, but I can't tell what it is from a "
                         "photo. A health worker should look at it; if it spreads or you get a "
                         "fever, seek care today.")
    messenger, alerter = FakeMessenger(), RecordingAlerter()
    settings = make_settings(
        tmp_path_factory.mktemp("photos"), None, HEALTHBOT_VISION_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=API_KEY,
        TWILIO_API_BASE_URL=server.url, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    app = create_app(settings, messenger=messenger, alerters=[alerter], upgrade_db=True)
    app.config["TESTING"] = True
    yield Stack(app, server, messenger, alerter)
    app.extensions["bot"].close()
    server.close()


def post_photo(stack: Stack, url: str, sender: str, caption: str) -> Any:
    form = twilio_form(caption, sender=sender, NumMedia="1", MediaUrl0=url,
                       MediaContentType0="image/jpeg", MessageType="image")
    return signed_post(stack.app.test_client(), form)


def test_a_photo_goes_to_the_vision_model_with_the_caption_and_the_rule(stack: Stack) -> None:
    sender = f"whatsapp:+4477555{next(_numbers):04d}"
    url, data = stack.server.photo()
    before = len(stack.server.chats)
    post_photo(stack, url, sender, "what is this rash on my arm?")
    stack.settle()
    chats = stack.server.chats[before:]
    assert len(chats) == 1
    last = chats[0]["messages"][-1]
    assert last["content"][0] == {"type": "text", "text": "what is this rash on my arm?"}
    assert last["content"][1]["image_url"]["url"] == (
        "data:image/jpeg;base64," + base64.b64encode(data).decode())
    assert VISION_RULE in chats[0]["messages"][0]["content"]
    sent = stack.messenger.bodies(sender)
    assert any("can't tell what it is from a photo" in s for s in sent), sent
    assert not any(i18n.t("media_unsupported", "en", emergency_hint="999") in s for s in sent)


def test_a_photo_without_words_is_looked_at_too(stack: Stack) -> None:
    sender = f"whatsapp:+4477556{next(_numbers):04d}"
    url, _ = stack.server.photo("blue")
    before = len(stack.server.chats)
    post_photo(stack, url, sender, "")
    stack.settle()
    assert len(stack.server.chats) == before + 1
    assert stack.server.chats[-1]["messages"][-1]["content"][0]["text"] == "(photo)"


def test_the_rules_run_on_the_caption_first(stack: Stack) -> None:
    sender = f"whatsapp:+4477557{next(_numbers):04d}"
    url, _ = stack.server.photo()
    before = len(stack.server.chats)
    caption = "my baby is not breathing"
    replies = post_photo(stack, url, sender, caption)
    stack.settle()
    emergency = safety.emergency_reply(safety.assess(caption, sender=sender))
    assert emergency in replies.get_data(as_text=True).replace("&#x27;", "'") or emergency in (
        "\n".join(stack.messenger.bodies(sender)))
    assert len(stack.server.chats) == before  # an emergency: fixed text, no model


def test_a_photo_from_outside_twilio_is_not_fetched_and_gets_the_honest_reply(
    stack: Stack,
) -> None:
    sender = f"whatsapp:+4477558{next(_numbers):04d}"
    evil = FakeVoiceServer()
    try:
        url, _ = evil.photo()
        before = len(stack.server.chats)
        post_photo(stack, url, sender, "")
        stack.settle()
        assert evil.media_requests == []
        assert len(stack.server.chats) == before
        hint = safety.contact_for(sender).emergency
        assert i18n.t("media_unsupported", "en", emergency_hint=hint) in (
            stack.messenger.bodies(sender))
    finally:
        evil.close()


def test_the_console_previews_a_photo_through_the_server(stack: Stack) -> None:
    from sqlalchemy import select

    from bot.store.staff import AuditEntry
    from tests.admin.support import fast_hashing, login, make_staff

    sender = f"whatsapp:+4477559{next(_numbers):04d}"
    url, data = stack.server.photo("green")
    post_photo(stack, url, sender, "is this infected?")
    stack.settle()
    row = stack.inbound(sender)
    fast_hashing(stack.app)
    _, email, _ = make_staff(stack.app, "viewer")
    client = stack.app.test_client()
    assert client.get(f"/admin/media/{row.id}/0").status_code == 302  # signed out: to login
    login(client, email)
    page = client.get(f"/admin/contacts/{row.contact_id}").get_data(as_text=True)
    assert f'src="/admin/media/{row.id}/0"' in page
    stack.server.media_requests.clear()
    preview = client.get(f"/admin/media/{row.id}/0")
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    assert preview.data == data
    assert "no-store" in preview.headers["Cache-Control"]
    # Fetched by the server with the account's credentials; the browser never saw them.
    assert stack.server.media_requests[0][1] is True
    assert client.get(f"/admin/media/{row.id}/1").status_code == 404
    with stack.services.uow() as uow:
        assert uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "media.view",
            AuditEntry.target == f"message:{row.id}/0")).first() is not None

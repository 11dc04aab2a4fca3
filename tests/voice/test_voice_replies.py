"""Voice replies (HEALTHBOT_VOICE_REPLIES): a voice note's answer is also sent spoken, from a
short-lived unguessable URL Twilio fetches; safety texts are spoken from the fixed texts."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

import safety
from bot.store.models import Message, VoiceClip, utcnow
from bot.voice.clips import load_clip
from bot.voice.speech import Speech
from tests.delivery.delivery_fakes import FakeMessenger
from tests.e2e.faults import RecordingAlerter
from tests.helpers import PUBLIC_URL, make_settings, signed_post, twilio_form
from tests.voice.test_voice_e2e import Stack
from tests.voice.voice_fakes import API_KEY, FakeVoiceServer, ogg_opus_seconds

pytestmark = pytest.mark.usefixtures("speech_tools")
_numbers = itertools.count(1)


class MediaMessenger(FakeMessenger):
    """The recording messenger, which can also send media messages."""

    def __init__(self) -> None:
        super().__init__()
        self.media: list[tuple[str, str]] = []

    def send_media(self, to: str, media_url: str, *, status_callback: str | None
                   ) -> tuple[str, str]:
        self.media.append((to, media_url))
        return f"MM{len(self.media):032d}", "queued"


class RecordingSpeaker:
    """The real espeak-ng speaker, remembering what it was asked to say."""

    def __init__(self, real: Any) -> None:
        self.real, self.name, self.said = real, real.name, []  # type: ignore[var-annotated]

    def speak(self, text: str, language: str) -> Speech:
        self.said.append((text, language))
        return self.real.speak(text, language)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from bot.app import create_app

    server = FakeVoiceServer()
    messenger, alerter = MediaMessenger(), RecordingAlerter()
    settings = make_settings(
        tmp_path_factory.mktemp("voice-replies"), None,
        HEALTHBOT_TRANSCRIBE_MODEL="openai/whisper-1", HEALTHBOT_VOICE_REPLIES="true",
        OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=API_KEY,
        TWILIO_API_BASE_URL=server.url, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
    )
    app = create_app(settings, messenger=messenger, alerters=[alerter], upgrade_db=True)
    app.config["TESTING"] = True
    services = app.extensions["bot"]
    services.speaker = RecordingSpeaker(services.speaker)
    yield Stack(app, server, messenger, alerter)
    services.close()
    server.close()


def test_an_emergency_voice_note_gets_the_fixed_text_spoken_too(stack: Stack) -> None:
    sender = f"whatsapp:+2547888{next(_numbers):04d}"
    said = "mtoto wangu hapumui"
    stack.post_voice(stack.server.voice_note(said, "sw"), sender)
    stack.settle()
    texts = stack.messenger.bodies(sender)
    media = [url for to, url in stack.messenger.media if to == sender]  # type: ignore[attr-defined]
    assert len(media) == 1
    url = media[0]
    assert re.fullmatch(re.escape(PUBLIC_URL) + r"/media/speech/[A-Za-z0-9_-]{43}\.ogg", url)
    # What was spoken is the fixed emergency text in Swahili, not a paraphrase, no "I heard".
    spoken, language = stack.services.speaker.said[-1]
    emergency = safety.emergency_reply(safety.assess(said, sender=sender))
    assert language == "sw" and emergency in spoken and "Nimesikia" not in spoken
    assert emergency in texts[0]
    # Twilio fetches real OGG/Opus from it, without credentials.
    fetched = stack.app.test_client().get(url.removeprefix(PUBLIC_URL))
    assert fetched.status_code == 200 and fetched.mimetype == "audio/ogg"
    assert ogg_opus_seconds(fetched.data) > 3
    assert fetched.headers["Cache-Control"] == "private, no-store"
    row = stack.inbound(sender)
    with stack.services.uow() as uow:
        spoken_row = uow.session.scalars(select(Message).where(
            Message.idempotency_key == f"speech:{row.id}#0")).one()
        assert spoken_row.twilio_sid and spoken_row.triage_level == "emergency"


def test_the_url_is_unguessable_and_short_lived(stack: Stack) -> None:
    sender = f"whatsapp:+4477111{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note("I have a mild headache", "en"), sender)
    stack.settle()
    url = [u for to, u in stack.messenger.media if to == sender][-1]  # type: ignore[attr-defined]
    token = url.rsplit("/", 1)[1].removesuffix(".ogg")
    client = stack.app.test_client()
    assert client.get(f"/media/speech/{token[:-1]}x.ogg").status_code == 404
    assert client.get("/media/speech/short.ogg").status_code == 404
    with stack.services.uow() as uow:
        later = utcnow() + dt.timedelta(seconds=stack.services.settings.speech_url_ttl_s + 1)
        assert load_clip(uow.session, token, now=utcnow()) is not None
        assert load_clip(uow.session, token, now=later) is None
        # Only the token's hash is stored.
        assert token not in {c.token_hash for c in uow.session.scalars(select(VoiceClip))}


def test_typed_messages_get_no_voice_reply(stack: Stack) -> None:
    sender = f"whatsapp:+4477222{next(_numbers):04d}"
    before = len(stack.messenger.media)  # type: ignore[attr-defined]
    signed_post(stack.app.test_client(), twilio_form("I have a mild headache", sender=sender))
    stack.settle()
    assert len(stack.messenger.media) == before  # type: ignore[attr-defined]


def test_running_the_job_again_does_not_speak_twice(stack: Stack) -> None:
    from bot import jobs

    sender = f"whatsapp:+4477333{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note("my child has diarrhoea", "en"), sender)
    stack.settle()
    count = len(stack.messenger.media)  # type: ignore[attr-defined]
    jobs.run(stack.services, "transcribe", [stack.inbound(sender).id])
    assert len(stack.messenger.media) == count  # type: ignore[attr-defined]


def test_erasing_the_person_erases_their_spoken_replies(stack: Stack) -> None:
    sender = f"whatsapp:+4477444{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note("I have a cough", "en"), sender)
    stack.settle()
    url = [u for to, u in stack.messenger.media if to == sender][-1]  # type: ignore[attr-defined]
    client = stack.app.test_client()
    assert client.get(url.removeprefix(PUBLIC_URL)).status_code == 200
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        assert contact is not None
        uow.contacts.erase(contact)
        uow.commit()
    assert client.get(url.removeprefix(PUBLIC_URL)).status_code == 404

"""End to end over HTTP: a signed voice note is fetched, heard, triaged and answered.

The real app (SQLite, in-process job threads) with a recording messenger (fake Twilio REST) and a
recording alert channel; the audio is real speech (espeak-ng, OGG/Opus) served by a fake Twilio
media endpoint, heard by a fake OpenAI-compatible transcription server that checks the upload.
"""

from __future__ import annotations

import itertools
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

import safety
from bot import i18n
from bot.store.models import Message, SafetyEvent
from tests.delivery.delivery_fakes import FakeMessenger
from tests.e2e.faults import RecordingAlerter
from tests.helpers import make_settings, signed_post, twilio_form
from tests.voice.voice_fakes import API_KEY, FakeVoiceServer

pytestmark = pytest.mark.usefixtures("speech_tools")
_numbers = itertools.count(1)


@dataclass
class Stack:
    app: Any
    server: FakeVoiceServer
    messenger: FakeMessenger
    alerter: RecordingAlerter

    @property
    def services(self) -> Any:
        return self.app.extensions["bot"]

    def settle(self) -> None:
        assert self.services.tasks.wait_idle(60), "the voice jobs did not finish"

    def post_voice(self, media_url: str, sender: str, content_type: str = "audio/ogg") -> Any:
        form = twilio_form("", sender=sender, NumMedia="1", MediaUrl0=media_url,
                           MediaContentType0=content_type, MessageType="audio")
        return signed_post(self.app.test_client(), form)

    def inbound(self, sender: str) -> Message:
        with self.services.uow() as uow:
            contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
            assert contact is not None
            row = uow.session.scalars(select(Message).where(
                Message.contact_id == contact.id, Message.direction == "in")
                .order_by(Message.id.desc())).first()
            assert row is not None
            uow.session.expunge(row)
            return row

    def alerts_for(self, contact_id: int) -> list[str]:
        """The reasons of the staff alerts sent about a contact (sent from a thread pool)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            reasons = [a.reason for a in self.alerter.sent if a.contact_id == contact_id]
            if reasons:
                return reasons
            time.sleep(0.05)
        return []

    def events(self, sender: str) -> list[SafetyEvent]:
        with self.services.uow() as uow:
            contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
            assert contact is not None
            return uow.safety_events.for_contact(contact.id)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from bot.app import create_app

    server = FakeVoiceServer()
    messenger, alerter = FakeMessenger(), RecordingAlerter()
    settings = make_settings(
        tmp_path_factory.mktemp("voice"), None,
        HEALTHBOT_TRANSCRIBE_MODEL="openai/whisper-1",
        OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY=API_KEY,
        TWILIO_API_BASE_URL=server.url, TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
    )
    app = create_app(settings, messenger=messenger, alerters=[alerter], upgrade_db=True)
    app.config["TESTING"] = True
    yield Stack(app, server, messenger, alerter)
    app.extensions["bot"].close()
    server.close()


def twiml_bubbles(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [m.text or "" for m in ET.fromstring(response.get_data(as_text=True)).iter("Message")]


# Each: the language, espeak-ng's voice, a country whose number the sender has, the recording.
EMERGENCIES = [
    ("en", "en", "+4477009", "my baby is not breathing properly"),
    ("es", "es", "+5255123", "mi bebé no respira"),
    ("pt", "pt", "+5511987", "meu bebê não está respirando"),
    ("fr", "fr", "+3361234", "mon bébé ne respire plus"),
    ("sw", "sw", "+2547123", "mtoto wangu hapumui"),
    ("hi", "hi", "+9198765", "मेरा बच्चा सांस नहीं ले रहा है"),
]


@pytest.mark.parametrize(("language", "voice", "prefix", "said"), EMERGENCIES,
                         ids=[e[0] for e in EMERGENCIES])
def test_an_emergency_said_in_a_voice_note_is_escalated_like_a_typed_one(
    stack: Stack, language: str, voice: str, prefix: str, said: str
) -> None:
    sender = f"whatsapp:{prefix}{next(_numbers):04d}"
    url = stack.server.voice_note(said, voice, language=language)
    # The webhook only acknowledges: hearing takes seconds, Twilio waits 15 at most.
    assert twiml_bubbles(stack.post_voice(url, sender)) == []
    stack.settle()
    sent = stack.messenger.bodies(sender)
    typed = safety.assess(said, sender=sender)
    assert typed.is_emergency
    emergency_text = safety.emergency_reply(typed)
    # The fixed emergency text in their language, with their number, starting with what was heard.
    assert sent, "nothing was sent"
    heard = i18n.t("voice_heard", language, transcript=said)
    assert sent[0].startswith(heard), sent[0]
    assert emergency_text.split("\n")[0] in sent[0]
    # Escalated and staff alerted exactly as for typed text.
    events = stack.events(sender)
    assert [(e.kind, e.status) for e in events] == [("emergency", "open")]
    assert set(typed.rule_ids) <= set(events[0].rule_ids)
    assert stack.alerts_for(events[0].contact_id) == ["emergency"]
    row = stack.inbound(sender)
    assert (row.transcript, row.transcript_language, row.transcriber) == (
        said, language, "openai/whisper-1")
    assert row.body == said and row.triage_level == "emergency"
    assert row.audio_seconds is not None and row.audio_seconds > 0.5
    assert row.transcription_cost_usd == pytest.approx(0.006 * row.audio_seconds / 60)
    # The upload was a real WhatsApp-style OGG/Opus file, and whisper-1 was asked for language.
    upload = stack.server.uploads[-1]
    assert (upload.model, upload.response_format, upload.filename) == (
        "whisper-1", "verbose_json", "voice.ogg")
    assert abs(upload.seconds - row.audio_seconds) < 0.1


@pytest.mark.parametrize(("voice", "prefix", "said", "topic_words"), [
    ("en", "+4477003", "my child has diarrhoea, what should I do?", ("ORS", "diarrhoea")),
    ("sw", "+2547555", "mtoto wangu ana kuhara, nifanye nini?", ("ORS", "kuhara")),
])
def test_a_routine_question_by_voice_gets_the_answer_typing_it_gets(
    stack: Stack, voice: str, prefix: str, said: str, topic_words: tuple[str, ...]
) -> None:
    sender = f"whatsapp:{prefix}{next(_numbers):04d}"
    typist = f"whatsapp:{prefix}{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note(said, voice), sender)
    stack.settle()
    typed = twiml_bubbles(signed_post(stack.app.test_client(), twilio_form(said, sender=typist)))
    sent = stack.messenger.bodies(sender)
    heard = i18n.t("voice_heard", voice, transcript=said)
    assert sent[0].startswith(heard)
    # The same welcome and the same vetted answer as the same words typed, after "I heard".
    assert [sent[0].removeprefix(heard).strip(), *sent[1:]] == typed
    answer = "\n".join(sent[1:])
    assert any(word in answer for word in topic_words), answer
    row = stack.inbound(sender)
    assert row.triage_level in ("self_care", "routine") and row.language == voice
    assert stack.events(sender) == []


def test_a_voice_note_from_outside_twilio_is_never_fetched(stack: Stack) -> None:
    sender = f"whatsapp:+4477001{next(_numbers):04d}"
    evil = FakeVoiceServer()  # another host serving audio: must never be asked
    try:
        url = evil.voice_note("my baby is not breathing", "en")
        before = len(stack.server.uploads)
        stack.post_voice(url, sender)
        stack.settle()
        assert evil.media_requests == []
        assert len(stack.server.uploads) == before
        sent = stack.messenger.bodies(sender)
        hint = safety.contact_for(sender).emergency
        # The welcome (first contact), then the honest reply with the number: never silence.
        assert i18n.t("voice_not_heard", "en", emergency_hint=hint) in sent
        row = stack.inbound(sender)
        assert row.transcript is None
        assert "MediaRefused" in row.extra["transcription_error"]
    finally:
        evil.close()


def test_twilio_gets_the_account_credentials_and_the_cdn_does_not(stack: Stack) -> None:
    sender = f"whatsapp:+4477002{next(_numbers):04d}"
    stack.server.media_requests.clear()
    stack.post_voice(stack.server.voice_note("hello there", "en"), sender)
    stack.settle()
    api, cdn = stack.server.media_requests[:2]
    assert "/Media/ME" in api[0] and api[1] is True
    # The signed CDN URL is on the API host here (a mock), so credentials may go; on Twilio's
    # real CDN host they never do (tests/voice/test_media.py).
    assert cdn[0].startswith("/cdn/")


def test_a_transcription_outage_gets_the_honest_reply_with_the_number(stack: Stack) -> None:
    sender = f"whatsapp:+2547666{next(_numbers):04d}"
    stack.server.failures[:] = [503, 503, 503]
    try:
        stack.post_voice(stack.server.voice_note("nina homa", "sw"), sender)
        stack.settle()
    finally:
        stack.server.failures.clear()
    sent = stack.messenger.bodies(sender)
    hint = safety.contact_for(sender).emergency
    assert any(i18n.t("voice_not_heard", "en", emergency_hint=hint) in s
               or i18n.t("voice_not_heard", "sw", emergency_hint=hint) in s for s in sent), sent
    row = stack.inbound(sender)
    assert row.transcript is None and "HTTP 503" in row.extra["transcription_error"]


def test_real_recognition_of_real_speech_triages_the_emergency_it_hears(stack: Stack) -> None:
    """pocketsphinx (offline, its US English model ships in the wheel) hears the recording."""
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed: no offline "
                        "recogniser on this machine")
    sender = f"whatsapp:+4477004{next(_numbers):04d}"
    stack.server.recognise = True
    try:
        stack.post_voice(stack.server.voice_note("he is not breathing", "en"), sender)
        stack.settle()
    finally:
        stack.server.recognise = False
    row = stack.inbound(sender)
    # What a real recogniser made of synthetic speech: close, not exact ("he's not breathing").
    assert row.transcript and "breathing" in row.transcript, row.transcript
    assert row.triage_level == "emergency"
    assert [e.kind for e in stack.events(sender)] == ["emergency"]
    sent = stack.messenger.bodies(sender)
    assert sent[0].startswith(i18n.t("voice_heard", "en", transcript=row.transcript))


def test_running_the_job_again_neither_hears_nor_sends_twice(stack: Stack) -> None:
    from bot import jobs

    sender = f"whatsapp:+4477005{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note("my child has diarrhoea, what should I do?", "en"),
                     sender)
    stack.settle()
    uploads, sent = len(stack.server.uploads), list(stack.messenger.bodies(sender))
    jobs.run(stack.services, "transcribe", [stack.inbound(sender).id])
    assert len(stack.server.uploads) == uploads
    assert stack.messenger.bodies(sender) == sent


def test_stop_said_in_a_voice_note_is_the_stop_command(stack: Stack) -> None:
    sender = f"whatsapp:+4477006{next(_numbers):04d}"
    stack.post_voice(stack.server.voice_note("stop", "en"), sender)
    stack.settle()
    sent = stack.messenger.bodies(sender)
    assert sent == [f'{i18n.t("voice_heard", "en", transcript="stop")}\n\n'
                    f'{i18n.t("stopped", "en")}']
    with stack.services.uow() as uow:
        contact = uow.contacts.by_wa_id(sender.removeprefix("whatsapp:+"))
        assert contact is not None and contact.opted_out
    # Opted out: a routine voice note is stored (and heard) but not answered...
    stack.post_voice(stack.server.voice_note("I have a mild headache", "en"), sender)
    stack.settle()
    assert stack.messenger.bodies(sender) == sent
    assert stack.inbound(sender).transcript == "I have a mild headache"
    # ...while an emergency still gets the fixed text, as a typed one does.
    stack.post_voice(stack.server.voice_note("he is not breathing", "en"), sender)
    stack.settle()
    assert len(stack.messenger.bodies(sender)) == 2
    assert stack.inbound(sender).triage_level == "emergency"


def test_delete_yes_by_voice_erases_the_transcripts_too(stack: Stack) -> None:
    sender = f"whatsapp:+4477007{next(_numbers):04d}"
    wa_id = sender.removeprefix("whatsapp:+")
    for said in ("I have a cough", "delete", "delete yes"):
        stack.post_voice(stack.server.voice_note(said, "en"), sender)
        stack.settle()
    with stack.services.uow() as uow:
        assert uow.contacts.by_wa_id(wa_id) is None
        assert uow.session.scalars(select(Message).where(
            Message.transcript == "I have a cough")).first() is None
    # The confirmation still reaches them, though nothing about them is stored.
    assert stack.messenger.bodies(sender)[-1].endswith(i18n.t("deleted", "en"))

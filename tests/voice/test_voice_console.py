"""Staff see what a voice note said: the transcript, its language and transcriber, in the API
and on the transcript page; erasing the person erases it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store.models import Message
from tests.admin.support import bearer, fast_hashing, login, make_staff, seed_contact


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    from bot.app import create_app
    from tests.helpers import make_settings

    application = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'hb.db'}"),
                             upgrade_db=True, background=False)
    application.config["TESTING"] = True
    fast_hashing(application)
    yield application
    application.extensions["bot"].close()


def heard(app: Any, message_id: int, text: str) -> None:
    with app.extensions["bot"].uow() as uow:
        row = uow.messages.get(message_id)
        row.body = row.transcript = text
        row.transcript_language, row.transcriber = "sw", "openai/whisper-1"
        row.audio_seconds, row.transcription_cost_usd = 4.0, 0.0004
        row.media = [{"url": "https://api.twilio.com/x/Media/ME1", "content_type": "audio/ogg"}]
        uow.commit()


def test_the_api_and_the_transcript_page_show_what_was_heard(app: Any) -> None:
    ids = seed_contact(app)
    heard(app, ids["inbound_id"], "mtoto wangu ana homa")
    _, email, token = make_staff(app, "viewer")
    client = app.test_client()
    data = client.get(f"/admin/api/contacts/{ids['contact_id']}/messages",
                      headers=bearer(token)).get_json()
    first = next(m for m in data["items"] if m["id"] == ids["inbound_id"])
    assert (first["transcript"], first["transcript_language"], first["transcriber"]) == (
        "mtoto wangu ana homa", "sw", "openai/whisper-1")
    assert first["audio_seconds"] == 4.0 and first["transcription_cost_usd"] == 0.0004
    login(client, email)
    page = client.get(f"/admin/contacts/{ids['contact_id']}").get_data(as_text=True)
    assert "voice note, 4 s, heard by openai/whisper-1 (sw), $0.0004" in page
    assert "<q>mtoto wangu ana homa</q>" in page


def test_erasing_the_person_erases_the_transcript(app: Any) -> None:
    ids = seed_contact(app)
    heard(app, ids["inbound_id"], "a private thing said aloud")
    _, _, token = make_staff(app, "admin")
    client = app.test_client()
    response = client.delete(f"/admin/api/contacts/{ids['contact_id']}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.extensions["bot"].uow() as uow:
        assert uow.session.scalars(select(Message).where(
            Message.transcript.is_not(None))).all() == []

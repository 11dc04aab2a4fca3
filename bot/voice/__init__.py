"""Voice notes: fetch the audio from Twilio, hear it, and triage the words like typed text."""

from __future__ import annotations

from bot.voice.media import Media, MediaError, MediaPolicy, fetch_media
from bot.voice.transcribe import Audio, Transcriber, Transcript

__all__ = [
    "Audio",
    "Media",
    "MediaError",
    "MediaPolicy",
    "Transcriber",
    "Transcript",
    "fetch_media",
]

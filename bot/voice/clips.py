"""Spoken replies waiting for Twilio: stored under the hash of an unguessable, short-lived token.

Twilio fetches a media message's audio from a public URL, so the URL itself is the only key:
32 random bytes (token_urlsafe), of which only the SHA-256 is kept, valid for
HEALTHBOT_SPEECH_URL_TTL_S. Expired clips are deleted whenever a new one is stored; a clip is
also deleted with its message, so erasing a person erases their spoken replies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import VoiceClip

URL_PREFIX = "/media/speech/"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def store_clip(session: Session, message_id: int, data: bytes, content_type: str, *,
               ttl_s: float, now: dt.datetime) -> str:
    """Keep a clip for `ttl_s` seconds; return its token (the caller commits)."""
    session.execute(delete(VoiceClip).where(VoiceClip.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(VoiceClip(token_hash=_digest(token), message_id=message_id,
                          content_type=content_type, data=data,
                          expires_at=now + dt.timedelta(seconds=ttl_s), created_at=now))
    return token


def load_clip(session: Session, token: str, *, now: dt.datetime) -> VoiceClip | None:
    """The clip of a token that has not expired, or None."""
    if not 20 <= len(token) <= 64:
        return None
    clip = session.scalars(select(VoiceClip).where(VoiceClip.token_hash == _digest(token))).first()
    if clip is None or clip.expires_at <= now:
        return None
    return clip


def clip_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{URL_PREFIX}{token}.ogg"

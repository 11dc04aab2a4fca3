"""`GET /media/speech/<token>.ogg`: the spoken reply Twilio fetches, and nothing else.

Public by necessity (Twilio fetches it without our credentials); the unguessable token and its
short life are the protection. Unknown and expired tokens look the same: 404.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app

from bot.store.models import utcnow
from bot.voice.clips import load_clip

blueprint = Blueprint("voice", __name__)


@blueprint.get("/media/speech/<token>.ogg")
def speech(token: str) -> Response:
    svc = current_app.extensions["bot"]
    with svc.uow() as uow:
        clip = load_clip(uow.session, token, now=utcnow())
        if clip is None:
            abort(404)
        data, kind = clip.data, clip.content_type
    response = Response(data, status=200, content_type=kind)
    response.headers["Cache-Control"] = "private, no-store"
    return response

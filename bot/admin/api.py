"""Staff JSON API: conversations and transcripts, behind a bearer token."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request

from bot.store.models import Contact, Message

if TYPE_CHECKING:
    from bot.services import Services

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/api")

MAX_PAGE = 200


def services() -> Services:
    return current_app.extensions["bot"]  # type: ignore[no-any-return]


@blueprint.before_request
def require_token() -> Response | None:
    token = services().settings.admin_token
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if token is None or not token.get_secret_value():
        return _unauthorized("the admin API is disabled: set HEALTHBOT_ADMIN_TOKEN")
    if not given or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return _unauthorized("missing or wrong bearer token")
    return None


def _unauthorized(reason: str) -> Response:
    response = jsonify(error="unauthorized", reason=reason)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="healthbot-admin"'
    return response


def _page_args() -> tuple[int, int] | Response:
    try:
        page = int(request.args.get("page", "1"))
        per_page = int(request.args.get("per_page", "50"))
    except ValueError:
        return _bad("page and per_page must be whole numbers")
    if page < 1 or not 1 <= per_page <= MAX_PAGE:
        return _bad(f"page must be >= 1 and per_page between 1 and {MAX_PAGE}")
    return page, per_page


def _bad(reason: str) -> Response:
    response = jsonify(error="bad_request", reason=reason)
    response.status_code = 400
    return response


@blueprint.get("/conversations")
def conversations() -> Any:
    args = _page_args()
    if isinstance(args, Response):
        return args
    page, per_page = args
    state = request.args.get("state") or None
    with services().uow() as uow:
        contacts, total = uow.contacts.list_page(
            limit=per_page, offset=(page - 1) * per_page, state=state
        )
        last = uow.messages.last_for([c.id for c in contacts])
        items = [_contact_json(c, last.get(c.id)) for c in contacts]
    return jsonify(items=items, page=page, per_page=per_page, total=total)


@blueprint.get("/contacts/<int:contact_id>/messages")
def contact_messages(contact_id: int) -> Any:
    args = _page_args()
    if isinstance(args, Response):
        return args
    page, per_page = args
    with services().uow() as uow:
        contact = uow.contacts.get(contact_id)
        if contact is None:
            response = jsonify(error="not_found", reason=f"no contact {contact_id}")
            response.status_code = 404
            return response
        rows, total = uow.messages.page(contact_id, limit=per_page, offset=(page - 1) * per_page)
        items = [_message_json(m) for m in rows]
        body = _contact_json(contact, None)
    return jsonify(contact=body, items=items, page=page, per_page=per_page, total=total)


def _contact_json(contact: Contact, last: Message | None) -> dict[str, Any]:
    return {
        "id": contact.id,
        "wa_id": contact.wa_id,
        "phone": contact.phone,
        "profile_name": contact.profile_name,
        "country": contact.country,
        "language": contact.language,
        "state": contact.state,
        "opted_out": contact.opted_out,
        "last_inbound_at": _iso(contact.last_inbound_at),
        "last_message": _message_json(last) if last else None,
    }


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "body": message.body,
        "twilio_sid": message.twilio_sid,
        "status": message.status,
        "media": message.media,
        "location": message.location,
        "button_text": message.button_text,
        "triage_level": message.triage_level,
        "rule_ids": message.rule_ids,
        "language": message.language,
        "model": message.model,
        "mode": message.mode,
        "latency_ms": message.latency_ms,
        "created_at": _iso(message.created_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None

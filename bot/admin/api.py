"""Staff JSON API under /admin/api: per-staff bearer tokens, roles, every change audited.

To add a route: decorate it with `@requires("viewer" | "clinician" | "admin")` (a route without
one is refused with 403), describe it in `openapi.py`, and give it a row in the access matrix in
tests/admin/test_console_access.py. Views stay a few lines: parse, call the console, map errors.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from bot.admin.audit_log import AuditFilter, readable
from bot.admin.auth import UNDECLARED, actor, console, public, required_role, requires
from bot.admin.console import ConsoleError, InboxFilter, Invalid, Throttled, jsonable
from bot.admin.events import respond
from bot.admin.openapi import openapi_document

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/api")

MAX_PAGE = 200
ID = "int(min=1, max=2147483647)"  # ids beyond the database's integer are simply not found


@blueprint.before_request
def authenticate() -> Response | None:
    role = required_role(current_app, request.endpoint)
    if role is None:
        return None
    if role == UNDECLARED:
        return _error(403, "forbidden", "this route declares no role, so nobody may call it")
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    found = console().token_actor(token, request.remote_addr) if token else None
    if found is None:
        response = _error(401, "unauthorized", "missing, unknown or revoked bearer token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="healthbot-admin"'
        return response
    if not found.can(role):
        console().record_refusal(found, method=request.method, route=request.endpoint or "",
                                 path=request.path, needed=role)
        return _error(403, "forbidden", f"this needs the {role} role; you are {found.role}")
    g.actor = found
    return None


@blueprint.after_request
def no_store(response: Response) -> Response:
    # Transcripts are health data: no cache anywhere may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(ConsoleError)
def console_error(exc: ConsoleError) -> Response:
    response = _error(exc.status, exc.code, str(exc))
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _error(status: int, error: str, reason: str) -> Response:
    response = jsonify(error=error, reason=reason)
    response.status_code = status
    return response


def _ok(http_status: int = 200, /, **body: Any) -> Response:
    response = jsonify(jsonable(body))
    response.status_code = http_status
    return response


def _page_args() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", "1"))
        per_page = int(request.args.get("per_page", "50"))
    except ValueError:
        raise Invalid("page and per_page must be whole numbers") from None
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= MAX_PAGE:
        raise Invalid(f"page must be from 1 and per_page between 1 and {MAX_PAGE}")
    return page, per_page


def _date_arg(name: str) -> dt.date | None:
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10]) if len(value) <= 32 else None
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-01-31") from None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and not request.get_data():
        return {}
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(f"{name} is required")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Invalid(f"{name} must be a {kind.__name__}")
    return value


@blueprint.get("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(openapi_document())


@blueprint.get("/me")
@requires("viewer")
def me() -> Response:
    who = actor()
    return _ok(id=who.staff_id, email=who.email, name=who.name, role=who.role)


@blueprint.get("/conversations")
@requires("viewer")
def conversations() -> Response:
    page, per_page = _page_args()
    filters = InboxFilter(
        state=request.args.get("state") or None,
        level=request.args.get("level") or None,
        since=_date_arg("since"),
        until=_date_arg("until"),
        q=request.args.get("q") or None,
    )
    items, total = console().inbox(filters, page=page, per_page=per_page)
    return _ok(items=items, page=page, per_page=per_page, total=total)


@blueprint.get(f"/contacts/<{ID}:contact_id>")
@requires("viewer")
def transcript(contact_id: int) -> Response:
    return _ok(**console().transcript(actor(), contact_id))


@blueprint.get("/failed-jobs")
@requires("viewer")
def failed_jobs() -> Response:
    """Jobs that failed every retry (RQ's FailedJobRegistry, or the in-process list)."""
    services = current_app.extensions["bot"]
    return _ok(items=[job.to_json() for job in services.failed_jobs()])


@blueprint.get(f"/contacts/<{ID}:contact_id>/messages")
@requires("viewer")
def contact_messages(contact_id: int) -> Response:
    page, per_page = _page_args()
    data = console().transcript(actor(), contact_id)
    messages = data["messages"]
    items = messages[(page - 1) * per_page: page * per_page]
    return _ok(contact=data["contact"], items=items, page=page, per_page=per_page,
               total=len(messages))


@blueprint.get(f"/contacts/<{ID}:contact_id>/export")
@requires("admin")
def export(contact_id: int) -> Response:
    fmt = request.args.get("format", "json")
    content_type, document = console().export(actor(), contact_id, fmt)
    response = Response(document, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="conversation-{contact_id}.{fmt}"'
    )
    return response


@blueprint.post(f"/contacts/<{ID}:contact_id>/reply")
@requires("clinician")
def reply(contact_id: int) -> Response:
    data = _body()
    body = _field(data, "body", str, required=True)
    key = (_field(data, "idempotency_key", str) or request.headers.get("Idempotency-Key")
           or uuid.uuid4().hex)
    sent = console().reply_case(actor(), contact_id, body, key=key)
    return _ok(201, message_ids=sent["message_ids"], acknowledged=sent["acknowledged"],
               state="with_staff")


@blueprint.post(f"/contacts/<{ID}:contact_id>/handback")
@requires("clinician")
def handback(contact_id: int) -> Response:
    return _ok(**console().hand_back(actor(), contact_id))


@blueprint.delete(f"/contacts/<{ID}:contact_id>")
@requires("admin")
def erase(contact_id: int) -> Response:
    return _ok(removed=console().erase(actor(), contact_id))


@blueprint.get("/escalations")
@requires("viewer")
def escalations() -> Response:
    page, per_page = _page_args()
    items, total = console().escalations(
        request.args.get("status") or None, page=page, per_page=per_page
    )
    return _ok(items=items, page=page, per_page=per_page, total=total)


@blueprint.post(f"/escalations/<{ID}:event_id>/acknowledge")
@requires("clinician")
def acknowledge(event_id: int) -> Response:
    return _ok(**console().acknowledge(actor(), event_id))


@blueprint.post(f"/escalations/<{ID}:event_id>/resolve")
@requires("clinician")
def resolve(event_id: int) -> Response:
    data = _body()
    return _ok(**console().resolve(actor(), event_id,
                                   outcome=_field(data, "outcome", str, required=True),
                                   note=_field(data, "note", str)))


# --- working a case: claims, internal notes, quick replies, live events ------------------------


@blueprint.post(f"/contacts/<{ID}:contact_id>/claim")
@requires("clinician")
def claim(contact_id: int) -> Response:
    """Take the conversation (no body), or, as an admin, give it to `staff_id`."""
    data = _body()
    return _ok(**console().claim(actor(), contact_id, staff_id=_field(data, "staff_id", int)))


@blueprint.get(f"/contacts/<{ID}:contact_id>/notes")
@requires("viewer")
def notes(contact_id: int) -> Response:
    page, per_page = _page_args()
    items, total = console().notes(contact_id, page=page, per_page=per_page)
    return _ok(items=items, page=page, per_page=per_page, total=total)


@blueprint.post(f"/contacts/<{ID}:contact_id>/notes")
@requires("clinician")
def note_create(contact_id: int) -> Response:
    data = _body()
    return _ok(201, **console().add_note(actor(), contact_id,
                                         _field(data, "body", str, required=True)))


@blueprint.get("/quick-replies")
@requires("viewer")
def quick_replies() -> Response:
    page, per_page = _page_args()
    items, total = console().quick_replies(language=request.args.get("language") or None,
                                           page=page, per_page=per_page)
    return _ok(items=items, page=page, per_page=per_page, total=total)


@blueprint.put("/quick-replies/<name>")
@requires("admin")
def quick_reply_save(name: str) -> Response:
    data = _body()
    texts = _field(data, "texts", dict, required=True)
    return _ok(**console().save_quick_reply(actor(), name, texts))


@blueprint.delete("/quick-replies/<name>")
@requires("admin")
def quick_reply_delete(name: str) -> Response:
    return _ok(**console().delete_quick_reply(actor(), name))


@blueprint.get("/events")
@requires("viewer")
def events() -> Response:
    """Server-sent events (`Accept: text/event-stream`), or one JSON poll; see events.py."""
    return respond(current_app.extensions["healthbot_events"])


@blueprint.get("/staff")
@requires("admin")
def staff_list() -> Response:
    return _ok(items=console().list_staff())


@blueprint.post("/staff")
@requires("admin")
def staff_create() -> Response:
    data = _body()
    created = console().create_staff(
        actor(),
        email=_field(data, "email", str, required=True),
        name=_field(data, "name", str) or "",
        role=_field(data, "role", str, required=True),
        password=_field(data, "password", str, required=True),
    )
    return _ok(201, **created)


@blueprint.patch(f"/staff/<{ID}:staff_id>")
@requires("admin")
def staff_update(staff_id: int) -> Response:
    data = _body()
    updated = console().update_staff(
        actor(), staff_id,
        role=_field(data, "role", str),
        active=_field(data, "active", bool),
        name=_field(data, "name", str),
        password=_field(data, "password", str),
    )
    return _ok(**updated)


@blueprint.post(f"/staff/<{ID}:staff_id>/tokens")
@requires("admin")
def token_create(staff_id: int) -> Response:
    data = _body()
    created = console().create_token(actor(), staff_id, label=_field(data, "label", str) or "")
    return _ok(201, **created)


@blueprint.delete(f"/staff/<{ID}:staff_id>/tokens/<{ID}:token_id>")
@requires("admin")
def token_revoke(staff_id: int, token_id: int) -> Response:
    return _ok(**console().revoke_token(actor(), staff_id, token_id))


@blueprint.get("/audit")
@requires("admin")
def audit() -> Response:
    page, per_page = _page_args()
    # Filters: staff_id, contact_id, action, since, until (see account_api.audit_csv).
    filters = AuditFilter.parse(request.args)
    items, total = console().audit_page(page=page, per_page=per_page, filters=filters)
    return _ok(items=[readable(e) for e in items], page=page, per_page=per_page, total=total)

"""Staff JSON API under /admin/api: per-staff bearer tokens, roles, every change audited.

Every answer under /admin/api is JSON, errors included (`{"error", "reason"}`): unknown paths
(404), wrong methods (405), malformed or oversized bodies (400, 413), non-JSON bodies (415) and
failures (500, logged) too. The OpenAPI document (GET /admin/api/openapi.json) is generated from
the views' models; a test runs schemathesis against it (tests/admin/test_console_openapi.py).

To add a route:

1. Describe its input and output as pydantic models in `bot/admin/api_models.py` (a response
   model lists every key the console returns; a list answers with a `...Page` model and takes
   `query: PageQuery` or a subclass of it).
2. Decorate the view, in this order:

       @blueprint.post(f"/contacts/<{ID}:contact_id>/notes")
       @requires("clinician")
       @documented(Note, 409, status=201)
       def add_note(contact_id: int, json: NoteBody) -> tuple[dict[str, Any], int]:
           \"\"\"Add a note to the conversation (clinician, audited).\"\"\"
           return _plain(console().add_note(actor(), contact_id, json.body)), 201

   `@requires` is the least role (a route without one is refused with 403). `@documented`
   takes the success model, the extra error statuses the console can raise (409, 502...), and
   `status` when success is not 200; 400/401/403/500/503, 404 for an id in the path and 413/415 for
   a body are added for you. Parameters named `query`, `json` and `headers` receive the request
   validated against their annotated models (a failure is a 400 before the view runs). Return
   the console's dict through `_plain()` (datetimes become ISO 8601 strings): it is checked
   against the model, and a mismatch is a logged 500.
   A route answering something other than JSON (a CSV file) passes `None` and
   `content={"text/csv": None}` (see `export`) and returns a `Response`.
3. Give it a row in the access matrix in tests/admin/test_console_access.py.

The test that every served route is documented, and the schemathesis run, then cover it.
Routes may live in other modules that add to this blueprint (bot/admin/account_api.py).
"""

from __future__ import annotations

import json as jsonlib
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from bot.admin.api_models import (
    AuditFilters,
    AuditPage,
    AuditQuery,
    Claim,
    ClaimBody,
    ConversationPage,
    ConversationQuery,
    Erased,
    EscalationPage,
    EscalationQuery,
    EventPoll,
    EventsHeaders,
    EventsQuery,
    ExportQuery,
    FailedJobPage,
    HandedBack,
    Me,
    MessagePage,
    NewToken,
    Note,
    NoteBody,
    NotePage,
    PageQuery,
    QuickReplyDeleted,
    QuickReplyPage,
    QuickReplyQuery,
    QuickReplySaved,
    QuickReplyTexts,
    ReplyBody,
    ReplyHeaders,
    ReplySent,
    ResolveBody,
    Staff,
    StaffCreate,
    StaffPage,
    StaffUpdate,
    Token,
    TokenCreate,
    TokenPage,
    Transcript,
    TranscriptExport,
)
from bot.admin.api_models import Escalation as EscalationModel
from bot.admin.audit_log import AuditFilter, readable
from bot.admin.auth import UNDECLARED, actor, console, public, required_role, requires
from bot.admin.console import ConsoleError, InboxFilter, NotFound, Throttled, jsonable
from bot.admin.events import respond
from bot.admin.openapi import (
    IdConverter,
    documented,
    error_response,
    missing_body,
    openapi_document,
)

blueprint = Blueprint("admin_api", __name__, url_prefix="/admin/api")


@blueprint.record_once
def _add_id_converter(state: BlueprintSetupState) -> None:
    # Before the routes below are added: they use it.
    state.app.url_map.converters["id"] = IdConverter


PREFIX = "/admin/api"
ID = "id"  # a row id (1 to 2**31 - 1); any other number is a 404
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


@blueprint.before_request
def read_body() -> Response | None:
    """A body, when there is one, must be a JSON object (the models then check its fields).

    After `authenticate` (a refused caller's body is never read). spectree alone would take a
    malformed body for an empty one.
    """
    if request.method not in BODY_METHODS:
        return None
    if request.mimetype and not request.is_json:
        return _error(415, "unsupported_media_type", "send the body as application/json")
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if not raw:
        view = current_app.view_functions.get(request.endpoint or "")
        problem = missing_body(view) if view is not None else None
        if problem is not None:
            return _error(400, "bad_request", problem)
        return None
    try:
        data = jsonlib.loads(raw)
    except ValueError:
        return _error(400, "bad_request", "the body is not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "bad_request", "the body must be a JSON object")
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


@blueprint.errorhandler(413)
def too_large(exc: HTTPException) -> Response:
    # The app answers 413 in plain text elsewhere; a routed API call gets the JSON shape.
    return _error(413, "too_large", "the body is larger than the server accepts (64 KiB)")


@blueprint.errorhandler(500)
def server_error(exc: HTTPException) -> Response:
    # Flask has logged the exception (with the request id) before calling this.
    return _error(500, "server_error", "the server failed; the error is logged")


@blueprint.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response | HTTPException:
    """Unknown paths and wrong methods under /admin/api answer in JSON; elsewhere, as before."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")) or exc.code is None:
        return exc
    response = _error(exc.code, _code(exc), exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. Allow on a 405
    return response


def _code(exc: HTTPException) -> str:
    return exc.name.lower().replace(" ", "_").replace("'", "")


def _error(status: int, error: str, reason: str) -> Response:
    return error_response(status, error, reason)


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """The console's dict with its datetimes as ISO 8601 strings, as the models describe them."""
    plain: dict[str, Any] = jsonable(value)
    return plain


def _page(items: list[dict[str, Any]], total: int, query: PageQuery) -> dict[str, Any]:
    return {"items": jsonable(items), "page": query.page, "per_page": query.per_page,
            "total": total}


def _slice(items: list[Any], query: PageQuery) -> list[Any]:
    """One page of a list the console returns whole (short lists: staff, tokens, failed jobs)."""
    start = (query.page - 1) * query.per_page
    return items[start:start + query.per_page]


@blueprint.get("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(openapi_document())


@blueprint.get("/me")
@requires("viewer")
@documented(Me)
def me() -> dict[str, Any]:
    """Who the token belongs to."""
    who = actor()
    return {"id": who.staff_id, "email": who.email, "name": who.name, "role": who.role}


@blueprint.get("/conversations")
@requires("viewer")
@documented(ConversationPage)
def conversations(query: ConversationQuery) -> dict[str, Any]:
    """Conversations, latest activity first."""
    filters = InboxFilter(state=query.state, level=query.level, since=query.since,
                          until=query.until, q=query.q)
    items, total = console().inbox(filters, page=query.page, per_page=query.per_page)
    return _page(items, total, query)


@blueprint.get(f"/contacts/<{ID}:contact_id>")
@requires("viewer")
@documented(Transcript)
def transcript(contact_id: int) -> dict[str, Any]:
    """The whole conversation, with what the bot decided about each message (audited)."""
    return _plain(console().transcript(actor(), contact_id))


@blueprint.get("/failed-jobs")
@requires("viewer")
@documented(FailedJobPage)
def failed_jobs(query: PageQuery) -> dict[str, Any]:
    """Background jobs that failed every retry (RQ's FailedJobRegistry, or the in-process list)."""
    jobs = [job.to_json() for job in current_app.extensions["bot"].failed_jobs()]
    return _page(_slice(jobs, query), len(jobs), query)


@blueprint.get(f"/contacts/<{ID}:contact_id>/messages")
@requires("viewer")
@documented(MessagePage)
def contact_messages(contact_id: int, query: PageQuery) -> dict[str, Any]:
    """One page of the conversation, oldest first (audited)."""
    data = console().transcript(actor(), contact_id)
    messages = data["messages"]
    return {**_page(_slice(messages, query), len(messages), query),
            "contact": _plain(data["contact"])}


@blueprint.get(f"/contacts/<{ID}:contact_id>/export")
@requires("admin")
@documented(None, content={"application/json": TranscriptExport, "text/csv": None})
def export(contact_id: int, query: ExportQuery) -> Response:
    """Export the conversation as JSON or CSV (admin, audited)."""
    content_type, document = console().export(actor(), contact_id, query.format)
    response = Response(document, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="conversation-{contact_id}.{query.format}"'
    )
    return response


@blueprint.post(f"/contacts/<{ID}:contact_id>/reply")
@requires("clinician")
@documented(ReplySent, 409, 502, status=201)
def reply(contact_id: int, json: ReplyBody, headers: ReplyHeaders) -> tuple[dict[str, Any], int]:
    """Reply as staff; takes the conversation from the bot (clinician, audited)."""
    key = json.idempotency_key or headers.idempotency_key or uuid.uuid4().hex
    sent = console().reply_case(actor(), contact_id, json.body, key=key)
    return {"message_ids": sent["message_ids"], "acknowledged": sent["acknowledged"],
            "state": "with_staff"}, 201


@blueprint.post(f"/contacts/<{ID}:contact_id>/handback")
@requires("clinician")
@documented(HandedBack)
def handback(contact_id: int) -> dict[str, Any]:
    """Hand the conversation back to the bot (clinician, audited)."""
    return console().hand_back(actor(), contact_id)


@blueprint.delete(f"/contacts/<{ID}:contact_id>")
@requires("admin")
@documented(Erased)
def erase(contact_id: int) -> dict[str, Any]:
    """Erase every row about the contact (admin, audited with keyed hashes only)."""
    return {"removed": console().erase(actor(), contact_id)}


@blueprint.get("/escalations")
@requires("viewer")
@documented(EscalationPage)
def escalations(query: EscalationQuery) -> dict[str, Any]:
    """Escalations, oldest first: open and acknowledged ones unless `status` says."""
    items, total = console().escalations(query.status, page=query.page, per_page=query.per_page)
    return _page(items, total, query)


@blueprint.post(f"/escalations/<{ID}:event_id>/acknowledge")
@requires("clinician")
@documented(EscalationModel, 409)
def acknowledge(event_id: int) -> dict[str, Any]:
    """Acknowledge an open escalation (clinician, audited)."""
    return _plain(console().acknowledge(actor(), event_id))


@blueprint.post(f"/escalations/<{ID}:event_id>/resolve")
@requires("clinician")
@documented(EscalationModel, 409)
def resolve(event_id: int, json: ResolveBody) -> dict[str, Any]:
    """Resolve an open or acknowledged escalation with its outcome (clinician, audited)."""
    return _plain(console().resolve(actor(), event_id, outcome=json.outcome, note=json.note))


# --- working a case: claims, internal notes, quick replies, live events ------------------------


@blueprint.post(f"/contacts/<{ID}:contact_id>/claim")
@requires("clinician")
@documented(Claim, 409, optional_body=True)
def claim(contact_id: int, json: ClaimBody) -> dict[str, Any]:
    """Take the conversation (no body), or, as an admin, give it to `staff_id` (audited)."""
    return _plain(console().claim(actor(), contact_id, staff_id=json.staff_id))


@blueprint.get(f"/contacts/<{ID}:contact_id>/notes")
@requires("viewer")
@documented(NotePage)
def notes(contact_id: int, query: PageQuery) -> dict[str, Any]:
    """Internal notes on the conversation, oldest first."""
    items, total = console().notes(contact_id, page=query.page, per_page=query.per_page)
    return _page(items, total, query)


@blueprint.post(f"/contacts/<{ID}:contact_id>/notes")
@requires("clinician")
@documented(Note, status=201)
def note_create(contact_id: int, json: NoteBody) -> tuple[dict[str, Any], int]:
    """Add an internal note; never sent to the person (clinician, audited)."""
    return _plain(console().add_note(actor(), contact_id, json.body)), 201


@blueprint.get("/quick-replies")
@requires("viewer")
@documented(QuickReplyPage)
def quick_replies(query: QuickReplyQuery) -> dict[str, Any]:
    """Canned replies by name, a text per language; with `language`, the text to insert."""
    items, total = console().quick_replies(language=query.language, page=query.page,
                                           per_page=query.per_page)
    return _page(items, total, query)


@blueprint.put("/quick-replies/<name>")
@requires("admin")
@documented(QuickReplySaved, 409)
def quick_reply_save(name: str, json: QuickReplyTexts) -> dict[str, Any]:
    """Create or change a quick reply; an empty text removes that language (admin, audited)."""
    texts: dict[str, str] = {language: text for language, text in json.texts.items()}
    return console().save_quick_reply(actor(), name, texts)


@blueprint.delete("/quick-replies/<name>")
@requires("admin")
@documented(QuickReplyDeleted)
def quick_reply_delete(name: str) -> dict[str, Any]:
    """Remove a quick reply in every language (admin, audited)."""
    return console().delete_quick_reply(actor(), name)


@blueprint.get("/events")
@requires("viewer")
@documented(None, content={"application/json": EventPoll, "text/event-stream": None})
def events(query: EventsQuery, headers: EventsHeaders) -> Response:
    """Live events: server-sent events with `Accept: text/event-stream` (a bounded stream;
    reconnect with Last-Event-ID; 503 when this server holds too many), else one JSON poll.
    The cursor is Last-Event-ID, else `after`, else now (see bot/admin/events.py)."""
    return respond(current_app.extensions["healthbot_events"])


@blueprint.get("/staff")
@requires("admin")
@documented(StaffPage)
def staff_list(query: PageQuery) -> dict[str, Any]:
    """Staff accounts, each with its API tokens (admin)."""
    staff = console().list_staff()
    return _page(_slice(staff, query), len(staff), query)


@blueprint.post("/staff")
@requires("admin")
@documented(Staff, 409, status=201)
def staff_create(json: StaffCreate) -> tuple[dict[str, Any], int]:
    """Create a staff account (admin, audited)."""
    created = console().create_staff(actor(), email=json.email, name=json.name, role=json.role,
                                      password=json.password)
    return _plain(created), 201


@blueprint.patch(f"/staff/<{ID}:staff_id>")
@requires("admin")
@documented(Staff, 409)
def staff_update(staff_id: int, json: StaffUpdate) -> dict[str, Any]:
    """Change a role, name or password, or switch an account off or on (admin, audited)."""
    updated = console().update_staff(actor(), staff_id, role=json.role, active=json.active,
                                     name=json.name, password=json.password)
    return _plain(updated)


@blueprint.get(f"/staff/<{ID}:staff_id>/tokens")
@requires("admin")
@documented(TokenPage)
def token_list(staff_id: int, query: PageQuery) -> dict[str, Any]:
    """A staff member's API tokens, revoked ones included (admin)."""
    found = next((s for s in console().list_staff() if s["id"] == staff_id), None)
    if found is None:
        raise NotFound(f"no staff member {staff_id}")
    tokens = found["tokens"]
    return _page(_slice(tokens, query), len(tokens), query)


@blueprint.post(f"/staff/<{ID}:staff_id>/tokens")
@requires("admin")
@documented(NewToken, status=201)
def token_create(staff_id: int, json: TokenCreate) -> tuple[dict[str, Any], int]:
    """Create an API token; the answer shows it this once (admin, audited)."""
    return _plain(console().create_token(actor(), staff_id, label=json.label)), 201


@blueprint.delete(f"/staff/<{ID}:staff_id>/tokens/<{ID}:token_id>")
@requires("admin")
@documented(Token)
def token_revoke(staff_id: int, token_id: int) -> dict[str, Any]:
    """Revoke an API token (admin, audited; revoking twice is fine)."""
    return _plain(console().revoke_token(actor(), staff_id, token_id))


@blueprint.get("/audit")
@requires("admin")
@documented(AuditPage)
def audit(query: AuditQuery) -> dict[str, Any]:
    """The audit log, newest first, with each entry in words (admin; read-only)."""
    if empty_range(query):
        return _page([], 0, query)
    items, total = console().audit_page(page=query.page, per_page=query.per_page,
                                        filters=audit_filter(query))
    return _page([readable(e) for e in items], total, query)


def empty_range(query: AuditFilters) -> bool:
    """`since` after `until`: no day is in between, so nothing matches. The pages refuse it
    (a form's mistake); the API answers the question as asked, the document can't refuse it."""
    return query.since is not None and query.until is not None and query.since > query.until


def audit_filter(query: AuditFilters) -> AuditFilter:
    """The console's filter from the validated query (shared with GET /audit.csv)."""
    return AuditFilter(staff_id=query.staff_id, contact_id=query.contact_id,
                       action=query.action, since=query.since, until=query.until)

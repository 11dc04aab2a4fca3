"""Staff console pages under /admin: server-rendered HTML, a session cookie, CSRF on every form.

Each view declares its least role with `@requires(...)`; the `before_request` hook signs the
person in from the session, checks the role and the form's CSRF token, and refuses routes that
declare nothing. Changes redirect afterwards (post/redirect/get) with a flash message.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from bot.admin.auth import UNDECLARED, actor, console, public, required_role, requires
from bot.admin.console import (
    ESCALATION_STATUSES,
    LEVELS,
    MAX_REPLY,
    OUTCOMES,
    STATES,
    BadCredentials,
    Conflict,
    ConsoleError,
    Forbidden,
    InboxFilter,
    Invalid,
    SecondFactorNeeded,
    SendRefused,
    Throttled,
)
from bot.admin.events import respond
from bot.admin.whatsapp_format import whatsapp_html
from bot.i18n import SUPPORTED
from bot.store.staff import ROLES

blueprint = Blueprint(
    "admin_pages", __name__, url_prefix="/admin",
    template_folder="templates", static_folder="static", static_url_path="/static",
)

blueprint.add_app_template_filter(whatsapp_html, "whatsapp")

ID = "int(min=1, max=2147483647)"
PER_PAGE = 50
# The pages an admin who has no second factor yet may open: everything else sends them to enrol.
ENROL_OPEN = frozenset({"admin_pages.totp_enrol", "admin_pages.totp_confirm",
                        "admin_pages.logout", "admin_pages.static"})


@blueprint.before_request
def authenticate() -> Any:
    role = required_role(current_app, request.endpoint)
    if role == UNDECLARED:
        return _error_page(403, "This page declares no role, so nobody may open it.")
    if request.method == "POST" and not _csrf_ok():
        return _error_page(400, "The form expired or did not come from this site. "
                                "Go back, reload the page and try again.")
    if role is None:
        return None
    token = session.get("sid")
    found = console().session_actor(token, request.remote_addr) if isinstance(token, str) else None
    if found is None:
        session.pop("sid", None)
        if request.method == "GET":
            return redirect(url_for("admin_pages.login", next=request.full_path.rstrip("?")))
        return _error_page(401, "Your session ended. Sign in again.")
    if found.must_enrol and request.endpoint not in ENROL_OPEN:
        # Admins need a second factor: until they have one, enrolling is all they can do.
        g.actor = found
        if request.method == "GET":
            return redirect(url_for("admin_pages.totp_enrol"))
        return _error_page(403, "Admins must turn on the second factor first.")
    if not found.can(role):
        console().record_refusal(found, method=request.method, route=request.endpoint or "",
                                 path=request.path, needed=role)
        return _error_page(403, f"This needs the {role} role; your account is a {found.role}.")
    g.actor = found
    return None


@blueprint.after_request
def security_headers(response: Response) -> Response:
    # Pages hold people's health data: never stored. The console's own CSS and fonts hold none:
    # kept and revalidated by ETag, so a script's font is not fetched again on every page.
    static = request.endpoint == "admin_pages.static"
    response.headers["Cache-Control"] = "no-cache" if static else "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "script-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return response


@blueprint.app_context_processor
def template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_staff": g.get("actor"), "ago": ago}


def csrf_token() -> str:
    """Return this browser's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.form.get("csrf_token", "")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def ago(when: dt.datetime | None) -> str:
    """Say how long ago `when` was, briefly: "5 min", "3 h 10 min", "2 d 4 h"."""
    if when is None:
        return "–"
    seconds = max(0, int((dt.datetime.now(dt.UTC) - when).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} d {hours % 24} h"
    if hours:
        return f"{hours} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("admin/error.html", status=status, message=message), status


@blueprint.errorhandler(ConsoleError)
def console_error(exc: ConsoleError) -> Any:
    page, status = _error_page(exc.status, str(exc))
    response = current_app.make_response((page, status))
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _page_arg() -> int:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        raise Invalid("page must be a whole number") from None
    if not 1 <= page <= 1_000_000:
        raise Invalid("page must be from 1")
    return page


def _date_arg(name: str) -> dt.date | None:
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value) if len(value) <= 10 else None
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-01-31") from None


def _safe_next(target: str | None) -> str:
    """Return a local console path to go to after signing in, never another site."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("admin_pages.inbox")


# --- signing in and out ---------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("admin/login.html", next_url=next_url, error=None, email="")
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")
    try:
        token = console().login(email, password, request.remote_addr)
    except SecondFactorNeeded as exc:
        # The password was right; the code comes next (account_pages.login_code).
        session.clear()
        session["pending"] = exc.ticket
        session["next"] = next_url
        session["csrf"] = secrets.token_urlsafe(32)
        return redirect(url_for("admin_pages.login_code"))
    except (BadCredentials, Throttled) as exc:
        page = render_template("admin/login.html", next_url=next_url, error=str(exc),
                               email=email)
        response = current_app.make_response((page, exc.status))
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    # A fresh session on sign-in, so a session id planted before it is worth nothing.
    session.clear()
    session.permanent = True
    session["sid"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(next_url)


@blueprint.post("/logout")
@requires("viewer")
def logout() -> Any:
    token = session.get("sid")
    if isinstance(token, str):
        console().logout(token, actor())
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("admin_pages.login"))


# --- conversations ----------------------------------------------------------------------------


@blueprint.get("/")
@requires("viewer")
def inbox() -> Any:
    page = _page_arg()
    filters = InboxFilter(
        state=request.args.get("state") or None,
        level=request.args.get("level") or None,
        since=_date_arg("since"),
        until=_date_arg("until"),
        q=request.args.get("q") or None,
    )
    items, total = console().inbox(filters, page=page, per_page=PER_PAGE)
    return render_template(
        "admin/inbox.html", items=items, total=total, page=page, per_page=PER_PAGE,
        filters=filters, states=STATES, levels=LEVELS, args=request.args,
    )


@blueprint.get(f"/contacts/<{ID}:contact_id>")
@requires("viewer")
def transcript(contact_id: int) -> Any:
    return _transcript_page(contact_id)


def _transcript_page(contact_id: int, *, draft: str = "", reply_error: str | None = None
                     ) -> Any:
    data = console().transcript(actor(), contact_id)
    contact = data["contact"]
    page = render_template(
        "admin/transcript.html", data=data, contact=contact, reply_key=uuid.uuid4().hex,
        draft=draft, reply_error=reply_error, outcomes=OUTCOMES,
        notes_before=_notes_before(data["messages"], data.get("notes", [])),
        quick_replies=console().quick_replies_for(contact.get("language")),
        assignable=(console().list_staff() if actor().can("admin") else []),
        dial=_dial(contact.get("phone") or ""),
    )
    return page


def _notes_before(messages: list[dict[str, Any]], notes: list[dict[str, Any]]
                  ) -> dict[int | None, list[dict[str, Any]]]:
    """Place each internal note in the transcript: before the first message written after it
    (key None: after the last message)."""
    placed: dict[int | None, list[dict[str, Any]]] = {}
    for note in notes:
        after = next((m["id"] for m in messages if m["created_at"] > note["created_at"]), None)
        placed.setdefault(after, []).append(note)
    return placed


def _dial(phone: str) -> str:
    """The digits of an E.164 number, for tel:+… and https://wa.me/… links."""
    return "".join(c for c in phone.removeprefix("whatsapp:") if c.isdigit())


@blueprint.get(f"/media/<{ID}:message_id>/<int(max=9):index>")
@requires("viewer")
def media(message_id: int, index: int) -> Any:
    """A person's photo or voice note, fetched from Twilio by the server: the Twilio
    credentials never reach the browser. Only images and audio are served (never SVG or HTML,
    which a browser would run); anything that can't be fetched shows a placeholder."""
    from bot.voice.media import MediaError, fetch_media

    item = console().media_item(actor(), message_id, index)
    svc = current_app.extensions["bot"]
    kind = ""
    try:
        if svc.media_policy is None:
            raise MediaError("no media policy")
        fetched = fetch_media(svc.http, str(item.get("url") or ""), svc.media_policy)
        data, kind = fetched.data, fetched.content_type
    except MediaError:
        data = b""
    if not kind.startswith(("image/", "audio/")) or kind == "image/svg+xml":
        data, kind = MEDIA_UNAVAILABLE_SVG, "image/svg+xml"
    response = Response(data, status=200, content_type=kind)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# Shown in place of a photo Twilio did not hand over (our own, static: safe to serve as SVG).
MEDIA_UNAVAILABLE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="240" height="60" role="img">'
    b'<rect width="240" height="60" fill="#eee"/><text x="12" y="36" font-size="14" '
    b'font-family="sans-serif" fill="#555">media not available from Twilio</text></svg>'
)


@blueprint.post(f"/contacts/<{ID}:contact_id>/reply")
@requires("clinician")
def reply(contact_id: int) -> Any:
    body = request.form.get("body", "")
    key = request.form.get("key") or uuid.uuid4().hex
    try:
        ids = console().reply(actor(), contact_id, body, key=key)
    except (SendRefused, Invalid) as exc:
        # The page again, with the draft in the box and the reason beside it: nothing typed is
        # lost, and the form's #reply anchor brings the browser back to the box.
        return _transcript_page(contact_id, draft=body[:MAX_REPLY], reply_error=str(exc))
    else:
        flash(f"Reply sent ({len(ids)} message{'s' if len(ids) != 1 else ''}). "
              "The bot stays quiet until you hand the conversation back.", "ok")
    return redirect(url_for("admin_pages.transcript", contact_id=contact_id) + "#reply")


@blueprint.post(f"/contacts/<{ID}:contact_id>/claim")
@requires("clinician")
def claim(contact_id: int) -> Any:
    raw = request.form.get("staff_id") or ""
    staff_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
    try:
        done = console().claim(actor(), contact_id, staff_id=staff_id)
    except (Conflict, Forbidden, Invalid) as exc:
        flash(str(exc), "error")
    else:
        who = done["assigned_to"]["name"] or "you"
        flash(f"{who} is working this conversation.", "ok")
    return redirect(url_for("admin_pages.transcript", contact_id=contact_id))


@blueprint.post(f"/contacts/<{ID}:contact_id>/notes")
@requires("clinician")
def note_create(contact_id: int) -> Any:
    try:
        console().add_note(actor(), contact_id, request.form.get("note", ""))
    except Invalid as exc:
        flash(str(exc), "error")
    else:
        flash("Note kept (staff only: never sent).", "ok")
    return redirect(url_for("admin_pages.transcript", contact_id=contact_id) + "#reply")


@blueprint.get("/events")
@requires("viewer")
def events() -> Any:
    """The pages' live events: the API's implementation behind the session cookie."""
    return respond(current_app.extensions["healthbot_events"])


@blueprint.post(f"/contacts/<{ID}:contact_id>/handback")
@requires("clinician")
def handback(contact_id: int) -> Any:
    console().hand_back(actor(), contact_id)
    flash("Handed back to the bot.", "ok")
    return redirect(url_for("admin_pages.transcript", contact_id=contact_id))


@blueprint.get(f"/contacts/<{ID}:contact_id>/export.<any(json, csv):fmt>")
@requires("admin")
def export(contact_id: int, fmt: str) -> Any:
    content_type, document = console().export(actor(), contact_id, fmt)
    response = Response(document, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="conversation-{contact_id}.{fmt}"'
    )
    return response


@blueprint.post(f"/contacts/<{ID}:contact_id>/erase")
@requires("admin")
def erase(contact_id: int) -> Any:
    if request.form.get("confirm", "").strip() != "ERASE":
        flash("Type ERASE to confirm erasing this person's data.", "error")
        return redirect(url_for("admin_pages.transcript", contact_id=contact_id) + "#erase")
    counts = console().erase(actor(), contact_id)
    flash(f"Erased: {counts['messages']} messages, {counts['safety_events']} safety events, "
          f"{counts['alerts']} alerts and the contact.", "ok")
    return redirect(url_for("admin_pages.inbox"))


# --- escalations ------------------------------------------------------------------------------


@blueprint.get("/escalations")
@requires("viewer")
def escalations() -> Any:
    status = request.args.get("status") or None
    page = _page_arg()
    items, total = console().escalations(status, page=page, per_page=PER_PAGE)
    return render_template("admin/escalations.html", items=items, total=total, page=page,
                           per_page=PER_PAGE, status=status, statuses=ESCALATION_STATUSES,
                           outcomes=OUTCOMES)


@blueprint.post(f"/escalations/<{ID}:event_id>/acknowledge")
@requires("clinician")
def acknowledge(event_id: int) -> Any:
    event = console().acknowledge(actor(), event_id)
    flash(f"Escalation {event_id} acknowledged.", "ok")
    return redirect(_back(event["contact_id"]))


@blueprint.post(f"/escalations/<{ID}:event_id>/resolve")
@requires("clinician")
def resolve(event_id: int) -> Any:
    try:
        event = console().resolve(actor(), event_id, outcome=request.form.get("outcome") or None,
                                  note=request.form.get("outcome_note", "")[:1000])
    except Invalid as exc:
        flash(str(exc), "error")
        return redirect(request.referrer if _local(request.referrer)
                        else url_for("admin_pages.escalations"))
    flash(f"Escalation {event_id} resolved: {event['outcome'].replace('_', ' ')}.", "ok")
    return redirect(_back(event["contact_id"]))


def _local(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.netloc in ("", request.host) and parts.path.startswith("/admin")


def _back(contact_id: int) -> str:
    if request.form.get("back") == "transcript":
        return url_for("admin_pages.transcript", contact_id=contact_id)
    return url_for("admin_pages.escalations")


# --- staff and audit (admins) -----------------------------------------------------------------


@blueprint.get("/staff")
@requires("admin")
def staff() -> Any:
    return render_template("admin/staff.html", staff=console().list_staff(), roles=ROLES,
                           new_token=None)


@blueprint.post("/staff")
@requires("admin")
def staff_create() -> Any:
    try:
        created = console().create_staff(
            actor(), email=request.form.get("email", ""), name=request.form.get("name", ""),
            role=request.form.get("role", ""), password=request.form.get("password", ""),
        )
    except (Invalid, ConsoleError) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Account created for {created['email']} ({created['role']}).", "ok")
    return redirect(url_for("admin_pages.staff"))


@blueprint.post(f"/staff/<{ID}:staff_id>")
@requires("admin")
def staff_update(staff_id: int) -> Any:
    role = request.form.get("role") or None
    active = request.form.get("active")
    try:
        console().update_staff(
            actor(), staff_id, role=role,
            active=None if active is None else active == "1",
            password=request.form.get("password") or None,
        )
    except ConsoleError as exc:
        flash(str(exc), "error")
    else:
        flash("Account updated.", "ok")
    return redirect(url_for("admin_pages.staff"))


@blueprint.post(f"/staff/<{ID}:staff_id>/tokens")
@requires("admin")
def token_create(staff_id: int) -> Any:
    created = console().create_token(actor(), staff_id, label=request.form.get("label", ""))
    # Shown on this response only: the token is never stored or shown again.
    return render_template("admin/staff.html", staff=console().list_staff(), roles=ROLES,
                           new_token=created)


@blueprint.post(f"/staff/<{ID}:staff_id>/tokens/<{ID}:token_id>/revoke")
@requires("admin")
def token_revoke(staff_id: int, token_id: int) -> Any:
    console().revoke_token(actor(), staff_id, token_id)
    flash(f"Token {token_id} revoked.", "ok")
    return redirect(url_for("admin_pages.staff"))


@blueprint.get("/quick-replies")
@requires("admin")
def quick_replies() -> Any:
    items, _ = console().quick_replies(page=1, per_page=200)
    return render_template("admin/quick_replies.html", items=items, languages=SUPPORTED)


@blueprint.post("/quick-replies")
@requires("admin")
def quick_reply_save() -> Any:
    name = request.form.get("name", "").strip()[:48]
    texts = {lang: request.form.get(f"text_{lang}", "")[:MAX_REPLY] for lang in SUPPORTED
             if f"text_{lang}" in request.form}
    try:
        console().save_quick_reply(actor(), name, texts)
    except (Invalid, Conflict) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Quick reply {name} saved.", "ok")
    return redirect(url_for("admin_pages.quick_replies"))


@blueprint.post("/quick-replies/<name>/delete")
@requires("admin")
def quick_reply_delete(name: str) -> Any:
    console().delete_quick_reply(actor(), name)
    flash(f"Quick reply {name[:48]} removed.", "ok")
    return redirect(url_for("admin_pages.quick_replies"))


# The audit view, one's own account and reset links: bot/admin/account_pages.py.

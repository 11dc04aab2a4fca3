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
    STATES,
    BadCredentials,
    ConsoleError,
    InboxFilter,
    Invalid,
    SendRefused,
    Throttled,
)
from bot.admin.whatsapp_format import whatsapp_html
from bot.store.staff import ROLES

blueprint = Blueprint(
    "admin_pages", __name__, url_prefix="/admin",
    template_folder="templates", static_folder="static", static_url_path="/static",
)

blueprint.add_app_template_filter(whatsapp_html, "whatsapp")

ID = "int(min=1, max=2147483647)"
PER_PAGE = 50


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
    if not found.can(role):
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
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; font-src 'self'"
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
    data = console().transcript(actor(), contact_id)
    return render_template("admin/transcript.html", data=data, contact=data["contact"],
                           reply_key=uuid.uuid4().hex)


@blueprint.post(f"/contacts/<{ID}:contact_id>/reply")
@requires("clinician")
def reply(contact_id: int) -> Any:
    body = request.form.get("body", "")
    key = request.form.get("key") or uuid.uuid4().hex
    try:
        ids = console().reply(actor(), contact_id, body, key=key)
    except (SendRefused, Invalid) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Reply sent ({len(ids)} message{'s' if len(ids) != 1 else ''}). "
              "The bot stays quiet until you hand the conversation back.", "ok")
    return redirect(url_for("admin_pages.transcript", contact_id=contact_id) + "#reply")


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
                           per_page=PER_PAGE, status=status, statuses=ESCALATION_STATUSES)


@blueprint.post(f"/escalations/<{ID}:event_id>/acknowledge")
@requires("clinician")
def acknowledge(event_id: int) -> Any:
    event = console().acknowledge(actor(), event_id)
    flash(f"Escalation {event_id} acknowledged.", "ok")
    return redirect(_back(event["contact_id"]))


@blueprint.post(f"/escalations/<{ID}:event_id>/resolve")
@requires("clinician")
def resolve(event_id: int) -> Any:
    event = console().resolve(actor(), event_id)
    flash(f"Escalation {event_id} resolved.", "ok")
    return redirect(_back(event["contact_id"]))


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


@blueprint.get("/audit")
@requires("admin")
def audit() -> Any:
    page = _page_arg()
    action = (request.args.get("action") or "")[:48] or None
    items, total = console().audit_page(page=page, per_page=PER_PAGE, action=action)
    return render_template("admin/audit.html", items=items, total=total, page=page,
                           per_page=PER_PAGE, action=action)

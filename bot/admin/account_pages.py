"""Console pages for accounts and the audit log: the code step of signing in, one's own
account (password, second factor), admin-made reset links, and the readable audit view.

The routes join the pages blueprint (`bot.admin.pages.blueprint`), so its hook signs people in,
checks roles and CSRF for them exactly as for every other page.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from bot.admin import audit_log
from bot.admin.accounts import Accounts
from bot.admin.auth import actor, console, public, requires
from bot.admin.console import (
    BadCredentials,
    Conflict,
    ConsoleError,
    Invalid,
    NotFound,
    SignInExpired,
    Throttled,
)
from bot.admin.pages import ID, PER_PAGE, _page_arg, _safe_next, blueprint
from bot.store.staff import ROLES


def accounts() -> Accounts:
    return Accounts(console())


def _with_retry_after(page: str, exc: ConsoleError) -> Response:
    response = current_app.make_response((page, exc.status))
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


# --- the code step of signing in ---------------------------------------------------------


@blueprint.route("/login/code", methods=["GET", "POST"])
@public
def login_code() -> Any:
    """After a right password: the TOTP code (or a recovery code). The ticket is in the session."""
    ticket = session.get("pending")
    if not isinstance(ticket, str):
        if request.method == "GET":
            return redirect(url_for("admin_pages.login"))
        page = render_template("admin/login_code.html", error="This sign-in expired; start "
                               "again.", expired=True)
        return current_app.make_response((page, 401))
    if request.method == "GET":
        return render_template("admin/login_code.html", error=None, expired=False)
    try:
        token = console().login_code(ticket, request.form.get("code", "")[:32],
                                     request.remote_addr)
    except (BadCredentials, Throttled) as exc:
        expired = isinstance(exc, SignInExpired)
        if expired:
            session.pop("pending", None)
        page = render_template("admin/login_code.html", error=str(exc), expired=expired)
        return _with_retry_after(page, exc)
    next_url = session.get("next")
    session.clear()
    session.permanent = True
    session["sid"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(_safe_next(next_url if isinstance(next_url, str) else None))


# --- one's own account ---------------------------------------------------------------------


@blueprint.get("/account")
@requires("viewer")
def account() -> Any:
    return render_template("admin/account.html", status=accounts().totp_status(actor().staff_id))


@blueprint.post("/account/password")
@requires("viewer")
def password_change() -> Any:
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", ""):
        flash("The two new passwords are not the same.", "error")
        return redirect(url_for("admin_pages.account"))
    sid = session.get("sid")
    try:
        accounts().change_password(actor(), current=request.form.get("password", ""), new=new,
                                   keep_session=sid if isinstance(sid, str) else None)
    except (BadCredentials, Invalid) as exc:
        flash(str(exc), "error")
    else:
        flash("Password changed. Your other sessions have been signed out.", "ok")
    return redirect(url_for("admin_pages.account"))


@blueprint.get("/account/2fa")
@requires("viewer")
def totp_enrol() -> Any:
    try:
        enrolment = accounts().totp_start(actor(), restart=request.args.get("restart") == "1")
    except Conflict as exc:
        flash(str(exc), "ok")
        return redirect(url_for("admin_pages.account"))
    return render_template("admin/totp_enrol.html", enrolment=enrolment,
                           required=actor().must_enrol)


@blueprint.post("/account/2fa")
@requires("viewer")
def totp_confirm() -> Any:
    sid = session.get("sid")
    try:
        codes = accounts().totp_confirm(actor(), request.form.get("code", "")[:32],
                                        keep_session=sid if isinstance(sid, str) else None)
    except (Conflict, Invalid) as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin_pages.totp_enrol"))
    # Shown on this response only: the codes are stored as keyed hashes.
    return render_template("admin/recovery_codes.html", codes=codes)


@blueprint.post("/account/2fa/off")
@requires("viewer")
def totp_disable() -> Any:
    try:
        accounts().totp_disable(actor(), password=request.form.get("password", ""))
    except (Conflict, BadCredentials) as exc:
        flash(str(exc), "error")
    else:
        flash("The second factor is off.", "ok")
    return redirect(url_for("admin_pages.account"))


# --- reset links -------------------------------------------------------------------------------


def reset_url(token: str) -> str:
    """The link to pass on. The token rides in the query string, which logs leave out."""
    base = current_app.extensions["bot"].settings.public_url.rstrip("/")
    return f"{base}{url_for('admin_pages.password_reset')}?t={token}"


@blueprint.post(f"/staff/<{ID}:staff_id>/reset")
@requires("admin")
def password_reset_create(staff_id: int) -> Any:
    try:
        made = accounts().create_reset(actor(), staff_id)
    except ConsoleError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin_pages.staff"))
    # Shown on this response only: the link's token is stored as a hash.
    return render_template("admin/staff.html", staff=console().list_staff(), roles=ROLES,
                           new_token=None, reset=made | {"url": reset_url(made["token"])})


@blueprint.post(f"/staff/<{ID}:staff_id>/2fa-reset")
@requires("admin")
def staff_totp_reset(staff_id: int) -> Any:
    done = accounts().totp_reset(actor(), staff_id)
    flash(f"Second factor removed for {done['email']} and their sessions ended; they can set "
          "it up again after signing in (admins are asked to at once).", "ok")
    return redirect(url_for("admin_pages.staff"))


@blueprint.route("/reset", methods=["GET", "POST"])
@public
def password_reset() -> Any:
    """The page behind a reset link: the token is the credential, so no sign-in is needed."""
    token = request.values.get("t", "")[:100]
    try:
        email = accounts().reset_target(token)
    except NotFound as exc:
        page = render_template("admin/error.html", status=404, message=str(exc))
        return current_app.make_response((page, 404))
    if request.method == "GET":
        return render_template("admin/password_reset.html", token=token, email=email,
                               error=None, done=False)
    new = request.form.get("password", "")
    error = None
    if new != request.form.get("password2", ""):
        error = "The two passwords are not the same."
    else:
        try:
            accounts().use_reset(token, new, request.remote_addr)
        except (Invalid, NotFound) as exc:
            error = str(exc)
    page = render_template("admin/password_reset.html", token=token, email=email, error=error,
                           done=error is None)
    return current_app.make_response((page, 400 if error else 200))


# --- the audit log -----------------------------------------------------------------------------


@blueprint.get("/audit")
@requires("admin")
def audit() -> Any:
    page = _page_arg()
    filters = audit_log.AuditFilter.parse(request.args)
    items, total = console().audit_page(page=page, per_page=PER_PAGE, filters=filters)
    args = _filter_args()
    query = urlencode(args) + "&" if args else ""
    people = audit_log.people(console())
    return render_template(
        "admin/audit.html", items=[audit_log.readable(e) for e in items], total=total,
        page=page, per_page=PER_PAGE, filters=filters, args=args, query=query, people=people,
        names={p["id"]: p["name"] for p in people}, actions=audit_log.known_actions(console()),
    )


@blueprint.get("/audit.csv")
@requires("admin")
def audit_csv() -> Any:
    filters = audit_log.AuditFilter.parse(request.args)
    document, _rows = audit_log.export_csv(console(), actor(), filters)
    response = Response(document, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


def _filter_args() -> dict[str, str]:
    """The filter's query arguments as given, for the links that keep them (pages, CSV)."""
    names = ("staff_id", "contact_id", "action", "since", "until")
    return {n: request.args[n] for n in names if request.args.get(n)}

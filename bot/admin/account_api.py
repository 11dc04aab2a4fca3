"""Staff API routes for accounts and the audit log: reset links, second-factor resets, the
audit log as CSV. They join the API blueprint (`bot.admin.api.blueprint`), so its hook checks
the bearer token and the role as for every other route; each is described in openapi.py and
has a row in the access matrix (tests/admin/test_console_access.py).
"""

from __future__ import annotations

from flask import Response, request

from bot.admin import audit_log
from bot.admin.account_pages import reset_url
from bot.admin.accounts import Accounts
from bot.admin.api import ID, _ok, blueprint
from bot.admin.auth import actor, console, requires


@blueprint.post(f"/staff/<{ID}:staff_id>/password-reset")
@requires("admin")
def password_reset_create(staff_id: int) -> Response:
    """A one-time link for the person to set a new password; the response shows it once."""
    made = Accounts(console()).create_reset(actor(), staff_id)
    return _ok(201, staff_id=made["staff_id"], email=made["email"], url=reset_url(made["token"]),
               expires_at=made["expires_at"])


@blueprint.post(f"/staff/<{ID}:staff_id>/totp-reset")
@requires("admin")
def totp_reset(staff_id: int) -> Response:
    """Remove someone's second factor (a lost phone); their sessions end."""
    return _ok(**Accounts(console()).totp_reset(actor(), staff_id))


@blueprint.get("/audit.csv")
@requires("admin")
def audit_csv() -> Response:
    """The audit log as CSV, with the same filters as GET /audit; the export is audited."""
    filters = audit_log.AuditFilter.parse(request.args)
    document, _rows = audit_log.export_csv(console(), actor(), filters)
    response = Response(document, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response

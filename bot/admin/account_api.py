"""Staff API routes for accounts and the audit log: reset links, second-factor resets, the
audit log as CSV. They join the API blueprint (`bot.admin.api.blueprint`), so its hooks check
the bearer token and the role as for every other route; each declares its contract with
`@documented` (see bot/admin/api.py) and has a row in the access matrix
(tests/admin/test_console_access.py).
"""

from __future__ import annotations

from typing import Any

from flask import Response

from bot.admin import audit_log
from bot.admin.account_pages import reset_url
from bot.admin.accounts import Accounts
from bot.admin.api import ID, _plain, audit_filter, blueprint, empty_range
from bot.admin.api_models import AuditFilters, ResetLink, TotpReset
from bot.admin.auth import actor, console, requires
from bot.admin.openapi import documented


@blueprint.post(f"/staff/<{ID}:staff_id>/password-reset")
@requires("admin")
@documented(ResetLink, 409, status=201)
def password_reset_create(staff_id: int) -> tuple[dict[str, Any], int]:
    """Make a one-time password reset link, shown once; the old password and sessions stop
    working (admin, audited)."""
    made = Accounts(console()).create_reset(actor(), staff_id)
    return _plain({"staff_id": made["staff_id"], "email": made["email"],
                   "url": reset_url(made["token"]), "expires_at": made["expires_at"]}), 201


@blueprint.post(f"/staff/<{ID}:staff_id>/totp-reset")
@requires("admin")
@documented(TotpReset)
def totp_reset(staff_id: int) -> dict[str, Any]:
    """Remove someone's second factor (a lost phone); their sessions end (admin, audited)."""
    return _plain(Accounts(console()).totp_reset(actor(), staff_id))


@blueprint.get("/audit.csv")
@requires("admin")
@documented(None, content={"text/csv": None})
def audit_csv(query: AuditFilters) -> Response:
    """The audit log as CSV, with the same filters as GET /audit (admin; the export is
    audited)."""
    if empty_range(query):
        document = audit_log.to_csv([])  # the header only: nothing was exported
    else:
        document, _rows = audit_log.export_csv(console(), actor(), audit_filter(query))
    response = Response(document, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response

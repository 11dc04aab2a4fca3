"""Pydantic models of the account and audit API routes (bot/admin/account_api.py, and
GET /admin/api/audit): their query strings and response bodies.

They describe what the views return; the hand-written OpenAPI document (openapi.py) says the
same. They are here so a generated document (e.g. spectree's) can take them as they are. None
of these routes reads a JSON body.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2147483647  # the database's integer


class AuditQuery(BaseModel):
    """Filters of GET /audit and GET /audit.csv (every one optional)."""

    model_config = ConfigDict(extra="ignore")

    staff_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                 description="entries by this staff member")
    contact_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                   description="entries about this conversation")
    action: str | None = Field(default=None, max_length=48,
                               description="an action code, e.g. staff.login_failed")
    since: dt.date | None = Field(default=None, description="from this day (UTC)")
    until: dt.date | None = Field(default=None, description="to this day, inclusive (UTC)")


class AuditPageQuery(AuditQuery):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class AuditConcerns(BaseModel):
    """Whom or what an entry is about."""

    staff_id: int | None = None
    contact_id: int | None = None
    contact_ref: str | None = Field(default=None, description="keyed hash of an erased contact")


class AuditEntryOut(BaseModel):
    id: int
    created_at: dt.datetime
    actor_id: int | None = None
    actor: str = Field(description="staff email, or cli / retention / whatsapp / unknown")
    action: str = Field(description="the action code")
    contact_id: int | None = None
    contact_ref: str | None = None
    target: str | None = None
    ip: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    label: str = Field(description="the action in words")
    summary: str = Field(description="the details in words")
    concerns: AuditConcerns


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    page: int
    per_page: int
    total: int


class ResetLinkOut(BaseModel):
    """POST /staff/{staff_id}/password-reset, 201: the link, shown only this once."""

    staff_id: int
    email: str
    url: str = Field(description="the one-time link; only its token's sha256 is stored")
    expires_at: dt.datetime


class TotpResetOut(BaseModel):
    """POST /staff/{staff_id}/totp-reset."""

    staff_id: int
    email: str
    was_on: bool = Field(description="whether a second factor was on before")


__all__ = [
    "AuditConcerns",
    "AuditEntryOut",
    "AuditPageOut",
    "AuditPageQuery",
    "AuditQuery",
    "ResetLinkOut",
    "TotpResetOut",
]

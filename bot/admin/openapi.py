"""The OpenAPI 3.0 description of the staff JSON API, served at GET /admin/api/openapi.json."""

from __future__ import annotations

from typing import Any

ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 2147483647}
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True}
NULLABLE_STR: dict[str, Any] = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _responses(ok: dict[str, Any], *codes: int, ok_code: str = "200") -> dict[str, Any]:
    texts = {
        400: "Invalid input", 401: "No valid bearer token", 403: "The role is not enough",
        404: "Not found", 409: "Conflicts with the current state", 502: "Twilio refused",
        503: "Sending is not configured, or too many live streams",
    }
    result = {ok_code: ok, "401": _err(texts[401]), "403": _err(texts[403])}
    for code in codes:
        result[str(code)] = _err(texts[code])
    return result


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        },
    }


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                               "maximum": 1000000}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                   "maximum": 200}},
]
LEVEL = {"type": "string", "enum": ["info", "self_care", "routine", "urgent", "emergency"]}
STATE = {"type": "string", "enum": ["bot", "needs_human", "with_staff"]}
ROLE = {"type": "string", "enum": ["viewer", "clinician", "admin"]}
AUDIT_FILTERS = [
    {"name": "staff_id", "in": "query", "description": "entries by this staff member",
     "schema": ID},
    {"name": "contact_id", "in": "query", "description": "entries about this conversation",
     "schema": ID},
    {"name": "action", "in": "query", "description": "an action code, e.g. staff.login_failed",
     "schema": {"type": "string", "maxLength": 48}},
    {"name": "since", "in": "query", "description": "from this day (UTC)",
     "schema": {"type": "string", "format": "date"}},
    {"name": "until", "in": "query", "description": "to this day, inclusive (UTC)",
     "schema": {"type": "string", "format": "date"}},
]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "reason"],
        "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    },
    "Contact": {
        "type": "object",
        "required": ["id", "wa_id", "phone", "state"],
        "properties": {
            "id": {"type": "integer"},
            "wa_id": {"type": "string"},
            "phone": {"type": "string"},
            "profile_name": NULLABLE_STR,
            "country": NULLABLE_STR,
            "language": NULLABLE_STR,
            "state": STATE,
            "opted_out": {"type": "boolean"},
            "last_inbound_at": DATE_TIME,
            "created_at": DATE_TIME,
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "direction", "body", "status", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "direction": {"type": "string", "enum": ["in", "out"]},
            "body": {"type": "string"},
            "status": {"type": "string"},
            "error_code": NULLABLE_STR,
            "triage_level": NULLABLE_STR,
            "rule_ids": {"type": "array", "items": {"type": "string"}},
            "model": NULLABLE_STR,
            "mode": NULLABLE_STR,
            "staff_id": {"type": "integer", "nullable": True},
            "perspectives": {"type": "array", "items": {"type": "string"}},
            "cost_usd": {"oneOf": [{"type": "number"}, {"type": "string", "enum": ["unknown"]}],
                         "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "transcript": NULLABLE_STR,
            "transcript_language": NULLABLE_STR,
            "transcriber": NULLABLE_STR,
            "audio_seconds": {"type": "number", "nullable": True},
            "transcription_cost_usd": {"type": "number", "nullable": True},
            "transcription_error": NULLABLE_STR,
        },
    },
    "Conversation": {
        "allOf": [
            _ref("Contact"),
            {
                "type": "object",
                "properties": {
                    "level": {**LEVEL, "nullable": True},
                    "last_activity_at": DATE_TIME,
                    "last_message": {"allOf": [_ref("Message")], "nullable": True},
                },
            },
        ]
    },
    "Escalation": {
        "type": "object",
        "required": ["id", "contact_id", "kind", "status", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "contact_id": {"type": "integer"},
            "kind": {"type": "string"},
            "level": NULLABLE_STR,
            "status": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
            "age_seconds": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "acknowledged_at": DATE_TIME,
            "acknowledged_by": NULLABLE_STR,
            "resolved_at": DATE_TIME,
            "resolved_by": NULLABLE_STR,
        },
    },
    "Transcript": {
        "type": "object",
        "required": ["contact", "messages", "escalations", "cost_usd"],
        "properties": {
            "contact": _ref("Contact"),
            "messages": {"type": "array", "items": _ref("Message")},
            "escalations": {"type": "array", "items": _ref("Escalation")},
            "cost_usd": {"oneOf": [{"type": "number"}, {"type": "string", "enum": ["unknown"]}]},
        },
    },
    "Staff": {
        "type": "object",
        "required": ["id", "email", "role", "active"],
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": ROLE,
            "active": {"type": "boolean"},
            "second_factor": {"type": "boolean", "description": "TOTP is on"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["id", "staff_id", "prefix"],
        "properties": {
            "id": {"type": "integer"},
            "staff_id": {"type": "integer"},
            "prefix": {"type": "string"},
            "label": {"type": "string"},
            "token": {"type": "string", "description": "the token itself, shown only once"},
            "revoked_at": DATE_TIME,
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "created_at", "actor", "action"],
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "actor_id": {"type": "integer", "nullable": True},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "contact_id": {"type": "integer", "nullable": True},
            "contact_ref": NULLABLE_STR,
            "target": NULLABLE_STR,
            "ip": NULLABLE_STR,
            "detail": {"type": "object"},
            "label": {"type": "string", "description": "the action in words"},
            "summary": {"type": "string", "description": "the details in words"},
            "concerns": {"type": "object", "properties": {
                "staff_id": {"type": "integer", "nullable": True},
                "contact_id": {"type": "integer", "nullable": True},
                "contact_ref": NULLABLE_STR}},
        },
    },
    "ResetLink": {
        "type": "object",
        "required": ["staff_id", "email", "url", "expires_at"],
        "properties": {
            "staff_id": {"type": "integer"},
            "email": {"type": "string"},
            "url": {"type": "string", "description": "the one-time link, shown only once"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "TotpReset": {
        "type": "object",
        "required": ["staff_id", "email", "was_on"],
        "properties": {
            "staff_id": {"type": "integer"},
            "email": {"type": "string"},
            "was_on": {"type": "boolean"},
        },
    },
    "Counts": {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    },
    "Assignment": {
        "type": "object",
        "required": ["id", "assigned_at"],
        "properties": {
            "id": {"type": "integer", "description": "the staff member working the case"},
            "name": NULLABLE_STR,
            "assigned_at": {"type": "string", "format": "date-time"},
        },
    },
    "Claim": {
        "type": "object",
        "required": ["contact_id", "assigned_to"],
        "properties": {"contact_id": {"type": "integer"}, "assigned_to": _ref("Assignment")},
    },
    "Note": {
        "type": "object",
        "required": ["id", "contact_id", "body", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "contact_id": {"type": "integer"},
            "staff_id": {"type": "integer", "nullable": True},
            "staff": NULLABLE_STR,
            "body": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "QuickReply": {
        "type": "object",
        "required": ["name", "texts"],
        "properties": {
            "name": {"type": "string"},
            "texts": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "the text in each language that has one"},
            "language": NULLABLE_STR,
            "text": NULLABLE_STR,
        },
    },
    "EventPoll": {
        "type": "object",
        "required": ["items", "last_event_id", "summary"],
        "properties": {
            "items": {"type": "array", "items": {
                "type": "object", "required": ["id", "event", "data"],
                "properties": {
                    "id": {"type": "string"},
                    "event": {"type": "string",
                              "enum": ["message", "escalation", "case", "summary"]},
                    "data": {"type": "object"},
                },
            }},
            "last_event_id": {"type": "string"},
            "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
}
OUTCOME = {"type": "string", "enum": ["ambulance_called", "referred", "advised", "no_answer",
                                      "other"]}
LANGUAGE = {"type": "string", "enum": ["en", "es", "pt", "fr", "sw", "hi"]}


def openapi_document() -> dict[str, Any]:
    """Return the API description (a fresh dict each time, so callers may change it)."""
    contact = [_path_id("contact_id")]
    event = [_path_id("event_id")]
    staff = [_path_id("staff_id")]
    paths: dict[str, Any] = {
        "/me": {"get": {
            "summary": "Who the token belongs to", "operationId": "me",
            "responses": _responses(_json({"type": "object"})),
        }},
        "/conversations": {"get": {
            "summary": "Conversations, latest activity first", "operationId": "listConversations",
            "parameters": [
                *PAGING,
                {"name": "state", "in": "query", "schema": STATE},
                {"name": "level", "in": "query", "schema": LEVEL,
                 "description": "the highest triage level in the conversation"},
                {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "q", "in": "query", "description": "search message text",
                 "schema": {"type": "string", "maxLength": 200}},
            ],
            "responses": _responses(_json(_page("Conversation")), 400),
        }},
        "/contacts/{contact_id}": {
            "parameters": contact,
            "get": {
                "summary": "The whole conversation (audited)", "operationId": "getTranscript",
                "responses": _responses(_json(_ref("Transcript")), 404),
            },
            "delete": {
                "summary": "Erase every row about the contact (admin, audited)",
                "operationId": "eraseContact",
                "responses": _responses(
                    _json({"type": "object", "properties": {"removed": _ref("Counts")}}), 404
                ),
            },
        },
        "/contacts/{contact_id}/messages": {"get": {
            "summary": "One page of the conversation (audited)", "operationId": "listMessages",
            "parameters": [*contact, *PAGING],
            "responses": _responses(_json({
                "type": "object",
                "properties": {"contact": _ref("Contact"),
                               "items": {"type": "array", "items": _ref("Message")}},
            }), 400, 404),
        }},
        "/contacts/{contact_id}/export": {"get": {
            "summary": "Export the conversation as JSON or CSV (admin, audited)",
            "operationId": "exportConversation",
            "parameters": [*contact, {"name": "format", "in": "query",
                                      "schema": {"type": "string", "enum": ["json", "csv"]}}],
            "responses": _responses({
                "description": "The document",
                "content": {"application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": {"type": "string"}}},
            }, 400, 404),
        }},
        "/contacts/{contact_id}/reply": {"post": {
            "summary": "Reply as staff; takes the conversation (clinician, audited)",
            "operationId": "reply",
            "parameters": [*contact, {"name": "Idempotency-Key", "in": "header",
                                      "schema": {"type": "string", "maxLength": 64}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["body"],
                "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4000},
                               "idempotency_key": {"type": "string", "maxLength": 64}},
            }}}},
            "responses": _responses(_json({"type": "object", "properties": {
                "message_ids": {"type": "array", "items": {"type": "integer"}},
                "state": {"type": "string"}}}, "Sent"), 400, 404, 409, 502, 503, ok_code="201"),
        }},
        "/contacts/{contact_id}/handback": {"post": {
            "summary": "Hand the conversation back to the bot (clinician, audited)",
            "operationId": "handBack",
            "parameters": contact,
            "responses": _responses(_json({"type": "object"}), 404),
        }},
        "/escalations": {"get": {
            "summary": "Escalations: open and acknowledged unless status says",
            "operationId": "listEscalations",
            "parameters": [*PAGING, {"name": "status", "in": "query", "schema": {
                "type": "string", "enum": ["open", "acknowledged", "resolved"]}}],
            "responses": _responses(_json(_page("Escalation")), 400),
        }},
        "/escalations/{event_id}/acknowledge": {"post": {
            "summary": "Acknowledge an open escalation (clinician, audited)",
            "operationId": "acknowledgeEscalation", "parameters": event,
            "responses": _responses(_json(_ref("Escalation")), 404, 409),
        }},
        "/escalations/{event_id}/resolve": {"post": {
            "summary": "Resolve an escalation with its outcome (clinician, audited)",
            "operationId": "resolveEscalation", "parameters": event,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["outcome"],
                "properties": {"outcome": OUTCOME,
                               "note": {"type": "string", "maxLength": 500}},
            }}}},
            "responses": _responses(_json(_ref("Escalation")), 400, 404, 409),
        }},
        "/contacts/{contact_id}/claim": {"post": {
            "summary": "Take the conversation, or give it to staff_id (admins); audited",
            "operationId": "claimConversation", "parameters": contact,
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"staff_id": ID},
            }}}},
            "responses": _responses(_json(_ref("Claim")), 400, 404, 409),
        }},
        "/contacts/{contact_id}/notes": {
            "parameters": contact,
            "get": {
                "summary": "Internal notes on the conversation, oldest first",
                "operationId": "listNotes", "parameters": PAGING,
                "responses": _responses(_json(_page("Note")), 400, 404),
            },
            "post": {
                "summary": "Add an internal note; never sent to the person (clinician, audited)",
                "operationId": "addNote",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["body"],
                    "properties": {"body": {"type": "string", "minLength": 1,
                                            "maxLength": 4000}},
                }}}},
                "responses": _responses(_json(_ref("Note"), "Created"), 400, 404,
                                        ok_code="201"),
            },
        },
        "/quick-replies": {"get": {
            "summary": "Canned replies by name, a text per language; with language, the text "
                       "to insert for that person (English when missing)",
            "operationId": "listQuickReplies",
            "parameters": [*PAGING, {"name": "language", "in": "query", "schema": LANGUAGE}],
            "responses": _responses(_json(_page("QuickReply")), 400),
        }},
        "/quick-replies/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[a-z0-9_]{1,48}$"}}],
            "put": {
                "summary": "Create or change a quick reply; an empty text removes that "
                           "language (admin, audited)",
                "operationId": "saveQuickReply",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["texts"],
                    "properties": {"texts": {
                        "type": "object", "minProperties": 1,
                        "additionalProperties": {"type": "string", "maxLength": 4000}}},
                }}}},
                "responses": _responses(_json(_ref("QuickReply")), 400),
            },
            "delete": {
                "summary": "Remove a quick reply in every language (admin, audited)",
                "operationId": "deleteQuickReply",
                "responses": _responses(_json({"type": "object"}), 404),
            },
        },
        "/events": {"get": {
            "summary": "Live events: server-sent events with Accept: text/event-stream "
                       "(a bounded stream; reconnect with Last-Event-ID), else one JSON poll",
            "operationId": "events",
            "parameters": [
                {"name": "after", "in": "query", "description": "the cursor (an event id)",
                 "schema": {"type": "string", "pattern": "^[0-9]+[.][0-9]+[.][0-9]+$"}},
                {"name": "Last-Event-ID", "in": "header",
                 "schema": {"type": "string", "pattern": "^[0-9]+[.][0-9]+[.][0-9]+$"}},
            ],
            "responses": _responses({
                "description": "Events after the cursor",
                "content": {"application/json": {"schema": _ref("EventPoll")},
                            "text/event-stream": {"schema": {"type": "string"}}},
            }, 400, 503),
        }},
        "/staff": {
            "get": {
                "summary": "Staff accounts and their tokens (admin)", "operationId": "listStaff",
                "responses": _responses(_json({"type": "object", "properties": {
                    "items": {"type": "array", "items": _ref("Staff")}}})),
            },
            "post": {
                "summary": "Create a staff account (admin, audited)",
                "operationId": "createStaff",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["email", "role", "password"],
                    "properties": {"email": {"type": "string", "format": "email"},
                                   "name": {"type": "string", "maxLength": 200},
                                   "role": ROLE,
                                   "password": {"type": "string", "minLength": 12,
                                                "maxLength": 1024}},
                }}}},
                "responses": _responses(_json(_ref("Staff"), "Created"), 400, 409,
                                        ok_code="201"),
            },
        },
        "/staff/{staff_id}": {"patch": {
            "summary": "Change role, name, password or active (admin, audited)",
            "operationId": "updateStaff", "parameters": staff,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"role": ROLE, "active": {"type": "boolean"},
                               "name": {"type": "string", "maxLength": 200},
                               "password": {"type": "string", "minLength": 12,
                                            "maxLength": 1024}},
            }}}},
            "responses": _responses(_json(_ref("Staff")), 400, 404, 409),
        }},
        "/staff/{staff_id}/tokens": {"post": {
            "summary": "Create an API token; the response shows it once (admin, audited)",
            "operationId": "createToken", "parameters": staff,
            "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"label": {"type": "string", "maxLength": 100}},
            }}}},
            "responses": _responses(_json(_ref("Token"), "Created"), 400, 404, ok_code="201"),
        }},
        "/staff/{staff_id}/tokens/{token_id}": {"delete": {
            "summary": "Revoke an API token (admin, audited)", "operationId": "revokeToken",
            "parameters": [*staff, _path_id("token_id")],
            "responses": _responses(_json(_ref("Token")), 404),
        }},
        "/failed-jobs": {"get": {
            "summary": "Background jobs that failed every retry", "operationId": "listFailedJobs",
            "responses": _responses(_json({"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object"}}}})),
        }},
        "/audit": {"get": {
            "summary": "The audit log, newest first (admin; read-only)",
            "operationId": "listAudit",
            "parameters": [*PAGING, *AUDIT_FILTERS],
            "responses": _responses(_json(_page("AuditEntry")), 400),
        }},
        "/audit.csv": {"get": {
            "summary": "The audit log as CSV, same filters (admin; the export is audited)",
            "operationId": "exportAudit",
            "parameters": AUDIT_FILTERS,
            "responses": _responses({"description": "The CSV document", "content": {
                "text/csv": {"schema": {"type": "string"}}}}, 400),
        }},
        "/staff/{staff_id}/password-reset": {"post": {
            "summary": "Make a one-time password reset link, shown once; the old password and "
                       "sessions stop working (admin, audited)",
            "operationId": "createPasswordReset", "parameters": staff,
            "responses": _responses(_json(_ref("ResetLink"), "Created"), 404, 409,
                                    ok_code="201"),
        }},
        "/staff/{staff_id}/totp-reset": {"post": {
            "summary": "Remove someone's second factor; their sessions end (admin, audited)",
            "operationId": "resetTotp", "parameters": staff,
            "responses": _responses(_json(_ref("TotpReset")), 404),
        }},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "healthbot staff API",
            "version": "1",
            "description": "Transcripts, escalations, handoff, export and erasure. Every call "
            "needs `Authorization: Bearer <staff API token>`; roles: viewer < clinician < admin.",
        },
        "servers": [{"url": "/admin/api"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

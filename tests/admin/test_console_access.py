"""Access matrix: every /admin route, every method, every kind of caller.

The route list comes from `app.url_map`, so a route added without a row here fails the test.
Each case runs against fresh rows (a new contact, escalation, staff member, token), and an
allowed call must succeed (< 400) while a refused one must be 401/403 (or, for a page opened
without a session, a redirect to the sign-in page).
"""

from __future__ import annotations

import secrets
from typing import Any

from bot.admin.console import CLI_ACTOR, ROLE_RANK
from tests.admin.support import (
    bearer,
    console,
    csrf_of,
    login,
    make_staff,
    seed_contact,
)

# endpoint -> least role; None = public.
API_MATRIX: dict[str, str | None] = {
    "admin_api.openapi": None,
    "admin_api.me": "viewer",
    "admin_api.conversations": "viewer",
    "admin_api.transcript": "viewer",
    "admin_api.contact_messages": "viewer",
    "admin_api.escalations": "viewer",
    "admin_api.reply": "clinician",
    "admin_api.handback": "clinician",
    "admin_api.acknowledge": "clinician",
    "admin_api.resolve": "clinician",
    "admin_api.export": "admin",
    "admin_api.erase": "admin",
    "admin_api.staff_list": "admin",
    "admin_api.staff_create": "admin",
    "admin_api.staff_update": "admin",
    "admin_api.token_list": "admin",
    "admin_api.token_create": "admin",
    "admin_api.token_revoke": "admin",
    "admin_api.audit": "admin",
    "admin_api.failed_jobs": "viewer",
    "admin_api.claim": "clinician",
    "admin_api.notes": "viewer",
    "admin_api.note_create": "clinician",
    "admin_api.quick_replies": "viewer",
    "admin_api.quick_reply_save": "admin",
    "admin_api.quick_reply_delete": "admin",
    "admin_api.events": "viewer",
    "admin_api.audit_csv": "admin",
    "admin_api.password_reset_create": "admin",
    "admin_api.totp_reset": "admin",
}
PAGE_MATRIX: dict[str, str | None] = {
    "admin_pages.login": None,
    "admin_pages.static": None,
    "admin_pages.logout": "viewer",
    "admin_pages.inbox": "viewer",
    "admin_pages.transcript": "viewer",
    "admin_pages.media": "viewer",
    "admin_pages.escalations": "viewer",
    "admin_pages.reply": "clinician",
    "admin_pages.handback": "clinician",
    "admin_pages.acknowledge": "clinician",
    "admin_pages.resolve": "clinician",
    "admin_pages.export": "admin",
    "admin_pages.erase": "admin",
    "admin_pages.staff": "admin",
    "admin_pages.staff_create": "admin",
    "admin_pages.staff_update": "admin",
    "admin_pages.token_create": "admin",
    "admin_pages.token_revoke": "admin",
    "admin_pages.audit": "admin",
    "admin_pages.claim": "clinician",
    "admin_pages.note_create": "clinician",
    "admin_pages.events": "viewer",
    "admin_pages.quick_replies": "admin",
    "admin_pages.quick_reply_save": "admin",
    "admin_pages.quick_reply_delete": "admin",
    "admin_pages.audit_csv": "admin",
    "admin_pages.login_code": None,
    "admin_pages.password_reset": None,  # the one-time token in the link is the credential
    "admin_pages.account": "viewer",
    "admin_pages.password_change": "viewer",
    "admin_pages.totp_enrol": "viewer",
    "admin_pages.totp_confirm": "viewer",
    "admin_pages.totp_disable": "viewer",
    "admin_pages.password_reset_create": "admin",
    "admin_pages.staff_totp_reset": "admin",
}
ROLES = ("viewer", "clinician", "admin")


def _admin_rules(app: Any) -> list[tuple[Any, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            rules.append((rule, method))
    return rules


def test_every_admin_route_has_a_matrix_entry(sqlite_app: Any) -> None:
    endpoints = {rule.endpoint for rule, _ in _admin_rules(sqlite_app)}
    missing = endpoints - set(API_MATRIX) - set(PAGE_MATRIX)
    assert not missing, f"add these routes to the access matrix: {sorted(missing)}"
    stale = (set(API_MATRIX) | set(PAGE_MATRIX)) - endpoints
    assert not stale, f"the matrix names routes that no longer exist: {sorted(stale)}"
    from bot.admin.auth import required_role

    for endpoint, role in {**API_MATRIX, **PAGE_MATRIX}.items():
        assert required_role(sqlite_app, endpoint) == role, endpoint


def _values(app: Any, rule: Any) -> dict[str, Any]:
    """Fresh rows for one request, so an allowed erase or revoke never hits a missing row."""
    candidates: dict[str, Any] = {"fmt": "json", "filename": "admin.css"}
    if {"contact_id", "event_id"} & rule.arguments:
        ids = seed_contact(app)
        candidates.update(contact_id=ids["contact_id"], event_id=ids["event_id"])
    if "message_id" in rule.arguments:
        ids = seed_contact(app)
        with app.extensions["bot"].uow() as uow:
            # A URL the media policy refuses: no request leaves, the preview is a placeholder.
            uow.messages.get(ids["inbound_id"]).media = [
                {"url": "https://media.invalid/x", "content_type": "image/jpeg"}]
            uow.commit()
        candidates.update(message_id=ids["inbound_id"], index=0)
    if {"staff_id", "token_id"} & rule.arguments:
        target_id, _, _ = make_staff(app, "viewer")
        token = console(app).create_token(CLI_ACTOR, target_id, label="target")
        candidates.update(staff_id=target_id, token_id=token["id"])
    if "name" in rule.arguments:
        name = f"matrix_{secrets.token_hex(4)}"
        console(app).save_quick_reply(CLI_ACTOR, name, {"en": "Please see a health worker today."})
        candidates["name"] = name
    return {name: candidates[name] for name in rule.arguments}


def _reset_token(app: Any) -> str:
    from bot.admin.accounts import Accounts

    target_id, _, _ = make_staff(app, "viewer")
    return str(Accounts(console(app)).create_reset(CLI_ACTOR, target_id)["token"])


def _api_body(endpoint: str) -> dict[str, Any] | None:
    return {
        "admin_api.reply": {"body": "Hello from the clinic"},
        "admin_api.staff_create": {"email": f"new-{secrets.token_hex(4)}@clinic.example.org",
                                   "role": "viewer", "password": "a long enough password"},
        "admin_api.staff_update": {"name": "Renamed"},
        "admin_api.token_create": {"label": "matrix"},
        "admin_api.resolve": {"outcome": "advised"},
        "admin_api.note_create": {"body": "Called her back; no answer."},
        "admin_api.quick_reply_save": {"texts": {"en": "Please call us back."}},
    }.get(endpoint)


def _allowed(required: str | None, role: str | None) -> bool:
    if required is None:
        return True
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[required]


def test_api_access_matrix(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    tokens = {role: make_staff(sqlite_app, role)[2] for role in ROLES}
    revoked_staff, _, revoked = make_staff(sqlite_app, "admin")
    assert console(sqlite_app).token_actor(revoked) is not None
    with sqlite_app.extensions["bot"].uow() as uow:
        for row in uow.staff.tokens_of(revoked_staff):
            console(sqlite_app).revoke_token(CLI_ACTOR, revoked_staff, row.id)
    callers: dict[str, tuple[str | None, dict[str, str]]] = {
        "anonymous": (None, {}),
        "wrong token": (None, bearer("hbt_" + "x" * 43)),
        "revoked admin token": (None, bearer(revoked)),
        "admin token sent as Basic": (None, {"Authorization": f"Basic {tokens['admin']}"}),
        **{role: (role, bearer(token)) for role, token in tokens.items()},
    }
    cases = 0
    for rule, method in _admin_rules(sqlite_app):
        if not rule.endpoint.startswith("admin_api."):
            continue
        required = API_MATRIX[rule.endpoint]
        for caller, (role, headers) in callers.items():
            url = rule.build(_values(sqlite_app, rule))[1]
            response = client.open(url, method=method, headers=headers,
                                   json=_api_body(rule.endpoint))
            response.close()
            where = f"{method} {url} as {caller}"
            if _allowed(required, role):
                assert response.status_code < 400, (where, response.get_json())
            else:
                expected = 403 if role is not None else 401
                assert response.status_code == expected, (where, response.status_code)
            cases += 1
    pairs = [r for r, _ in _admin_rules(sqlite_app) if r.endpoint.startswith("admin_api.")]
    assert cases == len(pairs) * len(callers)


def test_page_access_matrix(sqlite_app: Any) -> None:
    clients: dict[str, Any] = {"anonymous": sqlite_app.test_client()}
    for name in ROLES:
        _, email, _ = make_staff(sqlite_app, name)
        clients[name] = sqlite_app.test_client()
        assert login(clients[name], email).status_code == 302
    cases = 0
    for rule, method in _admin_rules(sqlite_app):
        if not rule.endpoint.startswith("admin_pages."):
            continue
        required = PAGE_MATRIX[rule.endpoint]
        for caller, client in clients.items():
            role: str | None = None if caller == "anonymous" else caller
            url = rule.build(_values(sqlite_app, rule))[1]
            if rule.endpoint == "admin_pages.password_reset":
                url += "?t=" + _reset_token(sqlite_app)  # a fresh one-time link each time
            if rule.endpoint == "admin_pages.logout" and role is not None:
                continue  # signing out here would end the session the other cases use
            data = None
            if method == "POST":
                data = {"csrf_token": csrf_of(client), "body": "Hello from the clinic",
                        "confirm": "ERASE", "email": f"p-{secrets.token_hex(4)}@x.example.org",
                        "role": "viewer", "password": "a long enough password",
                        "label": "matrix", "outcome": "advised", "note": "A note",
                        "password2": "a long enough password"}
                if rule.endpoint == "admin_pages.login":
                    data["password"] = "not the password"
            response = client.open(url, method=method, data=data)
            response.close()  # a static file is streamed from an open file
            where = f"{method} {url} as {caller}"
            if rule.endpoint == "admin_pages.login" and method == "POST":
                assert response.status_code == 401, where  # public, but the password is wrong
            elif rule.endpoint == "admin_pages.login_code":
                # Public, but no password step came first: back to the start.
                if method == "GET":
                    assert response.headers["Location"] == "/admin/login", where
                else:
                    assert response.status_code == 401, where
            elif _allowed(required, role):
                assert response.status_code < 400, (where, response.status_code)
                assert "/admin/login" not in response.headers.get("Location", ""), where
            elif role is None and method == "GET":
                assert response.status_code == 302, where
                assert response.headers["Location"].startswith("/admin/login?next="), where
            else:
                assert response.status_code == (403 if role else 401), (where, response.status_code)
            cases += 1
    # Logout, for each role, last: it works, and the session is gone afterwards.
    logout = next(r for r, m in _admin_rules(sqlite_app) if r.endpoint == "admin_pages.logout")
    for role in ROLES:
        client = clients[role]
        response = client.post(logout.rule, data={"csrf_token": csrf_of(client)})
        assert response.status_code == 302 and response.headers["Location"] == "/admin/login"
        assert client.get("/admin/").status_code == 302
        cases += 1
    pairs = [r for r, _ in _admin_rules(sqlite_app) if r.endpoint.startswith("admin_pages.")]
    assert cases == len(pairs) * len(clients)


def test_a_route_without_a_declared_role_is_refused(tmp_path: Any, messenger: Any) -> None:
    from bot.app import create_app
    from tests.helpers import make_settings

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}"),
                     upgrade_db=True, background=False, messenger=messenger)
    try:
        app.add_url_rule("/admin/api/undeclared", "admin_api.undeclared", lambda: "secret data")
        app.add_url_rule("/admin/undeclared", "admin_pages.undeclared", lambda: "secret page")
        client = app.test_client()
        _, _, token = make_staff(app, "admin")
        response = client.get("/admin/api/undeclared", headers=bearer(token))
        assert response.status_code == 403 and b"secret" not in response.data
        response = client.get("/admin/undeclared")
        assert response.status_code == 403 and b"secret" not in response.data
    finally:
        app.extensions["bot"].close()


def test_api_tokens_do_not_open_pages_and_sessions_do_not_open_the_api(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, email, token = make_staff(sqlite_app, "admin")
    assert client.get("/admin/", headers=bearer(token)).status_code == 302
    login(client, email)
    assert client.get("/admin/").status_code == 200
    # The API takes bearer tokens only, so a cookie can't be ridden by another site (no CSRF).
    assert client.get("/admin/api/conversations").status_code == 401

"""Signing in: password hashing, the session cookie, CSRF, throttling, tokens, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from bot.admin.console import CLI_ACTOR
from bot.admin.security import token_hash
from bot.store.staff import ApiToken, Staff
from tests.admin.support import (
    PASSWORD,
    bearer,
    console,
    csrf_of,
    login,
    make_staff,
)


def test_passwords_and_tokens_are_stored_only_as_hashes(sqlite_app: Any) -> None:
    staff_id, _, token = make_staff(sqlite_app, "viewer")
    with sqlite_app.extensions["bot"].uow() as uow:
        staff = uow.session.get(Staff, staff_id)
        assert staff is not None and staff.password_hash is not None
        assert staff.password_hash.startswith("$argon2id$") and PASSWORD not in staff.password_hash
        row = uow.session.scalars(select(ApiToken).where(ApiToken.staff_id == staff_id)).one()
        assert row.token_hash == token_hash(token) and token not in row.token_hash
        assert token.startswith(row.prefix)


def test_login_sets_a_safe_session_cookie_and_logout_ends_it_server_side(
    sqlite_app: Any,
) -> None:
    client = sqlite_app.test_client()
    _, email, _ = make_staff(sqlite_app, "viewer")
    page = client.get("/admin/login")
    html = page.get_data(as_text=True)
    assert 'name="viewport"' in html and 'name="csrf_token"' in html
    response = login(client, email)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "healthbot_session" in h)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # HEALTHBOT_PUBLIC_URL is https in the tests
    assert client.get("/admin/").status_code == 200
    stolen = client.get_cookie("healthbot_session", path="/admin").value
    client.post("/admin/logout", data={"csrf_token": csrf_of(client)})
    replay = sqlite_app.test_client()
    replay.set_cookie("healthbot_session", stolen, path="/admin")
    assert replay.get("/admin/").status_code == 302  # the old cookie no longer signs anyone in


def test_wrong_password_unknown_account_and_inactive_account_look_the_same(
    sqlite_app: Any,
) -> None:
    client = sqlite_app.test_client()
    staff_id, email, _ = make_staff(sqlite_app, "viewer")
    wrong = login(client, email, "not the password at all")
    unknown = login(client, "nobody@clinic.example.org")
    console(sqlite_app).update_staff(CLI_ACTOR, staff_id, active=False)
    inactive = login(client, email)
    for response in (wrong, unknown, inactive):
        assert response.status_code == 401
        assert "wrong email or password" in response.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    _, email, _ = make_staff(sqlite_app, "admin")
    assert client.post("/admin/login", data={"email": email,
                                             "password": PASSWORD}).status_code == 400
    login(client, email)
    response = client.post("/admin/staff", data={"email": "x@example.org", "role": "admin",
                                                 "password": "a long enough password"})
    assert response.status_code == 400
    forged = client.post("/admin/staff", data={"email": "x@example.org", "role": "admin",
                                               "password": "a long enough password",
                                               "csrf_token": "guessed"})
    assert forged.status_code == 400
    with sqlite_app.extensions["bot"].uow() as uow:
        assert uow.staff.by_email("x@example.org") is None


def test_login_is_throttled_per_account_and_per_address_across_processes(
    sqlite_app: Any, tmp_path: Path, messenger: Any
) -> None:
    client = sqlite_app.test_client()
    _, email, _ = make_staff(sqlite_app, "viewer")
    for _ in range(5):
        assert login(client, email, "wrong password!!").status_code == 401
    locked = login(client, email)  # even the right password is refused while locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # Another process on the same database sees the same count.
    from bot.app import create_app
    from tests.helpers import make_settings

    other = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'healthbot.db'}"),
                       upgrade_db=False, background=False, messenger=messenger)
    try:
        assert login(other.test_client(), email).status_code == 429
    finally:
        other.extensions["bot"].close()
    # Per address: many accounts guessed from one address lock that address out.
    _, second, _ = make_staff(sqlite_app, "viewer")
    for i in range(15):
        login(client, f"guess{i}@clinic.example.org", "wrong password!!")
    assert login(client, second).status_code == 429
    elsewhere = sqlite_app.test_client()
    response = elsewhere.post("/admin/login", data={"email": second, "password": PASSWORD,
                                                    "csrf_token": csrf_of(elsewhere)},
                              environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302


def test_login_redirects_only_inside_the_console(sqlite_app: Any) -> None:
    _, email, _ = make_staff(sqlite_app, "viewer")
    for target, expected in (("/admin/escalations", "/admin/escalations"),
                             ("https://evil.example.org/", "/admin/"),
                             ("//evil.example.org/admin", "/admin/")):
        client = sqlite_app.test_client()
        response = client.post("/admin/login", data={
            "email": email, "password": PASSWORD, "next": target,
            "csrf_token": csrf_of(client)})
        assert response.headers["Location"] == expected


def test_revoked_tokens_and_inactive_staff_lose_api_access(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    admin_id, _, admin = make_staff(sqlite_app, "admin")
    staff_id, _, token = make_staff(sqlite_app, "viewer")
    assert client.get("/admin/api/me", headers=bearer(token)).get_json()["role"] == "viewer"
    client.patch(f"/admin/api/staff/{staff_id}", headers=bearer(admin), json={"active": False})
    assert client.get("/admin/api/me", headers=bearer(token)).status_code == 401
    client.patch(f"/admin/api/staff/{staff_id}", headers=bearer(admin), json={"active": True})
    made = client.post(f"/admin/api/staff/{staff_id}/tokens", headers=bearer(admin),
                       json={"label": "laptop"}).get_json()
    assert client.get("/admin/api/me", headers=bearer(made["token"])).status_code == 200
    client.delete(f"/admin/api/staff/{staff_id}/tokens/{made['id']}", headers=bearer(admin))
    assert client.get("/admin/api/me", headers=bearer(made["token"])).status_code == 401
    listed = client.get("/admin/api/staff", headers=bearer(admin)).get_json()["items"]
    assert all("token" not in t for s in listed for t in s["tokens"])  # never shown again
    # The last active admin can't be demoted or switched off.
    others = [s for s in listed if s["role"] == "admin" and s["id"] != admin_id]
    assert others == []
    refused = client.patch(f"/admin/api/staff/{admin_id}", headers=bearer(admin),
                           json={"role": "viewer"})
    assert refused.status_code == 409


def test_cli_adds_staff_without_echoing_the_password_and_prints_a_token(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from bot.cli import main

    monkeypatch.setenv("HEALTHBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    secret = "a very secret password"
    result = runner.invoke(main, ["staff", "add", "Nurse@Clinic.example.org", "--role",
                                  "clinician", "--name", "Nurse"], input=f"{secret}\n{secret}\n")
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert "created clinician nurse@clinic.example.org" in result.output
    result = runner.invoke(main, ["staff", "add", "admin@clinic.example.org", "--role", "admin",
                                  "--password-stdin"], input=f"{secret}\n")
    assert result.exit_code == 0 and secret not in result.output
    weak = runner.invoke(main, ["staff", "add", "w@clinic.example.org", "--role", "viewer",
                                "--password-stdin"], input="short\n")
    assert weak.exit_code != 0 and "at least 12" in weak.output
    token = runner.invoke(main, ["staff", "token", "nurse@clinic.example.org"])
    assert token.exit_code == 0 and token.output.startswith("hbt_")
    listed = runner.invoke(main, ["staff", "list"])
    assert "nurse@clinic.example.org\tclinician\tactive" in listed.output
    off = runner.invoke(main, ["staff", "set", "nurse@clinic.example.org", "--inactive"])
    assert off.exit_code == 0 and "inactive" in off.output
    missing = runner.invoke(main, ["staff", "token", "ghost@clinic.example.org"])
    assert missing.exit_code != 0 and "no staff account" in missing.output
    result = runner.invoke(main, ["retention", "--days", "30", "--dry-run"])
    assert result.exit_code == 0
    assert result.output.strip() == ("would remove: 0 contacts, 0 messages, 0 model_calls, "
                                     "0 safety_events, 0 alerts")

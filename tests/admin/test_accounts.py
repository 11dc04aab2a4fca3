"""Accounts: changing a password, admin-made one-time reset links, the TOTP second factor
(enrolment, the code step, replay, recovery codes, throttling, admins made to enrol), the CLI."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
from click.testing import CliRunner
from sqlalchemy import select

from bot.admin import mfa
from bot.admin.accounts import RESET_HOURS, Accounts
from bot.admin.api_models import ResetLink, TotpReset
from bot.admin.console import CLI_ACTOR, CODE_ACCOUNT_FAILURES, PAIR_FREE_FAILURES
from bot.store.models import utcnow
from bot.store.staff import AuditEntry, PasswordReset, RecoveryCode, Staff
from tests.admin.support import (
    PASSWORD,
    RECOVERY_CODES,
    TOTP_SECRETS,
    bearer,
    console,
    csrf_of,
    login,
    make_staff,
    next_code,
)

NEW_PASSWORD = "a brand new long passphrase"


def _signed_in(app: Any, email: str, password: str = PASSWORD) -> Any:
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200
    return client


def _audit(app: Any, action: str) -> list[AuditEntry]:
    with app.extensions["bot"].uow() as uow:
        return list(uow.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _freeze(app: Any) -> list[dt.datetime]:
    """Give the console a clock the test moves; return the cell holding its time."""
    now = [utcnow()]
    console(app).clock = lambda: now[0]
    return now


# --- changing one's password -------------------------------------------------------------------


def test_changing_the_password_ends_the_other_sessions(console_app: Any) -> None:
    _, email, _ = make_staff(console_app, "clinician")
    here = _signed_in(console_app, email)
    elsewhere = _signed_in(console_app, email)
    page = here.get("/admin/account").get_data(as_text=True)
    assert 'name="new_password"' in page and "Set up the second factor" in page

    def change(current: str, new: str, again: str | None = None) -> str:
        response = here.post("/admin/account/password", data={
            "csrf_token": csrf_of(here), "password": current, "new_password": new,
            "new_password2": new if again is None else again}, follow_redirects=True)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "not the same" in change(PASSWORD, NEW_PASSWORD, "something else entirely")
    assert "current password is wrong" in change("not my password at all", NEW_PASSWORD)
    assert "at least 12 characters" in change(PASSWORD, "short")
    assert "Password changed" in change(PASSWORD, NEW_PASSWORD)
    assert here.get("/admin/").status_code == 200  # this session goes on...
    assert elsewhere.get("/admin/").status_code == 302  # ...the other one ended
    assert login(console_app.test_client(), email).status_code == 401
    assert login(console_app.test_client(), email, NEW_PASSWORD).status_code == 302
    assert len(_audit(console_app, "staff.password_change")) == 1
    [refused] = _audit(console_app, "staff.password_change_failed")
    assert refused.actor == email and refused.detail == {"reason": "wrong_password"}


# --- reset links -------------------------------------------------------------------------------


def _link_token(html: str) -> str:
    found = re.search(r'<code id="reset-link">([^<]+)</code>', html)
    assert found is not None, html
    url = urlsplit(found.group(1).replace("&amp;", "&"))
    assert url.path == "/admin/reset" and url.query.startswith("t=")
    return url.query[2:]


def test_an_admin_reset_link_works_once_and_stops_the_old_password_at_once(
    console_app: Any,
) -> None:
    _, admin_email, _ = make_staff(console_app, "admin")
    admin = _signed_in(console_app, admin_email)
    nurse_id, nurse_email, _ = make_staff(console_app, "clinician")
    nurse = _signed_in(console_app, nurse_email)
    made = admin.post(f"/admin/staff/{nurse_id}/reset", data={"csrf_token": csrf_of(admin)})
    assert made.status_code == 200
    token = _link_token(made.get_data(as_text=True))
    assert token not in admin.get("/admin/staff").get_data(as_text=True)  # shown once
    with console_app.extensions["bot"].uow() as uow:
        row = uow.session.scalars(select(PasswordReset)).one()
        assert row.token_hash != token and len(row.token_hash) == 64  # only its sha256
    # The old password and the nurse's session stop working now, not when the link is used.
    assert nurse.get("/admin/").status_code == 302
    assert login(console_app.test_client(), nurse_email).status_code == 401

    person = console_app.test_client()
    page = person.get(f"/admin/reset?t={token}")
    assert page.status_code == 200 and nurse_email in page.get_data(as_text=True)
    mismatch = person.post("/admin/reset", data={"csrf_token": csrf_of(person), "t": token,
                                                 "password": NEW_PASSWORD, "password2": "x"})
    assert mismatch.status_code == 400 and "not the same" in mismatch.get_data(as_text=True)
    weak = person.post("/admin/reset", data={"csrf_token": csrf_of(person), "t": token,
                                             "password": "short", "password2": "short"})
    assert weak.status_code == 400 and "at least 12" in weak.get_data(as_text=True)
    done = person.post("/admin/reset", data={"csrf_token": csrf_of(person), "t": token,
                                             "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 200 and "Your password is set" in done.get_data(as_text=True)
    assert person.get("/admin/").status_code == 302  # the link signs nobody in
    assert login(console_app.test_client(), nurse_email, NEW_PASSWORD).status_code == 302
    # Single use.
    again = person.post("/admin/reset", data={"csrf_token": csrf_of(person), "t": token,
                                              "password": "yet another long password",
                                              "password2": "yet another long password"})
    assert again.status_code == 404 and "not valid" in again.get_data(as_text=True)
    assert person.get(f"/admin/reset?t={token}").status_code == 404
    assert person.get("/admin/reset?t=" + "x" * 43).status_code == 404
    [link] = _audit(console_app, "staff.password_reset_link")
    assert link.actor == admin_email and link.target == f"staff:{nurse_id}"
    [used] = _audit(console_app, "staff.password_reset")
    assert used.actor == nurse_email and used.detail == {"link_made_by": admin_email}


def test_a_newer_link_replaces_the_older_and_links_expire(console_app: Any) -> None:
    staff_id, email, _ = make_staff(console_app, "viewer")
    desk = Accounts(console(console_app))
    first = desk.create_reset(CLI_ACTOR, staff_id)["token"]
    second = desk.create_reset(CLI_ACTOR, staff_id)["token"]
    client = console_app.test_client()
    assert client.get(f"/admin/reset?t={first}").status_code == 404
    assert client.get(f"/admin/reset?t={second}").status_code == 200
    now = _freeze(console_app)
    now[0] += dt.timedelta(hours=RESET_HOURS, seconds=1)
    assert client.get(f"/admin/reset?t={second}").status_code == 404
    expired = client.post("/admin/reset", data={"csrf_token": csrf_of(client), "t": second,
                                                "password": NEW_PASSWORD,
                                                "password2": NEW_PASSWORD})
    assert expired.status_code == 404
    with console_app.extensions["bot"].uow() as uow:
        staff = uow.staff.by_email(email)
        assert staff is not None and staff.password_hash is None


def test_reset_links_and_second_factor_resets_through_the_api(console_app: Any) -> None:
    _, _, admin = make_staff(console_app, "admin")
    _, _, viewer = make_staff(console_app, "viewer")
    target_id, email, _ = make_staff(console_app, "clinician", second_factor=True)
    client = console_app.test_client()
    path = f"/admin/api/staff/{target_id}/password-reset"
    assert client.post(path, headers=bearer(viewer)).status_code == 403
    made = client.post(path, headers=bearer(admin))
    assert made.status_code == 201
    link = ResetLink.model_validate(made.get_json())
    assert link.email == email and link.url.startswith("https://")
    url = urlsplit(link.url)
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200 and email in page.get_data(as_text=True)
    assert client.post("/admin/api/staff/999999/password-reset",
                       headers=bearer(admin)).status_code == 404
    reset = client.post(f"/admin/api/staff/{target_id}/totp-reset", headers=bearer(admin))
    assert TotpReset.model_validate(reset.get_json()).was_on is True
    with console_app.extensions["bot"].uow() as uow:
        staff = uow.session.get(Staff, target_id)
        assert staff is not None and staff.totp_secret is None and staff.totp_enabled_at is None
        assert uow.staff.count_unused_recovery_codes(target_id) == 0


# --- the second factor --------------------------------------------------------------------------


def test_enrolling_then_every_sign_in_needs_a_fresh_code(console_app: Any) -> None:
    now = _freeze(console_app)
    _, email, _ = make_staff(console_app, "clinician")
    client = _signed_in(console_app, email)
    other = _signed_in(console_app, email)
    page = client.get("/admin/account/2fa").get_data(as_text=True)
    # The QR code is inline SVG, not drawn by a script: the only script is the console's file.
    assert "<svg" in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/admin/static/console.js" defer>']
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    assert client.get("/admin/account/2fa").get_data(as_text=True).count(secret.group(1)) == 1
    wrong = client.post("/admin/account/2fa", data={"csrf_token": csrf_of(client),
                                                    "code": "000000"}, follow_redirects=True)
    assert "does not match" in wrong.get_data(as_text=True)
    shown = client.post("/admin/account/2fa", data={"csrf_token": csrf_of(client),
                                                    "code": totp.at(now[0])})
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>",
                       shown.get_data(as_text=True))
    assert len(codes) == mfa.RECOVERY_CODES
    assert other.get("/admin/").status_code == 302  # other sessions end on enrolment
    assert client.get("/admin/").status_code == 200
    # The secret is stored encrypted and never shown again.
    with console_app.extensions["bot"].uow() as uow:
        staff = uow.staff.by_email(email)
        assert staff is not None and staff.totp_secret is not None
        assert secret.group(1) not in staff.totp_secret
        hashes = uow.session.scalars(select(RecoveryCode.code_hash)).all()
        assert not set(codes) & set(hashes)
    assert client.get("/admin/account/2fa", follow_redirects=True).get_data(
        as_text=True).count(secret.group(1)) == 0

    # Signing in: the password alone opens nothing.
    browser = console_app.test_client()
    step = browser.post("/admin/login", data={"email": email, "password": PASSWORD,
                                              "csrf_token": csrf_of(browser)})
    assert step.status_code == 302 and step.headers["Location"] == "/admin/login/code"
    assert browser.get("/admin/").status_code == 302
    code_page = browser.get("/admin/login/code").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in code_page
    # The code used to enrol can't be used again, nor a wrong one.
    for bad in (totp.at(now[0]), "123456"):
        refused = browser.post("/admin/login/code", data={"csrf_token": csrf_of(browser),
                                                          "code": bad})
        assert refused.status_code == 401 and "wrong code" in refused.get_data(as_text=True)
    now[0] += dt.timedelta(seconds=30)
    fresh = totp.at(now[0])
    ok = browser.post("/admin/login/code", data={"csrf_token": csrf_of(browser), "code": fresh})
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    # Replay: the same code in another sign-in within its window is refused.
    thief = console_app.test_client()
    thief.post("/admin/login", data={"email": email, "password": PASSWORD,
                                     "csrf_token": csrf_of(thief)})
    replay = thief.post("/admin/login/code", data={"csrf_token": csrf_of(thief), "code": fresh})
    assert replay.status_code == 401 and thief.get("/admin/").status_code == 302
    # A recovery code works once, in place of a code.
    for expected in (302, 401):
        rescue = console_app.test_client()
        rescue.post("/admin/login", data={"email": email, "password": PASSWORD,
                                          "csrf_token": csrf_of(rescue)})
        used = rescue.post("/admin/login/code", data={"csrf_token": csrf_of(rescue),
                                                      "code": codes[0].upper()})
        assert used.status_code == expected
    logins = _audit(console_app, "staff.login")
    assert [e.detail.get("second_factor") for e in logins[-2:]] == ["totp", "recovery_code"]
    failed = [e.detail["reason"] for e in _audit(console_app, "staff.login_failed")]
    assert failed == ["wrong_code"] * 4
    [enabled] = _audit(console_app, "staff.totp_enable")
    assert enabled.detail == {"recovery_codes": mfa.RECOVERY_CODES}


def test_the_code_step_is_throttled_and_dies_with_a_new_password(console_app: Any) -> None:
    now = _freeze(console_app)
    staff_id, email, _ = make_staff(console_app, "clinician", second_factor=True)
    desk = console(console_app)

    def code_step(address: str, code: str) -> int:
        now[0] += dt.timedelta(milliseconds=100)  # attempts are ordered by time
        client = console_app.test_client()
        first = client.post("/admin/login", data={"email": email, "password": PASSWORD,
                                                  "csrf_token": csrf_of(client)},
                            environ_base={"REMOTE_ADDR": address})
        assert first.status_code == 302
        response = client.post("/admin/login/code", data={"csrf_token": csrf_of(client),
                                                          "code": code},
                               environ_base={"REMOTE_ADDR": address})
        return int(response.status_code)

    codes = [code_step("198.51.100.7", "111111") for _ in range(PAIR_FREE_FAILURES + 1)]
    assert codes == [401] * PAIR_FREE_FAILURES + [429]
    assert code_step("198.51.100.7", next_code(console_app, email)) == 429  # even the right one
    # From elsewhere the owner still gets in; and the account as a whole has a ceiling.
    assert code_step("10.0.0.5", next_code(console_app, email)) == 302
    for i in range(CODE_ACCOUNT_FAILURES):
        code_step(f"203.0.113.{i}", "222222")
    assert code_step("10.0.0.6", next_code(console_app, email)) == 429
    now[0] += dt.timedelta(minutes=16)
    assert code_step("10.0.0.6", next_code(console_app, email)) == 302
    reasons = {e.detail["reason"] for e in _audit(console_app, "staff.login_failed")}
    assert reasons == {"wrong_code", "code_throttled"}

    # A ticket from the password step is void once the password changes (here: a reset).
    client = console_app.test_client()
    client.post("/admin/login", data={"email": email, "password": PASSWORD,
                                      "csrf_token": csrf_of(client)})
    Accounts(desk).create_reset(CLI_ACTOR, staff_id)
    now[0] += dt.timedelta(seconds=30)
    late = client.post("/admin/login/code", data={"csrf_token": csrf_of(client),
                                                  "code": next_code(console_app, email)})
    assert late.status_code == 401 and "start again" in late.get_data(as_text=True)
    assert client.get("/admin/login/code").headers["Location"] == "/admin/login"  # forgotten


def test_an_admin_without_a_second_factor_can_only_enrol(console_app: Any) -> None:
    _, email, token = make_staff(console_app, "admin", second_factor=False)
    client = console_app.test_client()
    assert login(client, email).status_code == 302
    for page in ("/admin/", "/admin/staff", "/admin/audit", "/admin/account"):
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/admin/account/2fa"
    refused = client.post("/admin/staff", data={"csrf_token": csrf_of(client),
                                                "email": "x@clinic.example.org", "role": "admin",
                                                "password": "a long enough password"})
    assert refused.status_code == 403
    with console_app.extensions["bot"].uow() as uow:
        assert uow.staff.by_email("x@clinic.example.org") is None
    page = client.get("/admin/account/2fa").get_data(as_text=True)
    assert "Admins must use a second factor" in page
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert secret is not None
    confirmed = client.post("/admin/account/2fa", data={
        "csrf_token": csrf_of(client), "code": pyotp.TOTP(secret.group(1)).now()})
    assert confirmed.status_code == 200 and "recovery codes" in confirmed.get_data(as_text=True)
    assert client.get("/admin/staff").status_code == 200
    # Admins can't turn it off; the API's bearer tokens are a credential of their own.
    off = client.post("/admin/account/2fa/off", data={"csrf_token": csrf_of(client),
                                                      "password": PASSWORD},
                      follow_redirects=True)
    assert "must keep the second factor" in off.get_data(as_text=True)
    assert console_app.test_client().get("/admin/api/me", headers=bearer(token)).status_code == 200


def test_others_may_turn_the_second_factor_off_with_their_password(console_app: Any) -> None:
    _, email, _ = make_staff(console_app, "viewer", second_factor=True)
    client = _signed_in(console_app, email)
    wrong = client.post("/admin/account/2fa/off", data={"csrf_token": csrf_of(client),
                                                        "password": "not the password!"},
                        follow_redirects=True)
    assert "password is wrong" in wrong.get_data(as_text=True)
    off = client.post("/admin/account/2fa/off", data={"csrf_token": csrf_of(client),
                                                      "password": PASSWORD},
                      follow_redirects=True)
    assert "The second factor is off" in off.get_data(as_text=True)
    direct = login(console_app.test_client(), email)  # the password alone is enough again
    assert direct.status_code == 302 and direct.headers["Location"] == "/admin/"
    assert len(_audit(console_app, "staff.totp_disable")) == 1


def test_a_totp_step_is_claimed_once(console_app: Any) -> None:
    staff_id, _, _ = make_staff(console_app, "viewer")
    with console_app.extensions["bot"].uow() as uow:
        assert uow.staff.claim_totp_step(staff_id, 100) is True
        assert uow.staff.claim_totp_step(staff_id, 100) is False
        assert uow.staff.claim_totp_step(staff_id, 99) is False
        assert uow.staff.claim_totp_step(staff_id, 101) is True
        uow.commit()


def test_the_secret_is_unreadable_without_the_app_secret() -> None:
    sealed = mfa.seal(b"one app secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert mfa.unseal(b"one app secret", sealed) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    try:
        mfa.unseal(b"another app secret", sealed)
    except mfa.SecretUnreadable:
        pass
    else:
        raise AssertionError("decrypted with the wrong key")
    now = dt.datetime(2026, 12, 6, 9, 0, 10, tzinfo=dt.UTC)
    step = mfa.time_step(now)
    code = mfa.code_at("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", step)
    assert code == pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").at(now)
    assert mfa.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, now, None) == step
    assert mfa.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, now, step) is None
    late = now + dt.timedelta(seconds=30 * (mfa.DRIFT_STEPS + 1))
    assert mfa.matching_step("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, late, None) is None


# --- the command line ----------------------------------------------------------------------


def test_cli_resets_a_second_factor_and_makes_a_reset_link(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from bot.cli import main

    monkeypatch.setenv("HEALTHBOT_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("HEALTHBOT_PUBLIC_URL", "https://console.example.org")
    runner = CliRunner()
    added = runner.invoke(main, ["staff", "add", "boss@clinic.example.org", "--role", "admin",
                                 "--password-stdin"], input=f"{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    off = runner.invoke(main, ["staff", "reset-2fa", "boss@clinic.example.org"])
    assert off.exit_code == 0 and "was not on" in off.output
    listed = runner.invoke(main, ["staff", "list"])
    assert "boss@clinic.example.org\tadmin\tactive\t\tno-2fa" in listed.output
    link = runner.invoke(main, ["staff", "reset-link", "boss@clinic.example.org"])
    assert link.exit_code == 0, link.output
    assert re.match(r"https://console\.example\.org/admin/reset\?t=[\w-]{43}\n", link.output)
    missing = runner.invoke(main, ["staff", "reset-2fa", "ghost@clinic.example.org"])
    assert missing.exit_code != 0 and "no staff account" in missing.output


def test_cli_reset_2fa_sends_an_admin_back_to_enrolment(console_app: Any) -> None:
    staff_id, email, _ = make_staff(console_app, "admin")
    assert email in TOTP_SECRETS and len(RECOVERY_CODES[email]) == mfa.RECOVERY_CODES
    client = _signed_in(console_app, email)
    done = Accounts(console(console_app)).totp_reset(CLI_ACTOR, staff_id)
    assert done == {"staff_id": staff_id, "email": email, "was_on": True}
    assert client.get("/admin/").status_code == 302  # signed out
    again = console_app.test_client()
    first = again.post("/admin/login", data={"email": email, "password": PASSWORD,
                                             "csrf_token": csrf_of(again)})
    assert first.status_code == 302 and first.headers["Location"] == "/admin/"
    assert again.get("/admin/").headers["Location"] == "/admin/account/2fa"
    [entry] = _audit(console_app, "staff.totp_reset")
    assert entry.actor == "cli" and entry.detail == {"email": email, "was_on": True}

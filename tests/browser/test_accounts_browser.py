"""Accounts in a real browser: an admin without a second factor signs in, is sent to enrol,
scans (reads) the key, confirms a code, keeps the recovery codes, reads the audit log in words,
filters it, downloads it as CSV, signs out and back in with a code."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pyotp

from tests.admin.support import PASSWORD, TOTP_SECRETS, make_staff, next_code
from tests.browser.conftest import SentMessenger


def test_an_admin_enrols_then_reads_and_exports_the_audit_log(
    browser: Any, served: tuple[str, Any, SentMessenger], tmp_path: Path
) -> None:
    base, app, _ = served
    _, email, _ = make_staff(app, "admin", second_factor=False)
    page = browser.new_page(viewport={"width": 390, "height": 844}, accept_downloads=True)
    page.set_default_timeout(10_000)

    page.goto(f"{base}/admin/staff")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/account/2fa")  # not the staff page: enrol first
    assert "Admins must use a second factor" in page.inner_text("main")
    assert page.locator(".qr svg").count() == 1
    page.screenshot(path=str(tmp_path / "enrol.png"), full_page=True)
    page.goto(f"{base}/admin/audit")
    page.wait_for_url(f"{base}/admin/account/2fa")

    secret = page.inner_text("#totp-secret")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("text=Turn on")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("text=Go on to the console")
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/admin/audit")
    main = page.inner_text("main")
    assert "Turned on the second factor" in main and "10 recovery codes issued" in main
    page.select_option("select[name=action]", "staff.totp_enable")
    page.click("text=Filter")
    page.wait_for_url(f"{base}/admin/audit?**action=staff.totp_enable**")
    assert page.locator("table.audit tbody tr").count() == 1
    page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#audit-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert [(r["who"], r["action_label"]) for r in rows] == [
        (email, "Turned on the second factor")]

    page.click("text=Sign out")
    page.wait_for_url(f"{base}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/login/code")
    TOTP_SECRETS[email] = secret
    page.fill("input[name=code]", next_code(app, email))
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    page.close()

"""The staff console in a real browser (Debian's Chromium, headless, driven by Playwright):
sign in, open an escalation, read the transcript, reply, see it sent, hand back, sign out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.store.models import Message, SafetyEvent
from tests.admin.support import PASSWORD, console, make_staff
from tests.admin.support import seed_contact as seed
from tests.browser.conftest import SentMessenger


def test_clinician_handles_an_escalation_in_the_browser(
    browser: Any, served: tuple[str, Any, SentMessenger], tmp_path: Path
) -> None:
    base, app, messenger = served
    _, email, _ = make_staff(app, "clinician")
    ids = seed(app, name="Amina", body="I want to talk to a person please")
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
    page.set_default_timeout(10_000)

    page.goto(f"{base}/admin/escalations")
    assert "/admin/login" in page.url  # not signed in yet
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/escalations")
    assert "human requested" in page.inner_text("main")

    page.click(f"a[href='/admin/contacts/{ids['contact_id']}']")
    page.wait_for_url(f"{base}/admin/contacts/{ids['contact_id']}")
    main = page.inner_text("main")
    assert "I want to talk to a person please" in main
    assert "rules: fever.child" in main and "openai/gpt-test (contemplate)" in main
    assert "perspectives: clinician, triage_nurse" in main
    page.screenshot(path=str(tmp_path / "transcript.png"), full_page=True)

    page.click("text=Acknowledge")
    page.wait_for_selector("text=acknowledged by Clinician")
    page.fill("textarea[name=body]", "Hello Amina, this is nurse Wanjiru. How is the fever?")
    page.click("text=Send reply")
    # Wait for the new page's own message: the previous page had a flash message too.
    page.wait_for_selector(".flash.ok:has-text('Reply sent')")
    staff_message = page.locator(".msg.staff").last
    assert "nurse Wanjiru" in staff_message.inner_text()
    assert "sent" in staff_message.locator(".status").inner_text()
    assert page.inner_text("#state") == "with staff"
    [(to, body)] = messenger.sent
    assert to.startswith("whatsapp:+2547") and body.endswith("How is the fever?")
    with app.extensions["bot"].uow() as uow:
        row = uow.session.scalars(select(Message).where(Message.mode == "staff")).one()
        assert row.status == "sent" and row.twilio_sid and row.extra["staff_id"]

    page.click("text=Hand back to the bot")
    page.wait_for_selector("text=Handed back to the bot.")
    assert page.inner_text("#state") == "bot"
    with app.extensions["bot"].uow() as uow:
        event = uow.session.get(SafetyEvent, ids["event_id"])
        assert event is not None and event.status == "resolved"

    page.click("text=Sign out")
    page.wait_for_url(f"{base}/admin/login")
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    actions = [e["action"] for e in console(app).audit_page(page=1, per_page=50)[0]]
    for action in ("staff.login", "transcript.view", "escalation.acknowledge",
                   "conversation.reply", "conversation.handback", "staff.logout"):
        assert action in actions
    page.close()

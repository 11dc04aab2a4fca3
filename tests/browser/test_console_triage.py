"""The triage-first console in a real browser (headless Chromium on a 390 px phone screen):

the open emergency is the first row and on the first screen; a new emergency, sent as a signed
webhook while the page is open, appears at the top without a reload (over server-sent events,
and again with EventSource taken away, by polling); then a nurse claims it, reads it, replies
with a quick reply in the person's language and resolves it with an outcome.

Screenshots of the inbox and a transcript at 390 px and 1280 px are written to
`.artifacts/screenshots/` (git-ignored) for review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.store.models import Contact, Message, SafetyEvent, utcnow
from bot.webhook.signature import sign
from tests.admin.support import PASSWORD, make_staff, seed_contact
from tests.browser.conftest import SentMessenger, serving
from tests.helpers import TEST_TOKEN, twilio_form

PUBLIC_URL = "http://127.0.0.1:5000"
SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any, SentMessenger]]:
    """Streams end after 4 s, so the test also sees EventSource reconnect with Last-Event-ID."""

    def short_streams(app: Any) -> None:
        feed = app.extensions["healthbot_events"]
        feed.duration_s, feed.poll_s = 4.0, 0.3

    with serving(tmp_path, short_streams) as found:
        yield found


def _post_webhook(base: str, body: str, sender: str, name: str) -> None:
    """Send a message exactly as Twilio would: a signed form POST over HTTP."""
    form = twilio_form(body, sender=sender, ProfileName=name)
    path = "/twilio/whatsapp"
    signature = sign(TEST_TOKEN, PUBLIC_URL + path, form)
    response = httpx.post(base + path, data=form, headers={"X-Twilio-Signature": signature},
                          timeout=30)
    assert response.status_code == 200, response.text


def _seed_queue(app: Any) -> dict[str, int]:
    """A routine chat (the latest), a request for a human, an urgent case, and an emergency
    raised 40 minutes ago: triage order puts the emergency first all the same."""
    now = utcnow()
    emergency = seed_contact(app, name="Esther", escalation="emergency", level="emergency",
                             body="he collapsed and is not waking up",
                             created=now - dt.timedelta(minutes=40))
    seed_contact(app, name="Hassan", escalation="urgent", level="urgent",
                 body="fever for four days", created=now - dt.timedelta(minutes=30))
    seed_contact(app, name="Halima", escalation="human_requested", body="can I talk to a nurse",
                 created=now - dt.timedelta(minutes=20))
    seed_contact(app, name="Rose", escalation=None, level="self_care", body="thank you",
                 created=now - dt.timedelta(minutes=1))
    return emergency


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _first_row(page: Any) -> Any:
    return page.locator("ul.inbox > li").first


def _on_first_screen(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    viewport = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=False)


def test_emergency_first_live_and_worked_on_a_phone(
    browser: Any, served: tuple[str, Any, SentMessenger]
) -> None:
    base, app, messenger = served
    _, email, _ = make_staff(app, "clinician")
    _seed_queue(app)
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(15_000)
    _sign_in(page, base, email)

    # The open emergency is the first row, in words as well as colour, on the first screen.
    first = _first_row(page)
    assert first.get_attribute("data-priority") == "emergency"
    assert "‼ emergency" in first.inner_text() and "Esther" in first.inner_text()
    assert "waiting 40 min" in first.inner_text()
    assert "he collapsed" in first.inner_text()  # the text that raised it
    assert _on_first_screen(page, first)
    order = [li.get_attribute("data-priority") for li in page.locator("ul.inbox > li").all()]
    assert order == ["emergency", "human", "urgent", ""]
    assert not page.locator("#filters").evaluate("d => d.open")  # folded on a phone
    page.wait_for_function(
        "() => window.healthbotLive && window.healthbotLive.mode === 'sse'")
    page.wait_for_function(
        "() => document.title.startsWith('(1 emergency)')")
    _shoot(page, "inbox-390.png")

    # A new emergency arrives while the page is open: without a reload it is among the
    # emergencies at the top (after Esther's, who has waited longer), on the first screen.
    page.evaluate("window.__same_page = true")
    _post_webhook(base, "mi bebé no respira", "whatsapp:+5215512345678", "Lucía")
    page.wait_for_function(
        "() => document.querySelectorAll('ul.inbox > li')[1].innerText.includes('Lucía')")
    assert page.evaluate("window.__same_page") is True
    rows = page.locator("ul.inbox > li")
    assert [rows.nth(i).get_attribute("data-priority") for i in range(3)] == [
        "emergency", "emergency", "human"]
    lucia = rows.nth(1)
    assert "mi bebé no respira" in lucia.inner_text() and _on_first_screen(page, lucia)
    page.wait_for_function(
        "() => document.title.startsWith('(2 emergencies)')")

    # The stream ends after 4 s and EventSource comes back with Last-Event-ID: still live.
    page.wait_for_timeout(5_000)
    _post_webhook(base, "Hola, ¿me pueden ayudar?", "whatsapp:+5215599990000", "Marta")
    page.wait_for_function(
        "() => [...document.querySelectorAll('ul.inbox > li')]"
        ".some(li => li.innerText.includes('Marta'))")
    assert page.evaluate("window.__same_page") is True
    assert page.evaluate("window.healthbotLive.mode") == "sse"

    # Claim it, read it.
    lucia.locator("a.rowlink").click()
    page.wait_for_url(f"{base}/admin/contacts/*")
    contact_id = int(page.url.rsplit("/", 1)[1])
    assert "mi bebé no respira" in page.inner_text("#transcript-live")
    page.click(".casebar button:has-text('Claim')")
    page.wait_for_selector(".flash.ok:has-text('is working this conversation')")
    assert page.inner_text("#assigned") == "with Clinician"
    call = page.locator(".casebar a[href^='tel:']")
    assert call.get_attribute("href") == "tel:+5215512345678"
    assert page.locator(".casebar a[href^='https://wa.me/']").get_attribute(
        "href") == "https://wa.me/5215512345678"
    assert _on_first_screen(page, page.locator(".casebar a:has-text('Reply')"))
    _shoot(page, "transcript-390.png")

    # Reply with a quick reply, inserted in the person's language (Spanish).
    page.click(".casebar a:has-text('Reply')")
    page.click("button.quick-reply[data-name='call_emergency']")
    text = page.input_value("#reply-body")
    assert "llame ahora al número de emergencias" in text
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector(".flash.ok:has-text('Reply sent')")
    assert messenger.sent[-1][1].startswith("Esto puede ser una emergencia.")
    with app.extensions["bot"].uow() as uow:
        event = uow.session.scalars(select(SafetyEvent).where(
            SafetyEvent.contact_id == contact_id, SafetyEvent.kind == "emergency")).one()
        assert event.status == "acknowledged"  # the reply acknowledged it
        reply = uow.session.scalars(select(Message).where(
            Message.contact_id == contact_id, Message.mode == "staff")).one()
        assert reply.extra["answers_escalations"] == [event.id]

    # Resolve it with an outcome; without one the browser won't submit the form.
    page.click("details.resolve > summary")
    page.click(".resolve-form button[type=submit]")
    assert page.evaluate("document.querySelector('.resolve-form select').validity.valueMissing")
    page.select_option(".resolve-form select[name=outcome]", "ambulance_called")
    page.fill(".resolve-form input[name=outcome_note]", "Ambulance on its way")
    page.click(".resolve-form button[type=submit]")
    page.wait_for_selector(".flash.ok:has-text('resolved: ambulance called')")
    with app.extensions["bot"].uow() as uow:
        done = uow.session.get(SafetyEvent, event.id)
        assert done is not None and done.status == "resolved"
        assert done.outcome == "ambulance_called" and done.outcome_note == "Ambulance on its way"
    page.close()

    wide = browser.new_page(viewport=WIDE)
    _sign_in(wide, base, email)
    assert wide.locator("#filters").evaluate("d => d.open")  # room for the filters here
    _shoot(wide, "inbox-1280.png")
    wide.goto(f"{base}/admin/contacts/{contact_id}")
    _shoot(wide, "transcript-1280.png")
    wide.close()


def test_without_eventsource_the_inbox_polls(
    browser: Any, served: tuple[str, Any, SentMessenger]
) -> None:
    base, app, _ = served
    _, email, _ = make_staff(app, "viewer")
    seed_contact(app, name="Halima", escalation="human_requested", body="can I talk to a nurse")
    page = browser.new_page(viewport=PHONE)
    page.add_init_script("delete window.EventSource")
    page.set_default_timeout(20_000)
    _sign_in(page, base, email)
    page.wait_for_function(
        "() => window.healthbotLive.mode === 'polling'")
    page.evaluate("window.__same_page = true")
    _post_webhook(base, "my baby is not breathing", "whatsapp:+254700111222", "Neema")
    page.wait_for_function(
        "() => document.querySelector('ul.inbox > li').innerText.includes('Neema')")
    assert page.evaluate("window.__same_page") is True
    assert _first_row(page).get_attribute("data-priority") == "emergency"
    page.close()


def test_a_refused_reply_keeps_the_draft_beside_the_box(
    browser: Any, served: tuple[str, Any, SentMessenger]
) -> None:
    base, app, messenger = served
    _, email, _ = make_staff(app, "clinician")
    old = utcnow() - dt.timedelta(days=3)  # outside WhatsApp's 24-hour window
    ids = seed_contact(app, name="Old", created=old, last_inbound=old)
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(15_000)
    _sign_in(page, base, email)
    page.goto(f"{base}/admin/contacts/{ids['contact_id']}")
    page.fill("#reply-body", "Are you feeling better today?")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector("#reply-error")
    assert "24 hours" in page.inner_text("#reply-error")
    assert page.input_value("#reply-body") == "Are you feeling better today?"
    assert _on_first_screen(page, page.locator("#reply-error"))  # beside the box, in view
    assert messenger.sent == []
    with app.extensions["bot"].uow() as uow:
        contact = uow.session.get(Contact, ids["contact_id"])
        assert contact is not None and contact.state == "bot"
    page.close()

"""What the browser tests share: Debian's Chromium under Playwright, and the real app served
over HTTP by werkzeug in a thread (SQLite, a messenger whose messages Twilio reports sent)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.outbound import Template
from tests.admin.support import FakeMessenger, fast_hashing

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = os.environ.get("HEALTHBOT_TEST_REQUIRE_SERVICES") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class SentMessenger(FakeMessenger):
    """A Messenger whose messages Twilio reports as sent at once."""

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        self.sent.append((to, body))
        return "SM" + secrets.token_hex(16), "sent"

    def send_template(
        self, to: str, template: Template, *, status_callback: str | None
    ) -> tuple[str, str]:  # pragma: no cover - the test stays inside the window
        raise AssertionError("no template expected")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if REQUIRE:
            pytest.fail(f"Chromium is required but missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        if REQUIRE:
            pytest.fail("the playwright package is required")
        pytest.skip("playwright is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def serving(
    tmp_path: Path, prepare: Callable[[Any], None] | None = None
) -> Iterator[tuple[str, Any, SentMessenger]]:
    """The real app on SQLite, served by werkzeug in a thread on a free local port; `prepare`
    may adjust the app before the first request."""
    from werkzeug.serving import make_server

    from bot.app import create_app
    from tests.helpers import make_settings

    messenger = SentMessenger()
    # A plain-http public URL: the browser talks to 127.0.0.1 without TLS here.
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'healthbot.db'}",
                             HEALTHBOT_PUBLIC_URL="http://127.0.0.1:5000")
    app = create_app(settings, upgrade_db=True, background=False, messenger=messenger)
    fast_hashing(app)
    if prepare is not None:
        prepare(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, messenger
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["bot"].close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any, SentMessenger]]:
    with serving(tmp_path) as found:
        yield found

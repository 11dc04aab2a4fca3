"""No personal data in the logs: a whole conversation through `healthbot serve`, logs grepped.

The server runs as in production and its every log line (the app's, gunicorn's error and access
logs) is captured. The conversation has a name, a phone number and message bodies, staff search
for the number and the name, a forged request carries the number in its query string, and the
database breaks in the middle (a statement fails while storing a message, the error path that used
to print SQLAlchemy's parameters). None of those values may appear in any log line, and every line
must be JSON with the request id on the request's lines.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.webhook.signature import sign
from tests.helpers import ACCOUNT_SID, TEST_TOKEN, twilio_form

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NUMBER = "+254712345678"
NAME = "Wanjiru Kamau"
CHILD = "Achieng"
SECRETS = ("254712345678", "712345678", "Wanjiru", "Kamau", CHILD, "Otieno",
           "fever for three days", "zebra-striped rash", "q=", "staffmember@clinic")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str], subprocess.Popen[bytes]]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEALTHBOT_", "TWILIO_", "OPENAI_", "PROMETHEUS_"))
           and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance"),
        "HEALTHBOT_PUBLIC_URL": url,
        "HEALTHBOT_EMBEDDINGS": "none",
        "HEALTHBOT_LOG_LEVEL": "DEBUG",  # the most a log could say
        "TWILIO_AUTH_TOKEN": TEST_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    })
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "healthbot"), "serve", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(log.read_text(errors="replace")[-3000:])
        yield url, log, env, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def test_a_whole_conversation_leaves_no_personal_data_in_the_logs(
    server: tuple[str, Path, dict[str, str], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, log, env, proc = server

    def post(body: str, *, path: str = "/twilio/whatsapp", signed: bool = True) -> httpx.Response:
        form = twilio_form(body, sender=f"whatsapp:{NUMBER}", ProfileName=NAME)
        headers = {"X-Twilio-Signature": sign(TEST_TOKEN, url + path, form) if signed else "x"}
        return httpx.post(url + path, data=form, headers=headers, timeout=30)

    assert post(f"Hello, my daughter {CHILD} has had a fever for three days").status_code == 200
    assert post("she now has a zebra-striped rash and a stiff neck").status_code == 200
    assert post("my baby is not breathing").status_code == 200
    assert post("HELP").status_code == 200
    # A forged request whose query string carries the number: refused, logged without it.
    forged = post("hi", path=f"/twilio/whatsapp?from={NUMBER}&name=Wanjiru", signed=False)
    assert forged.status_code == 403

    # The error path: storing a message fails in the middle of the conversation.
    database = tmp_path / "instance" / "healthbot.db"
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE messages RENAME TO messages_away")
    try:
        broken = post(f"{CHILD} Otieno: the fever for three days is worse")
        assert broken.status_code < 600  # whatever the answer, the logs are what is checked
    finally:
        with sqlite3.connect(database) as conn:
            conn.execute("ALTER TABLE messages_away RENAME TO messages")

    # Staff search for the number and the name through the API; the access log sees the path.
    subprocess.run([str(BIN / "healthbot"), "staff", "add", "staffmember@clinic.example.org",
                    "--role", "admin", "--password-stdin"], input=b"a long enough password\n",
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    token = subprocess.run([str(BIN / "healthbot"), "staff", "token",
                            "staffmember@clinic.example.org"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    for query in (NUMBER, f"{NAME} fever"):
        found = httpx.get(f"{url}/admin/api/conversations", params={"q": query},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert found.status_code == 200
    assert httpx.get(f"{url}/admin/?q={NUMBER}", timeout=10).status_code in (200, 302)

    proc.terminate()
    proc.wait(timeout=30)
    lines = [line for line in log.read_text("utf-8").splitlines() if line.strip()]
    assert len(lines) > 20
    records = []
    for line in lines:
        if line.startswith(("!", "  ", "healthbot on ")):
            continue  # the start-up banner on stderr, before logging starts
        records.append(json.loads(line))  # every log line is one JSON object
    leaks = [line for line in lines for secret in SECRETS if secret.lower() in line.lower()]
    assert leaks == [], "\n".join(leaks[:10])
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert len(access) >= 9 and all(r["request_id"] for r in access)
    assert any(r["path"] == "/admin/api/conversations" for r in access)
    # The error path was logged (with its traceback), only without the values.
    assert any(r["level"] in ("ERROR", "CRITICAL") and "exc" in r for r in records)

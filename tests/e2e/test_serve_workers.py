"""`healthbot serve --workers 2` on PostgreSQL: nothing shared across the fork, metrics summed.

The issue this guards against: the app was built in gunicorn's master, so a re-forked worker
inherited the master's PostgreSQL connection and the two read each other's results. Here the
periodic-work owner is killed with SIGKILL while signed webhooks keep coming: every one must be
answered, the master must hold no database connection, exactly one process must own the periodic
work again, and `/metrics` must count every message across the workers.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.webhook.signature import sign
from tests.helpers import ACCOUNT_SID, TEST_TOKEN, twilio_form

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
PG_PORT = 5432


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    instance: Path
    log: Path

    def post(self, body: str, sender: str) -> httpx.Response:
        """A signed webhook on a fresh connection (a killed worker may hold a kept-alive one)."""
        form = twilio_form(body, sender=sender)
        signature = sign(TEST_TOKEN, f"{self.url}/twilio/whatsapp", form)
        return httpx.post(f"{self.url}/twilio/whatsapp", data=form, timeout=30,
                          headers={"X-Twilio-Signature": signature, "Connection": "close"})

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        values = [float(m.group(1)) for m in
                  re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
        return sum(values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workers_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def database_sockets(pid: int) -> int:
    """How many TCP connections to PostgreSQL's port the process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == PG_PORT and fields[9] in inodes:
                count += 1
    return count


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return condition()


@pytest.fixture
def served(tmp_path: Path, postgres_url: str) -> Iterator[Served]:
    from bot.store import migrate

    migrate.upgrade(postgres_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEALTHBOT_", "TWILIO_", "OPENAI_", "PROMETHEUS_"))
           and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": postgres_url,
        "HEALTHBOT_INSTANCE_DIR": str(tmp_path / "instance"),
        "HEALTHBOT_PUBLIC_URL": url,
        "HEALTHBOT_EMBEDDINGS": "none",  # start-up speed; retrieval is not the subject here
        "TWILIO_AUTH_TOKEN": TEST_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    })
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "healthbot"), "serve", "--workers", "2", "--port",
                                 str(port)], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Served(proc, url, tmp_path / "instance", log)
    try:
        ready = wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 120)
        assert ready, log.read_text(errors="replace")[-3000:]
        assert wait_for(lambda: len(workers_of(proc.pid)) == 2, 30)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_killing_a_worker_loses_no_answer_and_shares_nothing(served: Served) -> None:
    master = served.proc.pid
    sent = 0

    def converse(count: int, tag: str) -> None:
        nonlocal sent
        for i in range(count):
            # Some senders write twice, so existing contacts and histories are read too.
            sender = f"whatsapp:+2547{uuid.uuid4().int % 10**8:08d}" if i % 3 else \
                "whatsapp:+254700000001"
            text = "my baby is not breathing" if i == 1 else f"I have a headache ({tag} {i})"
            response = served.post(text, sender)
            sent += 1
            assert response.status_code == 200, response.text
            assert "<Message>" in response.text, response.text

    converse(6, "before")
    workers = workers_of(master)
    owner = int((served.instance / "periodic.lock").read_text().strip())
    assert owner in workers  # one worker owns the periodic work, not the master
    assert database_sockets(master) == 0

    os.kill(owner, signal.SIGKILL)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:  # keep posting while gunicorn re-forks
        converse(3, "during")
    assert wait_for(lambda: len(workers_of(master)) == 2 and owner not in workers_of(master), 60)
    converse(6, "after")

    assert database_sockets(master) == 0  # still: the master never opens the database
    assert wait_for(lambda: served.metric("healthbot_periodic_owner") == 1, 40)
    new_owner = int((served.instance / "periodic.lock").read_text().strip())
    assert new_owner in workers_of(master) and new_owner != owner
    # Counted in every worker, the killed one included, and summed by any of them.
    assert served.metric("healthbot_inbound_messages_total") == sent
    assert served.metric("healthbot_replies_total") == sent
    assert served.metric("healthbot_emergencies_total") >= 3
    served.proc.terminate()
    served.proc.wait(timeout=30)
    output = served.log.read_text(errors="replace")
    lines = [line for line in output.splitlines()
             if "was sent SIGKILL" not in line]  # gunicorn reporting our own kill
    problems = [line for line in lines
                if '"level": "ERROR"' in line or "Traceback" in line
                or re.search(r"ResourceClosedError|InterfaceError|OperationalError", line)]
    assert problems == [], "\n".join(problems[:20])

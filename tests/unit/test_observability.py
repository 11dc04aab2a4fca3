"""Logs scrubbed of personal data, one owner for periodic work, request ids."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.logging_setup import JsonFormatter, bound_request_id, configure_logging, redact
from bot.tasks import PeriodicLock, ThreadExecutor
from tests.delivery import job_targets


@pytest.mark.parametrize(("text", "gone"), [
    ("GET /admin/?q=%2B254712345678 200", "254712345678"),
    ("search /admin/api/conversations?q=Wanjiru+fever", "Wanjiru"),
    ("to whatsapp:+254712345678 failed", "254712345678"),
    ("wa_id 254712345678 seen", "254712345678"),
    ("call +254 712 345 678 now", "345 678"),
    ("[SQL: INSERT INTO messages (body) VALUES (?)]\n[parameters: ('my child has a fever',)]",
     "fever"),
    ('DETAIL:  Key (wa_id)=(254712345678) already exists.', "254712345678"),
    ("Failing row contains (1, Amina, +254712345678).", "Amina"),
    ("staff nurse@clinic.example.org signed in", "nurse@clinic"),
])
def test_redact_removes_personal_data(text: str, gone: str) -> None:
    assert gone not in redact(text)


def test_redact_keeps_what_operators_need() -> None:
    kept = "job 12 for contact 7 failed at 2026-12-06 04:13:18 (SM0123456789abcdef0123)"
    assert redact(kept) == kept


def test_json_lines_carry_the_request_id_and_a_scrubbed_traceback() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("tests.observability")
    try:
        with bound_request_id("req-123456"):
            try:
                raise ValueError("no row for whatsapp:+254712345678")
            except ValueError:
                log.exception("lookup of %s failed", "+254712345678")
    finally:
        configure_logging("INFO")
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["request_id"] == "req-123456" and entry["level"] == "ERROR"
    assert "ValueError" in entry["exc"] and "254712345678" not in json.dumps(entry)


def test_the_formatter_adds_structured_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET %s", ("/metrics",), None)
    record.fields = {"status": 200, "path": "/metrics"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "GET /metrics" and entry["status"] == 200


def test_responses_carry_a_request_id(client: Any) -> None:
    fresh = client.get("/healthz")
    assert len(fresh.headers["X-Request-Id"]) == 32
    echoed = client.get("/healthz", headers={"X-Request-Id": "lb-abc123"})
    assert echoed.headers["X-Request-Id"] == "lb-abc123"
    odd = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["X-Request-Id"] != "<script>"


_HOLDER = """
import sys, time
from pathlib import Path
from bot.tasks import PeriodicLock
lock = PeriodicLock(Path(sys.argv[1]))
print("held" if lock.held() else "free", flush=True)
time.sleep(60)
"""


def test_exactly_one_process_holds_the_periodic_lock_and_a_killed_owner_hands_it_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "periodic.lock"
    owner = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "held"
        assert path.read_text().strip() == str(owner.pid)
        mine = PeriodicLock(path)
        assert not mine.held()  # the other process has it
        owner.kill()
        owner.wait()
        assert mine.held()  # the kernel freed it with its owner's death
        assert mine.held()  # and it stays ours
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout:
            owner.stdout.close()
    mine.release()


def test_periodic_work_runs_only_in_the_owner() -> None:
    job_targets.reset()
    owns = [False]
    executor = ThreadExecutor(job_targets.run, workers=1)
    executor.every(0.05, "step", "tick", 0, 0.0, owner=lambda: owns[0])
    try:
        time.sleep(0.3)
        assert job_targets.ended("tick") == []  # not the owner: nothing ran
        owns[0] = True
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not job_targets.ended("tick"):
            time.sleep(0.02)
        assert job_targets.ended("tick")  # took over at a later tick
    finally:
        executor.close()
        job_targets.reset()

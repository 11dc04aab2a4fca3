"""A killed queue worker: its job is taken up again within a minute, in order, and nothing is left.

Real processes on Redis, with the production timings (bot/tasks.py): worker A starts a contact's
first job and is killed with SIGKILL in the middle of it; worker B must run that job again within
a minute and then the contact's later jobs, in order. A's scheduler child must end with A.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.tasks import HEARTBEAT_S, LEASE_S, MAINTENANCE_S, RetryPolicy, RqExecutor
from tests.delivery.conftest import REDIS_URL, ROOT, RedisSpace
from tests.delivery.killable_targets import events_key

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def start_worker(redis_space: RedisSpace,
                 tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start worker processes on the test's queue; stop whatever is left afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker{len(started)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.run_test_worker", REDIS_URL, redis_space.token],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_killed_workers_job_runs_again_within_a_minute_in_order(
    redis_space: RedisSpace, start_worker: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    token = redis_space.token
    executor = RqExecutor(redis_space.conn, queue_name=f"q-{token}", prefix=token,
                          perform="tests.delivery.killable_targets.perform",
                          policy=RetryPolicy())  # the production backoff: 5 s, 30 s, ...
    for number in range(3):
        executor.enqueue("step", REDIS_URL, token, "contact:1", number,
                         120.0 if number == 0 else 0.0, chain="contact:1")

    def events() -> list[list[str]]:
        return [e.decode().split() for e in redis_space.conn.lrange(events_key(token), 0, -1)]

    first = start_worker()
    assert wait_for(lambda: any(e[0] == "start" for e in events()), 30), "job 0 never started"
    # The scheduler child is forked at start-up; give it a moment to exist.
    assert wait_for(lambda: bool(children(first.pid)), 10), "worker A has no scheduler child"
    orphans = children(first.pid)
    time.sleep(HEARTBEAT_S + 1)  # at least one heartbeat renewed the lease: a live job's lease
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.time()
    first.wait(timeout=10)
    # No orphans: A's scheduler notices its worker is gone and exits.
    assert wait_for(lambda: not any(alive(p) for p in orphans), 10), "the scheduler outlived A"

    second = start_worker()
    assert wait_for(lambda: [e[2] for e in events() if e[0] == "end"] == ["0", "1", "2"], 90), \
        events()
    starts = [e for e in events() if e[0] == "start"]
    assert [e[2] for e in starts] == ["0", "0", "1", "2"]  # job 0 again, then the rest, in order
    assert starts[0][3] == str(first.pid) and starts[1][3] == str(second.pid)
    retried_after = float(starts[1][4]) - killed_at
    print(f"job 0 ran again {retried_after:.1f} s after its worker was killed")
    assert retried_after < 60, f"retried {retried_after:.0f} s after the kill"
    assert retried_after < LEASE_S + MAINTENANCE_S + 15
    # A worker that stops normally takes its scheduler with it too.
    own = children(second.pid)
    second.terminate()
    try:
        second.wait(timeout=60)
    except subprocess.TimeoutExpired:
        logs = sorted(tmp_path.glob("worker*.log"))
        pytest.fail("worker B did not stop on SIGTERM:\n" + logs[-1].read_text()[-4000:])
    assert wait_for(lambda: not any(alive(p) for p in own), 10)

"""Both executors: order per chain with several workers, retries with backoff, failed registry."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.tasks import InlineExecutor, RetryPolicy, RqExecutor, ThreadExecutor
from tests.delivery import job_targets
from tests.delivery.conftest import RedisSpace

CHAINS = ["contact:1", "contact:2", "contact:3"]
STEPS = 6


@pytest.fixture(autouse=True)
def _fresh_targets() -> Iterator[None]:
    job_targets.reset()
    yield
    job_targets.reset()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def enqueue_interleaved(executor: Any, rng: random.Random) -> None:
    """Steps of three contacts, interleaved as webhooks would enqueue them."""
    for number in range(STEPS):
        for chain in CHAINS:
            executor.enqueue("step", chain, number, rng.uniform(0.0, 0.03), chain=chain)


def assert_in_order_without_overlap() -> None:
    for chain in CHAINS:
        assert job_targets.ended(chain) == list(range(STEPS)), chain
        assert not job_targets.overlapped(chain), f"two steps of {chain} ran at once"


# -- in-process ---------------------------------------------------------------------------------


def test_thread_executor_keeps_each_chain_in_order_across_threads() -> None:
    executor = ThreadExecutor(job_targets.run, workers=4, policy=RetryPolicy(max=2, intervals=(0,)))
    try:
        enqueue_interleaved(executor, random.Random(7))
        assert executor.wait_idle(10)
    finally:
        executor.close()
    assert_in_order_without_overlap()
    # different contacts did run at the same time
    starts = [e for e in job_targets.EVENTS if e[0] == "start"]
    assert len({e[1] for e in starts[:4]}) > 1


def test_thread_executor_retries_then_the_chain_goes_on() -> None:
    job_targets.FAILS_LEFT["contact:1/1"] = 2
    executor = ThreadExecutor(job_targets.run, workers=2, policy=RetryPolicy(max=3, intervals=(0,)))
    try:
        for number in range(3):
            executor.enqueue("step", "contact:1", number, 0.0, chain="contact:1")
        assert executor.wait_idle(10)
    finally:
        executor.close()
    assert job_targets.ended("contact:1") == [0, 1, 2]
    assert executor.failed_jobs() == []


def test_thread_executor_gives_up_into_the_failed_registry_without_blocking_the_chain() -> None:
    job_targets.FAILS_LEFT["contact:1/0"] = -1  # fails forever
    executor = ThreadExecutor(job_targets.run, workers=2, policy=RetryPolicy(max=2, intervals=(0,)))
    try:
        executor.enqueue("step", "contact:1", 0, 0.0, chain="contact:1")
        executor.enqueue("step", "contact:1", 1, 0.0, chain="contact:1")
        assert executor.wait_idle(10)
    finally:
        executor.close()
    failed = executor.failed_jobs()
    assert [(f.name, f.args, f.attempts) for f in failed] == [("step", ["contact:1", 0, 0.0], 3)]
    assert "scripted failure" in failed[0].error
    assert job_targets.ended("contact:1") == [1]


def test_thread_executor_waits_the_backoff_before_retrying() -> None:
    job_targets.FAILS_LEFT["contact:1/0"] = 1
    executor = ThreadExecutor(job_targets.run, workers=1,
                              policy=RetryPolicy(max=1, intervals=(0.3,)))
    try:
        started = time.monotonic()
        executor.enqueue("step", "contact:1", 0, 0.0, chain="contact:1")
        assert executor.wait_idle(5)
        assert time.monotonic() - started >= 0.3
    finally:
        executor.close()
    assert job_targets.ended("contact:1") == [0]


def test_thread_executor_runs_periodic_work_until_closed() -> None:
    executor = ThreadExecutor(job_targets.run, workers=1)
    executor.every(0.05, "step", "tick", 0, 0.0)
    try:
        assert wait_for(lambda: len(job_targets.ended("tick")) >= 3, timeout=5)
    finally:
        executor.close()
    count = len(job_targets.ended("tick"))
    time.sleep(0.15)
    assert len(job_targets.ended("tick")) == count  # closing stopped the timer


def test_retry_policy_intervals_repeat_the_last_one() -> None:
    policy = RetryPolicy(max=5, intervals=(5, 30, 120))
    assert [policy.interval(n) for n in range(1, 6)] == [5, 30, 120, 120, 120]


def test_inline_executor_runs_at_once_and_records_failures() -> None:
    job_targets.FAILS_LEFT["c/0"] = 1
    executor = InlineExecutor(job_targets.run)
    executor.enqueue("step", "c", 0, 0.0, chain="c")
    executor.enqueue("step", "c", 1, 0.0, chain="c")
    assert job_targets.ended("c") == [1]
    assert [f.args for f in executor.failed_jobs()] == [["c", 0, 0.0]]


# -- RQ on Redis --------------------------------------------------------------------------------


def rq_executor(space: RedisSpace, policy: RetryPolicy) -> RqExecutor:
    return RqExecutor(space.conn, queue_name=f"q-{space.token}", policy=policy,
                      prefix=space.token, perform="tests.delivery.job_targets.perform")


def run_workers(space: RedisSpace, executor: RqExecutor, count: int,
                done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run `count` RQ workers in threads (burst loops) until `done()` or the timeout."""
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self) -> None:
            """Signals belong to the main thread; these workers are stopped by the test."""

    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        try:
            while not stop.is_set():
                name = f"{space.token}-w{index}-{uuid.uuid4().hex[:6]}"
                ThreadWorker([executor.queue], connection=space.conn, name=name).work(
                    burst=True, logging_level="WARNING")
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(done, timeout), "the workers did not finish in time"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not errors, errors


@pytest.mark.redis
def test_rq_chains_keep_order_with_four_workers(redis_space: RedisSpace) -> None:
    executor = rq_executor(redis_space, RetryPolicy(max=2, intervals=(0,)))
    enqueue_interleaved(executor, random.Random(11))
    run_workers(redis_space, executor, 4,
                lambda: all(len(job_targets.ended(c)) == STEPS for c in CHAINS))
    assert_in_order_without_overlap()


@pytest.mark.redis
def test_rq_concurrent_enqueuers_still_chain_in_enqueue_order(redis_space: RedisSpace) -> None:
    """Several web threads enqueue for one contact at once: WATCH/MULTI keeps one chain."""
    executor = rq_executor(redis_space, RetryPolicy(max=1, intervals=(0,)))
    barrier = threading.Barrier(6)
    order: list[int] = []
    lock = threading.Lock()

    def web(number: int) -> None:
        barrier.wait()
        with lock:  # the order the webhooks "stored" their messages in
            order.append(number)
            executor.enqueue("step", "contact:9", number, 0.01, chain="contact:9")

    threads = [threading.Thread(target=web, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_workers(redis_space, executor, 3, lambda: len(job_targets.ended("contact:9")) == 6)
    assert job_targets.ended("contact:9") == order
    assert not job_targets.overlapped("contact:9")


@pytest.mark.redis
def test_a_finished_chain_is_forgotten_so_the_next_job_needs_no_dependency(
    redis_space: RedisSpace,
) -> None:
    from rq.job import Job

    executor = rq_executor(redis_space, RetryPolicy(max=1, intervals=(0,)))
    key = f"{redis_space.token}:chain:contact:5"
    first = executor.enqueue("step", "contact:5", 1, 0.0, chain="contact:5")
    second = executor.enqueue("step", "contact:5", 2, 0.0, chain="contact:5")
    assert Job.fetch(second, connection=redis_space.conn).dependency_ids == [first]
    assert redis_space.conn.get(key) == second.encode()
    run_workers(redis_space, executor, 1, lambda: job_targets.ended("contact:5") == [1, 2])
    # The first job ended with a successor behind it: only the last one forgets the chain.
    assert wait_for(lambda: redis_space.conn.get(key) is None, 5)
    third = executor.enqueue("step", "contact:5", 3, 0.0, chain="contact:5")
    assert Job.fetch(third, connection=redis_space.conn).dependency_ids == []


@pytest.mark.redis
def test_a_job_that_is_no_longer_the_end_of_its_chain_leaves_it(redis_space: RedisSpace) -> None:
    from types import SimpleNamespace

    from bot.tasks import end_of_chain

    key = f"{redis_space.token}:chain:contact:6"
    redis_space.conn.set(key, "job-b")
    end_of_chain(SimpleNamespace(id="job-a", meta={"chain": key}), redis_space.conn, None)
    assert redis_space.conn.get(key) == b"job-b"  # job-b chained behind job-a meanwhile
    end_of_chain(SimpleNamespace(id="job-b", meta={"chain": key}), redis_space.conn, None)
    assert redis_space.conn.get(key) is None


@pytest.mark.redis
def test_rq_retries_then_gives_up_into_the_failed_registry(redis_space: RedisSpace) -> None:
    job_targets.FAILS_LEFT["contact:1/0"] = -1  # fails forever
    job_targets.FAILS_LEFT["contact:1/1"] = 1  # fails once, then works
    executor = rq_executor(redis_space, RetryPolicy(max=2, intervals=(0,)))
    for number in range(3):
        executor.enqueue("step", "contact:1", number, 0.0, chain="contact:1")
    run_workers(redis_space, executor, 2, lambda: len(job_targets.ended("contact:1")) == 2)
    assert job_targets.ended("contact:1") == [1, 2]  # a dead job doesn't block the contact
    failed = executor.failed_jobs()
    assert [(f.name, f.args, f.attempts) for f in failed] == [("step", ["contact:1", 0, 0.0], 3)]
    assert "scripted failure" in failed[0].error
    assert failed[0].failed_at is not None


@pytest.mark.redis
def test_rq_retry_waits_its_interval_in_the_scheduled_registry(redis_space: RedisSpace) -> None:
    from rq.registry import ScheduledJobRegistry

    job_targets.FAILS_LEFT["contact:1/0"] = 1
    executor = rq_executor(redis_space, RetryPolicy(max=1, intervals=(60,)))
    job_id = executor.enqueue("step", "contact:1", 0, 0.0, chain="contact:1")
    run_workers(redis_space, executor, 1,
                lambda: job_id in ScheduledJobRegistry(  # type: ignore[no-untyped-call]
                    queue=executor.queue).get_job_ids())
    assert job_targets.ended("contact:1") == []  # not retried before its backoff

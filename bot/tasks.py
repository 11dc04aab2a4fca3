"""Where slow work runs: RQ on Redis when REDIS_URL is set, else an in-process worker pool.

One code path, two executors. Work is named (`bot.jobs.JOBS`) and takes JSON-able arguments (ids),
so the same job function runs in a web process's threads or in any number of `healthbot worker`
processes. Both executors keep the same promises:

- order per `chain` (a contact): a job starts only after the previous job of its chain ended,
  even with many workers (RQ: `depends_on` the chain's previous job, whose id is kept in Redis
  and swapped in a WATCH/MULTI/EXEC transaction so two web processes can't both chain behind the
  same predecessor, and forgotten when the chain's last job ends well; in-process: one serial
  lane per chain);
- retries with backoff (`RetryPolicy`), then a failed-job registry staff can read
  (`failed_jobs()`: RQ's FailedJobRegistry, or an in-memory list in-process); a failed job does
  not block its chain: the next job runs once it has given up (RQ `allow_failure`);
- a job whose worker died is taken up again within a minute (`HealthbotWorker`: a heartbeat
  thread keeps a running job's 30 s lease alive, any live worker looks for expired leases every
  10 s and puts such a job back at once, still ahead of the rest of its chain), and a worker
  leaves no process behind (its scheduler child exits when the worker is gone);
- periodic work runs in exactly one process: RQ workers take turns through a Redis key per
  tick; without Redis, the web process holding `PeriodicLock` (a file lock) runs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.logging_setup import bound_request_id
from bot.store.models import utcnow

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

    from bot.services import Services

log = logging.getLogger(__name__)

# The RQ entry point, by name so this module doesn't import the pipeline.
PERFORM = "bot.jobs.perform"
QUEUE_NAME = "healthbot"
# A chain's last job id is forgotten after a day: by then its job has long finished.
CHAIN_TTL_S = 24 * 3600
# A job that runs longer than this is killed and retried. An answer is bounded by
# HEALTHBOT_ANSWER_DEADLINE_S; build_executor gives jobs that deadline plus JOB_MARGIN_S to send.
JOB_TIMEOUT_S = 300
JOB_MARGIN_S = 60
FAILED_KEEP = 200
# A running job's lease: renewed every HEARTBEAT_S while its worker lives; once it lapses for
# LEASE_S, a live worker's maintenance (every MAINTENANCE_S) puts the job back on the queue.
# Worst case from a worker's death to the retry: LEASE_S + MAINTENANCE_S = 40 s.
HEARTBEAT_S = 10
LEASE_S = 30
MAINTENANCE_S = 10

Runner = Callable[[str, Sequence[Any]], Any]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed job is tried again, and after how many seconds each time."""

    max: int = 4
    intervals: tuple[float, ...] = (5, 30, 120, 600)

    def interval(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based); the last interval repeats."""
        if not self.intervals:
            return 0.0
        return float(self.intervals[min(attempt - 1, len(self.intervals) - 1)])


@dataclass(frozen=True, slots=True)
class FailedJob:
    """A job that failed every try: what staff see in the failed-job registry."""

    id: str
    name: str
    args: list[Any]
    error: str
    failed_at: dt.datetime | None
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "args": self.args,
            "error": self.error,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "attempts": self.attempts,
        }


class Executor(Protocol):
    """Runs named jobs later, in order per chain, with retries."""

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str: ...

    def failed_jobs(self) -> list[FailedJob]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Run each job at once in the caller's thread (CLI commands, tests): one try, no waiting."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._failed: deque[FailedJob] = deque(maxlen=FAILED_KEEP)

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str:
        job_id = uuid.uuid4().hex
        try:
            with bound_request_id(f"job-{job_id}"):
                self.runner(name, args)
        except Exception as exc:  # recorded for staff, like a worker would
            log.exception("job %s %s failed", name, job_id)
            self._failed.append(FailedJob(job_id, name, list(args), _error(exc), utcnow(), 1))
        return job_id

    def failed_jobs(self) -> list[FailedJob]:
        return list(self._failed)

    def close(self) -> None:
        return None


@dataclass
class _Task:
    id: str
    name: str
    args: tuple[Any, ...]
    attempts: int = 0


@dataclass
class _Lane:
    tasks: deque[_Task] = field(default_factory=deque)
    running: bool = False


class ThreadExecutor:
    """The in-process worker: a thread pool with one serial lane per chain, retries by timer."""

    def __init__(self, runner: Runner, *, workers: int = 4,
                 policy: RetryPolicy | None = None) -> None:
        self.runner = runner
        self.policy = policy or RetryPolicy()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jobs")
        self._lock = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._timers: set[threading.Timer] = set()
        self._failed: deque[FailedJob] = deque(maxlen=FAILED_KEEP)
        self._closed = False

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str:
        task = _Task(uuid.uuid4().hex, name, tuple(args))
        key = chain or f"job:{task.id}"
        with self._lock:
            if self._closed:
                raise RuntimeError("the job executor is closed")
            lane = self._lanes.setdefault(key, _Lane())
            lane.tasks.append(task)
            if not lane.running:
                lane.running = True
                self._pool.submit(self._drain, key)
        return task.id

    def _drain(self, key: str) -> None:
        """Run a lane's tasks one after another; a failing head waits for its retry timer."""
        while True:
            with self._lock:
                lane = self._lanes[key]
                if not lane.tasks:
                    del self._lanes[key]
                    self._lock.notify_all()
                    return
                task = lane.tasks[0]
            task.attempts += 1
            try:
                with bound_request_id(f"job-{task.id}"):
                    self.runner(task.name, task.args)
            except Exception as exc:  # every failure is retried or registered
                if task.attempts <= self.policy.max and not self._closed:
                    delay = self.policy.interval(task.attempts)
                    log.warning("job %s %s failed (try %s), retrying in %.0f s: %s",
                                task.name, task.id, task.attempts, delay, _error(exc))
                    self._retry_later(key, delay)
                    return  # the lane stays "running": nothing behind the head may overtake it
                log.error("job %s %s failed for good after %s tries: %s",
                          task.name, task.id, task.attempts, _error(exc))
                self._failed.append(FailedJob(task.id, task.name, list(task.args), _error(exc),
                                              utcnow(), task.attempts))
            with self._lock:
                lane.tasks.popleft()

    def _retry_later(self, key: str, delay: float) -> None:
        def resume() -> None:
            with self._lock:
                self._timers.discard(timer)
                if self._closed:
                    self._lanes.pop(key, None)
                    self._lock.notify_all()
                    return
            self._pool.submit(self._drain, key)

        timer = threading.Timer(delay, resume)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def every(self, seconds: float, name: str, *args: Any,
              owner: Callable[[], bool] | None = None) -> None:
        """Queue the job `name` every `seconds` until closed (the in-process periodic work).

        With `owner`, a tick queues the job only while `owner()` says this process runs the
        periodic work; it is asked again at every tick, so another process takes over within
        one interval of the owner's death.
        """

        def tick() -> None:
            with self._lock:
                self._timers.discard(timer)
                if self._closed:
                    return
            try:
                if owner is None or owner():
                    self.enqueue(name, *args, chain=f"every:{name}")
            except RuntimeError:
                return  # closed meanwhile
            except Exception:
                log.exception("periodic job %s could not be queued", name)
            self.every(seconds, name, *args, owner=owner)

        timer = threading.Timer(seconds, tick)
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every lane is empty (tests, shutdown); return False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._lanes, timeout=timeout)

    def failed_jobs(self) -> list[FailedJob]:
        return list(self._failed)

    def depth(self) -> dict[str, int]:
        """Jobs not finished yet, for the metrics (running heads included)."""
        with self._lock:
            return {"queued": sum(len(lane.tasks) for lane in self._lanes.values())}

    def close(self, timeout: float = 10.0) -> None:
        """Finish the work in hand (bounded), cancel pending retries, stop the threads."""
        if not self.wait_idle(timeout):
            log.warning("closing with queued jobs still pending; they are lost with this process")
        with self._lock:
            self._closed = True
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


# Delete a chain's key only if it still names this job: a later job may have chained behind it.
_FORGET_IF_LAST = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0"
)


def end_of_chain(job: Any, connection: Redis, *_result: Any, **_kwargs: Any) -> None:
    """rq success callback of a chained job: forget the chain if this job is still its end."""
    key = (job.meta or {}).get("chain")
    if key:
        connection.eval(_FORGET_IF_LAST, 1, key, job.id)


class RqExecutor:
    """Jobs on Redis with RQ: any number of `healthbot worker` processes take them."""

    def __init__(self, connection: Redis, *, queue_name: str = QUEUE_NAME,
                 policy: RetryPolicy | None = None, prefix: str = "healthbot",
                 perform: str = PERFORM, job_timeout: int = JOB_TIMEOUT_S) -> None:
        from rq import Queue

        self.connection = connection
        self.policy = policy or RetryPolicy()
        self.job_timeout = job_timeout
        # Names our Redis keys and job ids, so they are easy to find (and to clean up in tests).
        self.prefix = prefix
        self.perform = perform
        self.queue: Queue = Queue(queue_name, connection=connection)

    def enqueue(self, name: str, *args: Any, chain: str | None = None) -> str:
        from rq import Retry
        from rq.job import Dependency

        options: dict[str, Any] = {
            # RQ schedules retries in whole seconds.
            "retry": Retry(max=self.policy.max,
                           interval=[math.ceil(i) for i in self.policy.intervals] or 0),
            "job_timeout": self.job_timeout,
            "result_ttl": 3600,
            "description": f"{name}{tuple(args)!r}",
            "job_id": f"{self.prefix}-{uuid.uuid4().hex}",
        }
        if chain is None:
            return str(self.queue.enqueue(self.perform, name, *args, **options).id)
        # Read the predecessor, enqueue behind it and record the new job as one step, the way
        # Redis means it (WATCH, then MULTI/EXEC): if another process chains behind this contact
        # between the read and the write, EXEC fails and it is read again. The job is saved and
        # its id published in the same EXEC, so rq never sees a dangling id. Three round trips,
        # where a lock cost five and a dozen commands.
        from redis.exceptions import WatchError
        from rq import Callback

        last_key = f"{self.prefix}:chain:{chain}"
        # When the job ends well it forgets the chain if it is still its last link, so the next
        # message of a person whose answers are all done is queued without a dependency (rq's
        # cheap path: no WATCH on a predecessor, nothing to release when it ends).
        options["meta"] = {"chain": last_key}
        options["on_success"] = Callback(end_of_chain)
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(last_key)  # type: ignore[no-untyped-call]
                    previous = pipe.get(last_key)
                    if previous:
                        prev = previous.decode() if isinstance(previous, bytes) else str(previous)
                        # allow_failure: a job that gave up must not hold the contact's later
                        # answers.
                        options["depends_on"] = Dependency(jobs=[prev], allow_failure=True)
                    job = self.queue.enqueue(self.perform, name, *args, pipeline=pipe, **options)
                    pipe.set(last_key, job.id, ex=CHAIN_TTL_S)
                    pipe.execute()
                    return str(job.id)
                except WatchError:
                    options.pop("depends_on", None)
                    options["job_id"] = f"{self.prefix}-{uuid.uuid4().hex}"
                    pipe.reset()

    def failed_jobs(self) -> list[FailedJob]:
        from rq.job import Job
        from rq.registry import FailedJobRegistry

        registry = FailedJobRegistry(queue=self.queue)
        jobs = Job.fetch_many(registry.get_job_ids(), connection=self.connection)
        failed = []
        for job in jobs:
            if job is None:
                continue
            result = job.latest_result()
            error = (result.exc_string or "") if result is not None else ""
            args = list(job.args or ())
            failed.append(FailedJob(
                id=job.id,
                name=str(args[0]) if args else str(job.func_name),
                args=args[1:],
                error=_last_line(error),
                failed_at=_aware(job.ended_at),
                # Retries after exceptions count down `retries_left` from the policy's max.
                attempts=self.policy.max - (job.retries_left or 0) + 1,
            ))
        return failed

    def depth(self) -> dict[str, int]:
        """Jobs per state, read straight from Redis (RQ's own counts would run its cleanup)."""
        from rq.registry import (
            DeferredJobRegistry,
            FailedJobRegistry,
            ScheduledJobRegistry,
            StartedJobRegistry,
        )

        queue = self.queue
        registries = {"deferred": DeferredJobRegistry, "scheduled": ScheduledJobRegistry,
                      "started": StartedJobRegistry, "failed": FailedJobRegistry}
        with self.connection.pipeline() as pipe:
            pipe.llen(queue.key)
            for registry in registries.values():
                pipe.zcard(registry(queue=queue).key)
            counts = pipe.execute()
        return dict(zip(["queued", *registries], (int(c) for c in counts), strict=True))

    def close(self) -> None:
        self.connection.close()


class PeriodicLock:
    """Whoever holds this file lock runs the periodic work; the kernel frees it when they die.

    Without Redis the web processes of one host (gunicorn workers) share the instance folder, so
    an exclusive `flock` on a file there picks exactly one of them; a process that is killed
    loses it at once, and the next to ask takes it. Never blocks. A forked child does not
    inherit ownership.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._mutex = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_in_child)

    def _forget_in_child(self) -> None:
        if self._fd is not None and self._pid != os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)  # the parent's descriptor keeps the parent's lock
            self._fd = None

    def held(self) -> bool:
        """True when this process holds the lock, taking it first if it is free."""
        from bot import metrics

        with self._mutex:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd, self._pid = fd, os.getpid()
        metrics.PERIODIC_OWNER.set(1)
        log.info("this process (pid %s) runs the periodic work", os.getpid())
        return True

    def release(self) -> None:
        from bot import metrics

        with self._mutex:
            if self._fd is None:
                return
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        metrics.PERIODIC_OWNER.set(0)


def make_worker_class() -> type[Any]:
    """RQ's SimpleWorker (jobs run in this process) with short leases and no orphaned child.

    - While a job runs, a thread renews its lease (and the worker's) every HEARTBEAT_S for
      LEASE_S; the same thread runs the registries' maintenance, so an abandoned job is found
      even while every worker is busy.
    - A job abandoned by a dead worker is put back on the queue at once (its retry backoff is
      for errors, not for deaths); it is still the head of its chain, so order holds.
    - The scheduler (RQ forks it as a child) checks every second that its worker is still its
      parent and stops, releasing its lock, once it is not: `kill -9` of a worker leaves
      nothing behind.
    """
    from rq import SimpleWorker
    from rq.exceptions import AbandonedJobError
    from rq.scheduler import RQScheduler
    from rq.worker import WorkerStatus

    class OrphanProofScheduler(RQScheduler):
        _worker_pid = 0

        def start(self) -> Any:
            self._worker_pid = os.getpid()  # read by the forked child
            return super().start()  # type: ignore[no-untyped-call]

        def enqueue_scheduled_jobs(self) -> Any:
            if self._worker_pid and os.getppid() != self._worker_pid:
                log.warning("worker %s is gone: its scheduler stops", self._worker_pid)
                self.request_stop()  # type: ignore[no-untyped-call]
                return None
            return super().enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]

    def retry_abandoned_at_once(job: Any, exc_type: Any, exc_value: Any, tb: Any) -> bool:
        if exc_type is AbandonedJobError and job.retry_intervals and job.retries_left:
            intervals = list(job.retry_intervals)
            intervals[max(len(intervals) - job.retries_left, 0)] = 0
            job.retry_intervals = intervals
            log.warning("job %s was abandoned by a dead worker: queued again", job.id)
        return True  # let RQ's other handlers run too

    class HealthbotWorker(SimpleWorker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("worker_ttl", LEASE_S)
            kwargs.setdefault("maintenance_interval", MAINTENANCE_S)
            kwargs.setdefault("job_monitoring_interval", HEARTBEAT_S)
            super().__init__(*args, **kwargs)
            self.push_exc_handler(retry_abandoned_at_once)  # type: ignore[no-untyped-call]

        @property
        def dequeue_timeout(self) -> int:
            # Wake up every MAINTENANCE_S while idle to look for abandoned jobs.
            return MAINTENANCE_S

        def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
            return LEASE_S

        def subscribe(self) -> None:
            # As RQ's, but its pubsub thread polls every second instead of every 60 s: on a warm
            # shutdown RQ joins that thread, so the worker stopped up to a minute late.
            self.log.info("Worker %s: subscribing to channel %s", self.name,
                          self.pubsub_channel_name)
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
                sleep_time=1.0, daemon=True,
                exception_handler=self._pubsub_exception_handler,
            )

        def _start_scheduler(self, burst: bool = False, logging_level: Any = "INFO",
                             *args: Any, **kwargs: Any) -> None:
            import rq.worker.base as worker_base

            # RQ builds its scheduler by this module-level name: swap ours in for the call (made
            # once, by the main thread, before any job runs).
            original = worker_base.RQScheduler  # type: ignore[attr-defined]
            worker_base.RQScheduler = OrphanProofScheduler  # type: ignore[attr-defined]
            try:
                super()._start_scheduler(burst, logging_level, *args, **kwargs)
            finally:
                worker_base.RQScheduler = original  # type: ignore[attr-defined]

        def execute_job(self, job: Any, queue: Any) -> None:
            execution = self.prepare_execution(job)
            stop = threading.Event()
            beat = threading.Thread(target=self._keep_alive, args=(job, execution, stop),
                                    name="rq-heartbeat", daemon=True)
            beat.start()
            try:
                with bound_request_id(job.id):
                    self.perform_job(job, queue, execution)
            finally:
                stop.set()
                beat.join(timeout=5)
            self.set_state(WorkerStatus.IDLE)

        def _keep_alive(self, job: Any, execution: Any, stop: threading.Event) -> None:
            last_clean = 0.0
            while not stop.wait(HEARTBEAT_S):
                try:
                    self.maintain_heartbeats(job, execution)
                    now = time.monotonic()
                    if now - last_clean >= MAINTENANCE_S:
                        last_clean = now
                        self.clean_registries()  # type: ignore[no-untyped-call]
                except Exception as exc:  # a missed beat is retried; the lease has slack
                    log.warning("heartbeat for job %s failed: %s", job.id, _error(exc))

    return HealthbotWorker


def run_worker(services: Services, *, burst: bool = False,
               alert_interval_s: float = 30.0) -> bool:
    """Work RQ jobs with these Services until stopped (or, with `burst`, until the queue is empty).

    A HealthbotWorker runs jobs in this process, without forking: the Services (database pool,
    HTTP clients, chat model) are built once and reused by every job, and a job that dies with
    the process is queued again by another worker within a minute. Every `alert_interval_s` one
    worker (a Redis key with NX decides which) queues the retry of due staff alerts.
    """
    from bot import jobs

    executor = services.tasks
    if not isinstance(executor, RqExecutor):
        raise RuntimeError("`healthbot worker` needs REDIS_URL: without it, jobs run in the web "
                           "process's threads")
    jobs.bind(services)
    try:
        return work(executor, burst=burst, alert_interval_s=alert_interval_s)
    finally:
        jobs.bind(None)


def work(executor: RqExecutor, *, burst: bool = False, alert_interval_s: float = 30.0,
         name: str | None = None) -> bool:
    """Run one HealthbotWorker on the executor's queue (the caller has bound the job context)."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(alert_interval_s):
            try:
                if executor.connection.set(f"{executor.prefix}:tick:alerts", "1", nx=True,
                                           ex=max(int(alert_interval_s), 1)):
                    executor.enqueue("retry_alerts")
            except Exception:
                log.exception("could not queue the retry of due alerts")

    ticker = threading.Thread(target=tick, name="alerts-tick", daemon=True)
    ticker.start()
    try:
        # Named after the queue, host and pid, so `rq info` shows which deployment it serves.
        name = name or f"{executor.prefix}-{socket.gethostname()}-{os.getpid()}"
        worker = make_worker_class()([executor.queue], connection=executor.connection,
                                     name=name)
        return bool(worker.work(burst=burst, with_scheduler=True,
                                logging_level=logging.getLevelName(
                                    logging.getLogger().getEffectiveLevel())))
    finally:
        stop.set()
        ticker.join(timeout=5)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""

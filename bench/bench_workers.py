"""Benchmark: answer throughput with N RQ workers against a fake model provider.

The webhook stores and queues `--messages` questions from `--contacts` contacts on Redis; then N
RQ workers (threads of this process running rq's SimpleWorker, as `healthbot worker` does) answer
them with the OpenAI-compatible adapter against bench/fake_openai_server.py (`--model-delay` s
per answer) and hand each answer to a recording messenger (50 ms, like Twilio's API). It prints
answers per second for each N and checks every contact got its answers in order.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/15; only this run's keys are touched and
deleted). The database is a fresh PostgreSQL database when TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) is reachable, else SQLite.

Run: `.venv/bin/python bench/bench_workers.py [--workers 1,2,4,8] [--messages 32]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_webhook import RecordingMessenger, form, post, sender, settings
from bench.fake_openai_server import FakeLLMServer, Rule

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def database(folder: Path) -> Iterator[str]:
    """A fresh PostgreSQL database if the server is there, else a SQLite file."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 2})
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # no PostgreSQL: the embedded database
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"hb_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_workers(executor: Any, count: int, done: Any, token: str, timeout: float) -> None:
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self) -> None:
            """Signals belong to the main thread."""

    stop = threading.Event()

    def loop(index: int) -> None:
        while not stop.is_set():
            ThreadWorker([executor.queue], connection=executor.connection,
                         name=f"{token}-w{index}-{uuid.uuid4().hex[:6]}").work(
                burst=True, logging_level="ERROR")
            time.sleep(0.005)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def answered(services: Any) -> int:
    """How many inbound messages have an answer handed to Twilio."""
    from sqlalchemy import func, select

    from bot.store.models import Message

    time.sleep(0.05)  # poll gently: the workers share the database
    with services.uow() as uow:
        return int(uow.session.scalar(
            select(func.count(func.distinct(Message.reply_to_id)))
            .where(Message.direction == "out", Message.twilio_sid.is_not(None))) or 0)


def all_answered(services: Any, target: int) -> bool:
    return answered(services) >= target


def kept_order(services: Any, messenger: Any) -> bool:
    """True when each contact's answers were sent in the order of their questions."""
    from sqlalchemy import select

    from bot.store.models import Message

    position = {sid: index for index, (_at, _to, _body, sid) in enumerate(messenger.sent)}
    with services.uow() as uow:
        rows = uow.session.scalars(
            select(Message).where(Message.direction == "out", Message.twilio_sid.is_not(None))
            .order_by(Message.contact_id, Message.reply_to_id, Message.id)).all()
    last: dict[int, int] = {}
    for row in rows:
        index = position[row.twilio_sid or ""]
        if index < last.get(row.contact_id, -1):
            return False
        last[row.contact_id] = index
    return True


def cleanup(connection: Any, token: str) -> None:
    keys = list(connection.scan_iter(match=f"*{token}*", count=500))
    if keys:
        connection.delete(*keys)
    for set_key in ("rq:queues", "rq:workers"):
        ours = [m for m in connection.smembers(set_key) if token.encode() in m]
        if ours:
            connection.srem(set_key, *ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--messages", type=int, default=32)
    parser.add_argument("--contacts", type=int, default=8)
    parser.add_argument("--model-delay", type=float, default=0.3)
    args = parser.parse_args()

    from redis import Redis

    from bot import jobs
    from bot.app import create_app
    from bot.llm.http import build_client
    from bot.llm.openai_compat import OpenAICompatModel
    from bot.tasks import RetryPolicy, RqExecutor

    connection = Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except Exception as exc:
        raise SystemExit(f"Redis is needed at {REDIS_URL}: {exc}") from None
    counts = [int(n) for n in args.workers.split(",")]
    rule = Rule(latency_s=args.model_delay, reply="Drink fluids and rest.")
    with FakeLLMServer([rule]) as server, tempfile.TemporaryDirectory() as tmp:
        http = build_client()
        model = OpenAICompatModel("fake", base_url=server.base_url, api_key="k", client=http)
        print(f"{args.messages} questions from {args.contacts} contacts; model answers after "
              f"{args.model_delay:.2f} s, sending takes 50 ms")
        for count in counts:
            token = f"hbbench{uuid.uuid4().hex[:8]}"
            with database(Path(tmp)) as url:
                messenger = RecordingMessenger(latency_s=0.05)
                app = create_app(settings(Path(tmp) / token, DATABASE_URL=url),
                                 chat_model=model, messenger=messenger, upgrade_db=True)
                services = app.extensions["bot"]
                services.tasks.close()
                executor = RqExecutor(connection, queue_name=f"q-{token}", prefix=token,
                                      policy=RetryPolicy(max=2, intervals=(1,)))
                services.tasks = executor
                jobs.bind(services)
                client = app.test_client()
                for i in range(args.contacts):
                    post(client, form("HELP", sender(i)))
                for n in range(args.messages):
                    i = n % args.contacts
                    post(client, form(f"question {n // args.contacts} about a cough", sender(i)))
                started = time.monotonic()
                done_when = partial(all_answered, services, args.messages)
                run_workers(executor, count, done_when, token,
                            timeout=args.messages * (args.model_delay + 0.2) + 30)
                took = time.monotonic() - started
                done = answered(services)
                in_order = kept_order(services, messenger)
                backend = url.split(":", 1)[0]
                print(f"{count} worker(s) [{backend}]: {done} answers in "
                      f"{took:.2f} s = {done / took:.1f}/s; per-contact order "
                      f"{'kept' if in_order else 'BROKEN'}")
                jobs.bind(None)
                services.tasks = None
                services.close()
                cleanup(connection, token)
        http.close()
    connection.close()


if __name__ == "__main__":
    main()

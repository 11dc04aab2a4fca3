"""Every wait on the database is bounded: a hung database is a fast StoreError, /readyz says so.

Fault 1 of issue 11: with the database host accepting connections and never answering, nothing
timed out. The hung host here is a loopback server that accepts and never sends a byte.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.errors import StoreError
from bot.store import migrate
from bot.store.uow import (
    CONNECT_TIMEOUT_S,
    POOL_TIMEOUT_S,
    SQLITE_BUSY_S,
    SqlUnitOfWork,
    make_engine,
    session_factory,
    use_erasure_key,
)
from bot.webhook.health import READY_BUDGET_S, readiness
from tests.e2e.faults import HungServer

SLACK_S = 1.5  # scheduling on a busy two-core machine


def test_hung_postgres_is_a_fast_store_error() -> None:
    with HungServer() as hung:
        engine = make_engine(f"postgresql+psycopg://bot@127.0.0.1:{hung.port}/healthbot")
        began = time.monotonic()
        with pytest.raises(StoreError), SqlUnitOfWork(session_factory(engine)):
            pass
        elapsed = time.monotonic() - began
        engine.dispose()
    print(f"hung PostgreSQL: StoreError after {elapsed:.2f} s")
    assert elapsed < CONNECT_TIMEOUT_S + SLACK_S


@pytest.mark.postgres
def test_pool_checkout_waits_at_most_the_pool_timeout(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    held = [engine.connect() for _ in range(engine.pool.size() + 10)]  # pool_size + max_overflow
    try:
        began = time.monotonic()
        with pytest.raises(StoreError), SqlUnitOfWork(session_factory(engine)):
            pass
        elapsed = time.monotonic() - began
    finally:
        for conn in held:
            conn.close()
        engine.dispose()
    print(f"exhausted pool: StoreError after {elapsed:.2f} s")
    assert POOL_TIMEOUT_S - 0.1 <= elapsed < POOL_TIMEOUT_S + SLACK_S


@pytest.mark.postgres
def test_statements_have_a_timeout_and_the_url_may_change_it(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "5s"
    engine.dispose()
    url = make_url(postgres_url).update_query_dict({"options": "-c statement_timeout=300"})
    short = make_engine(url.render_as_string(False))
    began = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"), short.connect() as conn:
        conn.execute(text("SELECT pg_sleep(3)"))
    assert time.monotonic() - began < 2
    short.dispose()


def test_a_locked_sqlite_database_fails_after_the_busy_timeout(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    import shutil

    path = tmp_path / "locked.db"
    shutil.copyfile(_sqlite_template, path)
    holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    engine = make_engine(f"sqlite:///{path}")
    try:
        began = time.monotonic()
        with (pytest.raises((StoreError, OperationalError), match="locked"),
              SqlUnitOfWork(session_factory(engine)) as uow):
            uow.session.execute(text("DELETE FROM contacts"))
            uow.commit()
        elapsed = time.monotonic() - began
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    print(f"locked SQLite: error after {elapsed:.2f} s")
    assert SQLITE_BUSY_S - 0.5 <= elapsed < SQLITE_BUSY_S + SLACK_S


def _services(engine: Any, redis: Any = None) -> Any:
    return SimpleNamespace(engine=engine, tasks=SimpleNamespace(connection=redis) if redis
                           else None)


def test_readiness_reports_the_database_and_its_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        body, status = readiness(_services(engine))
        assert status == 503 and body["database"] == "ok" and body["migrations"] == "behind"
        migrate.upgrade(database_url)
        assert readiness(_services(engine)) == (
            {"status": "ok", "database": "ok", "migrations": "head", "redis": "unused"}, 200)
    finally:
        engine.dispose()


def test_readiness_of_a_hung_database_and_a_hung_redis_within_a_second(
    migrated_database_url: str
) -> None:
    from redis import Redis

    with HungServer() as hung_db, HungServer() as hung_redis:
        engine = make_engine(f"postgresql+psycopg://bot@127.0.0.1:{hung_db.port}/healthbot")
        redis = Redis(host="127.0.0.1", port=hung_redis.port)
        began = time.monotonic()
        body, status = readiness(_services(engine, redis))
        elapsed = time.monotonic() - began
        healthy = make_engine(migrated_database_url)
        only_redis, only_redis_status = readiness(_services(healthy, redis))
        engine.dispose()
        healthy.dispose()
    print(f"readiness with a hung database and Redis: {elapsed:.2f} s, {body}")
    assert elapsed < READY_BUDGET_S + 0.3
    assert status == 503 and body["database"] == "timeout" and body["redis"] == "timeout"
    assert only_redis_status == 503 and only_redis["database"] == "ok"
    assert only_redis["redis"] == "timeout"


def test_erased_message_ids_are_kept_as_keyed_hashes(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url)
    sessions = session_factory(engine)
    try:
        with SqlUnitOfWork(sessions) as uow:
            uow.erased_messages.remember(["SM" + "1" * 32])
            uow.commit()
            assert not uow.erased_messages.contains("SM" + "1" * 32)  # no key: not remembered
        use_erasure_key(sessions, b"k" * 32)
        with SqlUnitOfWork(sessions) as uow:
            uow.erased_messages.remember(["SM" + "1" * 32, None, "SM" + "1" * 32])
            uow.erased_messages.remember(["SM" + "1" * 32])  # twice is harmless
            uow.commit()
        with SqlUnitOfWork(sessions) as uow:
            assert uow.erased_messages.contains("SM" + "1" * 32)
            assert not uow.erased_messages.contains("SM" + "2" * 32)
            stored = uow.session.execute(text("SELECT sid_hash FROM erased_messages")).scalars()
            assert [len(h) for h in stored] == [64]
        use_erasure_key(sessions, b"another key")
        with SqlUnitOfWork(sessions) as uow:
            assert not uow.erased_messages.contains("SM" + "1" * 32)
    finally:
        engine.dispose()

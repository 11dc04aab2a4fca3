"""Fixtures for the delivery tests: a store on each backend, Redis (own keys only), Prism."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.store.uow import SqlUnitOfWork, create_schema_for_tests, make_engine, session_factory

ROOT = Path(__file__).resolve().parents[2]
# Twilio's OpenAPI spec, vendored (MIT; provenance in its README), relative to the repository root.
TWILIO_SPEC = "tests/fixtures/twilio/openapi/twilio_api_v2010.json"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("HEALTHBOT_TEST_REQUIRE_SERVICES") == "1"


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)


@pytest.fixture(scope="module")
def store(module_database_url: str) -> Iterator[Store]:
    """The store's tables on a fresh database per backend, shared by a module's tests."""
    engine = make_engine(module_database_url)
    create_schema_for_tests(engine)
    yield Store(engine, session_factory(engine))
    engine.dispose()


@dataclass
class RedisSpace:
    """A Redis connection and a unique token: every key a test makes contains the token."""

    conn: Any
    token: str


@contextmanager
def _redis_space() -> Iterator[RedisSpace]:
    from redis import Redis
    from redis.exceptions import RedisError

    conn = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        conn.ping()
    except RedisError as exc:
        conn.close()
        if REQUIRE_SERVICES:
            pytest.fail(f"Redis is required but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    token = f"hbtest{uuid.uuid4().hex[:10]}"
    try:
        yield RedisSpace(conn, token)
    finally:
        keys = list(conn.scan_iter(match=f"*{token}*", count=500))
        if keys:
            conn.delete(*keys)
        # RQ also lists queues and workers in two shared sets: take ours out.
        for set_key in ("rq:queues", "rq:workers"):
            ours = [m for m in conn.smembers(set_key) if token.encode() in m]
            if ours:
                conn.srem(set_key, *ours)
        conn.close()


@pytest.fixture
def redis_space() -> Iterator[RedisSpace]:
    """Redis DB 15 with a unique key prefix; only this test's keys are deleted afterwards."""
    with _redis_space() as space:
        yield space


@pytest.fixture(scope="module")
def module_redis_space() -> Iterator[RedisSpace]:
    """The same, shared by one module's tests."""
    with _redis_space() as space:
        yield space


@contextmanager
def _postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not request.getfixturevalue("postgres_ok"):
        pytest.skip("PostgreSQL is not reachable")
    name = f"hb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for a whole module (its tests keep to their own contacts)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'healthbot.db'}"
        return
    with _postgres_database(request) as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for a module: the deployment shape with workers and Redis."""
    with _postgres_database(request) as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prism_binary() -> str | None:
    local = ROOT / "node_modules" / ".bin" / "prism"
    if local.exists():
        return str(local)
    return shutil.which("prism")


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism serving Twilio's OpenAPI spec on a free port, for the whole session."""
    binary = _prism_binary()
    spec = (ROOT / TWILIO_SPEC).resolve()
    if binary is None or not spec.exists():
        reason = "prism is not installed (npm ci)" if binary is None else f"no spec at {spec}"
        if REQUIRE_SERVICES:
            pytest.fail(f"the Prism contract tests are required but {reason}")
        pytest.skip(reason)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [binary, "mock", "-h", "127.0.0.1", "-p", str(port), TWILIO_SPEC],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"prism exited early: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"prism did not listen within 20 s: {log_path.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

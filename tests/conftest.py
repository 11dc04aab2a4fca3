"""Shared fixtures: databases on both backends, a configured app, signed Twilio posts."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# CI sets this so a missing PostgreSQL fails the run instead of silently skipping its tests.
REQUIRE_SERVICES = os.environ.get("HEALTHBOT_TEST_REQUIRE_SERVICES") == "1"


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_ok() -> bool:
    ok = _postgres_available()
    if not ok and REQUIRE_SERVICES:
        pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_URL}")
    return ok


@pytest.fixture
def postgres_url(postgres_ok: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not postgres_ok:
        pytest.skip("PostgreSQL is not reachable")
    name = f"hb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'healthbot.db'}"
    return request.getfixturevalue("postgres_url")  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's environment or .env by accident."""
    for name in list(os.environ):
        prefixes = ("HEALTHBOT_", "TWILIO_", "OPENAI_", "ANTHROPIC_", "GEMINI_")
        if name.startswith(prefixes) or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies of it."""
    from bot.store import migrate

    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_template(postgres_ok: bool) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per session, cloned with CREATE ... TEMPLATE."""
    from bot.store import migrate

    if not postgres_ok:
        pytest.skip("PostgreSQL is not reachable")
    name = f"hb_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate.upgrade(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database already at the latest migration, on each backend (a copy of a template)."""
    if request.param == "sqlite":
        target = tmp_path / "healthbot.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("_postgres_template")
    name = f"hb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def app(tmp_path: Path, migrated_database_url: str) -> Iterator[Any]:
    """The real app on a fresh database (each backend), offline model, alerts sent inline."""
    from bot.app import create_app
    from tests.helpers import make_settings

    application = create_app(make_settings(tmp_path, migrated_database_url), upgrade_db=False,
                             background=False)
    application.config["TESTING"] = True
    yield application
    application.extensions["bot"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()

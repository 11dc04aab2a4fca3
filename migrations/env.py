"""Alembic environment: the URL comes from Settings (or the caller's Config), never a file."""

from __future__ import annotations

from alembic import context

from bot.config import load_settings
from bot.store.models import Base
from bot.store.uow import make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or load_settings().sqlalchemy_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Migrations may rebuild tables for minutes: no statement timeout here.
    engine = make_engine(_url(), statement_timeout_ms=None)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()  # one-shot: keep no connections around after migrating


def _run(connection: object) -> None:
    # render_as_batch: SQLite can't ALTER most things, so Alembic rebuilds tables there.
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Fixtures for the staff console: the app with a recording Messenger, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.support import FakeMessenger, fast_hashing


@pytest.fixture
def messenger() -> FakeMessenger:
    return FakeMessenger()


def _make_app(tmp_path: Path, database_url: str, messenger: FakeMessenger | None) -> Any:
    from bot.app import create_app
    from tests.helpers import make_settings

    application = create_app(make_settings(tmp_path, database_url), upgrade_db=True,
                             background=False, messenger=messenger)
    application.config["TESTING"] = True
    fast_hashing(application)
    return application


@pytest.fixture
def console_app(tmp_path: Path, database_url: str, messenger: FakeMessenger) -> Iterator[Any]:
    """The real app on a fresh database (each backend) whose sends go to `messenger`."""
    application = _make_app(tmp_path, database_url, messenger)
    yield application
    application.extensions["bot"].close()


@pytest.fixture
def sqlite_app(tmp_path: Path, messenger: FakeMessenger) -> Iterator[Any]:
    """The same app on SQLite only, for tests whose subject is not the database."""
    application = _make_app(tmp_path, f"sqlite:///{tmp_path / 'healthbot.db'}", messenger)
    yield application
    application.extensions["bot"].close()

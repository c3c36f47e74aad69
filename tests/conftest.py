"""Shared fixtures: the shipped definitions, fresh databases on SQLite and PostgreSQL.

PostgreSQL and Redis come from REMINDERS_TEST_POSTGRES_URL / REMINDERS_TEST_REDIS_URL.
Without them the tests that need them skip with the reason -- except where
REMINDERS_REQUIRE_SERVICES=1 (set by .ci/run), where a missing service is an error.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CALENDARS = ROOT / "calendars"
POSTGRES_URL = os.environ.get("REMINDERS_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("REMINDERS_TEST_REDIS_URL")
REQUIRE_SERVICES = os.environ.get("REMINDERS_REQUIRE_SERVICES") == "1"
pytest_plugins = ("newcomer",)  # fresh_folder, first_screen: a newcomer's `reminders run`


def need_service(url: str | None, variable: str) -> str:
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{variable} is not set, and REMINDERS_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{variable} not set: no server to test against on this machine")


@pytest.fixture
def calendars(tmp_path: Path) -> Path:
    """A private copy of the shipped calendars and roster, safe to edit."""
    target = tmp_path / "calendars"
    shutil.copytree(SHIPPED_CALENDARS, target)
    return target


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reminders.db'}"


def _postgres_database() -> tuple[str, callable]:
    import psycopg

    base = need_service(POSTGRES_URL, "REMINDERS_TEST_POSTGRES_URL")
    name = f"reminders_test_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def _fresh_postgres():
    """A PostgreSQL database of the test's own, dropped after it."""
    url, drop = _postgres_database()
    try:
        yield url
    finally:
        from sqlalchemy.orm import close_all_sessions

        close_all_sessions()
        drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path):
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reminders.db'}"
        return
    yield from _fresh_postgres()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database of its own, for a test that compares it with SQLite."""
    yield from _fresh_postgres()


@pytest.fixture
def engine(database_url):
    from reminders.store.engine import make_engine

    engine = make_engine(database_url)
    yield engine
    engine.dispose()


# The fake chat platforms, each on loopback in its own thread, stopped after the test.
@pytest.fixture
def telegram():
    from fake_telegram import FakeTelegram

    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def zbot():
    from fake_zalo import FakeZaloBot

    server = FakeZaloBot().start()
    yield server
    server.stop()


@pytest.fixture
def oa():
    from fake_zalo import FakeZaloOA

    server = FakeZaloOA().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def radio_sent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database where the radio duty's reminder of 5 January 2024 went out (15:00 in Hà Nội),
    shared by a module's CLI tests that only read it: (file, An's code)."""
    from helpers import radio_reminder_sent

    db = tmp_path_factory.mktemp("radio") / "r.db"
    runtime, code = radio_reminder_sent(db)
    runtime.engine.dispose()
    return db, code

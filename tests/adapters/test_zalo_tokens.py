"""The Zalo OA's rotating token pair: a refreshed pair the database cannot take (locked by
another connection) is kept, used and stored later -- never lost, never refreshed over --
and the pair is stored sealed, never in clear, never in a log line.

Against the fake Zalo OA over loopback HTTP, whose OAuth endpoint rotates single-use
refresh tokens (a spent one answers -14014), and a real SQLite database."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import pytest
from fake_zalo import FakeZaloOA
from sqlalchemy import event, select

from reminders.adapters.base import AdapterServices, Address, OutgoingMessage, TemporaryFailure
from reminders.adapters.zalo.oa import ZaloOAAdapter
from reminders.errors import ConfigurationError
from reminders.settings import load_settings
from reminders.store.engine import make_engine
from reminders.store.models import PLATFORM_TOKEN
from reminders.store.sealing import Sealer
from reminders.store.tokens import TokenTable

SECRET_KEY = "test-secret-key-for-sealing-0123456789"
SEALER = Sealer(SECRET_KEY)
BINH = Address("u-binh", False, "Trần Thị Bình")


def _adapter(fake: FakeZaloOA, table: TokenTable) -> ZaloOAAdapter:
    adapter = ZaloOAAdapter.from_settings(load_settings({
        "ZALO_APP_ID": fake.app_id, "ZALO_APP_SECRET": fake.app_secret, "ZALO_OA_SECRET_KEY": fake.oa_secret_key,
        "ZALO_OA_ACCESS_TOKEN": "ACCESS-1", "ZALO_OA_REFRESH_TOKEN": "REFRESH-1", "REMINDERS_SECRET_KEY": SECRET_KEY,
        "ZALO_OA_API_URL": fake.base_url, "ZALO_OA_OAUTH_URL": fake.oauth_url}))
    adapter.attach(AdapterServices(tokens=table))
    return adapter


def _stored(engine) -> tuple[str, str]:
    with engine.connect() as conn:
        row = conn.execute(select(PLATFORM_TOKEN.c.access_token, PLATFORM_TOKEN.c.refresh_token)).one()
    return SEALER.open(row.access_token), SEALER.open(row.refresh_token)


def _engine(path):
    """The process's engine, waiting 0.2 s (not 30) for a lock, so the store fails quickly."""
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    engine.dispose()  # the connections made while migrating wait 30 s: new ones
    return engine


def test_a_refreshed_pair_the_locked_database_cannot_take_is_kept_used_and_stored_later(oa, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    engine = _engine(tmp_path / "r.db")
    adapter = _adapter(oa, TokenTable(engine, SECRET_KEY))
    # Another connection (a backup, an admin's sqlite3 shell) locks the database for writing
    # at the worst moment: Zalo has just rotated the pair, the old refresh token is spent.
    locker = sqlite3.connect(tmp_path / "r.db", isolation_level=None, check_same_thread=False)
    locked: list[bool] = []

    def lock_once() -> None:
        if not locked:
            locker.execute("BEGIN IMMEDIATE")
            locked.append(True)

    oa.on_refresh = lock_once
    oa.expire("ACCESS-1")

    async def scenario() -> None:
        await adapter.start()
        await adapter.send(BINH, OutgoingMessage("Nhắc việc: trực bộ phận một cửa"))
        assert [m["access_token"] for m in oa.sent] == ["ACCESS-2"], "the new pair is used at once"
        assert _stored(engine) == ("ACCESS-1", "REFRESH-1"), "the database has not taken it yet"

        await adapter.send(BINH, OutgoingMessage("Nhắc lần hai"))
        assert [m["access_token"] for m in oa.sent] == ["ACCESS-2", "ACCESS-2"]
        # Even when Zalo refuses the pair in hand, it is not refreshed over while unstored:
        # REFRESH-2 is the only live refresh token, and the database still holds the spent one.
        oa.expire("ACCESS-2")
        with pytest.raises(TemporaryFailure):
            await adapter.send(BINH, OutgoingMessage("Nhắc lần ba"))
        assert [c["refresh_token"] for c in oa.oauth_calls] == ["REFRESH-1"]

        locker.execute("ROLLBACK")  # the lock goes: the pair in hand is stored (retried in the background)
        deadline = time.monotonic() + 60
        while _stored(engine) != ("ACCESS-2", "REFRESH-2"):
            assert time.monotonic() < deadline, "the kept pair was never stored"
            await asyncio.sleep(0.2)

        await adapter.send(BINH, OutgoingMessage("Nhắc lần ba"))  # REFRESH-2 spent, not the dead REFRESH-1
        await adapter.close()

    asyncio.run(scenario())
    assert [c["refresh_token"] for c in oa.oauth_calls] == ["REFRESH-1", "REFRESH-2"]
    assert [m["access_token"] for m in oa.sent] == ["ACCESS-2", "ACCESS-2", "ACCESS-3"]
    assert _stored(engine) == ("ACCESS-3", "REFRESH-3")

    # Another process (a restart) starts from the database: the current pair, no refresh.
    later = _adapter(oa, TokenTable(engine, SECRET_KEY))

    async def restart() -> None:
        await later.start()
        await later.send(BINH, OutgoingMessage("Sau khi khởi động lại"))
        await later.close()

    asyncio.run(restart())
    assert len(oa.oauth_calls) == 2 and oa.sent[-1]["access_token"] == "ACCESS-3"

    logged = "\n".join(caplog.text.splitlines())
    assert "could not be stored" in logged, "the failed store is told"
    for token in ("ACCESS-2", "REFRESH-2", "ACCESS-3", "REFRESH-3"):
        assert token not in logged, f"{token} reached a log line"
    locker.close()
    engine.dispose()


def test_the_pair_is_stored_sealed_and_nothing_of_it_is_in_the_database_file(oa, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    adapter = _adapter(oa, TokenTable(engine, SECRET_KEY))
    oa.expire("ACCESS-1")

    async def scenario() -> None:
        await adapter.start()
        await adapter.send(BINH, OutgoingMessage("Nhắc việc"))
        await adapter.close()

    asyncio.run(scenario())
    assert _stored(engine) == ("ACCESS-2", "REFRESH-2")
    engine.dispose()  # checkpointed into the file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("r.db*"))
    for token in (b"ACCESS-1", b"REFRESH-1", b"ACCESS-2", b"REFRESH-2"):
        assert token not in raw

    # A process with another key cannot use them, and says what to do.
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    other = _adapter(oa, TokenTable(engine, "another-key-" + "x" * 32))
    with pytest.raises(ConfigurationError, match="REMINDERS_SECRET_KEY does not open"):
        asyncio.run(other.start())
    engine.dispose()

"""What the database keeps private: SQL parameters (tokens) never in an error's text, the
SQLite files readable by their owner only, platform tokens sealed with REMINDERS_SECRET_KEY
-- and a process that would have to keep them in clear refuses to start, saying why."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from reminders.store.engine import make_engine
from reminders.store.models import PLATFORM_TOKEN
from reminders.store.sealing import Sealer, is_sealed

SECRET_KEY = "test-secret-key-for-sealing-0123456789"


def _token_row(access: str, refresh: str) -> dict:
    return {"app_id": "1234567890123456789", "access_token": access, "refresh_token": refresh,
            "seed_hash": hashlib.sha256(refresh.encode()).hexdigest(), "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}


def test_sql_parameters_are_never_in_an_error_text(database_url):
    """A failed statement's error names the statement, not its values: they may be tokens
    (an error logged while storing a Zalo OA pair printed the pair)."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(insert(PLATFORM_TOKEN).values(**_token_row("ACCESS-first-pair", "REFRESH-first-pair")))
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(PLATFORM_TOKEN).values(**_token_row("ACCESS-secret-value", "REFRESH-secret-value")))
    text = str(caught.value)
    assert "zalo_oa_token" in text, "the error still says what failed"
    assert "ACCESS-secret-value" not in text and "REFRESH-secret-value" not in text
    engine.dispose()


def _environment(tmp_path: Path, calendars: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERS_", "ZALO_", "TELEGRAM_"))}
    return {**env, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REMINDERS_CALENDARS": str(calendars),
            "REMINDERS_ADAPTERS": "console", "REMINDERS_CONSOLE_FILE": str(tmp_path / "console.txt"),
            "REMINDERS_LANGUAGE": "en", **extra}


def _start(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=env, cwd=tmp_path, start_new_session=True, umask=0o022,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _wait(predicate, what: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_files_are_created_readable_by_their_owner_only(tmp_path, calendars):
    """`reminders run` with the usual umask (022): the database, its -wal and -shm are 0600."""
    env = _environment(tmp_path, calendars)
    proc = _start(env, tmp_path, "-m", "reminders.cli", "run")
    try:
        files = [tmp_path / name for name in ("r.db", "r.db-wal", "r.db-shm")]
        _wait(lambda: all(f.exists() for f in files), "the database and its -wal and -shm files", proc)
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        _stop(proc)


def test_an_existing_database_readable_by_others_is_narrowed(tmp_path):
    path = tmp_path / "old.db"
    make_engine(f"sqlite:///{path}").dispose()
    path.chmod(0o644)  # as an earlier version left it
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "db", "upgrade"], cwd=tmp_path, text=True,
                            capture_output=True, env={**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{path}"},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert _mode(path) == 0o600


def test_stored_tokens_without_a_key_refuse_to_start_and_with_a_key_are_sealed(tmp_path, calendars):
    """An earlier version kept the Zalo OA pair in clear: without REMINDERS_SECRET_KEY the
    processes refuse to start (a clear message, exit 1, no traceback), with it the pair is
    sealed at the first start."""
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with engine.begin() as conn:
        conn.execute(insert(PLATFORM_TOKEN).values(**_token_row("ACCESS-in-clear", "REFRESH-in-clear")))

    env = _environment(tmp_path, calendars)
    run = _start(env, tmp_path, "-m", "reminders.cli", "run")
    web = _start(env, tmp_path, "-m", "uvicorn", "--factory", "reminders.web.app:create_app_from_env",
                 "--host", "127.0.0.1", "--port", "0")
    try:
        for proc in (run, web):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode not in (0, None), (out, err)
            assert "REMINDERS_SECRET_KEY is not set" in err and "Zalo OA tokens in clear text" in err, err
            assert "Traceback" not in out + err
    finally:  # a process that did not refuse is not left running
        _stop(run)
        _stop(web)

    run = _start({**env, "REMINDERS_SECRET_KEY": SECRET_KEY}, tmp_path, "-m", "reminders.cli", "run")
    try:
        def sealed() -> bool:
            with engine.connect() as conn:
                row = conn.execute(select(PLATFORM_TOKEN.c.access_token, PLATFORM_TOKEN.c.refresh_token)).one()
            return is_sealed(row.access_token) and is_sealed(row.refresh_token)
        _wait(sealed, "the stored pair to be sealed", run)
    finally:
        _stop(run)
    with engine.connect() as conn:
        row = conn.execute(select(PLATFORM_TOKEN.c.access_token, PLATFORM_TOKEN.c.refresh_token)).one()
    opener = Sealer(SECRET_KEY)
    assert (opener.open(row.access_token), opener.open(row.refresh_token)) == ("ACCESS-in-clear", "REFRESH-in-clear")
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("r.db*"))
    assert b"ACCESS-in-clear" not in raw and b"REFRESH-in-clear" not in raw

    # Sealed, and the key gone from the environment: still refused, saying which key is wanted.
    refused = _start(env, tmp_path, "-m", "reminders.cli", "run")
    try:
        out, err = refused.communicate(timeout=120)
    finally:
        _stop(refused)
    assert refused.returncode == 1 and "to the key they were sealed with" in err and "Traceback" not in err

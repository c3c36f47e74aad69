"""Careless input to the admin commands is refused clearly: exit 1 or 2, a message that names
the option or variable and says what is wrong, no traceback, and nothing half-written."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "reminders.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, with the default (Vietnamese) language and no REMINDERS_* from outside."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, env={**base, **(env or {})},
                          timeout=timeout)


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode in (1, 2), (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Lỗi nội bộ" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def feed_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        return conn.execute("select count(*) from feed_token").fetchone()[0] if "feed_token" in tables else 0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "r.db"


def test_feed_create_with_a_base_url_without_scheme_writes_no_token(db: Path) -> None:
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{db}"}
    result = run_cli("feed", "create", "--commune", "xa-tan-lap", "--base-url", "nhacviec.example.vn", env=env)
    refused(result, "--base-url", "nhacviec.example.vn", "https://")
    assert feed_rows(db) == 0
    ok = run_cli("feed", "create", "--commune", "xa-tan-lap", "--base-url", "https://nhacviec.example.vn", env=env)
    assert ok.returncode == 0 and "https://nhacviec.example.vn/feeds/" in ok.stdout, ok.stderr
    assert feed_rows(db) == 1
    rotate = run_cli("feed", "rotate", "1", "--base-url", "nhacviec.example.vn", env=env)
    refused(rotate, "--base-url")
    listed = run_cli("feed", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("select count(*) from feed_token where revoked_at is null").fetchone()[0] == 1


def test_feed_create_with_a_public_url_without_scheme_writes_no_token(db: Path) -> None:
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{db}", "REMINDERS_PUBLIC_URL": "nhacviec.example.vn"}
    result = run_cli("feed", "create", "--commune", "xa-tan-lap", env=env)
    refused(result, "REMINDERS_PUBLIC_URL", "https://")
    assert feed_rows(db) == 0


@pytest.mark.parametrize("args", [
    ["simulate", "--from", "0001-01-01", "--to", "0001-01-02"],
    ["simulate", "--from", "9999-12-30", "--to", "9999-12-31"],
    ["report", "--from", "0001-01-01", "--to", "0001-01-31"],
    ["report", "--month", "9999-12"],
    ["preview", "radio-chuyen-doi-so@reminders", "--from", "0001-01-01", "--to", "0001-02-01"],
], ids=lambda args: " ".join(args))
def test_years_out_of_range_are_refused(args: list[str], db: Path, tmp_path: Path) -> None:
    extra = ["--out", str(tmp_path / "out")] if args[0] == "report" else []
    result = run_cli(*args, *extra, env={"REMINDERS_DATABASE_URL": f"sqlite:///{db}"})
    refused(result, "1970-2199")


def test_status_with_a_huge_number_of_days_is_refused(db: Path) -> None:
    refused(run_cli("status", "--days", "100000000", env={"REMINDERS_DATABASE_URL": f"sqlite:///{db}"}), "--days")


def test_ack_with_a_huge_code_is_refused(db: Path) -> None:
    result = run_cli("ack", str(10 ** 29), "--member", "nguyen-van-an",
                     env={"REMINDERS_DATABASE_URL": f"sqlite:///{db}"})
    refused(result, str(10 ** 29))


def test_db_copy_twice_or_to_mysql_is_refused(db: Path, tmp_path: Path) -> None:
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{db}"}
    assert run_cli("feed", "create", "--commune", "xa-tan-lap", env=env).returncode == 0  # one row to copy
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    first = run_cli("db", "copy", "--to", target, env=env)
    assert first.returncode == 0, first.stderr
    refused(run_cli("db", "copy", "--to", target, env=env), "feed_token", "not empty")
    assert feed_rows(tmp_path / "copy.db") == 1
    refused(run_cli("db", "copy", "--to", "mysql://root@localhost/reminders", env=env), "--to", "postgresql://")


def test_a_log_level_that_does_not_exist_is_a_settings_error() -> None:
    result = run_cli("status", env={"REMINDERS_LOG_LEVEL": "LOUD"})
    refused(result, "REMINDERS_LOG_LEVEL", "LOUD")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_simulate_stopped_leaves_no_temporary_database(stop: signal.Signals, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    proc = subprocess.Popen([*CLI, "simulate", "--from", "2024-01-01", "--to", "2025-12-31"], cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**base, "TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 120
        while not list(scratch.glob("reminders-sim-*/sim.db")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(scratch.glob("reminders-sim-*/sim.db")), "the simulation never started"
        time.sleep(1)  # well into the run
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "Đã dừng" in err, err
    assert list(scratch.iterdir()) == []


def test_a_database_upgraded_by_a_newer_version_is_refused_clearly(db: Path) -> None:
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{db}"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("update alembic_version set version_num = 'ffff9999'")
        conn.commit()
    for command in (["status"], ["db", "upgrade"], ["run"]):
        refused(run_cli(*command, env=env), "phiên bản reminders mới hơn", "ffff9999", "hãy nâng cấp reminders")

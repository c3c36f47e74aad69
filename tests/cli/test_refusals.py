"""Careless input to the admin commands is refused clearly: exit 1 or 2, a message that names
the option or variable and says what is wrong, no traceback, and nothing half-written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
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

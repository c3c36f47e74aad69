"""REMINDERS_LOG_LEVEL=INFO shows no alembic chatter ("Context impl SQLiteImpl.", "Will assume
non-transactional DDL.", its plugins, one line per migration) in any process -- the command
line, the web app, a dramatiq worker -- only one line of ours when the schema did change."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REDIS_URL, need_service

BIN = Path(sys.executable).parent


@pytest.fixture
def env(tmp_path, calendars):
    return {**os.environ, "REMINDERS_LOG_LEVEL": "INFO", "REMINDERS_CALENDARS": str(calendars),
            "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}


def _until(args: list[str], env: dict, log: Path, marker: str, tmp_path: Path) -> str:
    """Start a long-running process, wait for `marker` in its stderr, stop it; its stderr."""
    with log.open("w") as err:
        proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while marker not in log.read_text(encoding="utf-8"):
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, f"timed out waiting for {marker!r}: {log.read_text()}"
            time.sleep(0.2)
    finally:
        # SIGTERM to the process it started, not its group: dramatiq's main process passes it
        # on to its worker processes, and a worker process that gets it twice (from the group
        # and from its parent) exits the hard way and hangs on its non-daemon threads (30 s).
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return log.read_text(encoding="utf-8")


def test_the_command_line(env, tmp_path):
    first = subprocess.run([sys.executable, "-m", "reminders.cli", "status"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "alembic" not in first.stderr
    assert "database schema upgraded from empty to" in first.stderr  # said once, by us
    again = subprocess.run([sys.executable, "-m", "reminders.cli", "status"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert "alembic" not in again.stderr and "schema upgraded" not in again.stderr


def test_the_web_app(env, tmp_path):
    said = _until([str(BIN / "uvicorn"), "--factory", "reminders.web.app:create_app_from_env", "--port", "0"],
                  env, tmp_path / "web.log", "Application startup complete", tmp_path)
    assert "alembic" not in said


def test_a_dramatiq_worker(env, tmp_path):
    redis = need_service(REDIS_URL, "REMINDERS_TEST_REDIS_URL")
    worker_env = {**env, "REMINDERS_REDIS_URL": redis, "REMINDERS_REDIS_NAMESPACE": f"logs-{uuid.uuid4().hex[:8]}"}
    said = _until([sys.executable, "-m", "dramatiq", "reminders.jobs.worker", "--processes", "1", "--threads", "1"],
                  worker_env, tmp_path / "worker.log", "Event loop is running", tmp_path)
    assert "alembic" not in said
    assert "database schema upgraded from empty to" in said

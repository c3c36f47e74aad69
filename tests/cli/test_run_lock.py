"""Issue 14.11: a second `reminders run` on the same database is refused with a clear message,
while the first keeps working; after a `kill -9` of the first, the next one starts at once
(the lock dies with its process). Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNNING = "Đang chạy. Nhấn Ctrl-C để dừng."


@pytest.fixture
def start(tmp_path, calendars, database_url):
    env = {**os.environ, "REMINDERS_DATABASE_URL": database_url, "REMINDERS_CALENDARS": str(calendars),
           "REMINDERS_ADAPTERS": "console", "REMINDERS_CONSOLE_FILE": str(tmp_path / "sent.txt"),
           "REMINDERS_LANGUAGE": "vi", "REMINDERS_TICK_SECONDS": "1"}
    procs: list[subprocess.Popen] = []

    def run(name: str) -> tuple[subprocess.Popen, Path, Path]:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "run"], env=env, cwd=tmp_path,
                                    stdout=stdout, stderr=stderr, start_new_session=True)
        procs.append(proc)
        return proc, out, err

    yield run
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text(encoding="utf-8") if path.exists() else ""):
        assert proc.poll() is None, f"exited with {proc.returncode}: {path.with_suffix('.err').read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {text!r} in {path.name}"
        time.sleep(0.2)


def test_a_second_run_on_the_same_database_is_refused_and_a_kill_9_blocks_nothing(start):
    first, first_out, _ = start("first")
    _wait_for(first_out, RUNNING, first)

    second, _, second_err = start("second")
    assert second.wait(timeout=90) == 1
    said = second_err.read_text(encoding="utf-8")
    assert "Đã có một `reminders run` khác đang chạy trên cơ sở dữ liệu này" in said
    assert f"tiến trình {first.pid} " in said, "it names the process holding the database"
    assert "Traceback" not in said
    assert first.poll() is None, "the first one keeps working"

    os.killpg(first.pid, signal.SIGKILL)  # kill -9: no chance to clean anything up
    first.wait()
    third, third_out, _ = start("third")
    _wait_for(third_out, RUNNING, third)
    os.killpg(third.pid, signal.SIGTERM)
    assert third.wait(timeout=60) == 0

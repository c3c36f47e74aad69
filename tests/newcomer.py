"""A newcomer's fresh folder and `reminders run` started in it (tests/cli: first screen, README walkthrough)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SHIPPED_CALENDARS = Path(__file__).resolve().parents[1] / "calendars"

REMINDERS = Path(sys.executable).with_name("reminders")  # the venv's command, as the quick start runs it
SCREEN = (80, 40)  # columns, rows: a terminal window


def fresh_env() -> dict[str, str]:
    """The environment of a new shell: none of the project's variables set."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("REMINDERS_", "TELEGRAM_", "ZALO_", "DATABASE_URL", "REDIS_URL"))} | {
        "COLUMNS": str(SCREEN[0]), "LINES": str(SCREEN[1])}


@pytest.fixture
def fresh_folder(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_CALENDARS, tmp_path / "calendars")
    return tmp_path


@contextmanager
def running(folder: Path) -> Iterator[str]:
    """`reminders run` started in `folder` as a newcomer starts it; its first screen, while it runs."""
    out = folder / "run.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([str(REMINDERS), "run"], cwd=folder, env=fresh_env(), stdout=stdout,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a speed check
        while "Đang chạy" not in out.read_text(encoding="utf-8"):
            assert proc.poll() is None, f"reminders run exited ({proc.returncode}):\n{out.read_text()}"
            assert time.monotonic() < deadline, "reminders run printed nothing:\n" + out.read_text()
            time.sleep(0.1)
        yield out.read_text(encoding="utf-8")
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def first_screen(fresh_folder: Path) -> Iterator[str]:
    with running(fresh_folder) as screen:
        yield screen


def printed_command(screen: str, label: str) -> list[str]:
    """The command that `reminders run` printed after `label` on its first screen."""
    [line] = [line for line in screen.splitlines() if label in line]
    return shlex.split(line.partition(label)[2].strip())

"""A newcomer's first screen: `reminders run` in a fresh folder (the shipped calendars, the
default SQLite database, the console) says in one screen what to do next, and the commands it
prints work as printed, from another terminal, against that same database."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SHIPPED_CALENDARS
from sqlalchemy import select

from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow

REMINDERS = Path(sys.executable).with_name("reminders")  # the venv's command, as the quick start runs it
SCREEN = (80, 40)  # columns, rows: a terminal window


def _fresh_env() -> dict[str, str]:
    """The environment of a new shell: none of the project's variables set."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("REMINDERS_", "TELEGRAM_", "ZALO_", "DATABASE_URL", "REDIS_URL"))} | {
        "COLUMNS": str(SCREEN[0]), "LINES": str(SCREEN[1])}


@pytest.fixture
def fresh_folder(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED_CALENDARS, tmp_path / "calendars")
    return tmp_path


@pytest.fixture
def first_screen(fresh_folder: Path):
    out = fresh_folder / "run.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([str(REMINDERS), "run"], cwd=fresh_folder, env=_fresh_env(), stdout=stdout,
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


def _printed_command(screen: str, label: str) -> list[str]:
    [line] = [line for line in screen.splitlines() if label in line]
    return shlex.split(line.partition(label)[2].strip())


def test_the_first_screen_says_what_to_do_next_in_one_screen(first_screen):
    rows = sum(max(1, -(-len(line) // SCREEN[0])) for line in first_screen.splitlines())
    assert rows <= SCREEN[1], f"{rows} rows:\n{first_screen}"
    assert "Lời nhắc sắp tới" in first_screen and "Tiếp theo:" in first_screen
    assert "TELEGRAM_BOT_TOKEN" in first_screen and "REMINDERS_ADAPTERS=telegram,console" in first_screen
    assert "ZALO_BOT_TOKEN" in first_screen and "REMINDERS_ADAPTERS=zalo_bot,console" in first_screen
    assert "http://localhost:8000/feeds/<token>.ics" in first_screen
    assert "uvicorn --factory reminders.web.app:create_app_from_env" in first_screen


def test_the_printed_ack_command_records_the_acknowledgement_in_run_s_database(first_screen, fresh_folder):
    ack = _printed_command(first_screen, "(trong thư mục này):")
    assert ack[0] == str(REMINDERS) and ack[1] == "ack" and "--member" in ack
    code, member = ack[2], ack[ack.index("--member") + 1]
    assert f"│ {code} " in first_screen, "the code is the one shown in the table of next reminders"
    done = subprocess.run(ack, cwd=fresh_folder, env=_fresh_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Cảm ơn" in done.stdout and "đã ghi nhận" in done.stdout
    engine = make_engine(f"sqlite:///{fresh_folder / 'reminders.db'}", create=False)
    with engine.connect() as conn:
        assert conn.execute(select(AcknowledgementRow.person_id)).scalars().all() == [member]
    engine.dispose()

    status = subprocess.run(_printed_command(first_screen, "Ai đã xác nhận việc gì:"), cwd=fresh_folder,
                            env=_fresh_env() | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if "1/" in line]
    assert code in row.split("│")[-2].split(), "the status shows the codes to acknowledge with"

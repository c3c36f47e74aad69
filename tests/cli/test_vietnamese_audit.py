"""`reminders audit` speaks the admin's words: a delivery's kind as "nhắc 1", not the internal
"reminder-0"; every time in the roster's zone, named once in the header (a snooze's time was
stored and shown in UTC beside local times); duty rhythms end on "30 tháng 9, 2023", not
Babel's abbreviated "30 thg 9, 2023". Real subprocesses on a real database."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import vn
from sqlalchemy import select

from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import VirtualClock

ROOT = Path(__file__).resolve().parents[2]
RADIO = "radio-chuyen-doi-so@reminders"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The radio duty's reminder of 5 January 2024 sent (15:00 in Hà Nội): (file, An's code)."""
    db = tmp_path_factory.mktemp("audit") / "r.db"
    settings = load_settings({}).replace(database_url=f"sqlite:///{db}")
    clock = VirtualClock(vn(2024, 1, 5, 15, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    with EmbeddedWorker(runtime, settings, worker_threads=1, rate_limits=False) as worker:
        worker.scheduler.tick()
        worker.drain()
    with runtime.engine.connect() as conn:
        delivery_id = conn.execute(select(DeliveryRow.id).join(OccurrenceRow).where(
            OccurrenceRow.duty_uid == RADIO, DeliveryRow.recipient == "person:nguyen-van-an",
            DeliveryRow.status == "sent")).scalars().first()
    runtime.engine.dispose()
    return db, delivery_code(delivery_id)


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")},
           "REMINDERS_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "reminders.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_audit_says_kinds_in_words_and_every_time_in_the_local_zone(database: tuple[Path, str]) -> None:
    db, code = database
    snoozed = run_cli(db, "ack", code, "--member", "nguyen-van-an", "--snooze")
    assert snoozed.returncode == 0, snoozed.stderr
    result = run_cli(db, "audit", "--duty", RADIO)
    assert result.returncode == 0, result.stderr
    assert "reminder-0" not in result.stdout and "nhắc 1 qua console" in result.stdout, result.stdout
    assert result.stdout.count("Asia/Ho_Chi_Minh") == 1, result.stdout  # the zone, named once
    [line] = [line for line in result.stdout.splitlines() if "Hẹn nhắc lại" in line]
    detail = line.split("│")[-2].strip()
    assert re.fullmatch(r"đến \d\d/\d\d/\d{4} \d\d:\d\d", detail), line  # stored as 'until …Z', shown local
    assert not re.search(r"\d\d:\d\dZ", result.stdout), result.stdout


def test_a_rhythm_ends_on_a_spelled_out_vietnamese_date(database: tuple[Path, str]) -> None:
    result = run_cli(database[0], "duties", "show", "thi-diem-truyen-thong-2022@reminders")
    assert result.returncode == 0, result.stderr
    assert "đến hết 30 tháng 9, 2023" in result.stdout and "thg" not in result.stdout, result.stdout


def test_the_outbox_says_each_delivery_state_in_vietnamese(database: tuple[Path, str]) -> None:
    result = run_cli(database[0], "deliveries")
    assert result.returncode == 0, result.stderr
    assert "Trạng thái" in result.stdout and "Đã gửi" in result.stdout and "Chờ gửi" in result.stdout, result.stdout
    for english in ("status", "pending", "sent"):
        assert not re.search(rf"\b{english}\b", result.stdout), (english, result.stdout)

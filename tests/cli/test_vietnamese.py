"""The admin's commands speak Vietnamese by default: no English word reported by the new
admin remains in the tables' headers, the duty's description or the refusals."""

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
CAMPAIGN = "chien-dich-di-tung-ngo@reminders"
# What the issue found in English, as whole words (a header, a refusal, a keyword).
ENGLISH = ["recurrence_id", "start", "end", "reminders", "scope", "label", "revoked", "is not in the team",
           "reminder-0", "leader", "members", "yes", "not on the roster", "no reminder has the code"]


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if re.search(rf"(?<![\w@.-]){re.escape(word)}(?![\w@-])", text)]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database where the radio duty's reminder of 5 January 2024 went out: (file, An's code)."""
    db = tmp_path_factory.mktemp("vi") / "r.db"
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
           "REMINDERS_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "reminders.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize("args", [
    ["preview", CAMPAIGN, "--from", "2024-10-01", "--to", "2024-10-02"],
    ["feed", "list"],
    ["duties", "show", CAMPAIGN],
    ["duties", "show", "bao-cao-thang@reminders"],
], ids=lambda args: " ".join(args[:2]))
def test_tables_and_descriptions_are_vietnamese(database: tuple[Path, str], args: list[str]) -> None:
    result = run_cli(database[0], *args)
    assert result.returncode == 0, result.stderr
    assert english_in(result.stdout) == [], result.stdout
    assert "Nhắc: nhắc" not in result.stdout


def test_ack_refusals_are_vietnamese(database: tuple[Path, str]) -> None:
    db, code = database
    other_team = run_cli(db, "ack", code, "--member", "pham-van-dung")
    assert other_team.returncode == 1 and "không thuộc tổ được gửi lời nhắc này" in other_team.stderr
    unknown = run_cli(db, "ack", code, "--member", "ai-do")
    assert unknown.returncode == 1 and "không có trong danh sách" in unknown.stderr
    no_code = run_cli(db, "ack", "ZZZZZZ", "--member", "nguyen-van-an")
    assert no_code.returncode == 1 and "không có lời nhắc nào có mã 'ZZZZZZ'" in no_code.stderr
    for result in (other_team, unknown, no_code):
        assert english_in(result.stderr) == [], result.stderr

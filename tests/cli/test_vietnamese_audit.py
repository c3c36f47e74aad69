"""`reminders audit` speaks the admin's words: a delivery's kind as "nhắc 1", not the internal
"reminder-0"; every time in the roster's zone, named once in the header (a snooze's time was
stored and shown in UTC beside local times); duty rhythms end on "30 tháng 9, 2023", not
Babel's abbreviated "30 thg 9, 2023". Real subprocesses on a real database."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import run_cli_on

ROOT = Path(__file__).resolve().parents[2]
RADIO = "radio-chuyen-doi-so@reminders"


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli_on(db, *args, columns=250)


def test_audit_says_kinds_in_words_and_every_time_in_the_local_zone(radio_sent: tuple[Path, str]) -> None:
    db, code = radio_sent
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


def test_a_rhythm_ends_on_a_spelled_out_vietnamese_date(radio_sent: tuple[Path, str]) -> None:
    result = run_cli(radio_sent[0], "duties", "show", "thi-diem-truyen-thong-2022@reminders")
    assert result.returncode == 0, result.stderr
    assert "đến hết 30 tháng 9, 2023" in result.stdout and "thg" not in result.stdout, result.stdout


def test_the_outbox_says_each_delivery_state_in_vietnamese(radio_sent: tuple[Path, str]) -> None:
    result = run_cli(radio_sent[0], "deliveries")
    assert result.returncode == 0, result.stderr
    assert "Trạng thái" in result.stdout and "Đã gửi" in result.stdout and "Chờ gửi" in result.stdout, result.stdout
    for english in ("status", "pending", "sent"):
        assert not re.search(rf"\b{english}\b", result.stdout), (english, result.stdout)

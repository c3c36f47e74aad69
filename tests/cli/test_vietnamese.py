"""The admin's commands speak Vietnamese by default: no English word reported by the new
admin remains in the tables' headers, the duty's description or the refusals."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import run_cli_on

ROOT = Path(__file__).resolve().parents[2]
RADIO = "radio-chuyen-doi-so@reminders"
CAMPAIGN = "chien-dich-di-tung-ngo@reminders"
# What the issue found in English, as whole words (a header, a refusal, a keyword).
ENGLISH = ["recurrence_id", "start", "end", "reminders", "scope", "label", "revoked", "is not in the team",
           "reminder-0", "leader", "members", "yes", "not on the roster", "no reminder has the code"]


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if re.search(rf"(?<![\w@.-]){re.escape(word)}(?![\w@-])", text)]


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli_on(db, *args, columns=200)


@pytest.mark.parametrize("args", [
    ["preview", CAMPAIGN, "--from", "2024-10-01", "--to", "2024-10-02"],
    ["feed", "list"],
    ["duties", "show", CAMPAIGN],
    ["duties", "show", "bao-cao-thang@reminders"],
], ids=lambda args: " ".join(args[:2]))
def test_tables_and_descriptions_are_vietnamese(radio_sent: tuple[Path, str], args: list[str]) -> None:
    result = run_cli(radio_sent[0], *args)
    assert result.returncode == 0, result.stderr
    assert english_in(result.stdout) == [], result.stdout
    assert "Nhắc: nhắc" not in result.stdout


def test_ack_refusals_are_vietnamese(radio_sent: tuple[Path, str]) -> None:
    db, code = radio_sent
    other_team = run_cli(db, "ack", code, "--member", "pham-van-dung")
    assert other_team.returncode == 1 and "không thuộc tổ được gửi lời nhắc này" in other_team.stderr
    unknown = run_cli(db, "ack", code, "--member", "ai-do")
    assert unknown.returncode == 1 and "không có trong danh sách" in unknown.stderr
    no_code = run_cli(db, "ack", "ZZZZZZ", "--member", "nguyen-van-an")
    assert no_code.returncode == 1 and "không có lời nhắc nào có mã 'ZZZZZZ'" in no_code.stderr
    for result in (other_team, unknown, no_code):
        assert english_in(result.stderr) == [], result.stderr

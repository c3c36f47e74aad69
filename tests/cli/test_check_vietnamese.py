"""`reminders check` says the common problems of duty files and rosters in Vietnamese, the
admin's default language (each through the Problem's catalog id), with file:line and the UID;
English only when the admin asks for it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "reminders.cli"]

ROSTER = """\
timezone: Asia/Ha_Noi
communes:
  - {id: xa-thu, name: Xã Thử}
teams:
  - id: to-mot
    name: Tổ Một
    commune: xa-khac
    members:
      - {id: an, name: An, role: chief}
  - id: to-hai
    commune: xa-thu
    members:
      - {id: an, name: An lần hai}
"""

HEAD = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//vi//EN\n"
FILES = {
    "a-empty.ics": "",
    "b-nothing.ics": HEAD + "END:VCALENDAR\n",
    "c-bad.ics": HEAD + "\n".join([
        "BEGIN:VEVENT", "UID:c@test", "SUMMARY:Múi giờ sai", "DTSTART;TZID=Asia/Ha_Noi:20240105T170000",
        "END:VEVENT",
        "BEGIN:VEVENT", "SUMMARY:Không có UID", "DTSTART:20240105T100000Z", "END:VEVENT",
        "BEGIN:VEVENT", "UID:d@test", "SUMMARY:Ngày lẻ", "RECURRENCE-ID:20240105T100000Z",
        "DTSTART:20240105T100000Z", "END:VEVENT", "END:VCALENDAR"]) + "\n",
    "e-fields.ics": HEAD + "\n".join([
        "BEGIN:VEVENT", "UID:e@test", "DTSTART:20240105T100000Z",
        "X-REMINDER-FOR:everyone", "X-REMINDER-TO:all-of-them", "X-REMINDER-ACK:MAYBE",
        "BEGIN:VALARM", "ACTION:DISPLAY", "END:VALARM", "END:VEVENT", "END:VCALENDAR"]) + "\n",
}
# (English, Vietnamese): the admin read the first before; the second now.
EXPECTED = [
    ("file is empty; expected BEGIN:VCALENDAR", "a-empty.ics: tệp trống; cần có BEGIN:VCALENDAR"),
    ("no VEVENT or VTODO in this file", "b-nothing.ics:1: tệp này không có VEVENT hay VTODO nào"),
    ("unknown time zone TZID=Asia/Ha_Noi", "c-bad.ics:7 (UID c@test): không biết múi giờ TZID=Asia/Ha_Noi"),
    ("duty has no SUMMARY", "(UID e@test): nhiệm vụ không có SUMMARY"),
    ("X-REMINDER-FOR value 'everyone'", "giá trị X-REMINDER-FOR 'everyone' phải là all"),
    ("X-REMINDER-TO value 'all-of-them'", "giá trị X-REMINDER-TO 'all-of-them' phải là một trong"),
    ("X-REMINDER-ACK must be TRUE or FALSE", "X-REMINDER-ACK phải là TRUE hoặc FALSE, không phải MAYBE"),
    ("VALARM has no TRIGGER", "VALARM không có TRIGGER"),
    ("VEVENT has no UID", "VEVENT không có UID; mỗi nhiệm vụ cần một UID cố định"),
    ("RECURRENCE-ID override for a UID", "(UID d@test): có RECURRENCE-ID thay đổi một lần lặp"),
    ("unknown time zone 'Asia/Ha_Noi'", "roster.yaml:1: không biết múi giờ 'Asia/Ha_Noi'"),
    ("unknown commune 'xa-khac'", "không có xã 'xa-khac'"),
    ("role must be one of", "vai trò (role) phải là một trong"),
    ("person id 'an' is used twice", "mã người 'an' bị dùng hai lần"),
    ("missing 'name'", "thiếu 'name'"),
]


def check(tmp_path: Path, language: str | None) -> str:
    (tmp_path / "cal").mkdir(exist_ok=True)
    for name, text in FILES.items():
        (tmp_path / "cal" / name).write_text(text, encoding="utf-8")
    (tmp_path / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    if language:
        env["REMINDERS_LANGUAGE"] = language
    proc = subprocess.run([*CLI, "check", "--calendars", str(tmp_path / "cal"), "--roster",
                           str(tmp_path / "roster.yaml")], env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    return output


@pytest.mark.parametrize("language", [None, "vi"])
def test_common_check_problems_are_said_in_vietnamese(tmp_path: Path, language: str | None) -> None:
    output = check(tmp_path, language)
    for english, vietnamese in EXPECTED:
        assert vietnamese in output, (vietnamese, output)
        assert english not in output, (english, output)


def test_an_english_admin_reads_them_in_english(tmp_path: Path) -> None:
    output = check(tmp_path, "en")
    for english, _ in EXPECTED:
        assert re.search(re.escape(english), output), (english, output)

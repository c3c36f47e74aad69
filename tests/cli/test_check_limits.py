"""`check` on big or hostile input does bounded work and returns (issue 15, item 8).

No timings here (they go to bench/check_speed.py): the work is counted instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from recurring_ical_events.occurrence import Occurrence

from reminders.definitions.duties import load_duties

SHIPPED = Path(__file__).resolve().parents[2] / "calendars"
CLI = [sys.executable, "-m", "reminders.cli"]
HANG_GUARD = 120  # seconds: only so that a hang fails the test instead of the whole run

# Eleven lines that expand to 9**9 strings when aliases are followed.
ALIAS_BOMB = "\n".join(
    ['timezone: Asia/Ho_Chi_Minh', 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    + ["teams: [*i]"]) + "\n"


def hourly_duties(count: int) -> str:
    events = "".join(
        f"BEGIN:VEVENT\nUID:hourly-{i}@test\nSUMMARY:Trực {i}\n"
        "DTSTART;TZID=Asia/Ho_Chi_Minh:20240105T080000\nDURATION:PT30M\nRRULE:FREQ=HOURLY\nEND:VEVENT\n"
        for i in range(count))
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//hourly//EN\n{events}END:VCALENDAR\n"


def test_a_roster_with_yaml_aliases_is_refused_at_once_with_its_line(tmp_path: Path) -> None:
    assert len(ALIAS_BOMB.splitlines()) == 11
    roster = tmp_path / "roster.yaml"
    roster.write_text(ALIAS_BOMB, encoding="utf-8")
    result = subprocess.run([*CLI, "check", "--calendars", str(SHIPPED), "--roster", str(roster)],
                            capture_output=True, text=True, timeout=HANG_GUARD, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"{roster}:3:" in output  # the first alias, *a, is on line 3
    assert "YAML aliases (*a) are not read here" in output
    assert "Traceback" not in output


def test_checking_hourly_duties_expands_a_bounded_number_of_occurrences(tmp_path: Path) -> None:
    """A year of FREQ=HOURLY is 8,784 occurrences a duty; `check` expanded all of them."""
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    (calendars / "hourly.ics").write_text(hourly_duties(20), encoding="utf-8")
    made = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal made
        if event == "call" and frame.f_code is Occurrence.__init__.__code__:
            made += 1

    sys.setprofile(count)
    try:
        duties = load_duties(calendars)
    finally:
        sys.setprofile(None)
    assert len(duties) == 20
    assert 0 < made <= 20 * 20, made


def test_shipped_calendars_still_pass_check(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED, tmp_path / "calendars")
    result = subprocess.run([*CLI, "check", "--calendars", str(tmp_path / "calendars"),
                             "--roster", str(tmp_path / "calendars" / "roster.yaml")],
                            capture_output=True, text=True, timeout=HANG_GUARD, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

"""Roster ids are slugs, and no file writer leaves its folder (issue 15, item 11).

`id: "../../x"` passed `check`, and `members invite --sheet` then wrote a live invite QR
outside the sheet folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reminders.definitions.roster import Person
from reminders.files import OutsideFolder, inside
from reminders.views.invite_sheet import Card, write_sheet

SHIPPED = Path(__file__).resolve().parents[2] / "calendars"
CLI = [sys.executable, "-m", "reminders.cli"]


def broken_calendars(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The shipped calendars with one roster line changed; returns them and that line."""
    calendars = tmp_path / "calendars"
    shutil.copytree(SHIPPED, calendars)
    roster = calendars / "roster.yaml"
    text = roster.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    roster.write_text(text.replace(old, new, 1), encoding="utf-8")
    return calendars, line


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=work,
                          env={**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                               "REMINDERS_LANGUAGE": "vi"})


@pytest.mark.parametrize(("old", "new", "what"), [
    ("- id: thon-dong", '- id: "../../x"', "team id '../../x'"),
    ("- id: nguyen-van-an", "- id: Nguyen_Van_An", "person id 'Nguyen_Van_An'"),
    ("- id: xa-tan-lap", "- id: -xa", "commune id '-xa'"),
    ("- id: can-bo-van-hoa", '- id: "can bo/van hoa"', "person id 'can bo/van hoa'"),
])
def test_an_id_that_is_not_a_slug_is_refused_with_its_line(tmp_path: Path, old: str, new: str, what: str) -> None:
    calendars, line = broken_calendars(tmp_path, old, new)
    result = cli(tmp_path, "check", "--calendars", str(calendars))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{calendars / 'roster.yaml'}:{line}: {what} must be a slug" in output
    assert "Traceback" not in output


def test_invite_sheet_with_a_path_in_an_id_writes_nothing(tmp_path: Path) -> None:
    calendars, _ = broken_calendars(tmp_path, "- id: nguyen-van-an", '- id: "../../escaped"')
    sheet = tmp_path / "a" / "b" / "sheet"
    result = cli(tmp_path, "members", "invite", "--team", "thon-dong", "--sheet", str(sheet),
                 "--calendars", str(calendars))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "must be a slug" in result.stderr
    assert not list(tmp_path.rglob("*.png")) and not sheet.exists()


def test_a_writer_refuses_a_name_that_leaves_its_folder(tmp_path: Path) -> None:
    """The writers' own guard, for names that come from anywhere but a checked roster."""
    person = Person("x", "X", "member", "vi", {})
    card = Card(person, "Tổ", "CODE1234", "https://t.me/bot?start=CODE1234", "../../escaped.png")
    with pytest.raises(OutsideFolder):
        write_sheet(tmp_path / "a" / "sheet", [card], title="Thẻ mời")
    assert not list(tmp_path.rglob("*.png"))
    assert not (tmp_path / "a" / "sheet").exists()
    assert inside(tmp_path, "ok.png") == tmp_path.resolve() / "ok.png"
    for name in ("../x", "/etc/x", "sub/../../x", "sub/x"):
        with pytest.raises(OutsideFolder):
            inside(tmp_path, name)

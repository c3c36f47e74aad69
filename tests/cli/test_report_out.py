"""`reminders report` writes where the admin says, or into the data directory: never a
`reports/` folder in whatever directory it runs in (issue 15, item 16)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "calendars"
CLI = [sys.executable, "-m", "reminders.cli"]


def report(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    calendars = tmp_path / "calendars"
    if not calendars.exists():
        shutil.copytree(SHIPPED, calendars)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([*CLI, "report", "--month", "2024-10", "--calendars", str(calendars), *args],
                          capture_output=True, text=True, timeout=120, cwd=work,
                          env={**os.environ, "HOME": str(tmp_path / "home"), "REMINDERS_LANGUAGE": "vi",
                               "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", **env})


def test_by_default_the_report_goes_to_the_data_directory_not_the_working_directory(tmp_path: Path) -> None:
    result = report(tmp_path, REMINDERS_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "work").iterdir()) == []
    assert any(p.suffix == ".xlsx" for p in (tmp_path / "data" / "reports").iterdir())
    assert str(tmp_path / "data" / "reports") in result.stdout


def test_without_a_data_directory_the_report_goes_to_the_users_data_folder(tmp_path: Path) -> None:
    result = report(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "work").iterdir()) == []
    assert any(p.suffix == ".xlsx" for p in (tmp_path / "home" / ".local/share/reminders/reports").iterdir())


def test_out_names_the_folder(tmp_path: Path) -> None:
    result = report(tmp_path, "--out", str(tmp_path / "chosen"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "work").iterdir()) == []
    assert any(p.suffix == ".csv" for p in (tmp_path / "chosen").iterdir())


def test_reports_are_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "reports/" in ignored

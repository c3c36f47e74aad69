"""The long-running commands at the edges of their start: a read-only database is refused in
one line, an unreachable platform is retried and said so, and Ctrl-C while the package is still
being imported ends quietly. Real subprocesses, real files, the fake Bot API server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "reminders.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """No REMINDERS_* or platform tokens from outside; the default (Vietnamese) language."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("REMINDERS_", "TELEGRAM_", "ZALO_"))}
    return {**base, **extra}


def test_run_on_a_read_only_database_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    made = subprocess.run([*CLI, "status"], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=clean_env(REMINDERS_DATABASE_URL=f"sqlite:///{db}"))
    assert made.returncode == 0 and db.exists(), made.stderr
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    for command in ("run", "bot"):
        result = subprocess.run([*CLI, command], capture_output=True, text=True, cwd=ROOT, timeout=120,
                                env=clean_env(REMINDERS_DATABASE_URL=read_only, REMINDERS_ADAPTERS="console"))
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "chỉ cho đọc" in lines[0] and str(db) in lines[0], lines

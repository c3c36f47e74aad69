"""The long-running commands at the edges of their start: a read-only database is refused in
one line, an unreachable platform is retried and said so, and Ctrl-C while the package is still
being imported ends quietly. Real subprocesses, real files, the fake Bot API server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fake_telegram import FakeTelegram

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """A hang guard, not a timed assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"reminders bot exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_bot_retries_an_unreachable_platform_then_proceeds(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there: connections are refused
    fake = FakeTelegram()
    env = clean_env(REMINDERS_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}", REMINDERS_ADAPTERS="telegram",
                    TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    err = tmp_path / "bot.err"

    def start() -> subprocess.Popen[bytes]:
        with err.open("w") as stderr:
            return subprocess.Popen([*CLI, "bot"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)

    def retrying() -> bool:
        return "cannot reach Telegram" in err.read_text() and "retrying in" in err.read_text()

    # SIGTERM while it waits to retry: a clean stop
    proc = start()
    try:
        _wait(retrying, "the retry message", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err.read_text() and "Lỗi" not in err.read_text(), err.read_text()

    # the platform comes up on that port while it retries: it reaches it and polls
    proc = start()
    try:
        _wait(retrying, "the retry message", proc)
        fake.start(port)
        try:
            _wait(lambda: "getUpdates" in fake.calls, "getUpdates on the platform once it is up", proc)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, err.read_text()
        finally:
            fake.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "reached Telegram" in err.read_text() and "Traceback" not in err.read_text(), err.read_text()


def test_ctrl_c_while_importing_ends_quietly_with_130() -> None:
    """The console script as installed; SIGINT sent at growing delays, so that some land while
    `reminders` is still importing (`python -X importtime -c 'import reminders.cli'`: about
    1.5 s on this machine) and later ones after (click's own 'Aborted!', or done)."""
    script = Path(sys.executable).parent / "reminders"
    codes = []
    for delay in (0.2, 0.3, 0.45, 0.7, 1.0, 1.5, 2.5):
        proc = subprocess.Popen([str(script), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env=clean_env())
        time.sleep(delay)  # when the signal lands, not a measurement
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert "Traceback" not in stderr, (delay, stderr)
        # 130, or ended by the signal itself (-2: what a shell shows as 130) while Python was exiting
        assert proc.returncode in (0, 1, 130, -signal.SIGINT), (delay, proc.returncode, stderr)
        codes.append(proc.returncode)
    assert 130 in codes, codes  # at least one landed during the import

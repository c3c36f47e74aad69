"""The bot token never kept or shown in clear when a platform's error echoes the request URL
(a self-hosted Bot API server or a proxy does): `reminders run` sends through Telegram (the
fake Bot API, echoing the URL in its errors), one member has blocked the bot and one send
meets a 502; then `reminders audit` and `reminders deliveries` show what happened."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_telegram import FakeTelegram

TOKEN = "4242:AAHfakeBotTokenForTests_0123456789"
ROSTER = """\
quiet_hours: off  # real time: a run at night (Vietnam time) must not wait for the morning
communes:
  - {id: xa, name: Xã Tân Lập}
teams:
  - id: thon-dong
    name: Tổ thôn Đông
    commune: xa
    chats: {telegram: "-1001000000001"}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {telegram: "100001"}}
      - {id: binh, name: Trần Thị Bình, chats: {telegram: "100002"}}
"""


@pytest.fixture
def telegram():
    server = FakeTelegram(token=TOKEN, limits=False, echo_url=True).start()
    yield server
    server.stop()


def _calendars(tmp_path: Path) -> Path:
    directory = tmp_path / "calendars"
    directory.mkdir()
    start = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y%m%dT%H%M%SZ")
    events = "".join(
        f"BEGIN:VEVENT\nUID:{uid}@test\nSUMMARY:{summary}\nDTSTART:{start}\nDURATION:PT1H\nX-REMINDER-TO:{to}\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:n\nTRIGGER:-PT2M\nEND:VALARM\nEND:VEVENT\n"
        for uid, summary, to in (("hop-to", "Họp tổ", "group"), ("truc", "Trực một cửa", "members")))
    (directory / "duties.ics").write_text(f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\n{events}END:VCALENDAR\n",
                                          encoding="utf-8")
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    return directory


def _query(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def _count(database: Path, sql: str) -> int:
    """0 until the process has created the database and its tables."""
    if not database.exists():
        return 0
    try:
        return _query(database, sql)[0][0]
    except sqlite3.OperationalError:
        return 0


def test_the_bot_token_echoed_by_a_platform_error_is_never_stored_logged_or_shown(telegram, tmp_path):
    telegram.blocked.add("100002")  # Bình blocked the bot: 403, failed for good
    telegram.fail_next = 1  # and the first send meets a 502: retried later
    database = tmp_path / "r.db"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("REMINDERS_", "TELEGRAM_", "ZALO_"))},
           "REMINDERS_DATABASE_URL": f"sqlite:///{database}", "REMINDERS_CALENDARS": str(_calendars(tmp_path)),
           "REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.base_url,
           "REMINDERS_LOG_LEVEL": "DEBUG", "REMINDERS_LANGUAGE": "en", "COLUMNS": "250"}
    log = tmp_path / "run.log"
    with open(log, "wb") as output:
        run = subprocess.Popen([sys.executable, "-m", "reminders.cli", "run"], env=env, cwd=tmp_path,
                               stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (_count(database, "SELECT count(*) FROM delivery WHERE status = 'failed'") >= 1
                   and _count(database, "SELECT count(*) FROM audit_event WHERE event = 'retry'") >= 1):
            assert run.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "timed out waiting for a failed and a retried delivery"
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()

    [(error,)] = _query(database, "SELECT error FROM delivery WHERE status = 'failed'")
    assert "bot was blocked by the user" in error and "/bot***/sendMessage" in error, error
    details = [d for (d,) in _query(database, "SELECT detail FROM audit_event WHERE event IN ('retry', 'failed')")]
    assert any("Bad Gateway" in d and "/bot***/sendMessage" in d for d in details), details
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("r.db*"))
    assert TOKEN.encode() not in stored, "the bot token is stored in the database"
    assert TOKEN not in log.read_text(encoding="utf-8"), "the bot token is in the log of `reminders run`"

    # Rows an earlier version stored with the token in clear are shown without it.
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE delivery SET error = ? WHERE status = 'failed'",
                     (f"Telegram refused: Forbidden (POST {telegram.base_url}{TOKEN}/sendMessage)",))
        conn.execute("UPDATE audit_event SET detail = ? WHERE event = 'retry'",
                     (f"reminder-0 via telegram: Bad Gateway (POST {telegram.base_url}{TOKEN}/sendMessage)",))
    shown = {}
    for command in (["audit", "--duty", "truc@test"], ["audit", "--duty", "hop-to@test"], ["deliveries"]):
        result = subprocess.run([sys.executable, "-m", "reminders.cli", *command], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        shown[command[0]] = shown.get(command[0], "") + result.stdout + result.stderr
    for command, text in shown.items():
        assert "/bot***/sendMessage" in text, f"`reminders {command}` shows the echoed URL, token taken out"
        assert TOKEN not in text, f"`reminders {command}` shows the bot token"

"""The README's console walkthrough ("The console loop") run as a script, as written: a real
`reminders run` in a fresh folder, then each command of the section from another process
against run's own database -- with the code, member and days that run printed, as the README
tells the reader to take them -- and the Telegram invite against the fake Bot API server."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from fake_telegram import BOT_USER, FakeTelegram
from newcomer import REMINDERS, fresh_env, printed_command
from sqlalchemy import select

from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, DeliveryRow

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## The console loop"):README.index("## CLI")]
[SCREEN_SAMPLE, SCRIPT] = re.findall(r"```(?:sh)?\n(.*?)```", SECTION, re.S)


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


def _as_run_printed(line: str, code: str, member: str, days: str, fake: FakeTelegram) -> tuple[dict, list[str]]:
    """The README's line with the code, member and days `run` printed, and the Telegram
    token and address of the fake server: (environment, argv)."""
    words = shlex.split(line, comments=True)
    env = fresh_env()
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if "TELEGRAM_BOT_TOKEN" in env:
        env |= {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url}
    assert words[0] == ".venv/bin/reminders", line
    words[0] = str(REMINDERS)
    for flag, value in (("ack", code), ("--member", member), ("--days", days)):
        if flag in words:
            words[words.index(flag) + 1] = value
    return env, words


def test_the_screen_sample_has_the_lines_run_prints(first_screen):
    """The README's sample of the first screen says what run says (its codes and dates vary)."""
    def labels(screen: str) -> list[str]:
        tail = screen[screen.index("Tiếp theo:"):].splitlines()
        return [line.split(":")[0] for line in tail]
    assert labels(SCREEN_SAMPLE) == labels(first_screen)
    assert SCREEN_SAMPLE.splitlines()[0] == first_screen.splitlines()[0]


def test_the_console_walkthrough_works_as_written_against_run_s_database(first_screen, fresh_folder, fake):
    ack = printed_command(first_screen, "(trong thư mục này):")
    code, member = ack[2], ack[ack.index("--member") + 1]
    status_command = printed_command(first_screen, "Ai đã xác nhận việc gì:")
    days = status_command[status_command.index("--days") + 1] if "--days" in status_command else "7"
    outputs = []
    for line in SCRIPT.strip().splitlines():
        env, argv = _as_run_printed(line, code, member, days, fake)
        result = subprocess.run(argv, cwd=fresh_folder, env=env | {"COLUMNS": "200"}, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout)
    snoozed, done, status, invite = outputs
    assert "nhắc lại" in snoozed.lower()
    assert "Cảm ơn" in done and "đã ghi nhận" in done
    [row] = [line for line in status.splitlines() if "1/" in line]
    assert code in row.split("│")[-2].split(), "status shows the code column filled"
    assert invite.count(f"https://t.me/{BOT_USER['username']}?start=") == 3, invite  # the bot's name from getMe

    engine = make_engine(f"sqlite:///{fresh_folder / 'reminders.db'}", create=False)
    with engine.connect() as conn:
        assert conn.execute(select(AcknowledgementRow.person_id)).scalars().all() == [member]
        copies = conn.execute(select(DeliveryRow.status).where(DeliveryRow.kind.contains("@"))).scalars().all()
    engine.dispose()
    assert copies == ["cancelled"], "the ✅ cancelled the snoozed copy still to come"

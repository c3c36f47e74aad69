"""A newcomer's first screen: `reminders run` in a fresh folder (the shipped calendars, the
default SQLite database, the console) says in one screen what to do next, and the commands it
prints work as printed, from another terminal, against that same database."""

from __future__ import annotations

import subprocess

from newcomer import REMINDERS, SCREEN, fresh_env, printed_command
from sqlalchemy import select

from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow


def test_the_first_screen_says_what_to_do_next_in_one_screen(first_screen):
    rows = sum(max(1, -(-len(line) // SCREEN[0])) for line in first_screen.splitlines())
    assert rows <= SCREEN[1], f"{rows} rows:\n{first_screen}"
    assert "Lời nhắc sắp tới" in first_screen and "Tiếp theo:" in first_screen
    assert "TELEGRAM_BOT_TOKEN" in first_screen and "REMINDERS_ADAPTERS=telegram,console" in first_screen
    assert "ZALO_BOT_TOKEN" in first_screen and "REMINDERS_ADAPTERS=zalo_bot,console" in first_screen
    assert "http://localhost:8000/feeds/<token>.ics" in first_screen
    assert "uvicorn --factory reminders.web.app:create_app_from_env" in first_screen


def test_the_printed_ack_command_records_the_acknowledgement_in_run_s_database(first_screen, fresh_folder):
    ack = printed_command(first_screen, "(trong thư mục này):")
    assert ack[0] == str(REMINDERS) and ack[1] == "ack" and "--member" in ack
    code, member = ack[2], ack[ack.index("--member") + 1]
    assert f"│ {code} " in first_screen, "the code is the one shown in the table of next reminders"
    done = subprocess.run(ack, cwd=fresh_folder, env=fresh_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Cảm ơn" in done.stdout and "đã ghi nhận" in done.stdout
    engine = make_engine(f"sqlite:///{fresh_folder / 'reminders.db'}", create=False)
    with engine.connect() as conn:
        assert conn.execute(select(AcknowledgementRow.person_id)).scalars().all() == [member]
    engine.dispose()

    status = subprocess.run(printed_command(first_screen, "Ai đã xác nhận việc gì:"), cwd=fresh_folder,
                            env=fresh_env() | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if "1/" in line]
    assert code in row.split("│")[-2].split(), "the status shows the codes to acknowledge with"

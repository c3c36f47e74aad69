"""A newcomer's first screen: `reminders run` in a fresh folder (the shipped calendars, the
default SQLite database, the console) says in one screen what to do next, and the commands it
prints work as printed, from another terminal, against that same database."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta

from newcomer import REMINDERS, SCREEN, fresh_env, printed_command, running
from sqlalchemy import select

from reminders.codes import parse_delivery_code
from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, DeliveryRow


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


def test_the_suggested_code_is_a_plain_reminder_not_a_check_in(fresh_folder):
    """A check-in's code wants an answer: the suggested `ack` names the first plain reminder."""
    calendars = fresh_folder / "calendars"
    for ics in calendars.glob("*.ics"):
        ics.unlink()
    day = (date.today() + timedelta(days=2)).strftime("%Y%m%d")
    (calendars / "hop.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:hop@test\nSUMMARY:Họp tổ\n"
        f"DTSTART;TZID=Asia/Ho_Chi_Minh:{day}T100000\nDURATION:PT1H\nX-REMINDER-FOR:all\nX-REMINDER-TO:group\n"
        "X-REMINDER-CHECKIN;ANSWER=number:Bao nhiêu hộ?\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:c\nTRIGGER:-PT2H\nX-REMINDER-KIND:CHECKIN\nEND:VALARM\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:r\nTRIGGER:-PT1H\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n",
        encoding="utf-8")
    with running(fresh_folder) as screen:
        codes = [line.split("│")[-2].strip() for line in screen.splitlines() if "Họp tổ" in line]
        ack = printed_command(screen, "(trong thư mục này):")
        done = subprocess.run(ack, cwd=fresh_folder, env=fresh_env(), capture_output=True, text=True, timeout=120)
    engine = make_engine(f"sqlite:///{fresh_folder / 'reminders.db'}", create=False)
    with engine.connect() as conn:
        kinds = [conn.execute(select(DeliveryRow.kind).where(DeliveryRow.id == parse_delivery_code(code))).scalar()
                 for code in codes]
    engine.dispose()
    assert kinds[0].startswith("checkin"), f"the check-ins come first in the table: {kinds}"
    first_plain = next(i for i, kind in enumerate(kinds) if kind.startswith("reminder"))
    assert ack[2] == codes[first_plain], screen
    assert done.returncode == 0 and "đã ghi nhận" in done.stdout, done.stdout + done.stderr

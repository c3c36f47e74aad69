"""Admin commands in chat: /duties, /preview, /remindnow -- for admins only, through the outbox."""

from __future__ import annotations

import io
import itertools
import time
from datetime import timedelta

import pytest
from fake_telegram import FakeTelegram
from helpers import vn
from sqlalchemy import select

from reminders.adapters.base import Inbound
from reminders.adapters.console import ConsoleAdapter
from reminders.inbound.router import handle
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import DeliveryRow
from reminders.timeutil import VirtualClock

ADMIN, MEMBER = "900101", "100002"  # quan-tri-xa (admin, English), tran-thi-binh (member, Vietnamese)
CAMPAIGN = "chien-dich-di-tung-ngo"
_events = itertools.count()


def _say(runtime, sender: str, text: str):
    """A private Telegram message from `sender`, through the same path as every inbound message."""
    event = Inbound("telegram", f"e{next(_events)}", sender, False, sender, text=text)
    return handle(runtime, event)


def _manual(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(DeliveryRow).where(DeliveryRow.kind.startswith("reminder-now@"))).all()


@pytest.fixture
def console_stack(database_url, calendars):
    """The shipped definitions on a virtual clock in the middle of the October campaign."""
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                       database_url=database_url)
    clock = VirtualClock(vn(2024, 10, 2, 10, 0))
    out = io.StringIO()
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    yield runtime, settings, clock, out
    runtime.engine.dispose()


def test_duties_lists_every_duty_with_its_next_occurrence(console_stack):
    runtime, *_ = console_stack
    reply = _say(runtime, ADMIN, "/duties").reply
    lines = reply.splitlines()
    assert lines[0] == "Duties (7), with their next occurrence:"
    numbered = [line for line in lines if line[:2].rstrip(".").isdigit()]
    assert len(numbered) == 7
    campaign = next(line for line in numbered if CAMPAIGN in line)
    assert "Wednesday, October 2, 2024 at 07:30" in campaign, "the occurrence going on now"
    assert "no more occurrences" in next(line for line in numbered if "thi-diem" in line)
    assert "Thursday, October 10, 2024" in next(line for line in numbered if "ngay-chuyen-doi-so" in line)


def test_preview_renders_the_next_reminder_and_the_next_occurrences(console_stack):
    runtime, *_ = console_stack
    reply = _say(runtime, ADMIN, f"/preview {CAMPAIGN}").reply
    assert "For 3 teams." in reply
    # 10:00 on 2 October: the next reminder is that evening's check-in, in the admin's language.
    assert "Next reminder, Wednesday, October 2, 2024 at 19:30:" in reply
    assert "❓ How many households did the team guide today?" in reply
    assert reply.count("• ") == 5 and "• Thursday, October 3, 2024 at 07:30" in reply
    number = next(line.split(".")[0] for line in _say(runtime, ADMIN, "/duties").reply.splitlines()
                  if CAMPAIGN in line)
    assert _say(runtime, ADMIN, f"/preview {number}").reply == reply, "by its number in /duties too"
    assert "No duty 'khong-co'" in _say(runtime, ADMIN, "/preview khong-co").reply


def test_times_are_in_the_admins_commune_zone(sqlite_url, calendars):
    # The admin is a commune official (no team): the commune's zone, not the roster's default.
    roster = calendars / "roster.yaml"
    roster.write_text(roster.read_text(encoding="utf-8").replace(
        "    name: Xã Tân Lập\n", "    name: Xã Tân Lập\n    timezone: Asia/Tokyo\n", 1), encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(roster), database_url=sqlite_url)
    clock = VirtualClock(vn(2024, 10, 2, 10, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    try:
        reply = _say(runtime, ADMIN, f"/preview {CAMPAIGN}").reply
        assert "Next reminder, Wednesday, October 2, 2024 at 21:30:" in reply  # 19:30 in Việt Nam
        assert "• Thursday, October 3, 2024 at 09:30" in reply
    finally:
        runtime.engine.dispose()


def test_members_are_refused_politely_in_their_language(console_stack):
    runtime, *_ = console_stack
    for command in ("/duties", f"/preview {CAMPAIGN}", f"/remindnow {CAMPAIGN} thon-dong"):
        outcome = _say(runtime, MEMBER, command)
        assert outcome.reply.startswith("Xin lỗi") and "quản trị" in outcome.reply
        assert not outcome.recorded
    assert _manual(runtime.engine) == []
    stranger = _say(runtime, "555000", "/remindnow 1 thon-dong")
    assert "chưa có trong danh sách" in stranger.reply  # not on the roster at all


def test_remindnow_makes_one_outbox_row_that_is_sent_once(console_stack):
    runtime, settings, clock, out = console_stack
    with EmbeddedWorker(runtime, settings) as worker:
        worker.scheduler.tick()  # plans the horizon; nothing due at 10:00
        worker.drain()
        before = out.getvalue()
        first = _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} thon-dong")
        assert first.recorded and "is going to Tổ CNSCĐ thôn Đông now (1 messages)" in first.reply
        clock.set(clock() + timedelta(seconds=40))
        again = _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} thon-dong")  # a double tap
        assert not again.recorded and "less than a minute ago" in again.reply
        [row] = _manual(runtime.engine)
        assert (row.recipient, row.status) == ("team:thon-dong", "pending")
        worker.scheduler.tick()
        worker.drain()
        sent = out.getvalue()[len(before):]
        assert sent.count("── ") == 1 and "Tổ CNSCĐ thôn Đông [nhóm" in sent
        assert "🔔 Nhắc việc: Chiến dịch" in sent, "the team reads it in its own language"
        [row] = _manual(runtime.engine)
        assert row.status == "sent" and row.channel == "console"
        clock.set(clock() + timedelta(minutes=2))  # a minute later it is a new, deliberate request
        assert _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} thon-dong").recorded
        assert len(_manual(runtime.engine)) == 2


def test_remindnow_checks_duty_and_team(console_stack):
    runtime, *_ = console_stack
    assert "No team 'thon-xa'" in _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} thon-xa").reply
    assert "Usage: /remindnow" in _say(runtime, ADMIN, "/remindnow").reply
    assert "No duty '99'" in _say(runtime, ADMIN, "/remindnow 99 thon-dong").reply
    assert "no current or next occurrence" in _say(runtime, ADMIN, "/remindnow thi-diem-truyen-thong-2022 "
                                                                  "thon-dong").reply
    assert _manual(runtime.engine) == []


def test_remindnow_over_telegram_reaches_the_group(calendars, tmp_path):
    from dramatiq.asyncio import get_event_loop_thread

    from reminders.adapters.telegram import TelegramAdapter
    from reminders.inbound.updates import process

    fake = FakeTelegram().start()
    try:
        settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                           database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=("telegram",))
        clock = VirtualClock(vn(2024, 10, 2, 10, 0))
        runtime = open_runtime(settings, clock=clock, adapters={"telegram": TelegramAdapter(fake.token,
                                                                                            fake.base_url)})
        with EmbeddedWorker(runtime, settings) as worker:
            worker.scheduler.tick()  # the first plan also sends this morning's reminder, late
            worker.drain()
            already = len(fake.messages_to(-1001000000002))
            update = fake.push_update({"message": {
                "message_id": 7, "date": int(time.time()), "chat": {"id": int(ADMIN), "type": "private"},
                "from": {"id": int(ADMIN), "is_bot": False, "first_name": "Việt"},
                "text": f"/remindnow {CAMPAIGN} thon-tay"}})
            get_event_loop_thread().run_coroutine(process(runtime, runtime.adapters["telegram"], update))
            assert "is going to Tổ CNSCĐ thôn Tây now" in fake.messages_to(int(ADMIN))[-1]["text"]
            worker.scheduler.tick()
            worker.drain()
            [message] = fake.messages_to(-1001000000002)[already:]
            assert "Chiến dịch" in message["text"] and message["reply_markup"]["inline_keyboard"]
        runtime.engine.dispose()
    finally:
        fake.stop()


OTHER_COMMUNE = """  - id: xa-an-phu
    name: Xã An Phú
teams:
  - id: an-phu-1
    name: Tổ An Phú 1
    commune: xa-an-phu
    chats: {telegram: "-1009000000001"}
    members:
      - id: an-phu-truong
        name: Lý Văn Trưởng
        role: leader
        chats: {telegram: "700001"}
"""


def test_remindnow_reaches_only_the_admins_own_commune(database_url, calendars):
    roster = calendars / "roster.yaml"
    roster.write_text(roster.read_text(encoding="utf-8").replace("teams:\n", OTHER_COMMUNE, 1), encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(roster), database_url=database_url)
    clock = VirtualClock(vn(2024, 10, 2, 10, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    try:
        reply = _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} an-phu-1").reply
        assert "No team 'an-phu-1'" in reply and "an-phu-1" not in reply.partition("Teams:")[2], reply
        assert "thon-dong" in reply.partition("Teams:")[2]
        assert _manual(runtime.engine) == []
        assert _say(runtime, ADMIN, f"/remindnow {CAMPAIGN} thon-dong").recorded
    finally:
        runtime.engine.dispose()


def test_two_remindnow_racing_across_a_minute_boundary_make_one_reminder(console_stack):
    """The first tap's transaction is slow (held open after its insert); the second, a
    moment later and in the next minute, must wait for it and then see it."""
    import threading

    from sqlalchemy import event

    from reminders.inbound.admin import remind_now
    from reminders.schedule.planner import plan

    runtime, _, clock, _ = console_stack
    plan(runtime.engine, runtime.duties, runtime.roster, clock())  # the occurrence row exists already
    admin = runtime.roster.people["quan-tri-xa"]
    first_inserted = threading.Event()

    def slow_first(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread().name == "first" and statement.lstrip().upper().startswith("INSERT INTO "
                                                                                                "DELIVERY"):
            first_inserted.set()
            time.sleep(1.0)  # still inside the first tap's transaction

    event.listen(runtime.engine, "after_cursor_execute", slow_first)
    replies: dict[str, object] = {}
    minute = vn(2024, 10, 2, 10, 0, 59, 500000)

    def tap(name: str, now) -> None:
        with runtime.engine.begin() as conn:  # as the router does: in the inbound event's transaction
            replies[name] = remind_now(runtime, conn, admin, CAMPAIGN, "thon-dong", now)

    try:
        first = threading.Thread(target=tap, name="first", args=("first", minute))
        first.start()
        assert first_inserted.wait(10)
        second = threading.Thread(target=tap, name="second", args=("second", minute + timedelta(seconds=1)))
        second.start()
        first.join(10)
        second.join(10)
    finally:
        event.remove(runtime.engine, "after_cursor_execute", slow_first)
    assert replies["first"].recorded
    assert not replies["second"].recorded and "less than a minute ago" in replies["second"].reply
    assert len(_manual(runtime.engine)) == 1

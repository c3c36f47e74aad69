"""Issue 14.1: a group bound with `/bind` receives the team's reminders -- also the ones already
planned before the binding -- through the real planner, send actor, python-telegram-bot and
the fake Telegram Bot API; follow-ups, /remindnow and the feeds count the group too."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dramatiq.asyncio import get_event_loop_thread
from fake_telegram import FakeTelegram
from helpers import vn
from sqlalchemy import select

from reminders.adapters.console import ConsoleAdapter
from reminders.adapters.telegram import TelegramAdapter
from reminders.adapters.zalo.bot import ZaloBotAdapter
from reminders.definitions.roster import load_roster
from reminders.inbound.updates import process
from reminders.jobs.embedded import EmbeddedWorker
from reminders.jobs.targets import resolve
from reminders.runtime import Runtime, open_runtime
from reminders.settings import load_settings
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import VirtualClock
from reminders.views.feeds import Scope, build_feed

GROUP = "-1002000000009"  # thôn Nam's group: in no roster, only bound at run time
AN, BINH, CUONG, ADMIN = 200001, 200002, 200003, 900101
UID = "hop-giao-ban@test"

ROSTER = """\
timezone: Asia/Ho_Chi_Minh
communes:
  - id: xa-thu
    name: Xã Thử
    officials:
      - {id: quan-tri, name: Trần Quốc Việt, role: admin, chats: {telegram: "900101"}}
teams:
  - id: thon-nam
    name: Tổ CNSCĐ thôn Nam
    commune: xa-thu
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {telegram: "200001"}}
      - {id: binh, name: Trần Thị Bình, chats: {telegram: "200002"}}
      - {id: cuong, name: Lê Văn Cường, chats: {telegram: "200003"}}
"""

DUTY = f"""\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//VI
BEGIN:VEVENT
UID:{UID}
SUMMARY:Giao ban tổ
DTSTART;TZID=Asia/Ho_Chi_Minh:20241001T080000
DURATION:PT10H
RRULE:FREQ=DAILY;COUNT=5
X-REMINDER-TO:group
X-REMINDER-FOLLOWUP:NUDGE=PT2H;TIMES=1
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Nhắc
TRIGGER:-PT1H
END:VALARM
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def fake():
    server = FakeTelegram(limits=False).start()
    yield server
    server.stop()


def _definitions(tmp_path: Path) -> Path:
    directory = tmp_path / "cal"
    directory.mkdir()
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    (directory / "giao-ban.ics").write_text(DUTY, encoding="utf-8")
    return directory


def _on_loop(coro):
    return get_event_loop_thread().run_coroutine(coro)


def _say(fake, runtime: Runtime, chat: dict, user: int, text: str):
    update = fake.push_update({"message": {
        "message_id": time.monotonic_ns() % 1_000_000, "date": int(time.time()), "chat": chat, "text": text,
        "from": {"id": user, "is_bot": False, "first_name": str(user)}}})
    return _on_loop(process(runtime, runtime.adapters["telegram"], update))


def _press(fake, runtime: Runtime, message: dict, user: int):
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].partition(":")[2]
    update = fake.push_update({"callback_query": {
        "id": f"cb{time.monotonic_ns()}", "from": {"id": user, "is_bot": False, "first_name": str(user)},
        "chat_instance": "ci", "message": message, "data": f"done:{code}"}})
    return _on_loop(process(runtime, runtime.adapters["telegram"], update))


def _rows(runtime: Runtime, day: int) -> dict[str, str]:
    """recipient -> status of the planned reminder of 1..5 October."""
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.recipient, DeliveryRow.status)
                            .join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)
                            .where(OccurrenceRow.recurrence_id == f"2024-10-{day:02d}T01:00:00Z",
                                   DeliveryRow.kind == "reminder-0")).all()
    return dict(rows)


def _day(fake, chat: int | str, day: int) -> list[dict]:
    return [m for m in fake.messages_to(chat) if f"{day} tháng 10" in m["text"] and "Giao ban" in m["text"]]


def test_bind_routes_planned_and_future_reminders_to_the_group(fake, tmp_path, database_url):
    calendars = _definitions(tmp_path)
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=database_url, adapters=("telegram",))
    clock = VirtualClock(vn(2024, 9, 30, 12, 0))
    runtime = open_runtime(settings, clock=clock,
                           adapters={"telegram": TelegramAdapter(fake.token, fake.base_url)})
    members = {"person:an", "person:binh", "person:cuong"}
    with EmbeddedWorker(runtime, settings) as worker:
        worker.scheduler.tick()  # the whole week is planned: the roster names no group chat
        assert set(_rows(runtime, 3)) == members

        clock.set(vn(2024, 10, 1, 7, 0))  # 1 October goes to each member privately
        worker.scheduler.tick()
        worker.drain()
        assert all(len(_day(fake, chat, 1)) == 1 for chat in (AN, BINH, CUONG))

        # The leader binds the group; the bot says so in the group.
        clock.set(vn(2024, 10, 1, 7, 30))
        group = {"id": int(GROUP), "type": "supergroup", "title": "Tổ thôn Nam"}
        outcome = _say(fake, runtime, group, AN, "/bind")
        assert outcome.recorded
        assert "Từ nay nhóm này nhận lời nhắc của Tổ CNSCĐ thôn Nam" in fake.messages_to(GROUP)[-1]["text"]

        clock.set(vn(2024, 10, 1, 7, 31))
        worker.scheduler.tick()  # the next tick re-plans what was planned before the binding
        for day in (2, 3, 4, 5):
            assert _rows(runtime, day) == {"team:thon-nam": "pending", **dict.fromkeys(members, "cancelled")}
        assert _rows(runtime, 1) == dict.fromkeys(members, "sent"), "what was sent stays as it was"

        clock.set(vn(2024, 10, 2, 7, 0))
        worker.scheduler.tick()
        worker.drain()
        [in_group] = _day(fake, GROUP, 2)
        assert not any(_day(fake, chat, 2) for chat in (AN, BINH, CUONG)), "nobody privately any more"

        # An confirms in the group; the follow-up nudges the two others, privately.
        assert _press(fake, runtime, in_group, AN).recorded
        clock.set(vn(2024, 10, 2, 9, 1))
        worker.scheduler.tick()
        worker.drain()
        nudged = {chat for chat in (AN, BINH, CUONG)
                  if any("Nhắc lại" in m["text"] and "2 tháng 10" in m["text"] for m in fake.messages_to(chat))}
        assert nudged == {BINH, CUONG}

        # The feed names who confirmed, out of the whole team reached through the group.
        feed = build_feed(runtime.engine, dict(runtime.duties), runtime.roster, Scope("team", "thon-nam"),
                          vn(2024, 10, 3, 12, 0)).decode()
        assert "⚠ 1/3 Giao ban tổ" in feed and "Nguyễn Văn An (Tổ CNSCĐ thôn Nam)" in feed

        # An admin's /remindnow reaches the bound group, not each member.
        before = len(fake.messages_to(GROUP))
        admin_chat = {"id": ADMIN, "type": "private", "first_name": "Việt"}
        assert _say(fake, runtime, admin_chat, ADMIN, f"/remindnow {UID} thon-nam").recorded
        worker.scheduler.tick()
        worker.drain()
        assert len(fake.messages_to(GROUP)) == before + 1
        with runtime.engine.connect() as conn:
            now_rows = conn.execute(select(DeliveryRow.recipient).where(
                DeliveryRow.kind.startswith("reminder-now@"))).scalars().all()
        assert now_rows == ["team:thon-nam"]
    runtime.engine.dispose()


def test_a_binding_wins_over_a_roster_chat_on_an_earlier_adapter(tmp_path):
    """REMINDERS_ADAPTERS=zalo_bot,telegram and a roster naming the team's Zalo group: after a
    leader's /bind in Telegram, the reminders go to the group the leader bound -- what the bot
    promised in its reply."""
    calendars = _definitions(tmp_path)
    roster_file = calendars / "roster.yaml"
    roster_file.write_text(ROSTER.replace("    commune: xa-thu\n", "    commune: xa-thu\n"
                                          "    chats: {zalo_bot: g-zalo-nam}\n", 1), encoding="utf-8")
    assert load_roster(roster_file).teams["thon-nam"].chats == {"zalo_bot": "g-zalo-nam"}
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(roster_file),
                                         database_url=f"sqlite:///{tmp_path / 'r.db'}")
    adapters = {"console": ConsoleAdapter(), "zalo_bot": ZaloBotAdapter("3141592653:ZaloBotTESTtoken"),
                "telegram": TelegramAdapter("4242:TEST-token")}
    runtime = open_runtime(settings, adapters={k: adapters[k] for k in ("zalo_bot", "telegram")})
    assert resolve(runtime, "team:thon-nam", "thon-nam").adapter.name == "zalo_bot"
    bound = {"telegram": (GROUP, "active")}
    target = resolve(runtime, "team:thon-nam", "thon-nam", bound)
    assert (target.adapter.name, target.address.chat) == ("telegram", GROUP)
    # The console reaches everyone ("terminal"), yet a binding elsewhere still comes first.
    runtime.adapters = {"console": adapters["console"], "telegram": adapters["telegram"]}
    assert resolve(runtime, "team:thon-nam", "thon-nam", bound).adapter.name == "telegram"
    broken = {"telegram": (GROUP, "broken")}
    assert resolve(runtime, "team:thon-nam", "thon-nam", broken).adapter.name == "console"
    runtime.engine.dispose()

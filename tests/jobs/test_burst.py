"""A burst of 600 Telegram reminders on the production stack -- PostgreSQL, Redis,
`reminders scheduler`, `dramatiq reminders.jobs.worker`, `reminders bot` polling -- against
the fake Bot API, which enforces Telegram's flood limits (30 messages/s per bot, 1/s per
private chat, 20/min per group) with real 429 answers.

Members answer the way they do: "xong" a second after their reminder arrives, ✅ in the
group. Every answer must be counted and thanked, every group message edited, and nothing
lost or sent twice -- also when Redis dies mid-burst and comes back 20 seconds later."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import _postgres_database, need_service
from fake_telegram import FakeTelegram
from sqlalchemy import func, select

from reminders import load_duties, load_roster, plan
from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, DeliveryRow

LEADERS, GROUPS = 580, 20  # 580 reminders to leaders' private chats, 20 to groups: 600 at once
REPLYING = range(0, LEADERS, LEADERS // 50)  # every 11th leader answers "xong" a second later: 50 (+3)
FIRST_LEADER, FIRST_MEMBER, FIRST_GROUP = 7000, 8000, 2_000_000_000
REMINDERS = DeliveryRow.kind.startswith("reminder-")


def _group_chat(n: int) -> str:
    return f"-100{FIRST_GROUP + n}"


def _burst(directory: Path, due: datetime) -> Path:
    """One duty for the leaders of commune `xa` (privately), one for the groups of `nhom`,
    both reminded at `due`."""
    directory.mkdir()
    start = (due + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")

    def duty(uid: str, summary: str, to: str, commune: str) -> str:
        return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\nDTSTART:{start}\nDURATION:PT2H\n"
                f"X-REMINDER-FOR:commune:{commune}\nX-REMINDER-TO:{to}\nBEGIN:VALARM\nACTION:DISPLAY\n"
                "DESCRIPTION:r\nTRIGGER:-PT60S\nEND:VALARM\nEND:VEVENT\n")

    (directory / "burst.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\n" + duty("hop@test", "Họp tổ", "leader", "xa")
        + duty("loa@test", "Phát thanh", "group", "nhom") + "END:VCALENDAR\n", encoding="utf-8")
    lines = ["quiet_hours: off", "communes:", "  - {id: xa, name: Xã A}", "  - {id: nhom, name: Xã B}", "teams:"]
    for n in range(LEADERS):
        lines.append(f"  - {{id: t{n}, name: Tổ {n}, commune: xa, members: [{{id: l{n}, name: Trưởng {n}, "
                     f"role: leader, chats: {{telegram: '{FIRST_LEADER + n}'}}}}]}}")
    for n in range(GROUPS):
        lines.append(f"  - {{id: g{n}, name: Nhóm {n}, commune: nhom, chats: {{telegram: '{_group_chat(n)}'}}, "
                     f"members: [{{id: gl{n}, name: Trưởng nhóm {n}, role: leader}}, "
                     f"{{id: gm{n}, name: Thành viên {n}, chats: {{telegram: '{FIRST_MEMBER + n}'}}}}]}}")
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


class RedisServer:
    """A private redis-server (no persistence) on a free port: this test may kill it; the
    machine's shared one is never touched."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or need_service(None, "redis-server binary")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def production(tmp_path):
    """(env, database url, fake Telegram, private Redis, start(name, *args))."""
    url, drop = _postgres_database()
    fake = FakeTelegram().start()
    redis = RedisServer().start()
    env = {**os.environ, "REMINDERS_DATABASE_URL": url, "REMINDERS_REDIS_URL": redis.url,
           "REMINDERS_REDIS_NAMESPACE": f"burst-{uuid.uuid4().hex[:8]}", "REMINDERS_ADAPTERS": "telegram",
           "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url, "REMINDERS_TICK_SECONDS": "1",
           "REMINDERS_CALENDARS": str(tmp_path / "cal")}
    for unset in ("REMINDERS_CLAIM_LEASE_SECONDS", "REMINDERS_LOG_LEVEL"):
        env.pop(unset, None)  # the default 5-minute lease: nothing here may wait for it
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "w") as log:
            proc = subprocess.Popen([sys.executable, *args], env=env, cwd=tmp_path, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=log)
        procs.append(proc)
        return proc

    try:
        yield env, url, fake, redis, start
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        fake.stop()
        redis.kill()
        drop()


def _start_stack(start, *, bot: bool) -> None:
    start("scheduler", "-m", "reminders.cli", "scheduler")
    start("worker", "-m", "dramatiq", "reminders.jobs.worker", "--processes", "1", "--threads", "4")
    if bot:
        start("bot", "-m", "reminders.cli", "bot")


def _planned(url: str, tmp_path: Path, due: datetime):
    calendars = _burst(tmp_path / "cal", due)
    engine = make_engine(url)
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, due - timedelta(minutes=5))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(REMINDERS)).scalar() == LEADERS + GROUPS
    return engine


def _reminders_per_chat(fake: FakeTelegram) -> Counter:
    """Reminders (messages with buttons) that arrived in each chat."""
    return Counter(str(m["chat"]["id"]) for m in list(fake.sent) if m.get("reply_markup"))


def _wait(predicate, timeout: float, what: str, *, fail: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if fail:
                raise AssertionError(f"timed out waiting for {what}")
            return
        time.sleep(0.2)


def _count(engine, query) -> int:
    with engine.connect() as conn:
        return conn.execute(query).scalar()


class QuickMembers(threading.Thread):
    """Members who answer a second after their reminder arrives: the chosen leaders reply
    "xong" to it in their private chat, each group's member presses ✅ under it."""

    def __init__(self, fake: FakeTelegram, delay: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.fake, self.delay = fake, delay
        self.stop = threading.Event()
        self.answered: dict[str, float] = {}  # chat -> when its answer was pushed
        self.replying = {str(FIRST_LEADER + n) for n in REPLYING}
        self.groups = {_group_chat(n): FIRST_MEMBER + n for n in range(GROUPS)}

    def run(self) -> None:
        due: list[tuple[float, dict]] = []
        seen = 0
        while not self.stop.is_set():
            sent = list(self.fake.sent)
            for message in sent[seen:]:
                chat = str(message["chat"]["id"])
                if message.get("reply_markup") and chat not in self.answered and \
                        (chat in self.replying or chat in self.groups):
                    self.answered[chat] = 0.0
                    due.append((time.monotonic() + self.delay, message))
            seen = len(sent)
            now = time.monotonic()
            for item in [d for d in due if d[0] <= now]:
                due.remove(item)
                self._answer(item[1])
            time.sleep(0.02)

    def _answer(self, message: dict) -> None:
        chat = str(message["chat"]["id"])
        if chat in self.groups:
            user = {"id": self.groups[chat], "is_bot": False, "first_name": "Thành viên"}
            data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            self.fake.push_update({"callback_query": {"id": f"cb-{chat}", "from": user, "chat_instance": chat,
                                                      "message": message, "data": data}})
        else:
            user = {"id": int(chat), "is_bot": False, "first_name": "Trưởng"}
            self.fake.push_update({"message": {"message_id": 10_000, "date": int(time.time()), "text": "xong",
                                               "chat": {"id": int(chat), "type": "private"}, "from": user,
                                               "reply_to_message": message}})
        self.answered[chat] = time.monotonic()


def test_burst_of_600_quick_answers_counted_and_thanked_within_limits(production, tmp_path):
    """Issues 14.2 and 14.4: in a burst of 600, 53 leaders answer "xong" one second after their
    reminder and 20 group members press ✅: every answer is recorded and thanked, every group
    message edited; nothing lost, nothing sent twice, no answer lost to a 429."""
    env, url, fake, redis, start = production
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
    engine = _planned(url, tmp_path, due)
    members = QuickMembers(fake)
    members.start()
    _start_stack(start, bot=True)
    expected_acks = len(REPLYING) + GROUPS
    try:
        _wait(lambda: _count(engine, select(func.count()).where(REMINDERS, DeliveryRow.status == "sent"))
              == LEADERS + GROUPS, 180, "all 600 reminders to be sent")
        _wait(lambda: _count(engine, select(func.count()).select_from(AcknowledgementRow)) >= expected_acks
              and len(fake.edits) >= GROUPS and len(_thanks(fake)) >= len(REPLYING), 120,
              "every answer to be recorded and thanked, every group message edited", fail=False)
    finally:
        members.stop.set()
    per_chat = _reminders_per_chat(fake)
    leaders = {str(FIRST_LEADER + n) for n in range(LEADERS)} | {_group_chat(n) for n in range(GROUPS)}
    assert set(per_chat) == leaders, "nothing lost: every chat got its reminder"
    assert sum(per_chat.values()) == LEADERS + GROUPS, "nothing sent twice"
    with engine.connect() as conn:
        acknowledged = set(conn.execute(select(AcknowledgementRow.person_id)).scalars())
    assert acknowledged == {f"l{n}" for n in REPLYING} | {f"gm{n}" for n in range(GROUPS)}, \
        f"every quick answer recorded: {len(acknowledged)} of {expected_acks}"
    thanked = Counter(str(m["chat"]["id"]) for m in _thanks(fake))
    assert thanked == Counter({str(FIRST_LEADER + n): 1 for n in REPLYING}), \
        f"every answer thanked, once: {len(thanked)} of {len(REPLYING)}"
    edited = {str(e["chat_id"]) for e in fake.edits}
    assert edited == {_group_chat(n) for n in range(GROUPS)}, \
        f"every group message shows its progress: {len(edited)} of {GROUPS}"
    assert all("✅ 1/2" in e["text"] for e in fake.edits), [e["text"] for e in fake.edits][:3]
    assert len(fake.callback_answers) == GROUPS
    refused = Counter(fake.refused)
    print(f"\n600 reminders, {expected_acks} quick answers: {fake.too_many} 429s ({dict(refused)})")
    engine.dispose()


def _thanks(fake: FakeTelegram) -> list[dict]:
    return [m for m in list(fake.sent) if m["text"].startswith("Cảm ơn")]


def test_redis_killed_mid_burst_and_back_20s_later_loses_and_repeats_nothing(production, tmp_path):
    """Issue 13.2: the rate limiter and the broker both live in Redis. It is killed once the
    burst is under way and started again, empty, 20 seconds later: no message the platform
    accepted goes out again, and every reminder is sent -- well before the 5-minute claim
    lease could have brought anything back."""
    env, url, fake, redis, start = production
    due = datetime.now(UTC).replace(microsecond=0)  # all 600 due at the scheduler's first tick
    engine = _planned(url, tmp_path, due)
    _start_stack(start, bot=False)
    _wait(lambda: sum(_reminders_per_chat(fake).values()) >= 150, 120, "the burst to be under way")
    redis.kill()
    at_kill = sum(_reminders_per_chat(fake).values())
    time.sleep(20)
    redis.start()
    back = time.monotonic()
    _wait(lambda: _count(engine, select(func.count()).where(REMINDERS, DeliveryRow.status == "sent"))
          == LEADERS + GROUPS, 150, "every reminder to be sent after Redis came back")
    per_chat = _reminders_per_chat(fake)
    duplicates = sum(n - 1 for n in per_chat.values())
    print(f"\nRedis killed at {at_kill}/600, back 20 s later; all sent {time.monotonic() - back:.0f} s after; "
          f"{len(per_chat)} chats, {duplicates} duplicates, {fake.too_many} 429s")
    assert at_kill < LEADERS + GROUPS, "the kill landed mid-burst"
    assert len(per_chat) == LEADERS + GROUPS, "nothing lost"
    assert duplicates == 0, f"nothing sent twice: {[c for c, n in per_chat.items() if n > 1]}"
    engine.dispose()


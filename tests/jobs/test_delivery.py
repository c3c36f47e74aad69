"""The send path as a team meets it, in one process over the fake Telegram Bot API: a member
who blocked the bot is reported, a snooze gives way to a confirmation, answers wait for the
platform's limits instead of being lost, and the claims of a dead process come back at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dramatiq.asyncio import get_event_loop_thread
from fake_telegram import FakeTelegram
from helpers import vn
from sqlalchemy import insert, select

from reminders.adapters.telegram import TelegramAdapter
from reminders.inbound.updates import process
from reminders.jobs import replies
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import claim_due, dispatch
from reminders.settings import load_settings
from reminders.store.models import (
    OCCURRENCE,
    AcknowledgementRow,
    ChatBindingRow,
    DeliveryRow,
    WorkerRow,
)
from reminders.store.workers import Heartbeat, host_identity, release_dead, renew
from reminders.timeutil import VirtualClock, as_utc

GROUP, AN, BINH = "-1001000000001", 100001, 100002

DUTY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//delivery//VI
BEGIN:VEVENT
UID:hop-to@test
SUMMARY:Họp tổ đầu tuần
DTSTART;TZID=Asia/Ho_Chi_Minh:20241001T080000
DURATION:PT1H
X-REMINDER-TO:{to}
X-REMINDER-FOLLOWUP:NUDGE=PT2H;TIMES=1;LEADER=PT4H;COMMUNE=P1D
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Họp
TRIGGER:-PT1H
END:VALARM
END:VEVENT
END:VCALENDAR
"""

ROSTER = """timezone: Asia/Ho_Chi_Minh
quiet_hours: off
communes:
  - id: xa
    name: Xã Thử
teams:
  - id: dong
    name: Tổ thôn Đông
    commune: xa
    chats: {telegram: "-1001000000001"}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {telegram: "100001"}}
      - {id: binh, name: Trần Thị Bình, chats: {telegram: "100002"}}
"""


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


def _stack(fake, tmp_path: Path, to: str = "members", **worker_options):
    directory = tmp_path / "calendars"
    directory.mkdir()
    (directory / "hop-to.ics").write_text(DUTY.replace("{to}", to), encoding="utf-8")
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(directory), roster_file=str(directory / "roster.yaml"),
                                         database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=("telegram",))
    clock = VirtualClock(vn(2024, 10, 1, 7, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"telegram": TelegramAdapter(fake.token, fake.base_url)})
    return runtime, clock, EmbeddedWorker(runtime, settings, **worker_options)


def _user(uid: int, name: str) -> dict:
    return {"id": uid, "is_bot": False, "first_name": name}


def _press(fake, runtime, message: dict, user: dict, action: str):
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].partition(":")[2]
    update = fake.push_update({"callback_query": {
        "id": f"cb{time.monotonic_ns()}", "from": user, "chat_instance": "ci", "message": message,
        "data": f"{action}:{code}"}})
    return get_event_loop_thread().run_coroutine(process(runtime, runtime.adapters["telegram"], update))


def test_a_member_who_blocked_the_bot_is_reported_to_the_leader(fake, tmp_path):
    """Issue 14.5: Bình blocked the bot. Her reminder fails with Telegram's 403; her chat is
    flagged, so her nudge does not knock on it again, and her leader is told by name -- as
    Zalo's -230 does."""
    fake.blocked.add(str(BINH))
    runtime, clock, worker = _stack(fake, tmp_path)
    with worker:
        worker.scheduler.tick()
        worker.drain()
        worker.scheduler.tick()  # the notice to the leader is an outbox row too
        worker.drain()
        clock.set(clock() + timedelta(hours=2, minutes=1))  # the nudges are due
        for _ in range(2):
            worker.scheduler.tick()
            worker.drain()
    with runtime.engine.connect() as conn:
        rows = {(r.recipient, r.kind): r for r in conn.execute(
            select(DeliveryRow.recipient, DeliveryRow.kind, DeliveryRow.status, DeliveryRow.error))}
        binding = conn.execute(select(ChatBindingRow.address, ChatBindingRow.status)
                               .where(ChatBindingRow.recipient == "person:binh")).one()
    assert rows[("person:binh", "reminder-0")].status == "failed"
    assert "blocked" in rows[("person:binh", "reminder-0")].error
    assert tuple(binding) == (str(BINH), "broken"), "her chat is flagged: later messages do not try it again"
    notices = [m for m in fake.messages_to(AN) if m["text"].startswith("⚠")]
    assert len(notices) == 1, [m["text"] for m in fake.messages_to(AN)]
    assert "Trần Thị Bình" in notices[0]["text"] and "Telegram" in notices[0]["text"]
    assert "Họp tổ đầu tuần" in notices[0]["text"]
    # Her nudge finds no working chat (not a second 403, not a second notice).
    assert rows[("person:binh", "nudge-1")].status == "failed"
    assert "no working chat address" in rows[("person:binh", "nudge-1")].error
    assert not fake.messages_to(BINH)
    runtime.engine.dispose()


def test_a_snooze_gives_way_to_a_confirmation(fake, tmp_path):
    """Issue 14.6: Bình presses ⏰ on her reminder, then ✅ a few minutes later. When the
    snoozed reminder comes due she has confirmed: it is cancelled, not sent."""
    runtime, clock, worker = _stack(fake, tmp_path)
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [reminder] = fake.messages_to(BINH)
        clock.set(clock() + timedelta(minutes=5))
        outcome = _press(fake, runtime, reminder, _user(BINH, "Bình"), "snooze")
        assert "nhắc lại" in outcome.reply.lower()
        clock.set(clock() + timedelta(minutes=5))
        outcome = _press(fake, runtime, reminder, _user(BINH, "Bình"), "done")
        assert outcome.recorded
        clock.set(clock() + timedelta(hours=1))  # the snoozed reminder is due
        worker.scheduler.tick()
        worker.drain()
    with runtime.engine.connect() as conn:
        [snoozed] = conn.execute(select(DeliveryRow.kind, DeliveryRow.status, DeliveryRow.error).where(
            DeliveryRow.recipient == "person:binh", DeliveryRow.kind.contains("@"))).all()
        acks = conn.execute(select(AcknowledgementRow.person_id)).scalars().all()
    assert acks == ["binh"]
    assert snoozed.status == "cancelled", snoozed
    assert fake.messages_to(BINH) == [reminder], "nothing more after she confirmed"
    runtime.engine.dispose()


def test_answers_within_the_group_limit_are_all_sent(fake, tmp_path):
    """Issue 14.4: 24 `/status` in one group within a minute. Telegram allows 20 messages a
    minute in a group: the answers beyond wait for the limit (a queue, not a drop), and none
    is refused with a 429."""
    runtime, clock, worker = _stack(fake, tmp_path, to="group")
    adapter = runtime.adapters["telegram"]
    an = {"id": AN, "is_bot": False, "first_name": "An"}

    async def spam() -> None:
        await adapter.start()
        try:
            for n in range(24):
                update = fake.push_update({"message": {
                    "message_id": 500 + n, "date": int(time.time()), "text": "/status", "from": an,
                    "chat": {"id": int(GROUP), "type": "supergroup", "title": "Tổ thôn Đông"}}})
                await process(runtime, adapter, update)
            await replies.settled()
        finally:
            await adapter.close()

    asyncio.run(spam())
    answers = [m for m in fake.messages_to(GROUP) if "Tuần này" in m["text"] or "Không có" in m["text"]]
    assert len(answers) == 24, f"{len(answers)} of 24 answered; refused: {fake.refused}"
    assert fake.too_many == 0, f"no answer was refused by the platform: {fake.refused}"
    runtime.engine.dispose()


def test_claims_of_a_dead_process_come_back_without_waiting_for_the_lease(database_url, tmp_path):
    """Issue 14.3, the mechanism: a process that held claims is gone -- its pid no longer runs
    on this machine, or its heartbeat stopped elsewhere. Its claims come back (an hour of
    lease still to run) and a live process's stay its own; a process taken for dead goes on
    under a new id and no longer acts on what it held."""
    from reminders.store.engine import make_engine

    engine = make_engine(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True, check=True).stdout)
    holders = {
        "here-dead": (host_identity(), dead_pid, now),  # its pid has exited
        "far-silent": ("another-machine/x/y", 4242, now - timedelta(minutes=5)),  # no beat for 5 minutes
        "far-alive": ("another-machine/x/y", 4243, now),
        "here-alive": (host_identity(), os.getppid(), now),  # pytest's parent: running
    }
    with engine.begin() as conn:
        occurrence = conn.execute(insert(OCCURRENCE).values(
            duty_uid="d@test", recurrence_id="r", start_at=as_utc(now), end_at=as_utc(now + timedelta(hours=1)),
            summary="Họp", status="scheduled").returning(OCCURRENCE.c.id)).scalar()
        for n, (worker_id, (host, pid, seen)) in enumerate(holders.items()):
            conn.execute(insert(WorkerRow.__table__).values(worker_id=worker_id, role="worker", host=host, pid=pid,
                                                            started_at=as_utc(seen), seen_at=as_utc(seen)))
            for sign in ":!":  # waiting in the broker, and being sent
                conn.execute(insert(DeliveryRow.__table__).values(
                    occurrence_id=occurrence, recipient=f"person:p{n}{sign}", team_id="t", kind="reminder-0",
                    due_at=as_utc(now - timedelta(seconds=5)), expires_at=as_utc(now + timedelta(hours=1)),
                    status="claimed", attempts=0, claimed_by=f"{worker_id}{sign}{uuid.uuid4().hex[:12]}",
                    lease_until=as_utc(now + timedelta(hours=1))))

    def holders_now() -> tuple[set[str], set[str]]:
        with engine.connect() as conn:
            pending = set(conn.execute(select(DeliveryRow.recipient).where(DeliveryRow.status == "pending")).scalars())
            return pending, set(conn.execute(select(WorkerRow.worker_id)).scalars())

    # A dispatch with no heartbeat of its own: only the pid rule, at once. (Its clock an hour
    # back, so that it claims nothing itself.)
    claimed: list = []
    dispatch(engine, now - timedelta(hours=1), lambda claims, _: claimed.extend(claims), worker="scheduler-test")
    assert claimed == []
    assert holders_now() == ({"person:p0:", "person:p0!"}, {"far-silent", "far-alive", "here-alive"})

    # A process whose own beats have been going through judges silence elsewhere too.
    watching = Heartbeat(engine, "watcher-1-abcdef", "scheduler").start()
    try:
        while watching.connected_for() < 1.0:
            time.sleep(0.1)
        renew(engine, "far-alive")
        renew(engine, "here-alive")
        release_dead(engine, watching=watching, stale=timedelta(seconds=1))
    finally:
        watching.stop()
    pending, workers = holders_now()
    assert pending == {"person:p0:", "person:p0!", "person:p1:", "person:p1!"}
    assert workers == {"far-alive", "here-alive"}, "the dead processes' rows are removed"
    assert claim_due(engine, now, worker="other") != [] and holders_now()[0] == set()

    # This process, taken for dead by another (its row removed, its claims given back): it
    # goes on under a new id, and what it took under the old one is no longer its own.
    names: list[str] = []
    victim = Heartbeat(engine, "worker-1-aaaaaa", "worker", renamed=names.append).start()
    try:
        assert victim.holds("worker-1-aaaaaa!0123456789ab")
        with engine.begin() as conn:
            conn.execute(WorkerRow.__table__.delete().where(WorkerRow.worker_id == "worker-1-aaaaaa"))
        victim.beat()
        assert names == [victim.worker_id] and victim.worker_id.startswith("worker-1-")
        assert victim.worker_id != "worker-1-aaaaaa"
        assert not victim.holds("worker-1-aaaaaa!0123456789ab")
        assert victim.holds(f"{victim.worker_id}!0123456789ab")
    finally:
        victim.stop()
    engine.dispose()

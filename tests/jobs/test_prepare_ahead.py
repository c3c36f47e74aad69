"""A batch reaches its worker up to jobs.send.PREPARE_AHEAD before its first delivery is due:
the worker takes and renders it then, and sends it when due -- never before -- deciding as of
that instant. A reminder due the minute the quiet hours end, taken two seconds before, is sent
at the end of the quiet hours, not held until the next morning."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

from dramatiq import Message
from sqlalchemy import select

from reminders import load_duties, load_roster, plan
from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.broker import make_broker
from reminders.jobs.send import PREPARE_AHEAD, deliver_batch, enqueue
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import Claim, claim_due
from reminders.settings import load_settings
from reminders.store.models import DeliveryRow
from reminders.timeutil import from_naive_utc

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//ahead//VI
BEGIN:VEVENT
UID:hop-to@test
SUMMARY:Họp tổ
DTSTART;TZID=Asia/Ho_Chi_Minh:20301001T071500
DURATION:PT1H
X-REMINDER-TO:group
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Họp
TRIGGER:-PT15M
END:VALARM
END:VEVENT
END:VCALENDAR
"""
ROSTER = """timezone: Asia/Ho_Chi_Minh
quiet_hours: "21:00-07:00"
communes:
  - {id: xa, name: Xã}
teams:
  - id: dong
    name: Tổ thôn Đông
    commune: xa
    chats: {console: g-dong}
    members: [{id: an, name: Nguyễn Văn An, role: leader}]
"""
DUE = datetime(2030, 10, 1, 0, 0, tzinfo=UTC)  # 07:00 in Vietnam


class ShiftedClock:
    """Real time, moved so that it starts `lead` before DUE: sleeping really passes time."""

    def __init__(self, lead: timedelta) -> None:
        self.restart(lead)

    def restart(self, lead: timedelta) -> None:
        self.offset = DUE - lead - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class StampedConsole(ConsoleAdapter):
    """The console, noting the runtime's clock at each send."""

    def __init__(self, clock: ShiftedClock) -> None:
        super().__init__(io.StringIO(), clock)
        self.sent_at: list[datetime] = []

    async def send(self, address, message):  # type: ignore[no-untyped-def]
        self.sent_at.append(self.clock())
        return await super().send(address, message)


def test_a_batch_taken_ahead_is_sent_when_due_and_judged_as_of_then(tmp_path):
    (tmp_path / "hop.ics").write_text(CALENDAR, encoding="utf-8")
    (tmp_path / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(tmp_path), roster_file=str(tmp_path / "roster.yaml"),
                                         database_url=f"sqlite:///{tmp_path / 'r.db'}")
    clock = ShiftedClock(PREPARE_AHEAD)
    console = StampedConsole(clock)
    rt = open_runtime(settings, clock=clock, adapters={"console": console})
    roster = load_roster(tmp_path / "roster.yaml")
    plan(rt.engine, load_duties(tmp_path, roster), roster, DUE - timedelta(days=1))
    clock.restart(PREPARE_AHEAD)  # the scheduler hands the batch over 2 s ahead
    claims = claim_due(rt.engine, clock(), worker="w")  # within the lookahead: due in 2 s
    assert len(claims) == 1 and claims[0].due_at == DUE

    statuses = asyncio.run(deliver_batch([claims[0].delivery_id], claims[0].token))

    assert statuses == {claims[0].delivery_id: "sent"}  # not held for the quiet hours
    assert len(console.sent_at) == 1 and console.sent_at[0] >= DUE  # not sent before it was due
    with rt.engine.connect() as conn:
        row = conn.execute(select(DeliveryRow.__table__)).one()
    assert row.status == "sent" and from_naive_utc(row.sent_at) >= DUE
    rt.engine.dispose()


def test_a_batch_is_enqueued_ahead_of_its_first_delivery():
    """The broker message waits until PREPARE_AHEAD before the batch's first delivery is due;
    one due sooner than that goes at once."""
    broker = make_broker()  # in-process: the messages stay readable in its queues
    now = datetime(2030, 10, 1, tzinfo=UTC)
    enqueue([Claim(1, now + timedelta(seconds=1), "w:soon"),
             Claim(2, now + timedelta(seconds=10), "w:later"), Claim(3, now + timedelta(seconds=10.5), "w:later")], now)

    at_once = [Message.decode(m) for m in broker.queues["deliveries"].queue]
    delayed = [Message.decode(m) for m in broker.queues["deliveries.DQ"].queue]
    assert [m.args for m in at_once] == [([1], "w:soon")]
    assert [m.args for m in delayed] == [([2, 3], "w:later")]
    delay_ms = delayed[0].options["eta"] - delayed[0].message_timestamp
    expected = (timedelta(seconds=10) - PREPARE_AHEAD).total_seconds() * 1000
    assert expected <= delay_ms < expected + 1000  # not when due (10 s): 2 s before

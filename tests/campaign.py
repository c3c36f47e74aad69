"""The October campaign scenario the follow-up and audit tests share: three village teams,
a daily duty with a check-in, a console adapter, a virtual clock."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from helpers import vn
from sqlalchemy import select

from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.inbound.acks import record_acknowledgement
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import next_due
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import VirtualClock

UID = "chien-dich-2024@test"
CAMPAIGN = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//campaign//VI
BEGIN:VEVENT
UID:{UID}
SUMMARY:Chiến dịch đi từng ngõ
DTSTART;TZID=Asia/Ho_Chi_Minh:20241001T073000
DURATION:PT12H
RRULE:FREQ=DAILY;COUNT=10
X-REMINDER-TO:group
X-REMINDER-CHECKIN;ANSWER=number:Hôm nay tổ đã hướng dẫn được bao nhiêu hộ?
X-REMINDER-FOLLOWUP:NUDGE=PT1H;TIMES=1;LEADER=PT2H;COMMUNE=PT12H
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Ra quân
TRIGGER:-PT30M
END:VALARM
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Báo số hộ
TRIGGER;RELATED=END:PT0M
X-REMINDER-KIND:CHECKIN
END:VALARM
END:VEVENT
END:VCALENDAR
"""

ROSTER = """timezone: Asia/Ho_Chi_Minh
communes:
  - id: xa-thu
    name: Xã Thử
    officials:
      - {id: can-bo, name: Lê Thị Hương, role: official, chats: {console: c-huong}}
teams:
  - id: dong
    name: Tổ thôn Đông
    commune: xa-thu
    chats: {console: g-dong}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {console: c-an}}
      - {id: binh, name: Trần Thị Bình, chats: {console: c-binh}}
      - {id: cuong, name: Lê Văn Cường, chats: {console: c-cuong}}
  - id: tay
    name: Tổ thôn Tây
    commune: xa-thu
    chats: {console: g-tay}
    members:
      - {id: dung, name: Phạm Văn Dũng, role: leader, chats: {console: c-dung}}
      - {id: em, name: Hoàng Thị Em, chats: {console: c-em}}
      - {id: giang, name: Vũ Minh Giang, chats: {console: c-giang}}
  - id: bac
    name: Tổ thôn Bắc
    commune: xa-thu
    chats: {console: g-bac}
    members:
      - {id: hai, name: Đỗ Văn Hải, role: leader, chats: {console: c-hai}}
      - {id: lan, name: Bùi Thị Lan, chats: {console: c-lan}}
"""
TEAMS = {"dong": ("an", "binh", "cuong"), "tay": ("dung", "em", "giang"), "bac": ("hai", "lan")}
ANSWERS_DAY1 = {"dong": "12", "tay": "8", "bac": "5"}


def write_definitions(tmp_path: Path, ics: str = CAMPAIGN, roster: str = ROSTER) -> Path:
    directory = tmp_path / "calendars"
    directory.mkdir()
    (directory / "campaign.ics").write_text(ics, encoding="utf-8")
    (directory / "roster.yaml").write_text(roster, encoding="utf-8")
    return directory


def code_of(engine, day: int, recipient: str, kind: str) -> str:
    with engine.connect() as conn:
        found = conn.execute(select(DeliveryRow.id).join(OccurrenceRow).where(
            OccurrenceRow.duty_uid == UID, OccurrenceRow.recurrence_id == f"2024-10-{day:02d}T00:30:00Z",
            DeliveryRow.recipient == recipient, DeliveryRow.kind == kind)).scalar_one()
    return delivery_code(found)


def messages(text: str) -> list[tuple[str, str, str]]:
    """(local time, recipient label, text) of each console message."""
    found = []
    for block in text.split("── ")[1:]:
        head, _, body = block.partition("\n")
        when, _, target = head.partition(" → ")
        lines = [line for line in body.strip().splitlines() if not line.startswith("   [")]
        found.append((when, target.split(" [")[0], "\n".join(lines)))
    return found


class Campaign:
    """Drives the worker over virtual time, running scripted actions on the way."""

    def __init__(self, settings, out: io.StringIO):
        self.clock = VirtualClock(vn(2024, 9, 30, 12, 0))
        self.runtime = open_runtime(settings, clock=self.clock,
                                    adapters={"console": ConsoleAdapter(out, self.clock)})
        self.settings = settings
        self.script: list[tuple] = []

    def at(self, when, action) -> None:
        self.script.append((when, len(self.script), action))

    def run_until(self, end) -> None:
        script = sorted(self.script)
        rt = self.runtime
        with EmbeddedWorker(rt, self.settings, worker_threads=1, rate_limits=False,
                            lookahead=timedelta(0), lookback=timedelta(0)) as worker:
            now = self.clock()
            while now < end:
                while script and script[0][0] <= now:
                    script.pop(0)[2]()
                worker.scheduler.tick(now)
                worker.drain()
                upcoming = [t for t in (next_due(rt.engine), script[0][0] if script else None) if t]
                now = min([*upcoming, now + timedelta(hours=6), end])
                self.clock.set(now)


def ack(rt, day: int, person: str, team: str, *, kind: str = "reminder-0", answer: str | None = None):
    def action():
        code = code_of(rt.engine, day, f"team:{team}", kind)
        record_acknowledgement(rt.engine, rt.roster, rt.duties, code=code, person_id=person,
                               channel="console", now=rt.clock(), answer=answer)
    return action

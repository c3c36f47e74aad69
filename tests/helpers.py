"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from reminders.models import AcknowledgementRow, DeliveryRow, OccurrenceRow

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of the schedule tables, for before/after comparisons."""
    with engine.connect() as conn:
        return {
            table.__tablename__: sorted(tuple(row) for row in conn.execute(select(table.__table__)))
            for table in (OccurrenceRow, DeliveryRow, AcknowledgementRow)
        }


def write_roster(path: Path, teams: int, *, commune: str = "xa-thu") -> Path:
    """A roster of `teams` teams with a leader and two members each, all on the console."""
    lines = ["timezone: Asia/Ho_Chi_Minh", "communes:", f"  - id: {commune}", "    name: Xã Thử", "teams:"]
    for n in range(teams):
        lines += [f"  - id: t{n}", f"    name: Tổ {n}", f"    commune: {commune}",
                  f"    chats: {{console: g{n}}}", "    members:",
                  f"      - {{id: t{n}-lead, name: Trưởng thôn {n}, role: leader}}",
                  f"      - {{id: t{n}-a, name: Thành viên A{n}}}",
                  f"      - {{id: t{n}-b, name: Thành viên B{n}}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

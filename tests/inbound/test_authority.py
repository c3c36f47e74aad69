"""Who may confirm for whom, checked where the acknowledgement is recorded: a leader for
their own team, a commune official or admin for their own commune, and only with a code
that was sent to them. Anything else is refused with the reason -- never recorded as the
sender's own "done" with the other person's name for an answer.

Two communes, three teams, a console adapter; messages go through the same path as every
inbound message (`handle`), and the terminal's `reminders ack`."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from helpers import vn
from sqlalchemy import select, update

from reminders.adapters.base import Inbound
from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.definitions.duties import load_duties
from reminders.definitions.live import Definitions
from reminders.definitions.roster import load_roster
from reminders.errors import NotOnRoster
from reminders.inbound.acks import confirm_on_behalf, record_acknowledgement
from reminders.inbound.router import handle
from reminders.runtime import Runtime
from reminders.schedule.planner import plan
from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, DeliveryRow
from reminders.timeutil import as_utc

DUTY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//authority//VI
BEGIN:VEVENT
UID:hop-to@test
SUMMARY:Họp tổ
DTSTART;TZID=Asia/Ho_Chi_Minh:20241001T080000
DURATION:PT2H
RRULE:FREQ=DAILY;COUNT=5
X-REMINDER-TO:group
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Họp
TRIGGER:-PT1H
END:VALARM
END:VEVENT
END:VCALENDAR
"""
ROSTER = """timezone: Asia/Ho_Chi_Minh
communes:
  - id: xa-a
    name: Xã A
    officials:
      - {id: admin-a, name: Quản Trị A, role: admin, chats: {console: c-admin-a}}
  - id: xa-b
    name: Xã B
    officials:
      - {id: admin-b, name: Quản Trị B, role: admin, chats: {console: c-admin-b}}
      - {id: can-bo-b, name: Cán Bộ B, role: official, chats: {console: c-can-bo-b}}
teams:
  - id: dong
    name: Tổ thôn Đông
    commune: xa-a
    chats: {console: g-dong}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {console: c-an}}
      - {id: binh, name: Trần Thị Bình, chats: {console: c-binh}}
      - {id: cuong, name: Lê Văn Cường, chats: {console: c-cuong}}
  - id: tay
    name: Tổ thôn Tây
    commune: xa-a
    chats: {console: g-tay}
    members:
      - {id: dung, name: Phạm Văn Dũng, role: leader, chats: {console: c-dung}}
      - {id: em, name: Hoàng Thị Em, chats: {console: c-em}}
  - id: bac
    name: Tổ thôn Bắc
    commune: xa-b
    chats: {console: g-bac}
    members:
      - {id: hai, name: Đỗ Văn Hải, role: leader, chats: {console: c-hai}}
      - {id: lan, name: Bùi Thị Lan, chats: {console: c-lan}}
"""
NOW = vn(2024, 10, 1, 7, 30)
_events = itertools.count()


@pytest.fixture
def rt(tmp_path, database_url):
    """1 October's 07:00 reminders sent to the three groups; the next days' still to come."""
    directory = tmp_path / "calendars"
    directory.mkdir()
    (directory / "duty.ics").write_text(DUTY, encoding="utf-8")
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    roster = load_roster(directory / "roster.yaml")
    duties = load_duties(directory, roster)
    engine = make_engine(database_url)
    plan(engine, duties, roster, vn(2024, 9, 30, 12), horizon=timedelta(days=5))
    with engine.begin() as conn:
        for team in roster.teams.values():
            conn.execute(update(DeliveryRow).where(DeliveryRow.recipient == f"team:{team.id}",
                                                   DeliveryRow.due_at <= as_utc(NOW))
                         .values(status="sent", sent_at=DeliveryRow.due_at, channel="console",
                                 address=team.chats["console"], message_id=f"m-{team.id}"))
    runtime = Runtime(engine, Definitions(duties, roster), {"console": ConsoleAdapter(io.StringIO())},
                      clock=lambda: NOW)
    yield runtime
    engine.dispose()


def _code(rt, team: str) -> str:
    """The code of the team's reminder sent this morning."""
    with rt.engine.connect() as conn:
        return delivery_code(conn.execute(select(DeliveryRow.id).where(
            DeliveryRow.recipient == f"team:{team}", DeliveryRow.status == "sent")).scalar_one())


def _say(rt, sender: str, text: str, *, group: str | None = None):
    """A message from the person whose console chat is `sender`: to the bot privately, or in
    their team's `group`."""
    return handle(rt, Inbound("console", f"e{next(_events)}", group or sender, group is not None, sender, text=text))


def _acks(rt) -> list[tuple[str, str | None, str | None]]:
    with rt.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(AcknowledgementRow.person_id,
                                                            AcknowledgementRow.recorded_by,
                                                            AcknowledgementRow.answer)))


def test_an_admin_of_another_commune_cannot_confirm_for_a_member(rt):
    """Issue 13.12: admin B's `/done <code> Cường` was recorded for commune A's member."""
    # With a code of commune A's team (not sent to admin B): refused, the code is not theirs.
    outcome = _say(rt, "c-admin-b", f"/done {_code(rt, 'dong')} Cường")
    assert not outcome.recorded
    assert outcome.reply == f"Mã {_code(rt, 'dong')} không phải của lời nhắc nào đã gửi cho bạn hoặc tổ của bạn."
    # With a code of their own commune's team: Cường is not in their commune.
    outcome = _say(rt, "c-admin-b", f"/done {_code(rt, 'bac')} Cường")
    assert not outcome.recorded
    assert outcome.reply == ("Lê Văn Cường không thuộc xã của bạn: bạn chỉ có thể xác nhận giúp "
                             "các tổ trong xã mình.")
    outcome = _say(rt, "c-can-bo-b", f"/done {_code(rt, 'bac')} Lê Văn Cường")  # an official, the same
    assert not outcome.recorded and "không thuộc xã của bạn" in outcome.reply
    assert _acks(rt) == []
    # Checked where it is recorded, whoever calls: the library, the terminal.
    with pytest.raises(NotOnRoster, match="not in their commune"):
        confirm_on_behalf(rt.engine, rt.roster, rt.duties, code=_code(rt, "dong"), member_id="cuong",
                          by="admin-b", channel="console", now=NOW)
    with pytest.raises(NotOnRoster, match="not in their commune"):
        record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt, "dong"), person_id="cuong",
                               channel="console", now=NOW, recorded_by="admin-b")
    assert _acks(rt) == []
    # Within their commune, it works.
    outcome = _say(rt, "c-admin-b", f"/done {_code(rt, 'bac')} Lan")
    assert outcome.recorded and "Bùi Thị Lan" in outcome.reply
    outcome = _say(rt, "c-admin-a", f"/done {_code(rt, 'dong')} Cường")
    assert outcome.recorded
    assert _acks(rt) == [("cuong", "admin-a", None), ("lan", "admin-b", None)]


def test_the_terminal_refuses_an_admin_of_another_commune(rt, tmp_path, database_url):
    """`reminders ack <code> --member admin-b --on-behalf-of cuong`: a clear refusal, exit 1."""
    env = {**os.environ, "REMINDERS_DATABASE_URL": database_url, "REMINDERS_CALENDARS": str(tmp_path / "calendars"),
           "REMINDERS_LANGUAGE": "en"}  # the admin's language; Vietnamese by default (tests/cli/test_vietnamese.py)
    run = subprocess.run([sys.executable, "-m", "reminders.cli", "ack", _code(rt, "dong"), "--member", "admin-b",
                          "--on-behalf-of", "cuong"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "not in their commune" in run.stderr and "Traceback" not in run.stderr
    assert _acks(rt) == []


def test_a_leader_naming_someone_outside_the_team_is_refused(rt):
    """Issue 13.13: An's `/done <code> Dũng` (Dũng leads thôn Tây) recorded An's own
    acknowledgement, with "Dũng" as its answer."""
    outcome = _say(rt, "c-an", f"/done {_code(rt, 'dong')} Dũng", group="g-dong")
    assert not outcome.recorded
    assert outcome.reply == ("Phạm Văn Dũng không thuộc tổ của bạn: bạn chỉ có thể xác nhận giúp "
                             "thành viên trong tổ mình.")
    outcome = _say(rt, "c-an", f"/done {_code(rt, 'dong')} Hoàng Thị Em", group="g-dong")
    assert not outcome.recorded and "Hoàng Thị Em không thuộc tổ của bạn" in outcome.reply
    assert _acks(rt) == []
    # His own team's member, and his own acknowledgement, still work.
    assert _say(rt, "c-an", f"/done {_code(rt, 'dong')} Bình", group="g-dong").recorded
    assert _say(rt, "c-an", "/done", group="g-dong").recorded
    assert _acks(rt) == [("an", None, None), ("binh", "an", None)]


def test_a_code_of_another_team_is_refused_with_the_reason(rt):
    """Issue 14.8: a leader's `/done <another team's code> Cường` recorded his own "done",
    with "<code> Cường" as the answer, on a duty that asks nothing."""
    tay = _code(rt, "tay")
    outcome = _say(rt, "c-an", f"/done {tay} Cường", group="g-dong")
    assert not outcome.recorded
    assert outcome.reply == f"Mã {tay} không phải của lời nhắc nào đã gửi cho bạn hoặc tổ của bạn."
    # A member, typing another team's code: refused too, not taken for their latest reminder.
    outcome = _say(rt, "c-binh", f"/done #{tay}", group="g-dong")
    assert not outcome.recorded and outcome.reply == "Mã này không phải của lời nhắc đã gửi cho bạn hoặc tổ của bạn."
    outcome = _say(rt, "c-binh", f"xong mã {tay}", group="g-dong")
    assert not outcome.recorded and outcome.reply == "Mã này không phải của lời nhắc đã gửi cho bạn hoặc tổ của bạn."
    # A member naming someone else: only leaders and officials confirm for others.
    outcome = _say(rt, "c-binh", f"/done {_code(rt, 'dong')} Cường", group="g-dong")
    assert not outcome.recorded and outcome.reply == ("Chỉ tổ trưởng hoặc cán bộ xã mới có thể xác nhận "
                                                      "giúp người khác.")
    # A code that names no reminder at all, with a name: said so.
    outcome = _say(rt, "c-an", "/done ZZZZ Cường", group="g-dong")
    assert not outcome.recorded and outcome.reply == "Không có lời nhắc nào có mã ZZZZ."
    assert _acks(rt) == []

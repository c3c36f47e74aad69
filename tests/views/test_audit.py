"""The audit trail: acknowledgements, confirmations on someone's behalf, snoozes and follow-ups
that were no longer needed, recorded in the same transaction and listed in time order,
by the library and by `reminders audit`."""

from __future__ import annotations

import io

from campaign import UID, Campaign, code_of, write_definitions
from click.testing import CliRunner
from helpers import VN, settings_for, vn

from reminders.adapters.base import Inbound
from reminders.cli import main
from reminders.inbound.acks import record_acknowledgement, snooze
from reminders.inbound.router import handle
from reminders.store.audit import AuditEvent, list_events, record_events

OUTCOMES = ("sent", "failed", "retry", "missed", "cancelled")  # recorded by the send path


def test_record_events_in_the_callers_transaction(engine):
    events = [AuditEvent(vn(2024, 10, 1, 9, 0), "snooze", actor="b", detail="second"),
              AuditEvent(vn(2024, 10, 1, 8, 0), "ack", actor="a", detail="first")]
    try:
        with engine.begin() as conn:
            assert record_events(conn, events) == 2
            raise RuntimeError("the caller's change failed")
    except RuntimeError:
        pass
    assert list_events(engine) == []  # rolled back with the caller's transaction
    with engine.begin() as conn:
        record_events(conn, events)
    assert [(e.event, e.actor, e.at) for e in list_events(engine)] == [
        ("ack", "a", vn(2024, 10, 1, 8, 0)), ("snooze", "b", vn(2024, 10, 1, 9, 0))]


def test_audit_trail_of_an_occurrence(tmp_path, database_url, monkeypatch):
    directory = write_definitions(tmp_path)
    settings = settings_for(directory, database_url)
    sim = Campaign(settings, io.StringIO())
    rt = sim.runtime

    def act(function):
        return lambda: function(rt.clock())

    sim.at(vn(2024, 10, 1, 19, 40), act(lambda now: record_acknowledgement(
        rt.engine, rt.roster, rt.duties, code=code_of(rt.engine, 1, "team:dong", "checkin-1"), person_id="an",
        channel="console", now=now, answer="12")))
    sim.at(vn(2024, 10, 1, 19, 41), act(lambda now: snooze(
        rt.engine, rt.roster, code=code_of(rt.engine, 1, "team:dong", "reminder-0"), person_id="binh", now=now)))
    sim.at(vn(2024, 10, 1, 19, 42), act(lambda now: handle(rt, Inbound(
        "console", "e1", "c-an", False, "c-an", text=f"/done {code_of(rt.engine, 1, 'team:dong', 'reminder-0')} "
        "Lê Văn Cường"), now)))
    sim.at(vn(2024, 10, 1, 19, 50), act(lambda now: record_acknowledgement(
        rt.engine, rt.roster, rt.duties, code=code_of(rt.engine, 1, "team:dong", "checkin-1"), person_id="an",
        channel="console", now=now, answer="14")))
    sim.at(vn(2024, 10, 1, 20, 50), act(lambda now: record_acknowledgement(
        rt.engine, rt.roster, rt.duties, code=code_of(rt.engine, 1, "person:binh", "nudge-1"), person_id="binh",
        channel="console", now=now)))
    sim.run_until(vn(2024, 10, 2, 8, 0))

    trail = [(e.at.astimezone(VN).strftime("%d %H:%M"), e.event, e.actor, e.recipient, e.detail)
             for e in list_events(rt.engine, duty_uid=UID, day=vn(2024, 10, 1).date(), team_id="dong", zone=VN)
             if e.event not in OUTCOMES]
    assert trail == [
        ("01 19:40", "ack", "an", "person:an", "via console, answer: 12"),
        ("01 19:41", "snooze", "binh", "person:binh", "until 2024-10-01 13:41Z"),
        ("01 19:42", "on-behalf", "an", "person:cuong", "via console"),
        ("01 19:50", "answer", "an", "person:an", "via console, answer: 14"),
        # The 20:30 nudges: An and Cường had confirmed; Bình's waits for her snooze (then the night).
        ("01 20:30", "followup-cancelled", "system", "person:an", "nudge-1: everyone has answered"),
        ("01 20:30", "followup-cancelled", "system", "person:cuong", "nudge-1: everyone has answered"),
        ("01 20:50", "ack", "binh", "person:binh", "via console"),
        ("02 06:30", "followup-cancelled", "system", "person:binh", "nudge-1: everyone has answered"),
        ("02 06:30", "followup-cancelled", "system", "person:an", "escalate-leader: everyone has answered"),
    ]
    # The send path's outcomes, in the same trail: each delivery of the day once, as sent.
    outcomes = [(e.at.astimezone(VN).strftime("%d %H:%M"), e.event, e.recipient, e.detail)
                for e in list_events(rt.engine, duty_uid=UID, day=vn(2024, 10, 1).date(), team_id="dong", zone=VN)
                if e.event in OUTCOMES]
    assert outcomes == [("01 07:00", "sent", "team:dong", "reminder-0 via console"),
                        ("01 19:30", "sent", "team:dong", "checkin-1 via console"),
                        ("01 20:41", "sent", "person:binh", "reminder-0@1727790060 via console")]  # the snooze
    rt.engine.dispose()

    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "220")
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "--duty", UID, "--date", "2024-10-01", "--team", "dong",
                                  "--calendars", str(directory)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "2024-10-0" in line]
    names = ("Xác nhận hộ", "Xác nhận", "Hẹn nhắc lại", "Sửa câu trả lời", "Không cần nhắc")
    # Rows of sent deliveries, and a narrow terminal's wrapped continuation lines, left out.
    assert [next(name for name in names if name in line) for line in lines
            if "Đã gửi" not in line and any(name in line for name in names)] == [
        "Xác nhận", "Hẹn nhắc lại", "Xác nhận hộ", "Sửa câu trả lời", "Không cần nhắc", "Không cần nhắc",
        "Xác nhận", "Không cần nhắc", "Không cần nhắc"]
    assert "Nguyễn Văn An" in result.output and "Lê Văn Cường" in result.output

    for arguments, message in [(["--team", "nowhere"], "Không có tổ 'nowhere'"),
                               (["--occurrence", "2024-10-01"], "--occurrence cần đi kèm --duty"),
                               (["--duty", UID, "--occurrence", "2030-01-01T00:00:00Z"], "Không có lần"),
                               (["--date", "1/10"], "--date")]:
        bad = runner.invoke(main, ["audit", *arguments, "--calendars", str(directory)])
        assert bad.exit_code == 1 and message in bad.output and "Traceback" not in bad.output


def test_audit_shows_the_latest_events_when_there_are_more(tmp_path, monkeypatch):
    """`--limit` keeps the newest events (it kept the oldest: after a month, today's trail was
    hidden behind the first day's), and says that some were left out."""
    from reminders.store.engine import make_engine

    directory = write_definitions(tmp_path)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        record_events(conn, [AuditEvent(vn(2024, 10, day, 9, 0), "snooze", actor="binh", detail=f"day {day}")
                             for day in (3, 1, 2)])
    assert [e.detail for e in list_events(engine, limit=2)] == ["day 2", "day 3"]
    engine.dispose()
    monkeypatch.setenv("REMINDERS_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(main, ["audit", "--limit", "2", "--calendars", str(directory)])
    assert result.exit_code == 0, result.output
    assert "day 2" in result.output and "day 3" in result.output and "day 1" not in result.output
    assert "Chỉ hiển thị 2 sự kiện gần nhất" in result.output
    whole = CliRunner().invoke(main, ["audit", "--limit", "3", "--calendars", str(directory)])
    assert "day 1" in whole.output and "gần nhất" not in whole.output

"""Follow-ups on a simulated October campaign (1–10 Oct 2024), three teams, scripted answers:
the exact sequence of nudges, escalations, the weekly digest and the completion summary,
through the real planner, follow-up pass, dispatcher, send actor and console adapter."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from campaign import (
    ANSWERS_DAY1,
    CAMPAIGN,
    ROSTER,
    TEAMS,
    UID,
    Campaign,
    ack,
    code_of,
    messages,
    write_definitions,
)
from helpers import counting, settings_for, vn
from sqlalchemy import func, select

from reminders.adapters.base import Inbound
from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.definitions.live import Definitions
from reminders.errors import InvalidInput
from reminders.inbound.acks import record_acknowledgement, snooze
from reminders.inbound.router import handle
from reminders.store.models import AcknowledgementRow, DeliveryRow, OccurrenceRow


def test_october_campaign_follow_ups(tmp_path, database_url):
    directory = write_definitions(tmp_path)
    settings = settings_for(directory, database_url)
    out = io.StringIO()
    sim = Campaign(settings, out)
    rt = sim.runtime
    for day in range(1, 11):
        evening = vn(2024, 10, day, 19, 40)
        for team, people in TEAMS.items():
            leader, *members = people
            answer = ANSWERS_DAY1[team] if day == 1 else "10"
            sim.at(evening, ack(rt, day, leader, team, kind="checkin-1", answer=answer))
            for member in members:
                if day == 1 and member in ("em", "giang", "lan"):
                    continue  # day 1: Em late, Giang never, Lan by phone to her leader
                if day == 3 and member == "binh":
                    continue  # day 3: Bình snoozes, then confirms after the snoozed reminder
                sim.at(evening, ack(rt, day, member, team))

    def em_replies_to_her_nudge():
        record_acknowledgement(rt.engine, rt.roster, rt.duties, code=code_of(rt.engine, 1, "person:em", "nudge-1"),
                               person_id="em", channel="console", now=rt.clock())

    def hai_confirms_for_lan():
        code = code_of(rt.engine, 1, "person:hai", "escalate-leader")
        outcome = handle(rt, Inbound("console", "u1", "c-hai", False, "c-hai", text=f"/done {code} Lan"))
        assert outcome.reply == 'Đã ghi nhận: Bùi Thị Lan đã xong "Chiến dịch đi từng ngõ" (xác nhận bởi Đỗ Văn Hải).'

    def binh_snoozes():
        snooze(rt.engine, rt.roster, code=code_of(rt.engine, 3, "team:dong", "reminder-0"), person_id="binh",
               now=rt.clock())

    sim.at(vn(2024, 10, 1, 20, 45), em_replies_to_her_nudge)
    sim.at(vn(2024, 10, 2, 6, 45), hai_confirms_for_lan)
    sim.at(vn(2024, 10, 3, 19, 40), binh_snoozes)
    sim.at(vn(2024, 10, 3, 20, 50), ack(rt, 3, "binh", "dong"))
    sim.run_until(vn(2024, 10, 11, 12, 0))

    sent = messages(out.getvalue())
    groups = [m for m in sent if m[1].startswith("Tổ thôn")]
    assert len(groups) == 10 * 3 * 2  # every morning reminder and evening check-in, to each group
    personal = sorted((m for m in sent if not m[1].startswith("Tổ thôn")), key=lambda m: (m[0], m[1]))
    nudge = "🔔 Nhắc lại: Chiến dịch đi từng ngõ\n🗓 Thứ Ba, 1 tháng 10, 2024 lúc 07:30\nBạn chưa xác nhận.\nBấm ✅ khi đã làm xong."
    # Teams in the roster's order (the admin's own, as in the report): Python's would put Đông last.
    week = ("📊 Tuần 30/09–06/10\n"
            "• Tổ thôn Đông: 18/18 đã xác nhận\n   Chiến dịch đi từng ngõ: tổng 62 (6 câu trả lời)\n"
            "• Tổ thôn Tây: 17/18 đã xác nhận · chưa xác nhận: Giang (1)\n"
            "   Chiến dịch đi từng ngõ: tổng 58 (6 câu trả lời)\n"
            "• Tổ thôn Bắc: 12/12 đã xác nhận\n   Chiến dịch đi từng ngõ: tổng 55 (6 câu trả lời)")
    summary = ("🏁 Kết thúc chiến dịch: Chiến dịch đi từng ngõ (01/10–10/10)\n"
               "• Tổ thôn Đông: 30/30 đã xác nhận\n   Chiến dịch đi từng ngõ: tổng 102 (10 câu trả lời)\n"
               "• Tổ thôn Tây: 29/30 đã xác nhận · chưa xác nhận: Giang (1)\n"
               "   Chiến dịch đi từng ngõ: tổng 98 (10 câu trả lời)\n"
               "• Tổ thôn Bắc: 20/20 đã xác nhận\n   Chiến dịch đi từng ngõ: tổng 95 (10 câu trả lời)")

    def team_part(text: str, team: str) -> str:
        lines = text.split("\n")
        keep = [lines[0]]
        for i, line in enumerate(lines[1:], 1):
            if line.startswith(f"• {team}:") or (line.startswith("   ") and lines[i - 1].startswith(f"• {team}:")):
                keep.append(line)
        return "\n".join(keep)

    escalate_code = code_of(rt.engine, 1, "person:dung", "escalate-leader")
    expected = [
        ("2024-10-01 20:30", "Hoàng Thị Em", nudge),
        ("2024-10-01 20:30", "Vũ Minh Giang", nudge),
        ("2024-10-01 20:30", "Bùi Thị Lan", nudge),
        # 21:30 is in the quiet hours (21:00–06:30): the leaders hear at 06:30.
        ("2024-10-02 06:30", "Phạm Văn Dũng",
         "⚠ Tổ thôn Tây: còn 1/3 chưa xác nhận: Giang\nChiến dịch đi từng ngõ · Thứ Ba, 1 tháng 10, 2024\n"
         f"Nếu có người đã xác nhận qua điện thoại, hãy ghi nhận giúp họ: /done {escalate_code} <tên>"),
        ("2024-10-02 06:30", "Đỗ Văn Hải",
         "⚠ Tổ thôn Bắc: còn 1/2 chưa xác nhận: Lan\nChiến dịch đi từng ngõ · Thứ Ba, 1 tháng 10, 2024\n"
         "Nếu có người đã xác nhận qua điện thoại, hãy ghi nhận giúp họ: /done "
         f"{code_of(rt.engine, 1, 'person:hai', 'escalate-leader')} <tên>"),
        # Hải confirmed for Lan at 06:45: the commune hears only of Thôn Tây.
        ("2024-10-02 07:30", "Lê Thị Hương",
         "⚠ Chưa xác nhận: Chiến dịch đi từng ngõ · Thứ Ba, 1 tháng 10, 2024\n"
         "• Tổ thôn Tây: còn 1/3 chưa xác nhận: Giang\n"
         "Nếu có người đã xác nhận qua điện thoại, hãy ghi nhận giúp họ: /done "
         f"{code_of(rt.engine, 1, 'person:can-bo', 'escalate-commune')} <tên>"),
        # Day 3: Bình's snoozed reminder; her 20:30 nudge waited for it and was then not needed.
        ("2024-10-03 20:40", "Trần Thị Bình",
         "🔔 Nhắc việc: Chiến dịch đi từng ngõ\n🗓 Thứ Năm, 3 tháng 10, 2024 lúc 07:30\n"
         "Bấm ✅ khi đã làm xong."),
        ("2024-10-07 08:00", "Lê Thị Hương", week),
        ("2024-10-07 08:00", "Nguyễn Văn An", team_part(week, "Tổ thôn Đông")),
        ("2024-10-07 08:00", "Phạm Văn Dũng", team_part(week, "Tổ thôn Tây")),
        ("2024-10-07 08:00", "Đỗ Văn Hải", team_part(week, "Tổ thôn Bắc")),
        ("2024-10-11 07:30", "Lê Thị Hương", summary),
        ("2024-10-11 07:30", "Nguyễn Văn An", team_part(summary, "Tổ thôn Đông")),
        ("2024-10-11 07:30", "Phạm Văn Dũng", team_part(summary, "Tổ thôn Tây")),
        ("2024-10-11 07:30", "Đỗ Văn Hải", team_part(summary, "Tổ thôn Bắc")),
    ]
    assert personal == sorted(expected, key=lambda m: (m[0], m[1]))

    with rt.engine.connect() as conn:
        lan = conn.execute(select(AcknowledgementRow.recorded_by).join(OccurrenceRow).where(
            AcknowledgementRow.person_id == "lan", OccurrenceRow.recurrence_id == "2024-10-01T00:30:00Z")).scalar()
        statuses = dict(conn.execute(select(DeliveryRow.recipient, DeliveryRow.status).join(OccurrenceRow).where(
            OccurrenceRow.recurrence_id == "2024-10-03T00:30:00Z", DeliveryRow.kind.in_(
                ("nudge-1", "escalate-leader")), DeliveryRow.team_id == "dong")).all())
    assert lan == "hai"
    assert statuses == {"person:binh": "cancelled", "person:an": "cancelled", "person:cuong": "cancelled"}
    rt.engine.dispose()


def test_followup_policy_is_validated_with_file_and_line(tmp_path):
    from reminders.definitions.duties import load_duties

    bad = CAMPAIGN.replace("X-REMINDER-FOLLOWUP:NUDGE=PT1H;TIMES=1;LEADER=PT2H;COMMUNE=PT12H",
                           "X-REMINDER-FOLLOWUP:NUDGE=PT1H;TIMES=3;LEADER=PT2H;COMMUNE=soon")
    directory = write_definitions(tmp_path, bad)
    with pytest.raises(InvalidInput) as caught:
        load_duties(directory)
    text = str(caught.value)
    line = bad.splitlines().index(next(x for x in bad.splitlines() if x.startswith("X-REMINDER-FOLLOWUP"))) + 1
    assert f"campaign.ics:{line}" in text
    assert "COMMUNE=soon must be a positive duration" in text
    for value, message in [("TIMES=9", "TIMES=9 must be a whole number 0..5"),
                           ("NUDGE=PT2H;TIMES=2;LEADER=PT3H", "LEADER (3:00:00) must come after the last nudge"),
                           ("WHEN=PT1H", "part 'WHEN=PT1H' must be one of NUDGE=…, TIMES=…")]:
        (directory / "campaign.ics").write_text(bad.replace("NUDGE=PT1H;TIMES=3;LEADER=PT2H;COMMUNE=soon", value),
                                                encoding="utf-8")
        with pytest.raises(InvalidInput, match=re.escape(message)):
            load_duties(directory)


def test_followup_defaults_and_none(tmp_path):
    from reminders.definitions.duties import load_duties
    from reminders.definitions.policy import DEFAULT_FOLLOWUP, parse_followup

    directory = write_definitions(tmp_path, CAMPAIGN.replace(
        "X-REMINDER-FOLLOWUP:NUDGE=PT1H;TIMES=1;LEADER=PT2H;COMMUNE=PT12H\n", ""))
    duty = load_duties(directory)[UID]
    assert duty.followup == DEFAULT_FOLLOWUP
    assert str(duty.followup) == "NUDGE=PT2H;TIMES=1;LEADER=PT4H;COMMUNE=P1D"
    assert not parse_followup("NONE").enabled
    # Defaults follow the nudges asked for: three nudges two hours apart put the leader after them.
    policy = parse_followup("NUDGE=PT2H;TIMES=3")
    assert policy.leader == timedelta(hours=8) and policy.commune == timedelta(days=1)
    ack_false = CAMPAIGN.replace("X-REMINDER-TO:group", "X-REMINDER-TO:group\nX-REMINDER-ACK:FALSE")
    (directory / "campaign.ics").write_text(ack_false, encoding="utf-8")
    with pytest.raises(InvalidInput, match="X-REMINDER-FOLLOWUP needs acknowledgements"):
        load_duties(directory)


def test_escalation_with_nothing_left_to_say_is_cancelled_at_send_time(tmp_path, database_url):
    """The pass cancels follow-ups just before they are due; an answer arriving after the claim
    is caught by the send path itself: nothing goes out, the row becomes cancelled."""
    import asyncio

    from reminders.jobs.send import deliver_batch
    from reminders.schedule.dispatcher import claim_due
    from reminders.schedule.followup import followup_pass

    directory = write_definitions(tmp_path)
    settings = settings_for(directory, database_url)
    out = io.StringIO()
    sim = Campaign(settings, out)
    rt = sim.runtime
    sim.run_until(vn(2024, 10, 1, 20, 0))  # reminders and check-ins out; nobody answered
    followup_pass(rt, vn(2024, 10, 1, 20, 0))
    sim.clock.set(vn(2024, 10, 1, 20, 30))
    claims = [c for c in claim_due(rt.engine, rt.clock(), worker="t", lookahead=timedelta(0))]
    assert len(claims) == 8  # nudges to every member of the three teams
    ack(rt, 1, "lan", "bac")()  # Lan answers between the claim and the send
    statuses = asyncio.run(deliver_batch([c.delivery_id for c in claims], claims[0].token))
    with rt.engine.connect() as conn:
        lan = conn.execute(select(DeliveryRow.status, DeliveryRow.error).where(
            DeliveryRow.recipient == "person:lan", DeliveryRow.kind == "nudge-1")).one()
    assert tuple(lan) == ("cancelled", "nothing left to say: everyone has answered")
    assert sorted(statuses.values()).count("sent") == 7
    nudged = [(when, who) for when, who, _ in messages(out.getvalue()) if when == "2024-10-01 20:30"]
    assert len(nudged) == 7 and ("2024-10-01 20:30", "Bùi Thị Lan") not in nudged
    rt.engine.dispose()


def test_a_campaign_that_comes_back_every_year_is_summed_up_each_year(tmp_path):
    """The shipped campaign's rule never ends (1–10 October every year): its summary comes
    after this year's 10 October and covers 01/10–10/10 only."""
    yearly = CAMPAIGN.replace("RRULE:FREQ=DAILY;COUNT=10", "RRULE:FREQ=YEARLY;BYMONTH=10;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10")
    directory = write_definitions(tmp_path, ics=yearly)
    settings = settings_for(directory, f"sqlite:///{tmp_path / 'yearly.db'}")
    out = io.StringIO()
    sim = Campaign(settings, out)
    rt = sim.runtime
    for day in range(1, 11):
        for team, people in TEAMS.items():
            sim.at(vn(2024, 10, day, 19, 40), ack(rt, day, people[0], team, kind="checkin-1", answer="10"))
            for member in people[1:]:
                sim.at(vn(2024, 10, day, 19, 40), ack(rt, day, member, team))
    sim.run_until(vn(2024, 10, 12, 12, 0))
    summaries = [(when, who, text.splitlines()[0]) for when, who, text in messages(out.getvalue())
                 if text.startswith("🏁")]
    head = "🏁 Kết thúc chiến dịch: Chiến dịch đi từng ngõ (01/10–10/10)"
    # Each leader, and the commune official once (one row per occurrence and recipient).
    assert sorted(summaries) == [("2024-10-11 07:30", name, head) for name in
                                 ("Lê Thị Hương", "Nguyễn Văn An", "Phạm Văn Dũng", "Đỗ Văn Hải")]
    rt.engine.dispose()


def _province(communes: int, teams_per_commune: int):
    """A roster built in memory (quicker than writing and parsing a YAML file of thousands of teams)."""
    from reminders.definitions.roster import Commune, Person, Roster, Team

    roster = Roster(source="memory", timezone="Asia/Ho_Chi_Minh")
    for c in range(communes):
        official = Person(f"x{c}-cb", f"Cán Bộ {c}", "official", "vi", {"console": f"o{c}"}, None, f"x{c}")
        roster.people[official.id] = official
        roster.communes[f"x{c}"] = Commune(f"x{c}", f"Xã {c}", "Asia/Ho_Chi_Minh", (official.id,))
        for n in range(teams_per_commune):
            tid = f"t{c}-{n}"
            people = [Person(f"{tid}-{n}", name, "leader" if n == 0 else "member", "vi", {"console": f"{tid}-{n}"},
                             tid, f"x{c}") for n, name in enumerate(("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường"))]
            roster.people.update((p.id, p) for p in people)
            roster.teams[tid] = Team(tid, f"Tổ {tid}", f"x{c}", "vi", "Asia/Ho_Chi_Minh", {"console": f"g{tid}"},
                                     tuple(p.id for p in people))
    return roster


def test_followup_pass_and_rendering_stay_bounded_at_province_scale(tmp_path):
    """3,000 teams in thirty communes: settling the commune escalations and rendering follow-ups
    must not walk every team for every commune escalation (minutes per pass at this size, 345 s
    at 5,000 teams), nor read every team's reminders to render one nudge (130 ms each).
    Counted in statements and rows, not seconds: the same on a busy machine."""
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from sqlalchemy import update

    from reminders.adapters.console import ConsoleAdapter
    from reminders.definitions.duties import load_duties
    from reminders.jobs.followup_messages import render_followup
    from reminders.jobs.send import OccurrenceView
    from reminders.runtime import Runtime
    from reminders.schedule.followup import followup_pass
    from reminders.schedule.planner import plan
    from reminders.store.engine import make_engine
    from reminders.timeutil import as_utc, from_naive_utc

    directory = write_definitions(tmp_path)
    roster = _province(30, 100)
    duties = load_duties(directory)
    engine = make_engine(f"sqlite:///{tmp_path / 'province.db'}")
    rt = Runtime(engine, Definitions(duties, roster), {"console": ConsoleAdapter(io.StringIO())})
    plan(engine, duties, roster, vn(2024, 9, 30, 12), horizon=timedelta(days=2))
    with engine.begin() as conn:  # day 1's reminders and check-ins went out; nobody answered
        conn.execute(update(DeliveryRow).where(DeliveryRow.due_at <= as_utc(vn(2024, 10, 1, 19, 30)))
                     .values(status="sent", sent_at=DeliveryRow.due_at))
    followup_pass(rt, vn(2024, 10, 1, 19, 31))
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(DeliveryRow.kind, func.count()).where(
            DeliveryRow.kind.in_(("nudge-1", "escalate-leader", "escalate-commune"))).group_by(DeliveryRow.kind)).all())
        commune_due = conn.execute(select(func.min(DeliveryRow.due_at)).where(
            DeliveryRow.kind == "escalate-commune")).scalar()
    assert kinds == {"nudge-1": 9000, "escalate-leader": 3000, "escalate-commune": 30}
    with counting(engine) as work:
        followup_pass(rt, from_naive_utc(commune_due) - timedelta(seconds=10))
    assert work.statements <= 20 and work.steps <= 3000, work  # 7 and 753 here: not per team

    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow).where(DeliveryRow.kind.in_(("nudge-1", "escalate-commune")))
                            .order_by(DeliveryRow.kind, DeliveryRow.id).limit(61)).all()
        occ = conn.execute(select(OccurrenceRow).where(OccurrenceRow.id == rows[0].occurrence_id)).one()
    view = OccurrenceView(occ.summary, from_naive_utc(occ.start_at), from_naive_utc(occ.end_at), occ.all_day)
    target = SimpleNamespace(language="vi", zone=ZoneInfo("Asia/Ho_Chi_Minh"), adapter=rt.adapters["console"])
    with counting(engine) as work:
        texts = [render_followup(rt, duties[UID], view, row, row.id, target).text for row in rows]
    assert work.statements <= 61 * 3 and work.steps <= 61 * 40, work  # 122, 445: one team's rows each
    # 100 teams with someone missing do not fit one message: whole lines, how many were left
    # out, and the how-to line last.
    commune = texts[0].splitlines()
    assert commune[0] == "⚠ Chưa xác nhận: Chiến dịch đi từng ngõ · Thứ Ba, 1 tháng 10, 2024"
    assert commune[1] == "• Tổ t0-0: còn 3/3 chưa xác nhận: An, Bình, Cường"
    shown = sum(1 for line in commune if line.startswith("• Tổ t0-"))
    assert commune[-2] == f"… và {100 - shown} tổ khác" and commune[-1].startswith("Nếu có người đã xác nhận")
    assert 60 < shown < 100 and len(texts[0]) <= 4096
    assert all(text.startswith("🔔 Nhắc lại: Chiến dịch đi từng ngõ") for text in texts[30:])
    engine.dispose()


def test_a_pass_after_a_large_burst_plans_in_whole_occurrence_chunks(tmp_path, monkeypatch):
    """A pass that finds thousands of (occurrence, team) pairs sent since the last one plans
    them PLAN_CHUNK at a time (the scheduler's memory stays bounded after a 50,000 burst),
    an occurrence's teams never split, and plans exactly what one pass over all of them would."""
    from sqlalchemy import event, update

    from reminders.adapters.console import ConsoleAdapter
    from reminders.definitions.duties import load_duties
    from reminders.runtime import Runtime
    from reminders.schedule import followup
    from reminders.schedule.planner import plan
    from reminders.store.engine import make_engine
    from reminders.timeutil import as_utc

    directory = write_definitions(tmp_path)
    roster, duties = _province(3, 10), load_duties(directory)

    def planned(chunk: int, name: str) -> tuple[list[tuple], list[int]]:
        monkeypatch.setattr(followup, "PLAN_CHUNK", chunk)
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        plan(engine, duties, roster, vn(2024, 9, 30, 12), horizon=timedelta(days=2))
        with engine.begin() as conn:  # day 1 and day 2 went out: two occurrences of 30 teams each
            conn.execute(update(DeliveryRow).where(DeliveryRow.due_at <= as_utc(vn(2024, 10, 2, 19, 30)))
                         .values(status="sent", sent_at=DeliveryRow.due_at))
        inserts: list[int] = []

        def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.startswith("INSERT INTO delivery"):
                inserts.append(len(parameters) if executemany else 1)

        event.listen(engine, "before_cursor_execute", seen)
        rt = Runtime(engine, Definitions(duties, roster), {"console": ConsoleAdapter(io.StringIO())})
        followup.followup_pass(rt, vn(2024, 10, 2, 19, 31))
        with engine.connect() as conn:
            rows = conn.execute(select(DeliveryRow.occurrence_id, DeliveryRow.recipient, DeliveryRow.kind,
                                       DeliveryRow.due_at, DeliveryRow.status)
                                .where(DeliveryRow.kind.not_like("reminder-%"), DeliveryRow.kind.not_like("checkin-%"))
                                .order_by(DeliveryRow.occurrence_id, DeliveryRow.recipient, DeliveryRow.kind)).all()
        engine.dispose()
        return [tuple(r) for r in rows], inserts

    whole, whole_inserts = planned(10_000, "whole.db")
    chunked, chunk_inserts = planned(1, "chunked.db")
    assert chunked == whole and len(whole) > 100  # nudges, leader and commune escalations alike
    # The planning's one insert became one per occurrence (30 teams each); the pass's later
    # inserts (the settled escalations) are the same.
    (planning, *later), (first, second, *chunk_later) = whole_inserts, chunk_inserts
    assert first + second == planning and first == second and chunk_later == later


def _sent(rt, recipient: str, kind: str) -> int:
    """Mark a planned follow-up sent, as the send path would; its delivery id."""
    from sqlalchemy import update

    with rt.engine.begin() as conn:
        found = conn.execute(select(DeliveryRow.id).where(DeliveryRow.recipient == recipient,
                                                          DeliveryRow.kind == kind)).scalar_one()
        conn.execute(update(DeliveryRow).where(DeliveryRow.id == found).values(status="sent",
                                                                               sent_at=DeliveryRow.due_at))
    return found


def _day_one_sent(tmp_path, url: str, roster: str = ROSTER):
    """The campaign's day 1 reminders and check-ins went out; a Runtime over it."""
    from sqlalchemy import update

    from reminders.adapters.console import ConsoleAdapter
    from reminders.definitions.duties import load_duties
    from reminders.definitions.roster import load_roster
    from reminders.runtime import Runtime
    from reminders.schedule.planner import plan
    from reminders.store.engine import make_engine
    from reminders.timeutil import as_utc

    directory = write_definitions(tmp_path, roster=roster)
    roster = load_roster(directory / "roster.yaml")
    duties = load_duties(directory, roster)
    engine = make_engine(url)
    plan(engine, duties, roster, vn(2024, 9, 30, 12), horizon=timedelta(days=2))
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.due_at <= as_utc(vn(2024, 10, 1, 19, 30)))
                     .values(status="sent", sent_at=DeliveryRow.due_at))
    return Runtime(engine, Definitions(duties, roster), {"console": ConsoleAdapter(io.StringIO())})


def test_a_snoozed_nudge_comes_back_when_it_said(tmp_path, database_url):
    """Em presses ⏰ on her 20:30 nudge: it comes back at 06:30 (the night is quiet). The pass
    that runs just before (the scheduler looks 30 s ahead) must not take her snoozed nudge for
    a reason to wait for her snooze -- it moved it to 07:29, and on every tick after."""
    from sqlalchemy import update

    from reminders.schedule.followup import followup_pass
    from reminders.timeutil import as_utc, from_naive_utc

    rt = _day_one_sent(tmp_path, database_url)
    followup_pass(rt, vn(2024, 10, 1, 19, 31))
    with rt.engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.kind == "nudge-1")
                     .values(status="sent", sent_at=as_utc(vn(2024, 10, 1, 20, 30))))
    due = snooze(rt.engine, rt.roster, code=code_of(rt.engine, 1, "person:em", "nudge-1"), person_id="em",
                 now=vn(2024, 10, 1, 20, 31))
    assert due == vn(2024, 10, 2, 6, 30)
    for now in (vn(2024, 10, 2, 6, 29, 31), vn(2024, 10, 2, 6, 29, 50)):
        followup_pass(rt, now, lookahead=timedelta(seconds=30))
    with rt.engine.connect() as conn:
        due_at = dict(conn.execute(select(DeliveryRow.recipient, DeliveryRow.due_at).where(
            DeliveryRow.team_id == "tay", DeliveryRow.status == "pending",
            DeliveryRow.kind.in_((snoozed_kind := f"nudge-1@{int(due.timestamp())}", "escalate-leader")))).all())
    # Her snoozed nudge stays at 06:30; Dũng's escalation (06:30) waits for it, and a nudge
    # interval more, as the README says.
    assert {who: from_naive_utc(at) for who, at in due_at.items()} == {
        "person:em": vn(2024, 10, 2, 6, 30), "person:dung": vn(2024, 10, 2, 7, 30)}
    with rt.engine.connect() as conn:
        assert conn.execute(select(DeliveryRow.kind).where(DeliveryRow.recipient == "person:em",
                                                           DeliveryRow.status == "pending")).scalar() == snoozed_kind
    rt.engine.dispose()


def test_a_reply_to_the_weekly_digest_is_no_acknowledgement(tmp_path, database_url):
    """A leader answers the Monday digest ("ok", or presses a button of an old message with its
    code): a digest belongs to no occurrence, so there is nothing to record -- a polite answer,
    not a crash of the inbound handler."""
    from sqlalchemy import update

    from reminders.schedule.followup import plan_digest

    rt = _day_one_sent(tmp_path, database_url)
    with rt.engine.begin() as conn:
        assert plan_digest(conn, rt.roster, vn(2024, 10, 1, 8)) == 4
        conn.execute(update(DeliveryRow).where(DeliveryRow.recipient == "person:an",
                                               DeliveryRow.kind.startswith("digest:"))
                     .values(status="sent", channel="console", address="c-an", message_id="m-digest"))
        digest = conn.execute(select(DeliveryRow.id).where(DeliveryRow.recipient == "person:an",
                                                           DeliveryRow.kind.startswith("digest:"))).scalar()
    rt.clock = lambda: vn(2024, 10, 7, 8, 5)
    for n, event in enumerate([Inbound("console", "r1", "c-an", False, "c-an", text="ok", reply_to="m-digest"),
                               Inbound("console", "r2", "c-an", False, "c-an", action="done",
                                       code=delivery_code(digest)),
                               Inbound("console", "r3", "c-an", False, "c-an", action="snooze",
                                       code=delivery_code(digest))]):
        outcome = handle(rt, event)
        assert outcome is not None and not outcome.recorded, n
        assert outcome.reply == "Lời nhắc này đã đóng.", n
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar() == 0
    rt.engine.dispose()


def test_editing_the_roster_or_the_duty_keeps_follow_ups_and_snoozes(tmp_path, database_url):
    """A changed roster or duty re-plans the duty and cancels the reminders it no longer
    wants. Follow-ups and snoozed reminders are not the planner's to cancel: they were all
    cancelled by any edit (a member added at 20:00), and never planned again."""
    from reminders.definitions.duties import load_duties
    from reminders.definitions.roster import load_roster
    from reminders.schedule.followup import followup_pass
    from reminders.schedule.planner import plan

    rt = _day_one_sent(tmp_path, database_url)
    followup_pass(rt, vn(2024, 10, 1, 19, 31))
    snooze(rt.engine, rt.roster, code=code_of(rt.engine, 1, "team:tay", "reminder-0"), person_id="em",
           now=vn(2024, 10, 1, 19, 40))

    def pending() -> list[tuple[str, str]]:
        with rt.engine.connect() as conn:
            return sorted(conn.execute(select(DeliveryRow.recipient, DeliveryRow.kind).where(
                DeliveryRow.status == "pending", DeliveryRow.due_at < as_utc(vn(2024, 10, 2, 8, 0)),
                ~DeliveryRow.kind.startswith("reminder-0"), ~DeliveryRow.kind.startswith("checkin-1"))).all())

    from reminders.timeutil import as_utc

    before = pending()
    assert ("person:em", "nudge-1") in before and ("person:dung", "escalate-leader") in before
    assert len(before) == 8 + 3 + 1  # nudges, leaders' escalations, the commune's
    directory = tmp_path / "calendars"
    roster_text = (directory / "roster.yaml").read_text(encoding="utf-8")
    (directory / "roster.yaml").write_text(roster_text + "      - {id: minh, name: Ngô Văn Minh}\n",
                                           encoding="utf-8")
    roster = load_roster(directory / "roster.yaml")
    plan(rt.engine, load_duties(directory, roster), roster, vn(2024, 10, 1, 20, 0), horizon=timedelta(days=2))
    (directory / "campaign.ics").write_text(CAMPAIGN.replace("DESCRIPTION:Ra quân", "DESCRIPTION:Ra quân sớm"),
                                            encoding="utf-8")
    plan(rt.engine, load_duties(directory, roster), roster, vn(2024, 10, 1, 20, 5), horizon=timedelta(days=2))
    assert pending() == before
    with rt.engine.connect() as conn:
        assert conn.execute(select(DeliveryRow.status).where(DeliveryRow.recipient == "person:em",
                                                             DeliveryRow.kind.contains("@"))).scalar() == "pending"
    rt.engine.dispose()


def test_a_leader_confirming_for_an_unclear_name_is_asked_again(tmp_path, database_url):
    """`/done <code> Cường` when two members are called Cường (or a name with a typo, from the
    escalation): nobody is recorded, and the reply says why -- the leader got no answer at all,
    and could only think it was done."""
    roster = ROSTER.replace("      - {id: cuong, name: Lê Văn Cường, chats: {console: c-cuong}}",
                            "      - {id: lvc, name: Lê Văn Cường, chats: {console: c-cuong}}\n"
                            "      - {id: pvc, name: Phạm Văn Cường, chats: {console: c-cuong2}}")
    directory = tmp_path / "defs"
    directory.mkdir()
    rt = _day_one_sent(directory, database_url, roster=roster)
    from reminders.schedule.followup import followup_pass

    followup_pass(rt, vn(2024, 10, 1, 19, 31))
    followup_code = delivery_code(_sent(rt, "person:hai", "escalate-leader"))  # Hải has it in his chat
    rt.clock = lambda: vn(2024, 10, 1, 20, 0)
    reminder = code_of(rt.engine, 1, "team:dong", "reminder-0")
    cases = [("c-an", f"/done {reminder} Cường", "Có 2 người tên 'Cường': Lê Văn Cường, Phạm Văn Cường. "
                                                  "Hãy ghi họ tên đầy đủ."),
             ("c-hai", f"/done {followup_code} Lann", "Không có ai tên 'Lann' trong tổ của bạn.")]
    for n, (chat, text, reply) in enumerate(cases):
        outcome = handle(rt, Inbound("console", f"e{n}", chat, False, chat, text=text))
        assert outcome.reply == reply
    with rt.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar() == 0
    # The full name works; the leader's own answer after his team's code still does too.
    outcome = handle(rt, Inbound("console", "e9", "c-an", False, "c-an", text=f"/done {reminder} Phạm Văn Cường"))
    assert outcome.recorded and "Phạm Văn Cường" in outcome.reply
    rt.engine.dispose()


def test_a_team_whose_group_removed_the_bot_is_nudged_privately(tmp_path):
    """Thôn Bắc's group refuses every message (the bot was removed): its reminder and
    check-in fail for good, and its members are still nudged, privately, like everyone
    who has not answered."""
    from reminders.adapters.base import PermanentFailure

    class GroupRemovedConsole(ConsoleAdapter):
        async def send(self, address, message):
            if address.is_group and address.chat == "g-bac":
                raise PermanentFailure("Forbidden: bot was kicked from the group chat")
            return await super().send(address, message)

    directory = write_definitions(tmp_path)
    out = io.StringIO()
    sim = Campaign(settings_for(directory, f"sqlite:///{tmp_path / 'kicked.db'}"), out)
    sim.runtime.adapters["console"] = GroupRemovedConsole(out, sim.clock)
    sim.run_until(vn(2024, 10, 1, 21, 0))  # nobody answers on day 1
    with sim.runtime.engine.connect() as conn:
        group = dict(conn.execute(select(DeliveryRow.kind, DeliveryRow.status).join(OccurrenceRow).where(
            OccurrenceRow.recurrence_id == "2024-10-01T00:30:00Z", DeliveryRow.recipient == "team:bac",
            DeliveryRow.kind.in_(("reminder-0", "checkin-1")))).all())
    assert group == {"reminder-0": "failed", "checkin-1": "failed"}
    nudged = {who for when, who, text in messages(out.getvalue()) if text.startswith("🔔 Nhắc lại")}
    assert {"Đỗ Văn Hải", "Bùi Thị Lan"} <= nudged
    sim.runtime.engine.dispose()


def test_an_official_confirms_for_a_member_of_a_team_whose_reminder_failed(tmp_path, database_url):
    """Thôn Đông's group removed the bot (its reminder failed for good); the commune official
    heard from Bình by phone and confirms with the code of her escalation, which another team
    carries: it is recorded on Đông's own (failed) reminder, not refused in English."""
    from sqlalchemy import update

    rt = _day_one_sent(tmp_path, database_url)
    with rt.engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.recipient == "team:dong",
                                               DeliveryRow.status == "sent")
                     .values(status="failed", sent_at=None))
    from reminders.schedule.followup import followup_pass

    followup_pass(rt, vn(2024, 10, 1, 19, 31))
    _sent(rt, "person:can-bo", "escalate-commune")  # Hương has it in her chat
    with rt.engine.connect() as conn:
        escalation = conn.execute(select(DeliveryRow.id, DeliveryRow.team_id).where(
            DeliveryRow.recipient == "person:can-bo", DeliveryRow.kind == "escalate-commune")).one()
    assert escalation.team_id != "dong"
    rt.clock = lambda: vn(2024, 10, 2, 8, 0)
    outcome = handle(rt, Inbound("console", "e1", "c-huong", False, "c-huong",
                                 text=f"/done {delivery_code(escalation.id)} Bình"))
    assert outcome.reply == "Đã ghi nhận: Trần Thị Bình đã xong \"Chiến dịch đi từng ngõ\" (xác nhận bởi Lê Thị Hương)."
    with rt.engine.connect() as conn:
        assert conn.execute(select(AcknowledgementRow.team_id, AcknowledgementRow.recorded_by)).all() == [
            ("dong", "can-bo")]
    rt.engine.dispose()


def test_the_official_hears_after_the_leader_when_a_snooze_moves_the_leader(tmp_path, database_url):
    """Issue 14.7: the commune step planned 11 hours after the 19:30 check-in (06:30), the
    leader's (21:30) pushed by the quiet night to 06:30 too. Em, still missing, presses ⏰ on
    her nudge at 06:00: the leader's alert waits for her snoozed nudge (07:00) and a nudge
    interval (08:00). The official must not hear of Em before her leader does: the commune
    step waits for the leader's, and a nudge interval more (09:00)."""
    directory = write_definitions(tmp_path, CAMPAIGN.replace("COMMUNE=PT12H", "COMMUNE=PT11H"))
    settings = settings_for(directory, database_url)
    out = io.StringIO()
    sim = Campaign(settings, out)
    rt = sim.runtime
    for team, (leader, *members) in TEAMS.items():
        sim.at(vn(2024, 10, 1, 19, 40), ack(rt, 1, leader, team, kind="checkin-1", answer="5"))
        for member in members:
            if member != "em":
                sim.at(vn(2024, 10, 1, 19, 40), ack(rt, 1, member, team))

    def em_snoozes_her_nudge():
        snooze(rt.engine, rt.roster, code=code_of(rt.engine, 1, "person:em", "nudge-1"), person_id="em",
               now=rt.clock())

    sim.at(vn(2024, 10, 2, 6, 0), em_snoozes_her_nudge)
    sim.run_until(vn(2024, 10, 2, 12, 0))
    sent = messages(out.getvalue())
    told = [(when, who) for when, who, text in sent if text.startswith("⚠")]
    assert told == [("2024-10-02 08:00", "Phạm Văn Dũng"), ("2024-10-02 09:00", "Lê Thị Hương")], told
    assert ("2024-10-02 07:00", "Hoàng Thị Em") in [(when, who) for when, who, _ in sent]
    rt.engine.dispose()

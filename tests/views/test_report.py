"""Reports: the numbers equal what was recorded, and the files carry them intact.

A real schedule is planned from the shipped calendars (October campaign, campaign report,
monthly report, training, National Day) for the shipped roster's three teams; a scripted
month of acknowledgements and check-in answers (on time, exactly at the end, late, on
behalf, corrected, never) goes in through `record_acknowledgement`. The test computes the
expected numbers from its own script, not from the database.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import subprocess
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHIPPED_CALENDARS
from helpers import VN, vn
from sqlalchemy import select

from reminders import load_duties, load_roster, make_engine, plan, record_acknowledgement
from reminders.codes import delivery_code
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import from_naive_utc
from reminders.views.report import build_report, write_files
from reminders.views.tally import checkin_answers, checkin_totals, completion

CAMPAIGN = "chien-dich-di-tung-ngo@reminders"
CAMPAIGN_REPORT = "bao-cao-ket-qua-chien-dich@reminders"
MONTHLY = "bao-cao-thang@reminders"
TRAINING = "tap-huan-5-ky-nang-so@reminders"
FILES = ("campaign-october.ics", "campaign-report.ics", "monthly-report.ics", "training-skills.ics",
         "national-day.ics", "roster.yaml")
# Read off the calendars by hand: October 2024 occurrences of each duty that wants an
# acknowledgement, and who is asked (National Day has X-REMINDER-ACK:FALSE).
EXPECTED_DUTIES = {CAMPAIGN: (list(range(1, 11)), "members"), CAMPAIGN_REPORT: ([11], "leader"),
                   MONTHLY: ([31], "leader"), TRAINING: ([12], "members")}
# Occurrence ends (local), read off the calendars: campaign 07:30 + 12 h, reports at their DUE.
END = {CAMPAIGN: lambda day: vn(2024, 10, day, 19, 30), CAMPAIGN_REPORT: lambda _: vn(2024, 10, 14, 17),
       MONTHLY: lambda _: vn(2024, 10, 31, 17), TRAINING: lambda _: vn(2024, 10, 12, 11, 30)}
TEAMS = {"thon-dong": ("nguyen-van-an", ["nguyen-van-an", "tran-thi-binh", "le-van-cuong"]),
         "thon-tay": ("pham-van-dung", ["pham-van-dung", "hoang-thi-em", "vu-minh-giang"]),
         "thon-bac": ("do-van-hai", ["do-van-hai", "bui-thi-lan"])}
OFFICIAL = "can-bo-van-hoa"


@dataclass
class Ack:
    uid: str
    day: int
    team: str
    person: str
    at: datetime
    answer: str | None = None
    by: str | None = None


@dataclass
class Scenario:
    engine: object
    roster: object
    duties: dict
    calendars: Path
    url: str
    acks: list[Ack] = field(default_factory=list)


def _end(uid: str, day: int) -> datetime:
    return END[uid](day)


def _on_time_until(uid: str, day: int) -> datetime:
    """The campaign and the training ask their check-in as they end: answers are on time while
    it is open (12 hours). The reports ask before their DUE, which is their deadline."""
    return _end(uid, day) + (timedelta(hours=12) if uid in (CAMPAIGN, TRAINING) else timedelta(0))


def script() -> list[Ack]:
    """A month as it happens: most on time, some exactly at the end, late, for someone, never."""
    rng = random.Random(2024)
    acks: list[Ack] = []
    for day in range(1, 11):
        end = _end(CAMPAIGN, day)
        for team, (leader, members) in TEAMS.items():
            for person in members:
                mode = rng.choice(["on_time", "evening", "at_end", "late", "on_behalf", "never"])
                if mode == "never":
                    continue
                answer = str(rng.randint(0, 25)) if rng.random() < 0.7 else None
                # The day's check-in is asked at 19:30, as the day ends: answering it that
                # evening is on time; the next morning after 07:30 (its 12 hours over) is late.
                at = {"at_end": end, "evening": end + timedelta(hours=2), "late": end + timedelta(hours=13)}.get(
                    mode, end - timedelta(minutes=40))
                by = (OFFICIAL if person == leader else leader) if mode == "on_behalf" else None
                acks.append(Ack(CAMPAIGN, day, team, person, at, answer, by))
    # A correction: Bình first says 10 households on 2 October, then 15; the 15 counts.
    acks.append(Ack(CAMPAIGN, 2, "thon-dong", "tran-thi-binh", _end(CAMPAIGN, 2) - timedelta(hours=1), "10"))
    acks.append(Ack(CAMPAIGN, 2, "thon-dong", "tran-thi-binh", _end(CAMPAIGN, 2) + timedelta(hours=3), "15"))
    acks += [
        Ack(CAMPAIGN_REPORT, 11, "thon-dong", "nguyen-van-an", vn(2024, 10, 14, 9), "152"),
        Ack(CAMPAIGN_REPORT, 11, "thon-tay", "pham-van-dung", vn(2024, 10, 15, 8), "98 hộ"),  # late
        Ack(CAMPAIGN_REPORT, 11, "thon-bac", "do-van-hai", vn(2024, 10, 14, 16), "40", by=OFFICIAL),
        Ack(MONTHLY, 31, "thon-dong", "nguyen-van-an", vn(2024, 10, 31, 15), "120 hộ"),
        Ack(MONTHLY, 31, "thon-tay", "pham-van-dung", vn(2024, 10, 31, 16), "80"),
        Ack(MONTHLY, 31, "thon-tay", "pham-van-dung", vn(2024, 11, 2, 9), "85,5"),  # corrected
        # thôn Bắc never sends its monthly report.
        Ack(TRAINING, 12, "thon-dong", "nguyen-van-an", vn(2024, 10, 12, 11), "có"),
        Ack(TRAINING, 12, "thon-dong", "tran-thi-binh", vn(2024, 10, 12, 11), "không"),
        Ack(TRAINING, 12, "thon-tay", "pham-van-dung", vn(2024, 10, 12, 10), "có"),
        # Asked "did you attend?" as it ends at 11:30: answering at 12:00 is not late.
        Ack(TRAINING, 12, "thon-tay", "hoang-thi-em", vn(2024, 10, 12, 12), "có"),
        Ack(TRAINING, 12, "thon-tay", "vu-minh-giang", vn(2024, 10, 12, 11), "yes"),
        Ack(TRAINING, 12, "thon-bac", "bui-thi-lan", vn(2024, 10, 13, 8), "có", by="do-van-hai"),
    ]
    return acks


def build(url: str, tmp_path: Path) -> Scenario:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    for name in FILES:
        shutil.copy(SHIPPED_CALENDARS / name, calendars / name)
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    engine = make_engine(url)
    plan(engine, duties, roster, vn(2024, 9, 30, 8), horizon=timedelta(days=40))
    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.id, DeliveryRow.recipient, DeliveryRow.team_id, DeliveryRow.kind,
                                   OccurrenceRow.duty_uid, OccurrenceRow.start_at)
                            .join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)).all()
    deliveries: dict[tuple, list] = defaultdict(list)
    for r in rows:
        day = from_naive_utc(r.start_at).astimezone(VN).date()
        deliveries[(r.duty_uid, day, r.team_id)].append(r)
    scenario = Scenario(engine, roster, duties, calendars, url, script())
    for ack in scenario.acks:
        wanted_kind = "checkin" if ack.answer and ack.uid != TRAINING else "reminder"
        found = [d for d in deliveries[(ack.uid, date(2024, 10, ack.day), ack.team)]
                 if d.kind.startswith(wanted_kind) and d.recipient in (f"team:{ack.team}", f"person:{ack.person}")]
        assert found, f"no {wanted_kind} delivery planned for {ack}"
        record_acknowledgement(engine, roster, duties, code=delivery_code(found[0].id), person_id=ack.person,
                               channel="console", now=ack.at, answer=ack.answer, recorded_by=ack.by)
    return scenario


@pytest.fixture
def scenario(database_url, tmp_path):
    built = build(database_url, tmp_path)
    yield built
    built.engine.dispose()


# -- what the script says, computed without the database ------------------------------------

def expected_completion(acks: list[Ack]) -> dict[str, dict]:
    first: dict[tuple, Ack] = {}
    for ack in acks:
        first.setdefault((ack.uid, ack.day, ack.person), ack)  # a second ack keeps the first time
    result = {}
    for team, (leader, members) in TEAMS.items():
        counts = Counter()
        missing: Counter = Counter()
        for uid, (days, who) in EXPECTED_DUTIES.items():
            people = members if who == "members" else [leader]
            counts["occurrences"] += len(days)
            for day in days:
                for person in people:
                    counts["expected"] += 1
                    ack = first.get((uid, day, person))
                    if ack is None:
                        missing[person] += 1
                        continue
                    counts["acknowledged"] += 1
                    counts["late"] += ack.at > _on_time_until(uid, day)
                    counts["on_behalf"] += ack.by is not None
        result[team] = {**counts, "missing": dict(missing)}
    return result


def final_answers(acks: list[Ack]) -> dict[tuple, str]:
    """(uid, day, team, person) -> the last answer given (a correction replaces it)."""
    answers = {}
    for ack in acks:
        if ack.answer is not None:
            answers[(ack.uid, ack.day, ack.team, ack.person)] = ack.answer
    return answers


def number(text: str) -> float:
    return float(text.split()[0].replace(",", "."))


def expected_totals(acks: list[Ack]) -> dict[tuple, tuple[float, int]]:
    """(uid, day, team) -> (sum of numbers, how many answered) for the numeric check-ins."""
    sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    for (uid, day, team, _person), text in final_answers(acks).items():
        if uid != TRAINING:
            sums[(uid, day, team)][0] += number(text)
            sums[(uid, day, team)][1] += 1
    return {k: (v[0], v[1]) for k, v in sums.items()}


OCTOBER = {"start": vn(2024, 10, 1), "end": vn(2024, 11, 1)}


# -- tally ------------------------------------------------------------------------------------

def test_completion_counts_equal_the_script(scenario):
    rows = completion(scenario.engine, scenario.roster, scenario.duties, **OCTOBER)
    want = expected_completion(scenario.acks)
    assert [r.team_id for r in rows] == list(TEAMS)  # the roster's order
    for row in rows:
        w = want[row.team_id]
        got = {"occurrences": row.occurrences, "expected": row.expected, "acknowledged": row.acknowledged,
               "late": row.late, "on_behalf": row.on_behalf, "missing": row.missing}
        assert got == {k: w.get(k, 0) for k in got}, row.team_id
        assert row.rate == pytest.approx(w["acknowledged"] / w["expected"])
    # The shape of the month, by hand: 10 campaign days x members + 2 leader reports + training.
    assert [r.expected for r in rows] == [10 * 3 + 2 + 3, 10 * 3 + 2 + 3, 10 * 2 + 2 + 2]
    assert sum(r.late for r in rows) > 0 and sum(r.on_behalf for r in rows) > 0
    assert rows[2].missing.get("do-van-hai", 0) >= 1  # thôn Bắc's leader never sent the monthly report


def test_completion_scopes_and_now(scenario):
    engine, roster, duties = scenario.engine, scenario.roster, scenario.duties
    only = completion(engine, roster, duties, **OCTOBER, team="thon-tay")
    assert [r.team_id for r in only] == ["thon-tay"]
    assert only[0].expected == expected_completion(scenario.acks)["thon-tay"]["expected"]
    assert [r.team_id for r in completion(engine, roster, duties, **OCTOBER, commune="xa-tan-lap")] == list(TEAMS)
    # Seen on the evening of 5 October: days 6-31 have not started, so nobody misses them yet.
    early = completion(engine, roster, duties, **OCTOBER, now=vn(2024, 10, 5, 20))
    assert [r.occurrences for r in early] == [5, 5, 5]
    first_days = [a for a in scenario.acks if a.uid == CAMPAIGN and a.day <= 5]
    assert sum(r.acknowledged for r in early) == len({(a.day, a.person) for a in first_days})
    from reminders.views.tally import UnknownScope

    with pytest.raises(UnknownScope, match="thon-nam"):
        completion(engine, roster, duties, **OCTOBER, team="thon-nam")


def test_checkin_totals_equal_the_answers(scenario):
    rows = checkin_totals(scenario.engine, scenario.roster, scenario.duties, **OCTOBER)
    want = expected_totals(scenario.acks)
    got = {(r.duty_uid, r.day.day, r.team_id): (r.total, r.answers) for r in rows if r.answers}
    assert got == want  # whole numbers and halves: exact in floating point
    # Every team has a row for every campaign day, answered or not (a gap is shown, not hidden).
    campaign = [r for r in rows if r.duty_uid == CAMPAIGN]
    assert len(campaign) == 10 * 3
    assert {r.day for r in campaign} == {date(2024, 10, d) for d in range(1, 11)}
    assert not any(r.duty_uid == TRAINING for r in rows)  # yes/no answers are not summed
    # The campaign total and the monthly numbers each team gave.
    total = sum(v[0] for k, v in want.items() if k[0] == CAMPAIGN)
    assert sum(r.total for r in campaign) == pytest.approx(total)
    monthly = {r.team_id: (r.total, r.answers) for r in rows if r.duty_uid == MONTHLY}
    assert monthly == {"thon-dong": (120, 1), "thon-tay": (85.5, 1), "thon-bac": (0, 0)}
    dong_day2 = next(r for r in campaign if r.team_id == "thon-dong" and r.day.day == 2)
    assert dong_day2.total == pytest.approx(want[(CAMPAIGN, 2, "thon-dong")][0])


def test_checkin_answers_list_every_answer(scenario):
    rows = checkin_answers(scenario.engine, scenario.roster, scenario.duties, **OCTOBER)
    want = final_answers(scenario.acks)
    got = {(a.duty_uid, a.day.day, a.team_id, a.person_id): a for a in rows}
    assert set(got) == set(want)
    assert got[(TRAINING, 12, "thon-dong", "tran-thi-binh")].answer == "no"
    assert got[(TRAINING, 12, "thon-bac", "bui-thi-lan")].recorded_by == "do-van-hai"
    assert got[(MONTHLY, 31, "thon-tay", "pham-van-dung")].number == 85.5


# -- files -------------------------------------------------------------------------------------

def _csv(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _cell(text: str) -> float | None:
    return None if text == "" else float(text)


def test_report_files_carry_the_numbers(scenario, tmp_path):
    report = build_report(scenario.engine, scenario.roster, scenario.duties, **OCTOBER, label="2024-10",
                          title="Báo cáo tháng 10/2024: Xã Tân Lập", language="vi")
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_files(report, out)
    assert not [w for w in caught if "missing from font" in str(w.message)], "Vietnamese must render"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temp files left
    names = {p.name for p in written}
    assert {"report-2024-10-completion.csv", "report-2024-10-checkin-chien-dich-di-tung-ngo.csv",
            "report-2024-10-checkin-bao-cao-thang.csv", "report-2024-10-answers.csv",
            "report-2024-10.xlsx", "report-2024-10.png"} <= names

    want = expected_completion(scenario.acks)
    completion_rows = _csv(out / "report-2024-10-completion.csv")
    assert completion_rows[0][:4] == ["Tổ", "Số lần", "Cần xác nhận", "Đã xác nhận"]
    by_team = {row[0]: row for row in completion_rows[1:]}
    dong = by_team["Tổ CNSCĐ thôn Đông"]
    assert [int(v) for v in dong[1:7]] == [want["thon-dong"][k] for k in
                                           ("occurrences", "expected", "acknowledged", "late", "on_behalf")] + [
        want["thon-dong"]["expected"] - want["thon-dong"]["acknowledged"]]
    assert by_team["Tổng"][3] == str(sum(w["acknowledged"] for w in want.values()))
    bac_missing = by_team["Tổ CNSCĐ thôn Bắc"][8]
    assert "Đỗ Văn Hải" in bac_missing  # names with their diacritics intact

    totals = expected_totals(scenario.acks)
    pivot = _csv(out / "report-2024-10-checkin-chien-dich-di-tung-ngo.csv")
    assert pivot[0] == ["Tổ", *(f"2024-10-{d:02d}" for d in range(1, 11)), "Tổng"]
    names = {"Tổ CNSCĐ thôn Đông": "thon-dong", "Tổ CNSCĐ thôn Tây": "thon-tay", "Tổ CNSCĐ thôn Bắc": "thon-bac"}
    for row in pivot[1:-1]:
        team = names[row[0]]
        for day in range(1, 11):
            expected = totals.get((CAMPAIGN, day, team))
            assert _cell(row[day]) == (None if expected is None else expected[0]), (team, day)
        assert _cell(row[11]) == pytest.approx(sum(v[0] for k, v in totals.items() if k[0] == CAMPAIGN and k[2] == team))
    grand = sum(v[0] for k, v in totals.items() if k[0] == CAMPAIGN)
    assert pivot[-1][0] == "Tổng" and _cell(pivot[-1][11]) == pytest.approx(grand)
    monthly = {row[0]: row[1] for row in _csv(out / "report-2024-10-checkin-bao-cao-thang.csv")[1:]}
    assert monthly == {"Tổ CNSCĐ thôn Đông": "120", "Tổ CNSCĐ thôn Tây": "85.5", "Tổ CNSCĐ thôn Bắc": "",
                       "Tổng": "205.5"}
    answers = _csv(out / "report-2024-10-answers.csv")
    assert ["Tập huấn 05 kỹ năng số cơ bản cho thành viên Tổ", "2024-10-12", "Tổ CNSCĐ thôn Bắc", "Bùi Thị Lan",
            "Có", "2024-10-13 08:00", "Đỗ Văn Hải"] in answers

    from openpyxl import load_workbook

    book = load_workbook(out / "report-2024-10.xlsx")
    sheet = book["Mức độ hoàn thành của từng tổ"]
    assert sheet["A1"].value == "Tổ" and sheet["A1"].font.bold
    assert sheet.column_dimensions["A"].width >= len("Tổ CNSCĐ thôn Đông")
    xlsx_rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert xlsx_rows["Tổ CNSCĐ thôn Đông"][3] == want["thon-dong"]["acknowledged"]
    campaign_sheet = next(s for s in book.worksheets if s.title.startswith("Chiến dịch"))
    header = [c.value for c in campaign_sheet[1]]
    assert header[0] == "Tổ" and header[-1] == "Tổng" and all(c.font.bold for c in campaign_sheet[1])
    for row in campaign_sheet.iter_rows(min_row=2, values_only=True):
        if row[0] == "Tổng":
            assert row[-1] == pytest.approx(grand)
            continue
        for day in range(1, 11):
            expected = totals.get((CAMPAIGN, day, names[row[0]]))
            assert row[day] == (None if expected is None else expected[0])

    png = (out / "report-2024-10.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    from PIL import Image

    with Image.open(out / "report-2024-10.png") as image:
        assert image.format == "PNG" and image.width > 500 and image.height > 500
        image.verify()


def test_missing_glyph_check_is_not_vacuous(tmp_path):
    """The font check above would notice a glyph the font lacks (here a CJK one)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with rc_context({"font.family": "DejaVu Sans"}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = Figure()
        FigureCanvasAgg(figure)
        figure.suptitle("Tổ 漢")
        figure.savefig(tmp_path / "x.png")
    assert any("missing from font" in str(w.message) for w in caught)


def test_a_failed_render_leaves_nothing(scenario, tmp_path, monkeypatch):
    import reminders.views.report as report_module

    report = build_report(scenario.engine, scenario.roster, scenario.duties, **OCTOBER, label="2024-10",
                          title="x", language="vi")
    out = tmp_path / "out"

    def broken(*_args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_module, "_write_png", broken)
    with pytest.raises(RuntimeError):
        write_files(report, out)
    assert not out.exists()  # the directory it made is gone too
    # Last month's files stay as they were, and no half-written file lies next to them.
    out.mkdir()
    (out / "report-2024-10-completion.csv").write_text("old")
    with pytest.raises(RuntimeError):
        write_files(report, out)
    assert [(p.name, p.read_text()) for p in out.iterdir()] == [("report-2024-10-completion.csv", "old")]


# -- command line -----------------------------------------------------------------------------

def run_cli(scenario: Scenario, *args: str):
    from reminders.cli import main

    return CliRunner().invoke(main, ["report", *args, "--calendars", str(scenario.calendars)],
                              env={"REMINDERS_DATABASE_URL": scenario.url, "REMINDERS_LANGUAGE": "vi"})


def test_cli_report_end_to_end(scenario, tmp_path):
    out = tmp_path / "reports"
    result = run_cli(scenario, "--month", "2024-10", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Báo cáo tháng 10/2024: tất cả các tổ" in text
    assert "Mức độ hoàn thành của từng tổ" in text and "Tổ CNSCĐ thôn Đông" in text
    assert "Đã ghi 8 tệp" in text
    want = expected_completion(scenario.acks)
    rows = {r[0]: r for r in _csv(out / "report-2024-10-completion.csv")[1:]}
    assert int(rows["Tổ CNSCĐ thôn Tây"][3]) == want["thon-tay"]["acknowledged"]
    assert (out / "report-2024-10.xlsx").stat().st_size > 0 and (out / "report-2024-10.png").stat().st_size > 0

    team = run_cli(scenario, "--from", "2024-10-01", "--to", "2024-10-10", "--team", "thon-bac",
                   "--out", str(out), "--lang", "en")
    assert team.exit_code == 0, team.output
    assert "Completion per team" in team.output
    label = "report-2024-10-01_2024-10-10-thon-bac"
    rows = _csv(out / f"{label}-completion.csv")
    assert rows[0][0] == "Team" and [r[0] for r in rows[1:]] == ["Tổ CNSCĐ thôn Bắc"]
    assert rows[1][1:3] == ["10", "20"]  # ten campaign days, two members; nothing after the 10th
    pivot = _csv(out / f"{label}-checkin-chien-dich-di-tung-ngo.csv")
    totals = expected_totals(scenario.acks)
    assert _cell(pivot[-1][-1]) == pytest.approx(
        sum(v[0] for k, v in totals.items() if k[0] == CAMPAIGN and k[2] == "thon-bac"))


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2024-13"], "--month phải có dạng 2024-10"),
    (["--month", "tháng 10"], "--month phải có dạng 2024-10"),
    (["--from", "2024-10-10", "--to", "2024-10-01"], "--from (2024-10-10) sau --to (2024-10-01)"),
    (["--from", "1/10/2024", "--to", "2024-10-10"], "--from phải là ngày có dạng 2024-10-01"),
    (["--from", "2024-10-01"], "--from và --to phải đi cùng nhau"),
    (["--month", "2024-10", "--to", "2024-10-10"], "Chỉ dùng --month hoặc --from/--to"),
    (["--month", "2024-10", "--team", "thon-nam"], "Không có tổ 'thon-nam' trong danh sách"),
    (["--month", "2024-10", "--commune", "xa-khac"], "Không có xã 'xa-khac' trong danh sách"),
])
def test_cli_bad_arguments_write_nothing(tmp_path, args, message):
    calendars = tmp_path / "calendars"
    shutil.copytree(SHIPPED_CALENDARS, calendars)
    out = tmp_path / "reports"
    from reminders.cli import main

    result = CliRunner().invoke(main, ["report", *args, "--out", str(out), "--calendars", str(calendars)],
                                env={"REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                                     "REMINDERS_LANGUAGE": "vi"})
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_chart_of_a_province_stays_readable(tmp_path):
    """Sixty teams: the chart shows the 40 lowest rates and per-day totals without a legend of 60."""
    from PIL import Image

    from reminders.views.report import MAX_BARS, Report
    from reminders.views.tally import CheckinTotal, TeamCompletion

    teams = [TeamCompletion(f"t{n}", f"Tổ thôn {n}", 10, 30, n % 30, 0, 0, {}) for n in range(60)]
    totals = [CheckinTotal(CAMPAIGN, "Chiến dịch", date(2024, 10, d), f"t{n}", float(n), 1)
              for d in range(1, 11) for n in range(60)]
    report = Report("p", "Tỉnh", "vi", OCTOBER["start"], OCTOBER["end"], teams, totals, [], [],
                    {f"t{n}": f"Tổ thôn {n}" for n in range(60)})
    from reminders.views.report import _write_png

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _write_png(report, tmp_path / "p.png")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    with Image.open(tmp_path / "p.png") as image:
        # 40 bars plus one per-day panel: about 17 inches at 110 dpi, not 60 bars' worth.
        assert image.height < (0.6 + 0.8 + 0.3 * MAX_BARS + 3.0 + 0.5) * 110


def test_without_matplotlib_the_report_is_written_without_its_chart(tmp_path):
    """matplotlib is the optional `charts` extra: a plain install writes the tables and says
    how to get the PNG, instead of refusing."""
    calendars = tmp_path / "calendars"
    shutil.copytree(SHIPPED_CALENDARS, calendars)
    out = tmp_path / "reports"
    program = ("import sys; sys.modules['matplotlib'] = None  # as if it were not installed\n"
               "from reminders.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", program, "report", "--month", "2024-10", "--out", str(out),
                             "--calendars", str(calendars)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                                 "REMINDERS_LANGUAGE": "vi"})
    assert result.returncode == 0, result.stderr
    written = sorted(p.suffix for p in out.iterdir())
    assert ".xlsx" in written and ".csv" in written and ".png" not in written
    assert "reminders[charts]" in result.stdout

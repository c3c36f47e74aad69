"""The commune's report: completion per team and what the check-ins add up to, as tables,
CSV (UTF-8 with BOM, so Excel shows Vietnamese), XLSX and a PNG chart.

`build_report` turns the numbers of `tally` into plain tables; every writer renders the
same tables, so the terminal, the CSV files, the workbook and the chart never disagree.
`write_files` renders everything to temporary files first and moves them into place only
when all succeeded: an error never leaves half a report behind.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.files import inside, staged
from reminders.i18n import t
from reminders.text import shown
from reminders.views.tally import (
    CheckinAnswer,
    CheckinTotal,
    TeamCompletion,
    checkin_answers,
    checkin_totals,
    completion,
)

if TYPE_CHECKING:  # matplotlib is optional and rich is imported when printing: types only
    from matplotlib.axes import Axes
    from rich.console import Console

Cell = str | int | float | None
CHART_FONT = "DejaVu Sans"  # ships with matplotlib and has every Vietnamese diacritic
MAX_CHARTS = 4  # check-in panels in the PNG; the tables have them all
MAX_BARS = 40  # teams in one bar chart; a province-wide report shows the 40 lowest rates
MAX_STACKED = 12  # teams told apart by colour in the per-day totals
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class ReportTable:
    """One table of the report, rendered alike to the terminal, CSV, XLSX."""

    key: str  # file name part and identity: "completion", "checkin-1", "answers"
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    console: bool = True  # long machine-friendly tables go to files only
    sheet: str = ""
    console_rows: list[list[Cell]] | None = None  # a shorter view for the terminal
    console_title: str | None = None


@dataclass
class Report:
    label: str  # "2024-10" or "2024-10-01_2024-10-10", plus the scope
    title: str
    language: str
    start: datetime
    end: datetime
    completion: list[TeamCompletion]
    totals: list[CheckinTotal]
    answers: list[CheckinAnswer]
    tables: list[ReportTable]
    team_names: dict[str, str]


class _Scope(TypedDict):
    """The keyword arguments every `tally` function takes."""

    commune: str | None
    team: str | None
    start: datetime
    end: datetime
    now: datetime | None


def _number(value: float) -> int | float:
    """12.0 -> 12: counts of households read as whole numbers everywhere."""
    return int(value) if float(value).is_integer() else round(value, 2)


def _person_name(roster: Roster, person_id: str | None) -> str:
    if person_id is None:
        return ""
    person = roster.people.get(person_id)
    return shown(person.name) if person else person_id


def _completion_table(rows: list[TeamCompletion], roster: Roster, lang: str) -> ReportTable:
    table = ReportTable("completion", t(lang, "Completion per team"), [
        t(lang, "Team"), t(lang, "Occurrences"), t(lang, "Expected"), t(lang, "Acknowledged"),
        t(lang, "Late"), t(lang, "On behalf"), t(lang, "Not acknowledged"), t(lang, "Rate (%)"),
        t(lang, "Still missing")])
    sums = TeamCompletion("", t(lang, "Total"))
    for row in rows:
        missing = ", ".join(f"{_person_name(roster, pid)} ({n})" for pid, n in row.missing.items())
        table.rows.append([row.team_name, row.occurrences, row.expected, row.acknowledged, row.late,
                           row.on_behalf, row.expected - row.acknowledged,
                           None if row.rate is None else round(100 * row.rate, 1), missing])
        for name in ("occurrences", "expected", "acknowledged", "late", "on_behalf"):
            setattr(sums, name, getattr(sums, name) + getattr(row, name))
    if len(rows) > 1:
        table.rows.append([sums.team_name, sums.occurrences, sums.expected, sums.acknowledged, sums.late,
                           sums.on_behalf, sums.expected - sums.acknowledged,
                           None if sums.rate is None else round(100 * sums.rate, 1), ""])
    return table


def _by_duty(totals: list[CheckinTotal]) -> dict[str, list[CheckinTotal]]:
    """Totals grouped per duty, duties in the order of their first day."""
    groups: dict[str, list[CheckinTotal]] = defaultdict(list)
    for row in totals:
        groups[row.duty_uid].append(row)
    return dict(sorted(groups.items(), key=lambda item: (min(r.day for r in item[1]), item[0])))


def _pivot_tables(totals: list[CheckinTotal], team_names: dict[str, str], lang: str) -> list[ReportTable]:
    """Per numeric check-in duty: teams down, days across, totals on the right and at the bottom.
    An empty cell is a team that did not answer that day (0 is an answer)."""
    by_duty = _by_duty(totals)
    tables: list[ReportTable] = []
    for uid, rows in by_duty.items():
        key = "checkin-" + (re.sub(r"[^A-Za-z0-9]+", "-", uid.split("@")[0]).strip("-")[:40] or "duty")
        while any(tb.key == key for tb in tables):
            key += "-2"
        days = sorted({r.day for r in rows})
        teams = list(dict.fromkeys(r.team_id for r in rows))
        cells: dict[tuple[str, date], CheckinTotal] = {(r.team_id, r.day): r for r in rows}
        table = ReportTable(key, rows[0].summary,
                            [t(lang, "Team"), *(d.isoformat() for d in days), t(lang, "Total")])
        day_sums: dict[date, float | None] = dict.fromkeys(days)
        for team_id in teams:
            line: list[Cell] = [team_names.get(team_id, team_id)]
            team_sum: float | None = None
            for day in days:
                cell = cells.get((team_id, day))
                if cell is None or cell.answers == 0:
                    line.append(None)
                    continue
                line.append(_number(cell.total))
                team_sum = (team_sum or 0.0) + cell.total
                day_sums[day] = (day_sums[day] or 0.0) + cell.total
            table.rows.append([*line, None if team_sum is None else _number(team_sum)])
        answered = [v for v in day_sums.values() if v is not None]
        table.rows.append([t(lang, "Total"), *(None if v is None else _number(v) for v in [day_sums[d] for d in days]),
                           _number(sum(answered)) if answered else None])
        tables.append(table)
    return tables


def _totals_table(totals: list[CheckinTotal], team_names: dict[str, str], lang: str) -> ReportTable:
    table = ReportTable("checkin-totals", t(lang, "Check-in totals per team per day"), [
        t(lang, "Duty"), t(lang, "Day"), t(lang, "Team"), t(lang, "Total"), t(lang, "Answers")],
        console=False)
    for row in totals:
        table.rows.append([row.summary, row.day.isoformat(), team_names.get(row.team_id, row.team_id),
                           _number(row.total) if row.answers else None, row.answers])
    return table


def _answer_cell(answer: CheckinAnswer, duties: Mapping[str, Duty], lang: str) -> Cell:
    """Numbers as numbers (so spreadsheets can add them), yes/no in the reader's language."""
    duty = duties.get(answer.duty_uid)
    kind = duty.checkin.answer_type if duty is not None and duty.checkin is not None else "text"
    if kind == "number" and answer.number is not None:
        return _number(answer.number)
    if kind == "yesno" and answer.answer in ("yes", "no"):
        return t(lang, "Yes") if answer.answer == "yes" else t(lang, "No")
    return answer.answer


def _answers_table(answers: list[CheckinAnswer], roster: Roster, duties: Mapping[str, Duty],
                   team_names: dict[str, str], lang: str) -> ReportTable:
    table = ReportTable("answers", t(lang, "Check-in answers"), [
        t(lang, "Duty"), t(lang, "Day"), t(lang, "Team"), t(lang, "Person"), t(lang, "Answer"),
        t(lang, "Answered at"), t(lang, "Recorded by")])
    table.console_title = t(lang, "Yes/no and text answers (the numbers are in the tables above)")
    table.console_rows = []
    for a in answers:
        team = roster.teams.get(a.team_id)
        zone = ZoneInfo(team.timezone if team else roster.timezone)
        table.rows.append([a.summary, a.day.isoformat(), team_names.get(a.team_id, a.team_id),
                           _person_name(roster, a.person_id), _answer_cell(a, duties, lang),
                           a.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), _person_name(roster, a.recorded_by)])
        duty = duties.get(a.duty_uid)
        if duty is None or duty.checkin is None or duty.checkin.answer_type != "number":
            table.console_rows.append(table.rows[-1])
    return table


def _sheet_names(tables: list[ReportTable]) -> None:
    """Excel sheet names: at most 31 characters, no []:*?/\\, unique."""
    used: set[str] = set()
    for table in tables:
        base = SHEET_FORBIDDEN.sub(" ", table.title).strip()[:31].rstrip() or table.key
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base[:28].rstrip()} {n}", n + 1
        used.add(name.lower())
        table.sheet = name


def build_report(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, start: datetime,
                 end: datetime, label: str, title: str, commune: str | None = None,
                 team: str | None = None, language: str = "vi", now: datetime | None = None) -> Report:
    """Every table of the report for [start, end) over the chosen teams."""
    scope: _Scope = {"commune": commune, "team": team, "start": start, "end": end, "now": now}
    done = completion(engine, roster, duties, **scope)
    totals = checkin_totals(engine, roster, duties, **scope)
    answers = checkin_answers(engine, roster, duties, **scope)
    team_names = {tid: team_.name for tid, team_ in roster.teams.items()}
    tables = [_completion_table(done, roster, language), *_pivot_tables(totals, team_names, language)]
    if totals:
        tables.append(_totals_table(totals, team_names, language))
    tables.append(_answers_table(answers, roster, duties, team_names, language))
    _sheet_names(tables)
    return Report(label, title, language, start, end, done, totals, answers, tables, team_names)


# -- terminal -----------------------------------------------------------------------------

def print_report(report: Report, console: Console) -> None:
    """The console tables (rich), in the report's language."""
    from rich.table import Table

    console.print(report.title, style="bold", markup=False)
    for table in report.tables:
        rows = table.rows if table.console_rows is None else table.console_rows
        if not table.console or (table.console_rows is not None and not rows):
            continue
        shown = Table(title=table.console_title or table.title, title_justify="left")
        for n, column in enumerate(table.columns):
            numeric = n > 0 and all(row[n] is None or isinstance(row[n], int | float) for row in rows)
            if ISO_DAY.fullmatch(column):  # 2024-10-01 -> 01/10: ten campaign days fit a terminal
                column = f"{column[8:10]}/{column[5:7]}"
            shown.add_column(column, justify="right" if numeric else "left", overflow="fold")
        if not rows:
            console.print(table.title + ": " + t(report.language, "nothing recorded."), markup=False)
            continue
        for row in rows:
            shown.add_row(*("—" if v is None else str(v) for v in row))
        console.print(shown)


# -- files --------------------------------------------------------------------------------

def _write_csv(table: ReportTable, path: Path) -> None:
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows([["" if v is None else v for v in row] for row in table.rows])


def _write_xlsx(report: Report, path: Path) -> None:
    """One sheet per table: bold header, frozen first row and column, widths from the content.
    Write-only mode streams the rows (a province's month of answers in about a second)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in report.tables:
        sheet = book.create_sheet(table.sheet)
        for n, column in enumerate(table.columns, start=1):
            widest = max([len(str(column))] + [len(str(row[n - 1])) for row in table.rows if row[n - 1] is not None])
            sheet.column_dimensions[get_column_letter(n)].width = min(60, widest + 2)
        sheet.freeze_panes = "B2"
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append(row)
    book.properties.title = report.title
    book.save(path)


def charts_available() -> bool:
    """Whether the PNG chart can be drawn: matplotlib is the optional extra `reminders[charts]`
    (it is most of the install's size for one picture); tables, CSV and XLSX need nothing more."""
    return importlib.util.find_spec("matplotlib") is not None


def _write_png(report: Report, path: Path) -> None:
    """Completion rate per team as bars; per numeric check-in, the totals per day stacked by
    team (a one-day check-in, like a monthly report, as one bar per team)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lang = report.language
    rated = [(c, c.rate) for c in report.completion if c.rate is not None]
    shown = rated if len(rated) <= MAX_BARS else sorted(rated, key=lambda cr: cr[1])[:MAX_BARS]
    panels = [rows for rows in _by_duty(report.totals).values() if any(r.answers for r in rows)
              and (len({r.day for r in rows}) > 1 or len(rows) <= MAX_BARS)][:MAX_CHARTS]
    heights = [_bars_height(len(shown))] + [
        3.0 if len({r.day for r in rows}) > 1 else _bars_height(len(rows)) for rows in panels]
    with rc_context({"font.family": CHART_FONT, "font.size": 9}):
        figure = Figure(figsize=(10, 0.6 + sum(heights)), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
        figure.suptitle(report.title, fontsize=11, fontweight="bold")
        ax = axes[0]
        rates = [100 * rate for _, rate in shown]
        bars = ax.barh([c.team_name for c, _ in shown], rates, color="#2a7ab0")
        ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], padding=3)
        ax.set_xlim(0, 110)
        ax.invert_yaxis()
        title = t(lang, "Completion rate per team (%)")
        if len(shown) < len(rated):
            title += " — " + t(lang, "the {shown} of {count} teams with the lowest rate",
                               shown=len(shown), count=len(rated))
        ax.set_title(title, loc="left")
        if not rated:
            ax.text(0.5, 0.5, t(lang, "nothing recorded."), ha="center", va="center", transform=ax.transAxes)
        for ax, rows in zip(axes[1:], panels, strict=True):
            _draw_totals(ax, rows, report.team_names, lang)
        figure.savefig(path, format="png")


def _bars_height(bars: int) -> float:
    """Inches for a horizontal bar chart of `bars` teams."""
    return max(1.6, 0.8 + 0.3 * bars)


def _draw_totals(ax: Axes, rows: list[CheckinTotal], team_names: dict[str, str], lang: str) -> None:
    days = sorted({r.day for r in rows})
    teams = list(dict.fromkeys(r.team_id for r in rows))
    values = {(r.team_id, r.day): r.total for r in rows}
    title = "\n".join(textwrap.wrap(rows[0].summary, 100))
    if len(days) == 1:  # one bar per team, names down the side so thirty of them still read
        widths = [r.total for r in rows]
        bars = ax.barh([team_names.get(r.team_id, r.team_id) for r in rows], widths, color="#2a7ab0")
        ax.bar_label(bars, labels=[f"{_number(r.total)}" if r.answers else "—" for r in rows],
                     padding=3, fontsize=8)
        ax.set_title(f"{title} — {days[0].strftime('%d/%m/%Y')}", loc="left")
        ax.set_xlim(0, max(widths, default=0) * 1.15 or 1)
        ax.invert_yaxis()
        return
    labels = [d.strftime("%d/%m") for d in days]
    bottom = [0.0] * len(days)
    stacked = len(teams) <= MAX_STACKED  # beyond that, colours tell nobody anything: totals only
    for team_id in teams if stacked else []:
        heights = [values.get((team_id, d), 0.0) for d in days]
        ax.bar(labels, heights, bottom=bottom, label=team_names.get(team_id, team_id))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if not stacked:
        bottom = [sum(r.total for r in rows if r.day == d) for d in days]
        ax.bar(labels, bottom, color="#2a7ab0")
    for x, total in enumerate(bottom):
        ax.annotate(f"{_number(total)}", (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_title(title + " — " + t(lang, "total per day"), loc="left")
    ax.set_ylim(0, max(bottom, default=0) * 1.15 or 1)
    if stacked:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def write_files(report: Report, directory: str | Path) -> list[Path]:
    """CSV per table, one XLSX, one PNG, all or nothing; returns the paths written."""
    directory = Path(directory)
    stem = f"report-{report.label}"
    plan: list[tuple[Path, Callable[[Path], None]]] = [
        (inside(directory, f"{stem}-{table.key}.csv"), partial(_write_csv, table)) for table in report.tables]
    plan.append((inside(directory, f"{stem}.xlsx"), lambda p: _write_xlsx(report, p)))
    if charts_available():
        plan.append((inside(directory, f"{stem}.png"), lambda p: _write_png(report, p)))
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:  # all or nothing: a failure removes every file staged so far
            for final, write in plan:
                write(stack.enter_context(staged(final)))
    except BaseException:
        if created and not any(directory.iterdir()):
            directory.rmdir()
        raise
    return [final for final, _ in plan]

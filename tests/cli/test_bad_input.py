"""Bad input gives a clear message and a non-zero exit, no traceback, database unchanged.

Every case copies the shipped calendars, breaks one thing and runs the real CLI in a
subprocess: `reminders check` must name each problem as file:line (or just the file, for
problems of the whole file) and say what is wrong; `reminders run` (for one case of each
way a problem is found) must stop before it plans anything, leaving a planned database
exactly as it was.

Starting the CLI costs most of a second (imports), so the cases' runs are started
together, as many at a time as there are CPUs, and each test then looks at its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "calendars"
CLI = [sys.executable, "-m", "reminders.cli"]
TIMEOUT = 120  # seconds; `run` on good input never exits, so a hang means it started planning.
# A refusal takes about a second alone; the margin is for a 2-core machine under the rest of
# the suite (two cases once took over 30 s there), and costs nothing when the test passes.

# A duty file whose lines are easy to count: the body of `duty(...)` starts on line 9.
HEAD = ("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//bad input//EN",
        "X-WR-TIMEZONE:Asia/Ho_Chi_Minh")                                    # lines 1-4
EVENT = ("BEGIN:VEVENT", "UID:bad@test", "SUMMARY:Họp tổ",
         "DTSTART;TZID=Asia/Ho_Chi_Minh:20240105T170000")                    # lines 5-8
TAIL = ("END:VEVENT", "END:VCALENDAR")


def ics(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def duty(*body: str) -> str:
    return ics(*HEAD, *EVENT, *body, *TAIL)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of `needle`: shipped files may change."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@dataclass(frozen=True)
class Huge:
    """A file of `megabytes`, written sparse (a valid start, then a hole): instant."""

    megabytes: int
    head: str = ""

    def write(self, path: Path) -> None:
        with path.open("wb") as handle:
            handle.write(self.head.encode())
            handle.truncate(self.megabytes * 1024 * 1024)


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes | Huge]  # relative to the calendars copy
    location: str  # "bad.ics:9", or "bad.ics" for a problem of the whole file
    what: str  # regex: what the message must say about that location
    # `run` too only for the cases of RUN_TOO (see there); `extra` marks a case of `check` only.
    commands: tuple[str, ...] = ("check", "run")


def extra(case: Case) -> Case:
    return replace(case, commands=("check",))


ROSTER = (SHIPPED / "roster.yaml").read_text(encoding="utf-8")
RADIO = (SHIPPED / "radio-weekly.ics").read_text(encoding="utf-8")


def roster_case(id: str, roster: str | bytes | Huge, line: int | None, what: str) -> Case:
    return Case(id, {"roster.yaml": roster}, "roster.yaml" + (f":{line}" if line else ""), what)


def _roster_unknown_commune() -> Case:
    text = ROSTER.replace("commune: xa-tan-lap", "commune: xa-khong-co", 1)
    return roster_case("roster-unknown-commune", text, line_of(text, "commune: xa-khong-co"),
                       "unknown commune 'xa-khong-co'")


def _roster_tab() -> Case:
    text = ROSTER.replace("\n    name:", "\n\tname:", 1)
    return roster_case("roster-yaml-tab", text, line_of(text, "\tname:"), r"not valid YAML: .*'\\t'")


def _roster_unclosed_brace() -> Case:
    opened = line_of(ROSTER, "chats: {")
    lines = ROSTER.splitlines()
    lines[opened - 1] = lines[opened - 1].rstrip().removesuffix("}")
    # PyYAML notices on the next line; the message points back to where the { was opened.
    return roster_case("roster-yaml-unclosed-brace", "\n".join(lines) + "\n", opened + 1,
                       rf"not valid YAML: .*from line {opened}\b")


def _roster_duplicate_key() -> Case:
    first = line_of(ROSTER, "    name: ")
    lines = ROSTER.splitlines()
    lines.insert(first, lines[first - 1])
    return roster_case("roster-yaml-duplicate-key", "\n".join(lines) + "\n", first + 1,
                       "duplicate key 'name'")


CASES = [
    Case("malformed-line", {"bad.ics": duty("RRULE:FREQ=WEEKLY", "THIS IS NOT A CONTENT LINE")},
         "bad.ics:10", "not an iCalendar content line"),
    Case("unclosed-begin",
         {"bad.ics": ics(*HEAD, *EVENT, "BEGIN:VALARM", "TRIGGER:-PT1H", *TAIL)},
         "bad.ics:9", "BEGIN:VALARM is never closed"),
    extra(Case("end-without-begin", {"bad.ics": duty("END:VALARM")},
               "bad.ics:9", "END:VALARM does not close anything")),
    Case("unknown-tzid",
         {"bad.ics": ics(*HEAD, *EVENT[:3], "DTSTART;TZID=Asia/Ha_Noi:20240105T170000", *TAIL)},
         "bad.ics:8", "unknown time zone TZID=Asia/Ha_Noi"),
    extra(Case("unknown-x-wr-timezone",
               {"bad.ics": duty().replace("X-WR-TIMEZONE:Asia/Ho_Chi_Minh", "X-WR-TIMEZONE:Asia/Ha_Noi")},
               "bad.ics:4", "unknown time zone X-WR-TIMEZONE")),
    Case("rrule-bad-freq", {"bad.ics": duty("RRULE:FREQ=SOMETIMES")}, "bad.ics:9", "bad RRULE.*SOMETIMES"),
    Case("rrule-bad-byday", {"bad.ics": duty("RRULE:FREQ=WEEKLY;BYDAY=XX")}, "bad.ics:9", "bad RRULE.*XX"),
    extra(Case("rrule-no-freq", {"bad.ics": duty("RRULE:BYDAY=MO")}, "bad.ics:9", "RRULE has no FREQ")),
    extra(Case("rrule-out-of-range", {"bad.ics": duty("RRULE:FREQ=YEARLY;BYMONTH=13")},
               "bad.ics:9", "RRULE BYMONTH=13 is out of range")),
    Case("rrule-every-second", {"bad.ics": duty("RRULE:FREQ=SECONDLY")},
         "bad.ics:9", "RRULE repeats more than .* times a year"),
    Case("duplicate-uid", {"zz-radio-copy.ics": RADIO}, f"zz-radio-copy.ics:{line_of(RADIO, 'BEGIN:VEVENT')}",
         rf"duplicate UID; already defined at \S*radio-weekly.ics:{line_of(RADIO, 'BEGIN:VEVENT')}"),
    Case("unknown-team", {"bad.ics": duty("X-REMINDER-FOR:team:khong-co")},
         "bad.ics:9", "unknown team 'khong-co'"),
    Case("bad-x-reminder-to", {"bad.ics": duty("X-REMINDER-TO:everyone")},
         "bad.ics:9", "X-REMINDER-TO value 'everyone' must be one of"),
    Case("orphan-recurrence-id",
         {"bad.ics": ics(*HEAD, *EVENT[:3], "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20240112T170000",
                         "DTSTART;TZID=Asia/Ho_Chi_Minh:20240113T170000", *TAIL)},
         "bad.ics:8", "RECURRENCE-ID override for a UID that has no main event"),
    Case("valarm-bad-trigger",
         {"bad.ics": duty("BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-1 hour", "END:VALARM")},
         "bad.ics:11", "bad TRIGGER"),
    extra(Case("valarm-bad-trigger-related",
               {"bad.ics": duty("BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER;RELATED=MIDDLE:-PT1H", "END:VALARM")},
               "bad.ics:11", "TRIGGER RELATED must be START or END")),
    # A repeated single-valued property (issue 15.1: it ended in an internal error, exit 70).
    Case("repeated-dtstart", {"bad.ics": duty("DTSTART;TZID=Asia/Ho_Chi_Minh:20240106T170000")},
         "bad.ics:9", r"DTSTART appears more than once in VEVENT \(first on line 8\)"),
    Case("repeated-trigger",
         {"bad.ics": duty("BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT1H", "TRIGGER:-PT2H", "END:VALARM")},
         "bad.ics:12", r"TRIGGER appears more than once in VALARM \(first on line 11\)"),
    extra(Case("repeated-summary", {"bad.ics": duty("SUMMARY:Họp tổ lần hai")},
               "bad.ics:9", r"SUMMARY appears more than once in VEVENT \(first on line 7\)")),
    extra(Case("repeated-duration", {"bad.ics": duty("DURATION:PT1H", "DURATION:PT2H")},
               "bad.ics:10", "DURATION appears more than once in VEVENT")),
    extra(Case("repeated-rrule", {"bad.ics": duty("RRULE:FREQ=WEEKLY", "RRULE:FREQ=DAILY")},
               "bad.ics:10", "RRULE appears more than once in VEVENT")),
    extra(Case("repeated-x-reminder-for", {"bad.ics": duty("X-REMINDER-FOR:all", "X-REMINDER-FOR:team:thon-dong")},
               "bad.ics:10", "X-REMINDER-FOR appears more than once in VEVENT")),
    extra(Case("repeated-status-in-override",
               {"bad.ics": duty("RRULE:FREQ=WEEKLY", "END:VEVENT", "BEGIN:VEVENT", "UID:bad@test",
                                "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20240112T170000",
                                "DTSTART;TZID=Asia/Ho_Chi_Minh:20240112T170000", "STATUS:CANCELLED",
                                "STATUS:CONFIRMED")},
               "bad.ics:16", "STATUS appears more than once in VEVENT")),
    extra(Case("repeated-action",
               {"bad.ics": duty("BEGIN:VALARM", "ACTION:DISPLAY", "ACTION:AUDIO", "TRIGGER:-PT1H", "END:VALARM")},
               "bad.ics:11", "ACTION appears more than once in VALARM")),
    # A lunar rule (issue 15.7: it was refused with "UNTIL parameter is missing").
    Case("lunar-rule", {"bad.ics": duty("RRULE:RSCALE=CHINESE;FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1")},
         "bad.ics:9", "RSCALE=CHINESE: lunar .* not supported.*X-REMINDER-HOLIDAY.*RDATE"),
    Case("empty-file", {"bad.ics": ""}, "bad.ics", "file is empty"),
    Case("binary-junk", {"bad.ics": random.Random(7).randbytes(4096) + b"\x00\x00BEGIN:VCALENDAR"},
         "bad.ics", "binary data"),
    Case("not-utf8",  # saved as Windows-1258, the old Vietnamese code page
         {"bad.ics": duty("DESCRIPTION:Thôn Đông").encode().replace("Thôn Đông".encode(),
                                                                    "Thôn Đông".encode("cp1258"))},
         "bad.ics:9", "not UTF-8 text"),
    extra(Case("utf16", {"bad.ics": duty().encode("utf-16")}, "bad.ics", "UTF-16")),
    Case("50-mb", {"bad.ics": Huge(50, duty())}, "bad.ics", r"file is 50\.0 MB; .* at most \d+ MB"),
    _roster_unknown_commune(),
    extra(_roster_tab()),
    _roster_unclosed_brace(),
    extra(_roster_duplicate_key()),
    extra(roster_case("roster-not-utf8", b"# Th\xf4n \xd0\xf4ng\n" + ROSTER.encode(), 1, "not UTF-8 text")),
    extra(roster_case("roster-empty", "", None, "file is empty")),
    roster_case("roster-huge", Huge(50, ROSTER), None, r"file is 50\.0 MB"),
]
# `run` loads the files through the same load_definitions as `check` (open_runtime), so the
# kind of problem is `check`'s business; what `run` adds is its way out -- the exit, the
# message, the planned database untouched. That is proved once for each
# way a problem is found: a calendar line, a UID across files, a calendar against the roster,
# a calendar file as a whole (empty, binary, too big), the roster's lines and the roster as a
# whole, and the two kinds that once crashed with an internal error instead (issues 15.1 and
# 15.7). A second process for every other kind would double the time of this file.
RUN_TOO = {"malformed-line", "duplicate-uid", "unknown-team", "repeated-dtstart", "lunar-rule", "empty-file",
           "binary-junk", "50-mb", "roster-unknown-commune", "roster-huge"}
CASES = [case if case.id in RUN_TOO else extra(case) for case in CASES]


# -- helpers ------------------------------------------------------------------------------

@pytest.fixture
def calendars(tmp_path: Path) -> Path:
    """A private copy of the shipped calendars and roster, safe to break."""
    target = tmp_path / "calendars"
    shutil.copytree(SHIPPED, target)
    return target


def write_files(directory: Path, files: dict[str, str | bytes | Huge]) -> None:
    for name, content in files.items():
        path = directory / name
        if isinstance(content, Huge):
            content.write(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def cli_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REMINDERS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    # COLUMNS: rich wraps stderr at 80 columns when it is not a terminal, which would
    # split long tmp paths; the assertions are about content, not layout.
    env.update(REMINDERS_DATABASE_URL=f"sqlite:///{db}", REMINDERS_LANGUAGE="en",
               REMINDERS_ADAPTERS="console", COLUMNS="1000", PYTHONIOENCODING="utf-8")
    return env


@dataclass
class Result:
    command: str
    returncode: int | None  # None: timed out (and killed)
    output: str  # stdout + stderr


def run_one(command: list[str], calendars: Path, db: Path) -> Result:
    try:
        proc = subprocess.run([*CLI, *command, "--calendars", str(calendars)], cwd=calendars.parent,
                              env=cli_env(db), capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:  # run() has killed it
        return Result(" ".join(command), None, f"did not exit within {TIMEOUT}s")
    return Result(" ".join(command), proc.returncode, proc.stdout + proc.stderr)


def run_all(jobs: list[tuple[list[str], Path, Path]]) -> list[Result]:
    """(command, calendars, db) jobs, run together: they only read, or ought to."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda job: run_one(*job), jobs))


def run_cli(*commands: list[str], calendars: Path, db: Path) -> list[Result]:
    return run_all([(command, calendars, db) for command in commands])


def assert_refused(result: Result) -> None:
    assert result.returncode is not None, f"`reminders {result.command}` {result.output} on bad input"
    assert result.returncode != 0, f"`reminders {result.command}` accepted bad input:\n{result.output}"
    assert "Traceback" not in result.output, f"`reminders {result.command}`:\n{result.output}"
    assert re.search(r"\d+ problem\(s\) found; nothing was changed", result.output), result.output


def assert_reported(output: str, location: str, what: str = "") -> None:
    """A line `<dir>/<location>[ (UID ...)]: <message matching what>`."""
    pattern = rf"[/\\]{re.escape(location)}(?: \(UID [^)]*\))?: .*{what}"
    assert re.search(pattern, output), f"expected a problem at {location} saying /{what}/ in:\n{output}"


def snapshot(db: Path) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of its rows (not the file: WAL, page reuse)."""
    with closing(sqlite3.connect(db)) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        result = {}
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            result[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return result


@pytest.fixture(scope="module")
def planned_db(tmp_path_factory) -> Path:
    """A database planned from the shipped calendars on 2024-10-01 (campaign month: busy)."""
    from reminders.definitions.load import load_definitions
    from reminders.schedule.planner import plan
    from reminders.store.engine import make_engine

    path = tmp_path_factory.mktemp("planned") / "template.db"
    duties, roster = load_definitions(str(SHIPPED), str(SHIPPED / "roster.yaml"))
    engine = make_engine(f"sqlite:///{path}")
    result = plan(engine, duties, roster, datetime(2024, 10, 1, tzinfo=UTC))
    engine.dispose()
    assert result.deliveries_upserted > 0
    return path


def copy_db(template: Path, path: Path) -> Path:
    """A private copy of a database (the backup API copies what is still in the WAL too)."""
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return path


@pytest.fixture
def db(planned_db: Path, tmp_path: Path) -> Path:
    return copy_db(planned_db, tmp_path / "r.db")


@dataclass
class CaseRun:
    results: list[Result]
    before: dict[str, tuple[int, str]]
    after: dict[str, tuple[int, str]]


@pytest.fixture(scope="module")
def case_runs(tmp_path_factory, request) -> dict[str, CaseRun]:
    """The commands of every case, each case in its own copy of calendars and database.

    Under pytest -n a module's fixture runs once in every worker that gets one of its tests,
    and this one keeps both CPUs busy for a minute: the first worker runs the cases and
    leaves their outcome in the session's directory, another one waits for it and reads it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run_cases(tmp_path_factory, request.getfixturevalue("planned_db"))
    session = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    with (session / "bad_input.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        saved = session / "bad_input.json"
        if saved.exists():
            return {case: CaseRun([Result(**r) for r in run["results"]],
                                  {t: tuple(v) for t, v in run["before"].items()},
                                  {t: tuple(v) for t, v in run["after"].items()})
                    for case, run in json.loads(saved.read_text(encoding="utf-8")).items()}
        runs = run_cases(tmp_path_factory, request.getfixturevalue("planned_db"))
        saved.write_text(json.dumps({case: asdict(run) for case, run in runs.items()}), encoding="utf-8")
        return runs


def run_cases(tmp_path_factory, planned_db: Path) -> dict[str, CaseRun]:
    jobs, snapshots = [], {}
    for case in CASES:
        base = tmp_path_factory.mktemp(case.id)
        calendars = base / "calendars"
        shutil.copytree(SHIPPED, calendars)
        write_files(calendars, case.files)
        db = copy_db(planned_db, base / "r.db")
        snapshots[case.id] = (db, snapshot(db))
        jobs += [([command], calendars, db) for command in case.commands]
    results = iter(run_all(jobs))
    runs = {}
    for case in CASES:
        db, before = snapshots[case.id]
        runs[case.id] = CaseRun([next(results) for _ in case.commands], before, snapshot(db))
    return runs


# -- tests --------------------------------------------------------------------------------

def test_shipped_calendars_are_valid(calendars: Path, tmp_path: Path) -> None:
    """The baseline every case breaks: without it a failure below would prove nothing."""
    [result] = run_cli(["check"], calendars=calendars, db=tmp_path / "unused.db")
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_clearly(case: Case, case_runs: dict[str, CaseRun]) -> None:
    runs = case_runs[case.id]
    for result in runs.results:
        assert_refused(result)
        assert_reported(result.output, case.location, case.what)
    assert runs.before["delivery"][0] > 0, "the database should hold a plan to protect"
    assert runs.after == runs.before, "the database changed"


def test_repeated_properties_and_lunar_rules_are_refused_in_vietnamese(calendars: Path, tmp_path: Path) -> None:
    """Vietnamese is the admin's default language: the new refusals say it in Vietnamese, with the UID."""
    write_files(calendars, {
        "a-dup.ics": duty("DTSTART;TZID=Asia/Ho_Chi_Minh:20240106T170000"),
        "b-lunar.ics": duty("RRULE:RSCALE=CHINESE;FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1").replace("bad@test", "b@test"),
    })
    env = {**cli_env(tmp_path / "unused.db"), "REMINDERS_LANGUAGE": "vi"}
    proc = subprocess.run([*CLI, "check", "--calendars", str(calendars)], env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    assert re.search(r"a-dup\.ics:9 \(UID bad@test\): DTSTART xuất hiện nhiều lần trong VEVENT "
                     r"\(lần đầu ở dòng 8\)", output), output
    assert re.search(r"b-lunar\.ics:9 \(UID b@test\): RRULE RSCALE=CHINESE: chưa hỗ trợ quy tắc âm lịch.*"
                     r"X-REMINDER-HOLIDAY.*RDATE", output), output


def test_every_problem_in_every_file_is_reported_in_one_run(calendars: Path, tmp_path: Path) -> None:
    write_files(calendars, {
        "a-malformed.ics": duty("RRULE:FREQ=WEEKLY", "THIS IS NOT A CONTENT LINE"),
        "b-timezone.ics": ics(*HEAD, *EVENT[:1], "UID:b@test", EVENT[2],
                              "DTSTART;TZID=Asia/Ha_Noi:20240105T170000", *TAIL),
        # Files that parse are still checked against the roster and the contract,
        # although other files are broken.
        "c-team.ics": duty("X-REMINDER-FOR:team:khong-co").replace("UID:bad@test", "UID:c@test"),
        "d-address.ics": duty("X-REMINDER-TO:everyone").replace("UID:bad@test", "UID:d@test"),
        "e-empty.ics": "",
        "zz-radio-copy.ics": RADIO,
    })
    db = tmp_path / "never-created.db"

    check, run = run_cli(["check"], ["run"], calendars=calendars, db=db)

    expected = [
        ("a-malformed.ics:10", "not an iCalendar content line"),
        ("b-timezone.ics:8", "unknown time zone TZID=Asia/Ha_Noi"),
        ("c-team.ics:9", "unknown team 'khong-co'"),
        ("d-address.ics:9", "X-REMINDER-TO value 'everyone'"),
        ("e-empty.ics", "file is empty"),
        (f"zz-radio-copy.ics:{line_of(RADIO, 'BEGIN:VEVENT')}", "duplicate UID"),
    ]
    for result in (check, run):
        assert_refused(result)
        assert f"{len(expected)} problem(s) found" in result.output, result.output
        for location, what in expected:
            assert_reported(result.output, location, what)
    assert not db.exists(), "a refused run must not even create the database"


def test_roster_and_calendar_problems_are_reported_together(calendars: Path, tmp_path: Path) -> None:
    write_files(calendars, {
        "roster.yaml": ROSTER.replace("commune: xa-tan-lap", "commune: xa-khong-co", 1),
        "bad.ics": duty("RRULE:FREQ=SOMETIMES"),
    })
    [check] = run_cli(["check"], calendars=calendars, db=tmp_path / "unused.db")
    assert_refused(check)
    assert_reported(check.output, "roster.yaml:" + str(line_of(ROSTER, "commune: xa-tan-lap")), "unknown commune")
    assert_reported(check.output, "bad.ics:9", "bad RRULE")


@pytest.mark.parametrize("command", [
    ["ack", "ABC", "--member", "nguyen-van-an"],
    ["simulate", "--from", "2024-10-01", "--to", "2024-10-02"],
], ids=lambda command: command[0])
def test_other_commands_refuse_bad_input_too(command: list[str], calendars: Path, db: Path) -> None:
    write_files(calendars, {"bad.ics": duty("RRULE:FREQ=WEEKLY;BYDAY=XX")})
    before = snapshot(db)

    [result] = run_cli(command, calendars=calendars, db=db)

    assert_refused(result)
    assert_reported(result.output, "bad.ics:9", "bad RRULE")
    assert snapshot(db) == before


def test_hidden_files_an_editor_leaves_beside_the_duties_are_left_alone(calendars: Path, tmp_path: Path) -> None:
    """Emacs's lock file (a dangling symlink), macOS's AppleDouble file and a .git folder sit
    beside the duties while an admin edits; none of them is a duty file."""
    from reminders import load_duties, load_roster

    directory = tmp_path / "edited"
    shutil.copytree(calendars, directory)
    (directory / ".#radio-weekly.ics").symlink_to("root@host.12345:1700000000")
    (directory / "._radio-weekly.ics").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (directory / ".git").mkdir()
    (directory / ".git" / "old.ics").write_text("not a calendar", encoding="utf-8")
    roster = load_roster(directory / "roster.yaml")
    assert load_duties(directory, roster).keys() == load_duties(calendars, roster).keys()

"""Hot reload while the worker runs: a new duty is picked up, a broken edit keeps the last
good version and tells the admins once (file and line), a deleted duty's pending reminders
are cancelled while what was sent and acknowledged stays; send workers render the new text."""

from __future__ import annotations

import io
import itertools
import logging
import os
import time
from pathlib import Path

import pytest
from helpers import vn
from sqlalchemy import select

from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.definitions.reload import DefinitionWatcher, send_watcher
from reminders.inbound.acks import record_acknowledgement
from reminders.jobs.admin_notices import notify_on_worker_loop, notify_with_own_adapters
from reminders.jobs.broker import make_broker
from reminders.jobs.embedded import EmbeddedWorker
from reminders.jobs.middleware import RefreshDefinitions
from reminders.jobs.send import enqueue
from reminders.runtime import open_runtime
from reminders.schedule.scheduler import Scheduler
from reminders.settings import load_settings
from reminders.store.bindings import bind
from reminders.store.models import AcknowledgementRow, DeliveryRow, OccurrenceRow
from reminders.timeutil import VirtualClock

UID = "hop-giao-ban@test"
MEETING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//reload//VI
BEGIN:VEVENT
UID:hop-giao-ban@test
SUMMARY:Họp giao ban tổ
DESCRIPTION:{description}
DTSTART;TZID=Asia/Ho_Chi_Minh:20241007T080000
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=10
X-REMINDER-FOR:team:thon-dong
X-REMINDER-TO:group
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Họp giao ban
TRIGGER:-PT30M
END:VALARM
END:VEVENT
END:VCALENDAR
"""


_saves = itertools.count(1)


def _write(path: Path, text: str) -> None:
    """Save as editors do (temp file, then rename). Each save gets its own mtime: these
    watchers run with settle=0, and a coarse file-system clock could repeat one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    stamp = 1_700_000_000 + next(_saves)
    os.utime(path, (stamp, stamp))


def _settings(calendars: Path, database_url: str):
    return load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                   database_url=database_url)


def _statuses(engine, uid: str) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(OccurrenceRow.recurrence_id, DeliveryRow.status)
                            .join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)
                            .where(OccurrenceRow.duty_uid == uid)).all()
    found: dict[str, set[str]] = {}
    for rid, status in rows:
        found.setdefault(status, set()).add(rid)
    return found


def test_edit_break_fix_delete_while_running(calendars, database_url, caplog):
    caplog.set_level(logging.WARNING, logger="reminders.definitions.reload")
    settings = _settings(calendars, database_url)
    out = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 7, 6, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    watcher = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0,
                                notify=notify_on_worker_loop(runtime))
    with EmbeddedWorker(runtime, settings, broker=make_broker(None), reloader=watcher) as worker:
        worker.scheduler.tick()
        worker.drain()
        assert UID not in runtime.duties

        # 1. A new duty file appears: planned on the next tick, sent when due.
        _write(calendars / "hop-giao-ban.ics", MEETING.format(description="Mang sổ ghi chép."))
        report = worker.scheduler.tick()
        assert UID in runtime.duties and report.plan.duties_planned == 1
        assert _statuses(runtime.engine, UID)["pending"]
        clock.set(vn(2024, 10, 7, 7, 30))
        worker.scheduler.tick()
        worker.drain()
        assert "Họp giao ban tổ" in out.getvalue() and "Mang sổ ghi chép." in out.getvalue()

        # 2. A broken edit elsewhere: the last good version stays, admins hear it once.
        radio = calendars / "radio-weekly.ics"
        good_radio = radio.read_text(encoding="utf-8")
        rrule_line = good_radio.splitlines().index("RRULE:FREQ=WEEKLY;BYDAY=FR") + 1
        duties_before, roster_before = runtime.duties, runtime.roster
        _write(radio, good_radio.replace("BYDAY=FR", "BYDAY=XX"))
        _write(calendars / "hop-giao-ban.ics", MEETING.format(description="Mang theo máy tính bảng."))
        outcome = watcher.check()
        assert outcome is not None and outcome.status == "rejected"
        assert runtime.duties is duties_before and runtime.roster is roster_before
        assert runtime.duties[UID].description == "Mang sổ ghi chép."  # the edit waits with the rest
        assert [(Path(p.file).name, p.line) for p in outcome.problems] == [("radio-weekly.ics", rrule_line)]
        logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(f"radio-weekly.ics:{rrule_line}" in m and "bad RRULE" in m for m in logged), logged
        text = out.getvalue()
        # The admin (role admin, language en) is told in their chat, with file and line.
        assert "Trần Quốc Việt [riêng" in text
        assert "The previous version stays in use" in text
        assert f"• radio-weekly.ics:{rrule_line} (UID radio-chuyen-doi-so@reminders): bad RRULE" in text
        for _ in range(3):  # the same bad version, saved again: no second message
            _write(radio, good_radio.replace("BYDAY=FR", "BYDAY=XX"))
            worker.scheduler.tick()
            worker.drain()
        assert out.getvalue().count("The previous version stays in use") == 1

        # 3. Fixed: the pending edit goes live, and the admin hears that it is fine again.
        _write(radio, good_radio)
        outcome = watcher.check()
        assert outcome is not None and outcome.status == "reloaded"
        assert runtime.duties[UID].description == "Mang theo máy tính bảng."
        assert "The duty files are valid again" in out.getvalue()
        clock.set(vn(2024, 10, 8, 7, 30))
        worker.scheduler.tick()
        worker.drain()
        assert "Mang theo máy tính bảng." in out.getvalue()

        # 4. Deleted: pending reminders cancelled, sent ones and acknowledgements kept.
        sent = _statuses(runtime.engine, UID)["sent"]
        assert sent == {"2024-10-07T01:00:00Z", "2024-10-08T01:00:00Z"}
        with runtime.engine.connect() as conn:
            first = conn.execute(select(DeliveryRow.id).join(OccurrenceRow).where(
                OccurrenceRow.duty_uid == UID, DeliveryRow.status == "sent").order_by(DeliveryRow.id)).scalar()
        record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=delivery_code(first),
                               person_id="nguyen-van-an", channel="console", now=clock())
        (calendars / "hop-giao-ban.ics").unlink()
        report = worker.scheduler.tick()
        worker.drain()
        assert UID not in runtime.duties
        assert report.plan.removed_duties == [UID]
        after = _statuses(runtime.engine, UID)
        assert after["sent"] == sent
        assert "pending" not in after  # reminders and any follow-ups alike
        assert {f"2024-10-{day:02d}T01:00:00Z" for day in range(9, 17)} <= after["cancelled"]
        with runtime.engine.connect() as conn:
            occurrences = dict(conn.execute(select(OccurrenceRow.recurrence_id, OccurrenceRow.status)
                                            .where(OccurrenceRow.duty_uid == UID)).all())
            acks = conn.execute(select(AcknowledgementRow.person_id)).scalars().all()
        assert occurrences["2024-10-07T01:00:00Z"] == "scheduled"  # history stays as it was
        assert occurrences["2024-10-09T01:00:00Z"] == "removed"
        assert acks == ["nguyen-van-an"]
    runtime.engine.dispose()


def test_touch_without_change_and_interval(calendars, sqlite_url):
    settings = _settings(calendars, sqlite_url)
    runtime = open_runtime(settings, adapters={})
    watcher = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0)
    duties = runtime.duties
    radio = calendars / "radio-weekly.ics"
    _write(radio, radio.read_text(encoding="utf-8"))  # saved, not changed
    assert watcher.check() is None and runtime.duties is duties
    _write(calendars / "roster.yaml", (calendars / "roster.yaml").read_text(encoding="utf-8")
           .replace("Tổ CNSCĐ thôn Tây", "Tổ CNSCĐ thôn Tây mới"))
    outcome = watcher.check()
    assert outcome is not None and outcome.status == "reloaded"
    assert runtime.roster.teams["thon-tay"].name == "Tổ CNSCĐ thôn Tây mới"
    # At most one look per interval; a file still being written is left for the next look.
    slow = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=60, settle=0)
    _write(radio, radio.read_text(encoding="utf-8").replace("Đài truyền thanh xã", "Đài xã"))
    assert slow.check() is None
    assert slow.check(force=True).status == "reloaded"
    settling = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=0, settle=30)
    radio.write_text(radio.read_text(encoding="utf-8").replace("Đài xã", "Đài"), encoding="utf-8")
    assert settling.check() is None
    os.utime(radio, (time.time() - 60, time.time() - 60))
    assert settling.check().status == "reloaded"
    runtime.engine.dispose()


def test_send_worker_renders_the_edited_duty(calendars, sqlite_url):
    """A separate send worker (its own runtime, as in `dramatiq reminders.jobs.worker`) takes
    up the edit before it renders, though the scheduler was the one that saw it first."""
    _write(calendars / "hop-giao-ban.ics", MEETING.format(description="Mang sổ ghi chép."))
    settings = _settings(calendars, sqlite_url)
    clock = VirtualClock(vn(2024, 10, 7, 6, 0))
    planning = open_runtime(settings, clock=clock, adapters={}, worker_id="scheduler")
    out = io.StringIO()
    sending = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    broker = make_broker(None)
    worker_watcher = DefinitionWatcher(sending.engine, sending.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0)
    broker.add_middleware(RefreshDefinitions(worker_watcher))
    scheduler = Scheduler(planning, enqueue, horizon=settings.horizon, reloader=DefinitionWatcher(
        planning.engine, planning.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0))
    with EmbeddedWorker(sending, settings, broker=broker, reloader=None) as worker:
        scheduler.tick()
        _write(calendars / "hop-giao-ban.ics", MEETING.format(description="Mang theo máy tính bảng."))
        clock.set(vn(2024, 10, 7, 7, 30))
        scheduler.tick()
        worker.drain()
    text = out.getvalue()
    assert "Họp giao ban tổ" in text
    assert "Mang theo máy tính bảng." in text and "Mang sổ ghi chép." not in text
    assert sending.duties[UID].description == "Mang theo máy tính bảng."
    planning.engine.dispose()
    sending.engine.dispose()


def test_a_send_worker_that_looked_a_moment_ago_still_sends_a_duty_just_added(calendars, sqlite_url):
    """Production send workers (`send_watcher`) look before every message: one that looked a
    moment before the scheduler took up a new duty must not cancel its first reminders as
    'duty removed' (they would never be planned again)."""
    settings = _settings(calendars, sqlite_url)
    clock = VirtualClock(vn(2024, 10, 7, 7, 30))
    planning = open_runtime(settings, clock=clock, adapters={}, worker_id="scheduler")
    out = io.StringIO()
    sending = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    broker = make_broker(None)
    worker_watcher = send_watcher(settings, sending.engine, sending.definitions)
    broker.add_middleware(RefreshDefinitions(worker_watcher))
    scheduler = Scheduler(planning, enqueue, horizon=settings.horizon, reloader=DefinitionWatcher(
        planning.engine, planning.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0))
    with EmbeddedWorker(sending, settings, broker=broker, reloader=None) as worker:
        scheduler.tick()
        worker.drain()
        assert worker_watcher.check() is None  # the worker has just looked: nothing new then
        _write(calendars / "hop-giao-ban.ics", MEETING.format(description="Mang sổ ghi chép."))
        scheduler.tick()  # takes the new duty up; its 07:30 reminder is due now
        worker.drain()
    statuses = _statuses(planning.engine, UID)
    assert statuses["sent"] == {"2024-10-07T01:00:00Z"} and "cancelled" not in statuses, statuses
    assert "Họp giao ban tổ" in out.getvalue()
    planning.engine.dispose()
    sending.engine.dispose()


def test_scheduler_process_tells_admins_through_its_own_adapters(calendars, sqlite_url, tmp_path):
    """`reminders scheduler` runs without adapters: a notice opens them, sends, closes."""
    runtime = open_runtime(_settings(calendars, sqlite_url), adapters={})
    console_file = tmp_path / "console.txt"
    notify = notify_with_own_adapters(runtime.engine, load_settings({"REMINDERS_CONSOLE_FILE": str(console_file)}))
    notify(runtime.roster, lambda language: f"notice in {language}")
    text = console_file.read_text(encoding="utf-8")
    assert "Trần Quốc Việt [riêng terminal]" in text and "notice in en" in text
    assert text.count("notice in") == 1  # the admin only, not officials or members
    bind(runtime.engine, "person:quan-tri-xa", "console", "admin-chat", vn(2024, 10, 7))
    notify(runtime.roster, lambda language: "second notice")
    assert "Trần Quốc Việt [riêng admin-chat]" in console_file.read_text(encoding="utf-8")
    runtime.engine.dispose()


@pytest.mark.parametrize("value, expected", [("", 5.0), ("2.5", 2.5), ("0", 0.0)])
def test_reload_interval_setting(value, expected):
    assert load_settings({"REMINDERS_RELOAD_SECONDS": value}).reload_seconds == expected


def test_reminders_run_reloads_and_reports(calendars, tmp_path):
    """The real command: `reminders run` takes up a broken edit and its fix with no restart."""
    import subprocess
    import sys

    console = tmp_path / "console.txt"
    env = {**os.environ, "REMINDERS_RELOAD_SECONDS": "0.2", "REMINDERS_TICK_SECONDS": "0.2",
           "REMINDERS_CONSOLE_FILE": str(console), "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "REMINDERS_CALENDARS": str(calendars), "REMINDERS_LOG_LEVEL": "WARNING"}
    env.pop("REMINDERS_ROSTER", None)
    command = [sys.executable, "-c", "from reminders.cli import main; main()", "run"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            if console.exists() and text in console.read_text(encoding="utf-8"):
                return
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in {console.read_text(encoding='utf-8') if console.exists() else ''}")

    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and not (tmp_path / "r.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # past its first tick, and past the watcher's settle time
        radio = calendars / "radio-weekly.ics"
        good = radio.read_text(encoding="utf-8")
        radio.write_text(good.replace("BYDAY=FR", "BYDAY=XX"), encoding="utf-8")
        wait_for("The previous version stays in use")
        radio.write_text(good, encoding="utf-8")
        wait_for("The duty files are valid again: 7 duties for 3 teams")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "radio-weekly.ics:14 (UID radio-chuyen-doi-so@reminders): bad RRULE" in stderr
    assert console.read_text(encoding="utf-8").count("The previous version stays in use") == 1


# -- the last good version, kept in the database (reminders.snapshot) ----------------------
def _break_radio(calendars: Path) -> tuple[str, int]:
    radio = calendars / "radio-weekly.ics"
    good = radio.read_text(encoding="utf-8")
    _write(radio, good.replace("BYDAY=FR", "BYDAY=XX"))
    return good, good.splitlines().index("RRULE:FREQ=WEEKLY;BYDAY=FR") + 1


def test_a_restart_with_a_broken_file_runs_on_the_last_good_version(calendars, database_url, caplog):
    """Restarted (or failed over) while a file on disk is broken: the process plans and sends
    from the version saved at the last good load, logs each problem with file and line, and
    the admin is told once however many times it starts; the fix replaces the saved version."""
    from reminders.definitions.snapshot import fetch

    caplog.set_level(logging.WARNING)
    settings = _settings(calendars, database_url)
    (calendars / "xa").mkdir()
    meeting = calendars / "xa" / "hop-giao-ban.ics"
    _write(meeting, MEETING.format(description="Mang sổ ghi chép."))
    first = open_runtime(settings, adapters={})
    saved = fetch(first.engine)
    assert saved is not None and saved.told_version is None
    assert dict(saved.files)["xa/hop-giao-ban.ics"] == meeting.read_text(encoding="utf-8")
    assert saved.roster_text == (calendars / "roster.yaml").read_text(encoding="utf-8")
    first.engine.dispose()

    # A broken edit, and a valid one beside it, while nothing runs.
    good_radio, rrule_line = _break_radio(calendars)
    _write(meeting, MEETING.format(description="Mang theo máy tính bảng."))

    def start(out: io.StringIO, clock: VirtualClock):
        runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
        watcher = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=0, settle=0,
                                    notify=notify_on_worker_loop(runtime))
        return runtime, watcher

    out = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 7, 6, 0))
    caplog.clear()
    runtime, watcher = start(out, clock)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"radio-weekly.ics:{rrule_line}" in m and "bad RRULE" in m for m in logged), logged
    assert runtime.duties[UID].description == "Mang sổ ghi chép."  # the saved version, not the disk's
    assert runtime.duties[UID].file == str(meeting)  # messages name the real file, not a temp copy
    assert runtime.roster.source == str(calendars / "roster.yaml")
    with EmbeddedWorker(runtime, settings, broker=make_broker(None), reloader=watcher) as worker:
        worker.scheduler.tick()
        clock.set(vn(2024, 10, 7, 7, 30))
        worker.scheduler.tick()
        worker.drain()
    text = out.getvalue()
    assert "Họp giao ban tổ" in text and "Mang sổ ghi chép." in text
    assert _statuses(runtime.engine, UID)["sent"] == {"2024-10-07T01:00:00Z"}
    assert text.count("The previous version stays in use") == 1
    assert f"• radio-weekly.ics:{rrule_line} (UID radio-chuyen-doi-so@reminders): bad RRULE" in text
    told = fetch(runtime.engine)
    assert told.told_version == watcher._rejected and told.version == saved.version
    runtime.engine.dispose()

    # Started again on the same database with the same broken files: not told again.
    again = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 8, 7, 30))
    runtime, watcher = start(again, clock)
    with EmbeddedWorker(runtime, settings, broker=make_broker(None), reloader=watcher) as worker:
        worker.scheduler.tick()
        worker.drain()
        assert "Mang sổ ghi chép." in again.getvalue()  # today's reminder, from the saved version
        assert "The previous version stays in use" not in again.getvalue()

        # Fixed while running: the edit waiting beside it goes live and replaces the saved version.
        _write(calendars / "radio-weekly.ics", good_radio)
        outcome = watcher.check()
        assert outcome is not None and outcome.status == "reloaded"
        assert runtime.duties[UID].description == "Mang theo máy tính bảng."
        assert again.getvalue().count("The duty files are valid again") == 1
    replaced = fetch(runtime.engine)
    assert replaced.version == watcher.version != saved.version and replaced.told_version is None
    assert "Mang theo máy tính bảng." in dict(replaced.files)["xa/hop-giao-ban.ics"]
    runtime.engine.dispose()

    # One more restart, files valid: nothing to tell.
    last = io.StringIO()
    runtime, watcher = start(last, VirtualClock(vn(2024, 10, 8, 8, 0)))
    with EmbeddedWorker(runtime, settings, broker=make_broker(None), reloader=watcher) as worker:
        worker.scheduler.tick()
        worker.drain()
    assert "valid again" not in last.getvalue() and "previous version" not in last.getvalue()
    runtime.engine.dispose()


def test_fixed_while_nothing_ran_is_announced_once_at_the_next_start(calendars, sqlite_url):
    """The admins were told the files were broken; they were fixed while the process was
    down: the next start tells them they are valid again, and a later start does not."""
    from reminders.definitions.snapshot import fetch

    settings = _settings(calendars, sqlite_url)
    open_runtime(settings, adapters={}).engine.dispose()
    good_radio, _ = _break_radio(calendars)
    out = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 7, 6, 0))
    for expected in ("The previous version stays in use", None, "The duty files are valid again", None):
        if expected == "The duty files are valid again":
            _write(calendars / "radio-weekly.ics", good_radio)
        before = out.getvalue()
        runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
        watcher = DefinitionWatcher(runtime.engine, runtime.definitions, calendars, calendars / "roster.yaml", interval=60,
                                    notify=notify_on_worker_loop(runtime))
        watcher.check()  # the first check tells what the start found, whatever the interval
        told = out.getvalue()[len(before):]
        if expected is None:
            assert told == ""
        else:
            assert told.count(expected) == 1, told
        runtime.engine.dispose()
    assert fetch(runtime.engine).told_version is None


def test_reminders_run_first_run_broken_stops_later_runs_on_the_saved_version(calendars, tmp_path):
    """The real command. No saved version (first run) and a broken file: a clear message and
    a non-zero exit, as before. Once a good version was loaded, a start with the same broken
    file keeps running on it, says so, and tells the admin in their chat."""
    import subprocess
    import sys

    console = tmp_path / "console.txt"
    database = f"sqlite:///{tmp_path / 'r.db'}"
    env = {**os.environ, "REMINDERS_TICK_SECONDS": "0.2", "REMINDERS_CONSOLE_FILE": str(console),
           "REMINDERS_DATABASE_URL": database, "REMINDERS_CALENDARS": str(calendars),
           "REMINDERS_LOG_LEVEL": "WARNING", "REMINDERS_LANGUAGE": "vi"}
    env.pop("REMINDERS_ROSTER", None)
    command = [sys.executable, "-c", "from reminders.cli import main; main()", "run"]
    good_radio, rrule_line = _break_radio(calendars)
    where = f"radio-weekly.ics:{rrule_line} (UID radio-chuyen-doi-so@reminders): bad RRULE"

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1, first.stderr
    assert where in first.stderr and "Traceback" not in first.stderr
    assert "Đã nạp" not in first.stdout and not console.exists()  # nothing started, nothing sent

    _write(calendars / "radio-weekly.ics", good_radio)  # a good version is loaded once ...
    open_runtime(_settings(calendars, database), adapters={}).engine.dispose()
    _break_radio(calendars)  # ... and broken again before the next start
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if console.exists() and "The previous version stays in use" in console.read_text(encoding="utf-8"):
                break
            time.sleep(0.1)
        assert process.poll() is None, process.communicate()[1]
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert where in stderr and "Traceback" not in stderr
    assert "phiên bản hợp lệ gần nhất" in stderr  # the terminal says what is in use
    assert "Đã nạp 7 nhiệm vụ và 3 tổ" in stdout and "Đang chạy" in stdout, stdout
    assert where in console.read_text(encoding="utf-8")


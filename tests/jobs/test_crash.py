"""Crash safety on real processes: kill -9 of a dramatiq worker mid-burst (PostgreSQL +
Redis), of `reminders run` mid-burst (SQLite), a Redis restart mid-burst, two scheduler
replicas. The kill tests run with an hour-long claim lease: what the dead process held must
come back through its heartbeat (store.workers), not by waiting out the lease."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REDIS_URL, _postgres_database, need_service
from sqlalchemy import func, select

from reminders import load_duties, load_roster, plan
from reminders.adapters.console import ConsoleAdapter
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow, LeaseRow

CODE = re.compile(r"\[✅[^\]]*\] reminders ack (\w+) ")


def _burst(tmp_path: Path, teams: int, alarms: int, due: datetime) -> Path:
    directory = tmp_path / "cal"
    directory.mkdir()
    start = (due + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    valarms = "".join(f"BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:n\nTRIGGER:-PT{60 + n}S\nEND:VALARM\n"
                      for n in range(alarms))
    (directory / "burst.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:burst@test\nSUMMARY:Họp tổ\n"
        f"DTSTART:{start}\nDURATION:PT2H\nX-REMINDER-TO:leader\n{valarms}END:VEVENT\nEND:VCALENDAR\n",
        encoding="utf-8")
    # Real time: no quiet hours, or a run at night (Vietnam time) would wait for the morning.
    lines = ["quiet_hours: off", "communes:", "  - {id: xa, name: Xã}", "teams:"]
    for n in range(teams):
        lines += [f"  - id: t{n}", f"    name: Tổ {n}", "    commune: xa", "    members:",
                  f"      - {{id: l{n}, name: Trưởng {n}, role: leader}}"]
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.fixture
def production(tmp_path):
    redis_url = need_service(REDIS_URL, "REMINDERS_TEST_REDIS_URL")
    url, drop = _postgres_database()
    out = tmp_path / "sent.txt"
    env = {**os.environ, "REMINDERS_DATABASE_URL": url, "REMINDERS_REDIS_URL": redis_url,
           "REMINDERS_REDIS_NAMESPACE": f"crash-{uuid.uuid4().hex[:8]}", "REMINDERS_ADAPTERS": "console",
           "REMINDERS_CONSOLE_FILE": str(out), "REMINDERS_CLAIM_LEASE_SECONDS": "20",
           "REMINDERS_TICK_SECONDS": "0.5", "REMINDERS_SCHEDULER_LEASE_SECONDS": "3"}
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        with open(tmp_path / f"log-{len(procs)}.txt", "w") as log:  # the child keeps its own handle
            proc = subprocess.Popen(list(args), env=env, cwd=tmp_path, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=log)
        procs.append(proc)
        return proc

    def start_with(calendars: Path):
        env["REMINDERS_CALENDARS"] = str(calendars)
        return start

    yield env, url, out, start_with
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    drop()


def _worker(start, calendars: Path):
    return start(sys.executable, "-m", "dramatiq", "reminders.jobs.worker", "--processes", "1", "--threads", "4")


def _scheduler(start, calendars: Path):
    return start(sys.executable, "-m", "reminders.cli", "scheduler", "--calendars", str(calendars))


# The bursts' own reminders, not the follow-ups planned hours after them.
REMINDERS = DeliveryRow.kind.startswith("reminder-")


def _sent_codes(out: Path) -> Counter:
    return Counter(CODE.findall(out.read_text(encoding="utf-8"))) if out.exists() else Counter()


def _wait(predicate, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def _mid_batch(engine) -> bool:
    """A worker is sending a batch: claims it has taken carry the short send lease (2 minutes),
    those waiting in the broker the hour-long one."""
    soon = datetime.now(UTC) + timedelta(minutes=10)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(DeliveryRow.status == "claimed",
                                                       DeliveryRow.lease_until < soon)).scalar() > 0


# Sent by a process but not yet recorded when it is killed: at most its adapter's send
# concurrency (jobs.send holds a send slot until the outcome is committed).
IN_FLIGHT = ConsoleAdapter.capabilities.concurrency
NO_LEASE = "3600"  # a claim lease no test waits out


def test_kill_9_worker_mid_burst_loses_nothing(production, tmp_path):
    """Issue 14.3: kill -9 of the only worker in the middle of a 5,000-delivery burst, then a
    new one: every delivery sent, duplicates only for messages in flight at the kill, and the
    dead worker's claims back at once (the lease is an hour)."""
    env, url, out, start = production
    env["REMINDERS_CLAIM_LEASE_SECONDS"] = NO_LEASE
    due = datetime.now(UTC).replace(microsecond=0)
    calendars = _burst(tmp_path, teams=1000, alarms=5, due=due)
    start = start(calendars)
    engine = make_engine(url)
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, due - timedelta(minutes=5))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).where(REMINDERS)).scalar()
    assert total == 5000

    _scheduler(start, calendars)
    worker = _worker(start, calendars)
    _wait(lambda: sum(_sent_codes(out).values()) >= 1000, 120, "a first thousand messages")
    _wait(lambda: _mid_batch(engine), 60, "the worker to be in the middle of a batch", every=0.005)
    os.killpg(worker.pid, signal.SIGKILL)  # kill -9, in the middle of a batch
    worker.wait()
    at_kill = sum(_sent_codes(out).values())
    assert at_kill < total, "the kill must land mid-burst"
    _worker(start, calendars)
    restarted = time.monotonic()
    _wait(lambda: _all_sent(engine, total), 180, "every delivery to be sent after the restart")
    codes = _sent_codes(out)
    duplicates = sum(n - 1 for n in codes.values())
    print(f"\nkill -9 at {at_kill}/{total} messages; all sent {time.monotonic() - restarted:.1f} s after the "
          f"restart: {len(codes)} distinct, {duplicates} duplicates")
    assert len(codes) == total, "every delivery was sent"
    assert duplicates <= IN_FLIGHT, "duplicates only for messages in flight at the kill"
    engine.dispose()


def _all_sent(engine, total: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(REMINDERS, DeliveryRow.status == "sent")).scalar() == total


def test_kill_9_of_reminders_run_mid_burst_on_sqlite(tmp_path):
    """Issue 14.3 on one machine: `reminders run` (SQLite, in-process broker) killed -9 in
    the middle of a 2,000-delivery burst and started again. Its claims lived in its memory;
    the new process gives them back on its first tick -- not after the lease (an hour here)."""
    due = datetime.now(UTC).replace(microsecond=0)
    calendars = _burst(tmp_path, teams=500, alarms=4, due=due)
    url, out = f"sqlite:///{tmp_path / 'run.db'}", tmp_path / "sent.txt"
    engine = make_engine(url)
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, due - timedelta(minutes=5))
    total = 2000
    env = {**os.environ, "REMINDERS_DATABASE_URL": url, "REMINDERS_ADAPTERS": "console",
           "REMINDERS_CONSOLE_FILE": str(out), "REMINDERS_CLAIM_LEASE_SECONDS": NO_LEASE,
           "REMINDERS_TICK_SECONDS": "0.5"}
    env.pop("REMINDERS_REDIS_URL", None)
    procs: list[subprocess.Popen] = []

    def run() -> subprocess.Popen:
        with open(tmp_path / f"run-{len(procs)}.log", "w") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "reminders.cli", "run", "--calendars", str(calendars)],
                                          env=env, cwd=tmp_path, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=log))
        return procs[-1]

    try:
        first = run()
        _wait(lambda: sum(_sent_codes(out).values()) >= 300, 120, "the burst to be under way")
        _wait(lambda: _mid_batch(engine), 60, "a batch to be on its way", every=0.005)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = sum(_sent_codes(out).values())
        assert at_kill < total, "the kill must land mid-burst"
        run()
        restarted = time.monotonic()
        _wait(lambda: _all_sent(engine, total), 180, "every delivery to be sent after the restart")
        codes = _sent_codes(out)
        duplicates = sum(n - 1 for n in codes.values())
        print(f"\nreminders run killed at {at_kill}/{total}; all sent {time.monotonic() - restarted:.1f} s after "
              f"the restart: {len(codes)} distinct, {duplicates} duplicates")
        assert len(codes) == total, "every delivery was sent"
        assert duplicates <= IN_FLIGHT, "duplicates only for messages in flight at the kill"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        engine.dispose()


def test_two_scheduler_replicas_one_active_and_handover(production, tmp_path):
    env, url, out, start = production
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    calendars = _burst(tmp_path, teams=50, alarms=2, due=due)
    start = start(calendars)
    engine = make_engine(url)
    first = _scheduler(start, calendars)
    second = _scheduler(start, calendars)

    def holder() -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(LeaseRow.holder).where(LeaseRow.name == "scheduler")).scalar()
    _wait(lambda: bool(holder()), 60, "a scheduler to become active")
    active = holder()
    time.sleep(2)
    assert holder() == active, "only one replica is active and it keeps the lease"
    victim = first if f"scheduler-{first.pid}" in active else second
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    _wait(lambda: holder() not in (None, "", active), 30, "the other replica to take over")
    _worker(start, calendars)

    def all_sent() -> bool:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).where(DeliveryRow.status == "sent")).scalar() == 100
    _wait(all_sent, 90, "the reminders planned and sent by the survivor")
    codes = _sent_codes(out)
    assert len(codes) == 100 and sum(codes.values()) == 100, "nothing planned or dispatched twice"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(REMINDERS)).scalar() == 100
    engine.dispose()


def test_redis_restarted_mid_burst_loses_nothing(production, tmp_path):
    """A private Redis (no persistence) is killed and restarted mid-burst: the messages queued in
    it are gone, but the database still holds every claim, and the scheduler gives them back
    as soon as it sees a new Redis -- not when their lease (an hour here) runs out."""
    import shutil
    import socket

    server = shutil.which("redis-server")
    if server is None:
        need_service(None, "redis-server binary")
    env, url, out, start = production
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis_cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        env["REMINDERS_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        env["REMINDERS_CLAIM_LEASE_SECONDS"] = NO_LEASE
        due = datetime.now(UTC).replace(microsecond=0)
        calendars = _burst(tmp_path, teams=500, alarms=4, due=due)
        start = start(calendars)
        engine = make_engine(url)
        roster = load_roster(calendars / "roster.yaml")
        plan(engine, load_duties(calendars, roster), roster, due - timedelta(minutes=5))
        _scheduler(start, calendars)
        _worker(start, calendars)
        _wait(lambda: sum(_sent_codes(out).values()) >= 300, 120, "the burst to start")
        redis.kill()
        redis.wait()
        at_restart = sum(_sent_codes(out).values())
        time.sleep(1)
        redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)

        def all_sent() -> bool:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).where(DeliveryRow.status == "sent")).scalar() == 2000
        _wait(all_sent, 240, "every delivery to be sent after the Redis restart")
        codes = _sent_codes(out)
        duplicates = sum(n - 1 for n in codes.values())
        print(f"\nRedis restarted at {at_restart}/2000; {len(codes)} distinct sent, {duplicates} duplicates")
        assert at_restart < 2000 and len(codes) == 2000
        assert duplicates == 0, "a Redis restart sends nothing twice"
        engine.dispose()
    finally:
        redis.kill()
        redis.wait()


class PrivatePostgres:
    """A PostgreSQL server of this test's own (initdb in a temporary directory, run as the
    `postgres` user, on a free port): it may be stopped hard and started again; the machine's
    shared server is never touched."""

    def __init__(self) -> None:
        import glob
        import shutil
        import socket
        import tempfile

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins or shutil.which("runuser") is None:
            need_service(None, "PostgreSQL server binaries (initdb) and runuser")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="reminders-pg-"))
        shutil.chown(self.dir, "postgres")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "--auth=trust", "-U", "postgres",
                          "--no-sync", check=True)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
                              check=check, cwd=self.dir)

    def start(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"),
                          "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                          "start", check=True)

    def stop(self, mode: str = "immediate") -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_postgresql_restarted_mid_burst_loses_nothing(production, tmp_path):
    """PostgreSQL (a private server) stopped hard in the middle of a 3,000-delivery burst and
    started again 10 seconds later: the worker holds what it sent until it can record it,
    waits for the database to take new batches, and nothing is lost or sent twice."""
    server = PrivatePostgres()
    try:
        server.start()
        env, _, out, start = production
        env["REMINDERS_DATABASE_URL"] = server.url
        env["REMINDERS_CLAIM_LEASE_SECONDS"] = NO_LEASE
        due = datetime.now(UTC).replace(microsecond=0)
        calendars = _burst(tmp_path, teams=600, alarms=5, due=due)
        start = start(calendars)
        engine = make_engine(server.url)
        roster = load_roster(calendars / "roster.yaml")
        plan(engine, load_duties(calendars, roster), roster, due - timedelta(minutes=5))
        total = 3000
        _scheduler(start, calendars)
        _worker(start, calendars)
        _wait(lambda: sum(_sent_codes(out).values()) >= 500, 120, "the burst to be under way")
        server.stop()
        at_stop = sum(_sent_codes(out).values())
        time.sleep(10)
        server.start()
        back = time.monotonic()
        _wait(lambda: _all_sent(engine, total), 180, "every delivery to be sent after PostgreSQL came back")
        codes = _sent_codes(out)
        duplicates = sum(n - 1 for n in codes.values())
        print(f"\nPostgreSQL stopped at {at_stop}/{total}, back 10 s later; all sent {time.monotonic() - back:.1f} s "
              f"after: {len(codes)} distinct, {duplicates} duplicates")
        assert at_stop < total and len(codes) == total, "every delivery was sent"
        assert duplicates <= IN_FLIGHT, "duplicates only for messages in flight at the outage"
        engine.dispose()
    finally:
        server.remove()  # the fixture kills the processes afterwards: they only see a refused connection

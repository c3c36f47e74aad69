"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from reminders.store.models import AcknowledgementRow, DeliveryRow, OccurrenceRow

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


def settings_for(directory: Path, database_url: str):
    """Settings for the duty files and roster.yaml in `directory`, on `database_url`."""

    from reminders.settings import load_settings

    return load_settings({}).replace(calendars=str(directory), roster_file=str(directory / "roster.yaml"),
                   database_url=database_url)


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


@contextmanager
def serve(app, port: int = 0) -> Iterator[str]:
    """Run an ASGI app on uvicorn on a free loopback port, or on `port` (TCP_NODELAY); yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="auto"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


class Served:
    """For fake platform servers: `_serve(app)` starts it (sets `port`), `stop()` ends it."""

    port: int

    def _serve(self, app) -> None:
        self._serving = serve(app)
        self.port = int(self._serving.__enter__().rsplit(":", 1)[1])

    def stop(self) -> None:
        self._serving.__exit__(None, None, None)


@dataclass
class Work:
    statements: int = 0
    steps: int = 0  # thousands of SQLite virtual-machine instructions


@contextmanager
def counting(engine) -> Iterator[Work]:
    """How many SQL statements run, and how much work SQLite does for them, inside the
    block: a cost measure that, unlike seconds, does not depend on how busy the machine is
    (a query that reads every team's rows costs steps in proportion, whatever the clock)."""
    from sqlalchemy import event

    work = Work()
    hooked: list = []

    def step() -> int:
        work.steps += 1
        return 0

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        work.statements += 1
        raw = conn.connection.dbapi_connection
        if raw not in hooked and hasattr(raw, "set_progress_handler"):
            raw.set_progress_handler(step, 1000)
            hooked.append(raw)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield work
    finally:
        event.remove(engine, "before_cursor_execute", before)
        for raw in hooked:
            raw.set_progress_handler(None, 0)


def eventually(value, timeout: float = 30.0, what: str = "the expected state"):
    """Poll `value()` until it is truthy (an answer that waited for the platform's limits);
    returns it. A generous deadline, not a timing assertion."""
    import time

    deadline = time.monotonic() + timeout
    while not (found := value()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return found


RADIO = "radio-chuyen-doi-so@reminders"


def radio_reminder_sent(db: Path, member: str = "nguyen-van-an"):
    """A SQLite database at `db` where the radio duty's reminder of 5 January 2024 (15:00 in
    Hà Nội) went out on the console to `member`: (open runtime, that reminder's code). The
    caller disposes of `runtime.engine`."""
    import io

    from reminders.adapters.console import ConsoleAdapter
    from reminders.codes import delivery_code
    from reminders.jobs.embedded import EmbeddedWorker
    from reminders.runtime import open_runtime
    from reminders.settings import load_settings
    from reminders.timeutil import VirtualClock

    settings = load_settings({}).replace(database_url=f"sqlite:///{db}")
    clock = VirtualClock(vn(2024, 1, 5, 15, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    with EmbeddedWorker(runtime, settings, worker_threads=1, rate_limits=False) as worker:
        worker.scheduler.tick()
        worker.drain()
    with runtime.engine.connect() as conn:
        delivery_id = conn.execute(select(DeliveryRow.id).join(OccurrenceRow).where(
            OccurrenceRow.duty_uid == RADIO, DeliveryRow.recipient == f"person:{member}",
            DeliveryRow.status == "sent")).scalar_one()
    return runtime, delivery_code(delivery_id)


def run_cli_on(db: Path, *args: str, columns: int = 200, cwd: Path | None = None):
    """`python -m reminders.cli ARGS` on the SQLite database `db`, in the default language
    (no REMINDERS_* of this shell leaks in)."""
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")},
           "REMINDERS_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "reminders.cli", *args], capture_output=True, text=True,
                          cwd=cwd or Path(__file__).resolve().parents[1], env=env, timeout=120)


JS = Path(__file__).resolve().parent / "js"


def ical_js(feed: bytes, window: tuple[datetime, datetime], *, with_cancelled: bool = False) -> dict[str, list[dict]]:
    """The feed read by Mozilla's ical.js (what Thunderbird uses), expanded over `window`:
    UID -> its instances. Needs node and npm (tools/test installs them)."""
    import json
    import shutil
    import subprocess

    import pytest
    from conftest import REQUIRE_SERVICES

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if REQUIRE_SERVICES:
            pytest.fail("node and npm are needed to check feeds with ical.js")
        pytest.skip("node/npm not installed: cannot run ical.js")
    if not (JS / "node_modules" / "ical.js").exists():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=JS, check=True, timeout=300)
    result = subprocess.run([node, str(JS / "expand.mjs"), window[0].isoformat(), window[1].isoformat(),
                             *(["--with-cancelled"] if with_cancelled else [])],
                            input=feed, capture_output=True, check=True, timeout=60)
    seen: dict[str, list[dict]] = json.loads(result.stdout)
    return seen

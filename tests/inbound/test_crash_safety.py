"""No acknowledgement lost, none recorded twice, when the process handling replies dies.

160 members reply "xong" to their private reminder. The process receiving the replies --
the web app on uvicorn (webhooks, with a client that retries like Telegram until it gets a
200), or `reminders bot` (long polling a fake Telegram that redelivers every update not yet
confirmed) -- is killed with SIGKILL at random moments while it works, and started again.
Afterwards every member's acknowledgement is there exactly once, with exactly one `ack`
audit event.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fake_telegram import FakeTelegram
from sqlalchemy import func, select

from reminders.adapters.telegram import TelegramAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, AuditEventRow, DeliveryRow
from reminders.timeutil import VirtualClock

TEAMS, PER_TEAM = 40, 4  # 160 people
SECRET = "crash-webhook-secret-0123456789"
KILLS = 4
PATIENCE = 180  # seconds: a process that does not come back fails the test, it does not hang it


def _chat(team: int, member: int) -> int:
    return 7_000_000 + team * 10 + member


def _definitions(tmp_path: Path, now: datetime) -> Path:
    """A duty for every member of 40 teams, reminded now; everyone on Telegram privately."""
    directory = tmp_path / "calendars"
    directory.mkdir()
    start = (now + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    (directory / "duty.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:truc@test\nSUMMARY:Trực một cửa\n"
        f"DTSTART:{start}\nDURATION:PT4H\nX-REMINDER-TO:members\nBEGIN:VALARM\nACTION:DISPLAY\n"
        "DESCRIPTION:n\nTRIGGER:-PT1H\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n", encoding="utf-8")
    lines = ["quiet_hours: off  # real time: the test may run at night in Vietnam", "communes:",
             "  - {id: xa, name: Xã}", "teams:"]
    for team in range(TEAMS):
        lines += [f"  - id: t{team}", f"    name: Tổ {team}", "    commune: xa", "    members:"]
        lines += [f"      - {{id: p{team}-{m}, name: Người {team} {m}, {'role: leader, ' if m == 0 else ''}"
                  f"chats: {{telegram: '{_chat(team, m)}'}}}}" for m in range(PER_TEAM)]
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _send_reminders(fake: FakeTelegram, calendars: Path, database_url: str, now: datetime) -> None:
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=database_url, adapters=("telegram",))
    runtime = open_runtime(settings, clock=VirtualClock(now + timedelta(seconds=30)),
                           adapters={"telegram": TelegramAdapter(fake.token, fake.base_url)})
    with EmbeddedWorker(runtime, settings, rate_limits=False) as worker:
        worker.scheduler.tick()
        worker.drain()
    with runtime.engine.connect() as conn:
        sent = conn.execute(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "sent")).scalar()
    runtime.engine.dispose()
    assert sent == TEAMS * PER_TEAM


def _xong(update_id: int, chat: int) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 9000 + update_id, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
        "from": {"id": chat, "is_bot": False, "first_name": "Người"}, "text": "xong"}}


def _counts(engine) -> tuple[int, int, int, int]:
    """(acknowledgements, people acknowledged, `ack` audit events, people in them)."""
    with engine.connect() as conn:
        acks = conn.execute(select(func.count(), func.count(func.distinct(AcknowledgementRow.person_id)))).one()
        audit = conn.execute(select(func.count(), func.count(func.distinct(AuditEventRow.recipient)))
                             .where(AuditEventRow.event == "ack")).one()
    return acks[0], acks[1], audit[0], audit[1]


def _acknowledged(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar()


class Restarting:
    """A process started again each time it is killed; every start logs to its own file."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path):
        self.args, self.env, self.logs = args, env, logs
        self.starts = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.logs / f"run-{self.starts}.log", "w") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(self.args, env=self.env, start_new_session=True,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        return "\n".join((self.logs / f"run-{n}.log").read_text(errors="replace")[-3000:] for n in range(self.starts))


def _kill_while_working(process: Restarting, engine, finished, rng: random.Random, ready=lambda: True) -> int:
    """Kill -9 at random moments while acknowledgements are being recorded, and restart:
    KILLS times at most, until `finished()`. Returns how many kills landed."""
    kills = 0
    deadline = time.monotonic() + PATIENCE
    while kills < KILLS and not finished():
        while not ready() and not finished():
            assert time.monotonic() < deadline, "the process did not come back:\n" + process.output()
            time.sleep(0.02)
        before = _acknowledged(engine)
        while _acknowledged(engine) == before and not finished():
            assert time.monotonic() < deadline, "no progress:\n" + process.output()
            time.sleep(0.01)  # wait for it to be at work
        if finished():
            break
        time.sleep(rng.uniform(0, 0.15))
        process.kill()
        kills += 1
        process.start()
    return kills


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake():
    server = FakeTelegram(limits=False).start()
    yield server
    server.stop()


def _env(fake: FakeTelegram, calendars: Path, database_url: str) -> dict[str, str]:
    return {**os.environ, "REMINDERS_DATABASE_URL": database_url, "REMINDERS_CALENDARS": str(calendars),
            "REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET, "REMINDERS_LOG_LEVEL": "WARNING"}


def test_webhook_replies_survive_kill_9_of_the_web_app(fake, tmp_path, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    calendars = _definitions(tmp_path, now)
    _send_reminders(fake, calendars, database_url, now)
    port = _free_port()
    (tmp_path / "logs").mkdir()
    web = Restarting([sys.executable, "-m", "uvicorn", "--factory", "reminders.web.app:create_app_from_env",
                      "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                     _env(fake, calendars, database_url), tmp_path / "logs")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def deliver(update: dict) -> int:
        """Telegram's way: post until the answer is 200; a dead or failing server is tried again."""
        tries, deadline = 0, time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            tries += 1
            try:
                answer = httpx.post(f"{url}/webhooks/telegram", json=update, timeout=30,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                if answer.status_code == 200:
                    return tries
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"update {update['update_id']} never got its 200")

    engine = make_engine(database_url)
    rng = random.Random(os.environ.get("CRASH_SEED") or time.time_ns())
    updates = [_xong(n + 1, _chat(team, m)) for n, (team, m) in
               enumerate((t, m) for t in range(TEAMS) for m in range(PER_TEAM))]
    rng.shuffle(updates)
    web.start()
    try:
        with ThreadPoolExecutor(20) as pool:  # Telegram keeps up to 40 webhook connections open
            futures = [pool.submit(deliver, update) for update in updates]
            kills = _kill_while_working(web, engine, lambda: all(f.done() for f in futures), rng, ready=up)
            tries = [f.result() for f in futures]
        for update in updates[:20]:  # Telegram retries some that got their 200 too: replays
            assert deliver(update) == 1
        counts = _counts(engine)
    finally:
        web.kill()
        engine.dispose()
    assert kills >= 1, "the test needs the server to die while it works"
    assert sum(tries) > len(updates), "some updates had to be sent again"
    people = TEAMS * PER_TEAM
    assert counts == (people, people, people, people), f"after {kills} kills:\n{web.output()}"


def test_polled_replies_survive_kill_9_of_the_bot(fake, tmp_path, database_url):
    now = datetime.now(UTC).replace(microsecond=0)
    calendars = _definitions(tmp_path, now)
    _send_reminders(fake, calendars, database_url, now)
    people = [_chat(team, m) for team in range(TEAMS) for m in range(PER_TEAM)]
    rng = random.Random(os.environ.get("CRASH_SEED") or time.time_ns())
    rng.shuffle(people)
    for chat in people:
        fake.push_update({k: v for k, v in _xong(0, chat).items() if k != "update_id"})
    (tmp_path / "logs").mkdir()
    bot = Restarting([sys.executable, "-m", "reminders.cli", "bot"], _env(fake, calendars, database_url),
                     tmp_path / "logs")
    engine = make_engine(database_url)
    bot.start()
    try:
        kills = _kill_while_working(bot, engine, lambda: not fake._updates, rng)
        deadline = time.monotonic() + 120
        while fake._updates and time.monotonic() < deadline:  # until every update is confirmed
            time.sleep(0.05)
        assert not fake._updates, bot.output()
        counts = _counts(engine)
    finally:
        bot.kill()
        engine.dispose()
    assert kills >= 1, "the test needs the bot to die while it works"
    assert counts == (len(people),) * 4, f"after {kills} kills:\n{bot.output()}"

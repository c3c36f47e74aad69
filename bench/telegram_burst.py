"""A burst of Telegram reminders: N due in the same second, to N private chats.

Why: one commune-wide duty reminds thousands of leaders at once. Issue targets: 10,000
reminders, fake Bot API with limits off, 2 cores: messages/s and lateness p50/p99, at least
the throughput of the usual alternative (a python-telegram-bot JobQueue holding the same jobs
in memory) while staying durable; limits on (30/s per bot, 1/s per chat): sustained >= 95 %
of 30/s with zero 429s. The fake runs in its own process, as Telegram would, so its CPU does
not share our GIL; it stamps each accepted message on arrival. Lateness = arrival - due.

    python bench/telegram_burst.py [--chats 10000] [--limits] [--threads 2 8] [--ahead] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from children import fail, load, spread
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from reminders.adapters.telegram import TelegramAdapter, paid_broadcast
from reminders.definitions.duties import load_duties
from reminders.definitions.live import Definitions
from reminders.definitions.roster import Commune, Person, Roster, Team
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import Runtime, configure
from reminders.settings import load_settings
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "telegram_burst.json"
TOKEN, FIRST_CHAT = "4242:TEST-token", 7000
SPAWN = multiprocessing.get_context("spawn")
TEXT = "🔔 Nhắc việc: Họp tổ\n🗓 08:00 Thứ Ba, 01/10/2024\nBấm ✅ khi đã xong."


def serve(limits: bool, pipe) -> None:
    """Child process: the tests' fake Bot API, stamping arrivals; `benchStats` hands them over."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_telegram import FakeTelegram

    class StampingTelegram(FakeTelegram):
        arrivals: list[float] = []

        chats: list[str] = []

        def do_sendMessage(self, params: dict):
            result = super().do_sendMessage(params)
            if isinstance(result, dict):
                self.arrivals.append(time.time())
                self.chats.append(str(params["chat_id"]))
            return result

        def do_benchStats(self, params: dict) -> dict:
            with self._lock:
                stats = {"arrivals": self.arrivals, "too_many": self.too_many, "chats": self.chats,
                         "refused": self.refused}
                self.arrivals, self.too_many, self.sent, self.calls, self.refused = [], 0, [], [], []
                self.chats = []
            return stats

    fake = StampingTelegram(token=TOKEN, limits=limits).start()
    pipe.send((fake.base_url, os.getpid()))
    pipe.recv()
    fake.stop()


def cpu_seconds(server_pid: int) -> tuple[float, float, float]:
    """(now, CPU seconds the machine was busy, CPU seconds of this bench and its fake server)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _wait, irq, soft, steal = map(int, f.readline().split()[1:9])
    with open(f"/proc/{server_pid}/stat") as f:
        server = sum(map(int, f.read().rsplit(")", 1)[1].split()[11:13]))
    tick, own = os.sysconf("SC_CLK_TCK"), os.times()
    return (time.time(), (user + nice + system + irq + soft + steal) / tick,
            own.user + own.system + own.children_user + own.children_system + server / tick)


def measured(run, server_pid: int) -> dict:
    """`run()`'s row, with the share of CPU other processes took meanwhile (a shared machine)."""
    (t0, busy0, mine0), row = cpu_seconds(server_pid), run()
    t1, busy1, mine1 = cpu_seconds(server_pid)
    others = (busy1 - busy0 - (mine1 - mine0)) / ((t1 - t0) * (os.cpu_count() or 1))
    return {**row, "others_cpu_pct": round(max(0.0, 100 * others), 1)}


def stats(base_url: str) -> dict:
    return httpx.post(f"{base_url}/bot{TOKEN}/benchStats", timeout=30).json()["result"]


def metrics(base_url: str, due: datetime, expected: int) -> dict:
    """messages/s from the due instant to the last arrival, and over the middle 80 % of arrivals."""
    got = stats(base_url)
    late = sorted(a - due.timestamp() for a in got["arrivals"])
    chats = set(got["chats"])
    row = {"arrived": len(late), "expected": expected, "too_many": got["too_many"],
           "refused_for": dict(Counter(r.split()[0] for r in got["refused"])),
           "lost": expected - len(chats), "duplicates": len(got["chats"]) - len(chats), "loadavg": load()}
    row["complete"] = row["lost"] == 0 and row["duplicates"] == 0
    if len(late) < 10:
        return row
    cut, lo, hi = statistics.quantiles(late, n=100), len(late) // 10, len(late) * 9 // 10 - 1
    return {**row, "per_s": round(len(late) / late[-1], 1),
            "middle_per_s": round((hi - lo) / (late[hi] - late[lo]), 1) if late[hi] > late[lo] else None,
            "p50_s": round(cut[49], 3), "p99_s": round(cut[98], 3), "last_s": round(late[-1], 3)}


def burst_calendar(directory: Path, due: datetime) -> Path:
    """One duty for every team's leader, its single VALARM due at `due`."""
    start = (due + timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    (directory / "burst.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:bench\nBEGIN:VEVENT\nUID:burst@bench\nSUMMARY:Họp tổ\n"
        f"DTSTART:{start}\nDURATION:PT1H\nX-REMINDER-TO:leader\nBEGIN:VALARM\nACTION:DISPLAY\n"
        "DESCRIPTION:r\nTRIGGER:-PT10M\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n", encoding="utf-8")
    return directory


def burst_roster(teams: int) -> Roster:
    """Built in Python: quicker than writing and parsing a YAML roster of 10,000 teams."""
    roster = Roster(source=f"<{teams} teams>")
    roster.quiet = None  # real time: a run at night (Vietnam time) must not wait for the morning
    roster.communes["xa"] = Commune("xa", "Xã", roster.timezone, (), quiet=None)
    for n in range(teams):
        roster.people[f"l{n}"] = Person(f"l{n}", f"Trưởng {n}", "leader", "vi",
                                        {"telegram": str(FIRST_CHAT + n)}, f"t{n}", "xa")
        roster.teams[f"t{n}"] = Team(f"t{n}", f"Tổ {n}", "xa", "vi", roster.timezone, {}, (f"l{n}",), quiet=None)
    return roster


def counts(engine) -> dict[str, int]:
    """The burst's reminders by status (not the follow-ups planned after them, due hours later)."""
    with engine.connect() as conn:
        return dict(conn.execute(select(DeliveryRow.status, func.count())
                                 .where(DeliveryRow.kind.startswith("reminder-"))
                                 .group_by(DeliveryRow.status)).all())


def ours(base_url: str, n: int, threads: int, *, ahead: bool, limits: bool, profile: bool, paid: int = 0) -> dict:
    """Plan with one tick before the due instant; from it, tick and drain until nothing is left.
    `ahead`: the default 30 s lookahead claims everything at the planning tick and the broker
    holds the messages until due; otherwise (lookahead 0) the ticks at the due instant claim."""
    with tempfile.TemporaryDirectory(prefix="telegram-burst-") as tmp:
        due = (datetime.now(UTC) + timedelta(seconds=3 + n / 1500)).replace(microsecond=0)
        roster, url = burst_roster(n), f"sqlite:///{Path(tmp) / 'reminders.db'}"
        runtime = configure(Runtime(make_engine(url), Definitions(load_duties(burst_calendar(Path(tmp), due), roster), roster),
                                    {"telegram": paid_broadcast(TelegramAdapter, paid)(TOKEN, base_url)}, worker_id="bench"))
        worker = EmbeddedWorker(runtime, load_settings({}).replace(database_url=url), worker_threads=threads, rate_limits=limits,
                                **({} if ahead else {"lookahead": timedelta(0)}))
        with worker:
            planned = worker.scheduler.tick().plan.deliveries_upserted
            spare = due.timestamp() - time.time()  # negative: planning overran the due instant
            time.sleep(max(0.0, spare))
            profiler = LoopProfiler() if profile else None
            while True:
                worker.scheduler.tick()
                worker.drain()
                if not {"pending", "claimed"} & counts(runtime.engine).keys():
                    break
            if profiler:
                profiler.stop()
        statuses = counts(runtime.engine)
        runtime.engine.dispose()
    setup = f"{threads} threads, claimed {'30 s ahead' if ahead else 'at due'}" + (f", paid {paid}/s" if paid else "")
    return {"system": "ours", "setup": setup, "planned": planned, "statuses": statuses,
            "spare_before_due_s": round(spare, 2), **metrics(base_url, due, n)}


class LoopProfiler:
    """pyinstrument on dramatiq's event-loop thread, where every send actor runs, database
    calls included (the main thread only waits in drain())."""

    def __init__(self) -> None:
        from dramatiq.asyncio import get_event_loop_thread
        from pyinstrument import Profiler

        self.profiler, self.thread = Profiler(interval=0.001, async_mode="disabled"), get_event_loop_thread()
        self.thread.run_coroutine(self._on_loop(self.profiler.start))

    @staticmethod
    async def _on_loop(call) -> None:
        call()

    def stop(self) -> None:
        self.thread.run_coroutine(self._on_loop(self.profiler.stop))
        self.profiler.print()


async def jobqueue(base_url: str, n: int, pool: int | None, lead: float, pipe) -> dict[str, int]:
    """python-telegram-bot's Application, its JobQueue holding one run_once job per chat."""
    from apscheduler.events import EVENT_JOB_MISSED
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.error import TelegramError
    from telegram.ext import Application, ContextTypes

    builder = Application.builder().token(TOKEN).base_url(f"{base_url}/bot")
    app = (builder.connection_pool_size(pool) if pool else builder).build()
    outcome: Counter[str] = Counter()
    finished = asyncio.Event()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("✅ Đã xong", callback_data="done:ABCD"),
                                      InlineKeyboardButton("⏰ Nhắc lại sau", callback_data="snooze:ABCD")]])

    def count(what: str) -> None:
        outcome[what] += 1
        if outcome.total() >= n:
            finished.set()

    async def remind(context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await context.bot.send_message(context.job.chat_id, TEXT, reply_markup=keyboard)
            count("sent")
        except TelegramError:
            count("failed")

    async with app:
        # APScheduler drops a job that starts over misfire_grace_time (1 s) late: count those.
        app.job_queue.scheduler.add_listener(lambda _event: count("missed"), EVENT_JOB_MISSED)
        # The due instant is fixed here, once this process has started and imported everything:
        # computed before, a slow start-up on a loaded machine made every job "missed".
        due = (datetime.now(UTC) + timedelta(seconds=lead + n / 5000)).replace(microsecond=0)
        pipe.send(due)
        for i in range(n):
            app.job_queue.run_once(remind, when=due, chat_id=FIRST_CHAT + i)
        await app.start()
        await finished.wait()
        await app.stop()
    return dict(outcome)


def jobqueue_child(base_url: str, n: int, pool: int | None, lead: float, pipe) -> None:
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # misses are counted, not logged
    pipe.send(asyncio.run(jobqueue(base_url, n, pool, lead, pipe)))


def run_jobqueue(base_url: str, n: int, pool: int | None, cap: float) -> dict:
    """In its own process, so that a stalled run can be stopped `cap` seconds after due."""
    parent, child = multiprocessing.Pipe()
    process = SPAWN.Process(target=jobqueue_child, args=(base_url, n, pool, 2.0, child), daemon=True)
    process.start()
    if not parent.poll(120):
        fail("the JobQueue peer did not start within 120 s")
    due = parent.recv()
    outcome = parent.recv() if parent.poll(due.timestamp() + cap - time.time()) else None
    if outcome is None:
        process.terminate()
        time.sleep(1)
    process.join()
    return {"system": "PTB JobQueue", "setup": f"pool {pool or 'default (256)'}",
            "statuses": outcome or {"stopped after s": cap}, **metrics(base_url, due, n)}


def save(rows: list[dict], total: dict, n: int, limits: bool) -> None:
    """Every invocation is kept (on a shared machine one run is not a number)."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = results if "invocations" in results else {"invocations": []}
    results["invocations"].append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "chats": n,
                                   "limits": limits, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                                   "summary": total, "runs": rows})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def report(rows: list[dict], n: int, limits: bool) -> None:
    limit_text = "on (30/s per bot, 1/s per chat)" if limits else "off"
    table = Table(title=f"{n} reminders due at once to {n} chats, fake Telegram limits {limit_text}")
    columns = {"system": "system", "setup": "setup", "arrived": "arrived", "per_s": "msg/s",
               "middle_per_s": "middle 80 % msg/s", "p50_s": "p50 late s", "p99_s": "p99 late s",
               "too_many": "429s", "loadavg": "load 1/5/15", "others_cpu_pct": "others' CPU %"}
    for key, name in columns.items():
        table.add_column(name, justify="left" if key in ("system", "setup") else "right")
    for r in rows:
        cells = {**r, "arrived": f"{r['arrived']}/{r['expected']}"}
        table.add_row(*(str(cells.get(key, "-")) for key in columns))
    Console(width=max(Console().width, 175), stderr=True).print(table)


def summary(rows: list[dict], limit: int, limits: bool) -> dict:
    mine = [r for r in rows if r["system"] == "ours"]
    peers = [r for r in rows if r["system"] != "ours"]
    fractions = [round(r["per_s"] / limit, 3) for r in mine]
    total = {"runs": len(mine), "per_s": spread([r["per_s"] for r in mine])["median"],
             "per_s_spread": spread([r["per_s"] for r in mine]),
             "p99_late_s_spread": spread([r["p99_s"] for r in mine]),
             "violations": sum(r["too_many"] for r in mine), "violations_per_run": [r["too_many"] for r in mine],
             "lost": max(r["lost"] for r in mine), "duplicates": max(r["duplicates"] for r in mine),
             "complete": all(r["complete"] for r in mine),
             "loadavg_1min": spread([r["loadavg"][0] for r in rows]), "cpus": os.cpu_count()}
    if limits:
        total |= {"limit_per_s": limit, "fraction_of_limit": spread(fractions)["median"],
                  "fraction_of_limit_spread": spread(fractions)}
    if peers:
        total |= {"peer": peers[0]["system"] + ", " + peers[0]["setup"],
                  "peer_per_s": spread([r["per_s"] for r in peers])["median"],
                  "peer_per_s_spread": spread([r["per_s"] for r in peers]),
                  "peer_p99_late_s_spread": spread([r["p99_s"] for r in peers])}
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, help="default 10000, or 1500 with --limits")
    parser.add_argument("--limits", action="store_true", help="the fake enforces Telegram's limits; ours only")
    parser.add_argument("--paid-broadcast", type=int, default=0, help="messages/s with allow_paid_broadcast")
    parser.add_argument("--threads", type=int, default=8, help="our worker threads")
    parser.add_argument("--ahead", action="store_true", help="claimed 30 s ahead, held by the broker")
    parser.add_argument("--pool", type=int, default=0, help="the JobQueue peer's pool size (0: its default)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (A/B alternating)")
    parser.add_argument("--cap", type=float, default=120, help="seconds after due to stop a PTB run")
    parser.add_argument("--profile", action="store_true", help="pyinstrument our measured sections")
    parser.add_argument("--json", action="store_true", help="print one JSON summary last on stdout")
    args = parser.parse_args()
    # SIGTERM and SIGHUP end the bench like Ctrl-C: multiprocessing then stops its daemon children.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    n = args.chats or (1500 if args.limits else 10_000)
    limit = args.paid_broadcast or 30
    parent, child = multiprocessing.Pipe()
    server = SPAWN.Process(target=serve, args=(args.limits, child), daemon=True)
    server.start()
    base_url, server_pid = parent.recv()
    rows = []
    try:
        for _ in range(args.repeat):
            pair = [lambda: ours(base_url, n, args.threads, ahead=args.ahead, limits=args.limits,
                                 profile=args.profile, paid=args.paid_broadcast)]
            if not args.limits:  # the peer has no limiter of its own: only without limits
                pair.append(lambda: run_jobqueue(base_url, n, args.pool or None, args.cap))
            for run in pair:
                rows.append(measured(run, server_pid))
                row = rows[-1]
                print({k: row.get(k) for k in ("system", "arrived", "per_s", "p99_s", "too_many", "loadavg")},
                      file=sys.stderr, flush=True)
                if not row["complete"] or "per_s" not in row:
                    fail(f"{row['system']}: {row['lost']} of {n} chats got nothing, {row['duplicates']} "
                         f"got a message twice ({row.get('statuses')})")
    finally:
        parent.send("stop")
        server.join(10)
    report(rows, n, args.limits)
    total = summary(rows, limit, args.limits)
    save(rows, total, n, args.limits)
    print(json.dumps(total) if args.json else json.dumps(total, indent=2))


if __name__ == "__main__":
    main()

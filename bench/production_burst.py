"""End-to-end burst on the production stack: PostgreSQL + Redis + `reminders scheduler` +
`dramatiq reminders.jobs.worker`, the console adapter appending to a file (a chat API with
zero latency).

Why: issue 5's targets for the separate-process deployment -- >= 1,000 deliveries/s, p99
lateness < 10 s for 10,000 deliveries due in the same minute, worker RSS < 150 MB -- and
where the time goes. N deliveries (N/5 leaders x 5 alarms due within 4 s; more duties past
2,000 teams, keeping the roster file small) are planned in a fresh database; the
clock runs from the first due instant until all N are `sent`. Lateness is sent_at - due_at
per row; RSS is the VmHWM of each process; CPU is counted from 2 s before the due instant.

    python bench/production_burst.py --runs 10000:1:8 10000:2:8 100000:2:8 [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import psycopg
import redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

from reminders import load_duties, load_roster, plan
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow

RESULTS = Path(__file__).resolve().parent / "results" / "production_burst.json"
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
ALARMS, MAX_TEAMS = 5, 2000
WORKER_PARTS = ("take_batch", "write_records", "resolve_target", "render_delivery", "ConsoleAdapter.send", "acquire",
                "deliver_batch")
DRAMATIQ_PARTS = ("EventLoopThread.run", "ConsumerThread.run", "WorkerThread.run")
SCHEDULER_PARTS = ("Planner.plan", "mark_missed", "claim_due", "enqueue", "dispatch", "hold", "Event.wait")
XACTS = text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
BACKENDS = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")


def burst(directory: Path, n: int, due: datetime) -> Path:
    """`duties` events x `teams` leaders x 5 alarms = n deliveries, due at due-4s .. due."""
    teams = min(MAX_TEAMS, n // ALARMS)
    duties = n // (teams * ALARMS)
    assert duties * teams * ALARMS == n, f"N must be a multiple of {teams * ALARMS}"
    start = (due + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    valarms = "".join(f"BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:n\nTRIGGER:-PT{60 + k}S\nEND:VALARM\n"
                      for k in range(ALARMS))
    events = "".join(f"BEGIN:VEVENT\nUID:burst-{d}@bench\nSUMMARY:Họp tổ {d}\nDTSTART:{start}\nDURATION:PT2H\n"
                     f"X-REMINDER-TO:leader\n{valarms}END:VEVENT\n" for d in range(duties))
    (directory / "burst.ics").write_text(f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:bench\n{events}END:VCALENDAR\n",
                                         encoding="utf-8")
    # Real time: no quiet hours, or a run at night (Vietnam time) would wait for the morning.
    lines = ["quiet_hours: off", "communes:", "  - {id: xa, name: Xã}", "teams:"]
    lines += [f"  - {{id: t{k}, name: Tổ {k}, commune: xa, members: [{{id: l{k}, name: Trưởng {k}, role: leader}}]}}"
              for k in range(teams)]
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


class Watch:
    """Peak RSS (VmHWM, MB) and CPU seconds of processes (and their children), sampled."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[float, float]] = {}
        self.base: dict[int, float] = {}

    def sample(self, pids: list[int], tree: bool = True) -> None:
        for pid in pids:
            try:
                for proc in [psutil.Process(pid), *(psutil.Process(pid).children(recursive=True) if tree else [])]:
                    status = Path(f"/proc/{proc.pid}/status").read_text()
                    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
                    cpu = sum(proc.cpu_times()[:2])
                    self.seen[proc.pid] = (max(self.seen.get(proc.pid, (0.0,))[0], hwm / 1024), cpu)
            except (psutil.NoSuchProcess, OSError, StopIteration):
                continue  # exited meanwhile; what was seen is kept

    def rss(self, *, only: int | None = None, but: int | None = None) -> float:
        return round(max((rss for pid, (rss, _) in self.seen.items() if pid != but and only in (None, pid)),
                         default=0.0), 1)

    def cpu(self) -> float:
        return sum(cpu - self.base.get(pid, 0.0) for pid, (_, cpu) in self.seen.items())


def summarize(raw: Path, root: str, parts: tuple[str, ...]) -> dict[str, float]:
    """% of the samples of threads running `root` (all if ""), by the first of `parts` on the
    stack, with waits on a PostgreSQL round trip (by what they wait for) or on Redis split out."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, n = line.rpartition(" ")
        names = [frame.split(" (")[0] for frame in stack.split(";")]
        if root and root not in names:
            continue
        part = next((p for p in parts if p in names), "other")
        if "Connection.wait" in names:
            what = next((w for w in ("commit", "ping", "rollback") if any(w in x.lower() for x in names)), "query")
            part += f" / PG wait: {what}"
        elif any(x in ("SocketBuffer._read_from_socket", "AbstractConnection.send_packed_command") for x in names):
            part += " / Redis I/O"
        counts[part] += int(n)
    total = sum(counts.values()) or 1
    return {key: round(100 * value / total, 1) for key, value in counts.most_common()}


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def run(n: int, processes: int, threads: int, profile: Path | None, timeout: float) -> dict:
    """One burst in a fresh database, dropped afterwards with every process started."""
    with contextlib.ExitStack() as cleanup:
        name = f"bench_burst_{uuid.uuid4().hex[:10]}"
        admin(f'CREATE DATABASE "{name}"')
        cleanup.callback(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="production-burst-")))
        procs: list[subprocess.Popen] = []
        cleanup.callback(lambda: [stop(proc) for proc in reversed(procs)])
        return _run(tmp, ADMIN.rsplit("/", 1)[0] + "/" + name, n, processes, threads, profile, timeout, procs)


def _run(tmp: Path, url: str, n: int, processes: int, threads: int, profile: Path | None,
         timeout: float, procs: list[subprocess.Popen]) -> dict:
    due = (datetime.now(UTC) + timedelta(seconds=15 + n / 10_000)).replace(microsecond=0)
    calendars, out = burst(tmp, n, due), tmp / "sent.txt"
    engine = make_engine(url)
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, datetime.now(UTC))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeliveryRow)).scalar() == n
    namespace, client = f"bench-{uuid.uuid4().hex[:8]}", redis.Redis.from_url(REDIS)
    env = {**os.environ, "REMINDERS_DATABASE_URL": url, "REMINDERS_REDIS_URL": REDIS,
           "REMINDERS_REDIS_NAMESPACE": namespace, "REMINDERS_ADAPTERS": "console",
           "REMINDERS_CONSOLE_FILE": str(out), "REMINDERS_CALENDARS": str(calendars)}

    def start(*args: str, log: str) -> subprocess.Popen:
        with open(tmp / log, "w") as stderr:
            procs.append(subprocess.Popen(list(args), env=env, cwd=tmp, start_new_session=True,
                                          stdout=stderr, stderr=subprocess.STDOUT))
        return procs[-1]

    scheduler = start(sys.executable, "-m", "reminders.cli", "scheduler", log="scheduler.log")
    worker = start(sys.executable, "-m", "dramatiq", "reminders.jobs.worker", "--processes", str(processes),
                   "--threads", str(threads), log="worker.log")
    watches = {"worker": Watch(), "scheduler": Watch(), "postgres": Watch(), "redis": Watch()}
    redis_pid = client.info("server")["process_id"]  # shared: counts others' work there too

    def sample() -> Counter[str]:
        watches["worker"].sample([worker.pid])
        watches["scheduler"].sample([scheduler.pid])
        watches["redis"].sample([redis_pid], tree=False)
        with engine.connect() as conn:
            watches["postgres"].sample(list(conn.execute(BACKENDS).scalars()), tree=False)
            # The burst's own reminders; the follow-ups the scheduler plans after them are due hours later.
            return Counter(dict(conn.execute(select(DeliveryRow.status, func.count())
                                             .where(DeliveryRow.kind.startswith("reminder-"))
                                             .group_by(DeliveryRow.status)).all()))

    time.sleep(max(0.0, due.timestamp() - time.time() - 2))  # after start-up (imports, first claims)
    spies = [start(str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--subprocesses",
                   "--threads", "--nonblocking", "--format", "raw", "--gil" if role == "worker-gil" else "--idle",
                   "-o", str(profile.with_suffix(f".{role}.txt")), log=f"py-spy-{role}.log")
             for pid, role in ((worker.pid, "worker"), (worker.pid, "worker-gil"), (scheduler.pid, "scheduler"))
             if profile]
    statuses = sample()
    for watch in watches.values():
        watch.base = {pid: cpu for pid, (_, cpu) in watch.seen.items()}
    with engine.connect() as conn:
        xacts_before = conn.execute(XACTS).scalar()
    machine_before, me_before, wall = psutil.cpu_times(), sum(psutil.Process().cpu_times()[:2]), time.time()
    while time.time() < due.timestamp() + timeout:
        statuses = sample()
        if statuses["pending"] + statuses["claimed"] == 0 or worker.poll() is not None:
            break
        time.sleep(0.5)
    machine, me, wall = psutil.cpu_times(), sum(psutil.Process().cpu_times()[:2]), time.time() - wall
    busy = sum(machine[:3]) - sum(machine_before[:3])  # user, nice, system
    others = busy - sum(w.cpu() for w in watches.values()) - (me - me_before)
    for proc in (*spies, worker, scheduler):
        stop(proc, signal.SIGINT if proc in spies else signal.SIGTERM)
    engine.dispose()
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    time.sleep(1.5)  # backends flush their statistics at most once a second
    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.due_at, DeliveryRow.sent_at)
                            .where(DeliveryRow.status == "sent")).all()
        xacts = conn.execute(XACTS).scalar() - xacts_before
    engine.dispose()
    if os.environ.get("BENCH_SHOW_SCHEDULER_LOG"):
        print("\n".join(line for line in (tmp / "scheduler.log").read_text(encoding="utf-8").splitlines()
                        if "reminders.schedule.scheduler" in line))
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    late = sorted((s - d).total_seconds() for d, s in rows)
    first_due = min((d for d, _ in rows), default=due.replace(tzinfo=None))
    sent_at = sorted((s - first_due).total_seconds() for _, s in rows)
    cut = statistics.quantiles(late, n=100) if len(late) > 1 else [0.0] * 99
    lo, hi = len(sent_at) // 10, max(len(sent_at) * 9 // 10 - 1, 0)
    return {"n": n, "processes": processes, "threads": threads, "profiled": bool(profile),
            "complete": len(rows) == n, "sent": len(rows), "statuses": dict(statuses),
            "messages_written": sum(1 for line in lines if line.startswith("── ")),  # duplicates show here
            "per_s": round(len(rows) / sent_at[-1], 1) if sent_at else None,
            "sustained_per_s": round((hi - lo) / (sent_at[hi] - sent_at[lo]), 1) if hi > lo else None,
            "p50_late_s": round(cut[49], 2), "p99_late_s": round(cut[98], 2),
            "max_late_s": round(late[-1], 2) if late else None,
            "last_sent_s": round(sent_at[-1], 2) if sent_at else None,
            "worker_rss_mb": watches["worker"].rss(but=worker.pid),  # the largest worker process
            "worker_supervisor_rss_mb": watches["worker"].rss(only=worker.pid),
            "scheduler_rss_mb": watches["scheduler"].rss(),
            "cpu_ms_per_delivery": {role: round(1000 * w.cpu() / n, 2) for role, w in watches.items()},
            "other_processes_cpu_pct": round(100 * others / (wall * psutil.cpu_count()), 1),
            "pg_transactions_per_delivery": round(xacts / n, 2),
            "profile": {title: summarize(profile.with_suffix(f".{role}.txt"), root, parts) for title, role, root, parts in (
                ("worker event loop, wall clock %", "worker", "EventLoopThread.run", WORKER_PARTS),
                ("worker, all threads, holding the GIL %", "worker-gil", "", WORKER_PARTS + DRAMATIQ_PARTS),
                ("scheduler main thread, wall clock %", "scheduler", "scheduler", SCHEDULER_PARTS))} if profile else {}}


def report(rows: list[dict]) -> None:
    table = Table(title="Production burst: PostgreSQL + Redis, console adapter to a file")
    columns = {"N": "n", "proc": "processes", "thr": "threads", "sent": "sent", "deliv/s": "per_s",
               "middle/s": "sustained_per_s", "p50 late s": "p50_late_s", "p99 late s": "p99_late_s",
               "worker MB": "worker_rss_mb", "sup. MB": "worker_supervisor_rss_mb", "sched MB": "scheduler_rss_mb",
               "CPU ms/deliv": "cpu_ms_per_delivery", "PG xact/deliv": "pg_transactions_per_delivery",
               "others' CPU %": "other_processes_cpu_pct", "profiled": "profiled"}
    for title in columns:
        table.add_column(title, justify="right")
    for r in rows:
        table.add_row(*(" ".join(f"{k[0]}:{v}" for k, v in r[key].items()) if isinstance(r[key], dict)
                        else str(r[key]) for key in columns.values()))
    Console(width=max(Console().width, 160)).print(table)
    for r in rows:
        for thread, shares in r["profile"].items():
            print(f"\npy-spy, {r['n']} x {r['processes']} processes, {thread}:")
            print("\n".join(f"  {share:5.1f}  {part}" for part, share in shares.items() if share >= 0.5))
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for r in rows:  # every repetition is kept: on a shared machine one run is not a number
        key = f"{r['n']}x{r['processes']}p{r['threads']}t" + ("-profiled" if r["profiled"] else "")
        previous["runs"].setdefault(key, []).append(
            {**r, "at": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()})
    RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["10000:1:8", "10000:2:8"], help="N:processes:threads")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker and scheduler (raw stacks)")
    parser.add_argument("--timeout", type=float, default=330, help="seconds after the due instant")
    args = parser.parse_args()
    (RESULTS.parent / "profiles").mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in args.runs:
        n, processes, threads = (int(v) for v in spec.split(":"))
        profile = RESULTS.parent / "profiles" / f"production_burst-{n}x{processes}p" if args.profile else None
        rows.append(run(n, processes, threads, profile, args.timeout))
        print(rows[-1], flush=True)
    report(rows)


if __name__ == "__main__":
    main()

"""End-to-end burst on the production stack: PostgreSQL + Redis + `reminders scheduler` +
`dramatiq reminders.jobs.worker`, the console adapter appending to a file (a chat API with
zero latency), against the machine's floor measured in the same invocation.

Why: issue 16's targets for the separate-process deployment -- >= 0.5 of the floor for
10,000 deliveries due at the same instant, p99 lateness < 2 s, 0 lost, 0 duplicates, RSS
< 150 MB per process -- and where the time goes. Each repetition runs ours, then the floor
(A/B alternating), each on freshly planned rows in the given database (its schema is reset;
no database is created or dropped):

- ours: N deliveries (teams x duties, one alarm each, all due at one instant) planned
  while the scheduler and worker start; the clock runs from the due instant until the last
  `sent_at`. The run fails (exit 1, no rate) if the worker was not ready a second before
  it may take its first batch (jobs.send.PREPARE_AHEAD before the due instant), or if anything is left unsent, lost or sent twice;
- floor: one connection claiming 100 at a time (`UPDATE ... RETURNING`, as the dispatcher's
  claim) and marking them sent in one statement, with Redis carrying the 100 as one message:
  what PostgreSQL and Redis cost with nothing of ours in between.

CPU per delivery is counted per process (/proc), the load average is kept beside each run:
on a shared machine wall-clock rates vary, CPU milliseconds much less.

    python bench/production_burst.py --deliveries 10000 [--repeat 3] [--processes 2] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import STDOUT

import psutil
import psycopg
import redis
from children import Children, cpu_of, fail, load, spread, stop, wait_until
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

from reminders import load_duties, load_roster, plan
from reminders.jobs.send import PREPARE_AHEAD
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow

RESULTS = Path(__file__).resolve().parent / "results" / "production_burst.json"
DATABASE = os.environ.get("REMINDERS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("REMINDERS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MAX_TEAMS = 2000
WORKER_PARTS = ("take_batch", "write_records", "resolve_target", "render_delivery", "ConsoleAdapter.send", "acquire",
                "deliver_batch")
DRAMATIQ_PARTS = ("EventLoopThread.run", "ConsumerThread.run", "WorkerThread.run")
SCHEDULER_PARTS = ("Planner.plan", "mark_missed", "claim_due", "enqueue", "dispatch", "hold", "Event.wait")
BACKENDS = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
FLOOR_CLAIM = """
UPDATE delivery SET status = 'claimed', claimed_by = 'floor', lease_until = %(lease)s
WHERE id IN (SELECT id FROM delivery WHERE status = 'pending' AND due_at <= %(now)s
             ORDER BY due_at LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING id"""
FLOOR_SENT = "UPDATE delivery SET status = 'sent', sent_at = %(now)s, claimed_by = NULL WHERE id = ANY(%(ids)s)"


def burst(directory: Path, n: int, due: datetime) -> Path:
    """`duties` events x `teams` leaders, each event's one VALARM due at `due`."""
    teams = min(MAX_TEAMS, n)
    duties = n // teams
    assert duties * teams == n, f"N must be a multiple of {teams}"
    start = (due + timedelta(minutes=1)).strftime("%Y%m%dT%H%M%SZ")
    events = "".join(f"BEGIN:VEVENT\nUID:burst-{d}@bench\nSUMMARY:Họp tổ {d}\nDTSTART:{start}\nDURATION:PT2H\n"
                     "X-REMINDER-TO:leader\nBEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:n\nTRIGGER:-PT60S\n"
                     "END:VALARM\nEND:VEVENT\n" for d in range(duties))
    (directory / "burst.ics").write_text(f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:bench\n{events}END:VCALENDAR\n",
                                         encoding="utf-8")
    # Real time: no quiet hours, or a run at night (Vietnam time) would wait for the morning.
    lines = ["quiet_hours: off", "communes:", "  - {id: xa, name: Xã}", "teams:"]
    lines += [f"  - {{id: t{k}, name: Tổ {k}, commune: xa, members: [{{id: l{k}, name: Trưởng {k}, role: leader}}]}}"
              for k in range(teams)]
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def reset(url: str) -> None:
    """Empty the given database's schema (the bench's own database: nothing else is touched)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def planned(url: str, directory: Path, n: int, due: datetime) -> None:
    """A fresh schema holding the N deliveries due at `due`."""
    reset(url)
    engine = make_engine(url)
    calendars = burst(directory, n, due)
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, datetime.now(UTC))
    with engine.connect() as conn:
        got = conn.execute(select(func.count()).select_from(DeliveryRow)).scalar()
    engine.dispose()
    if got != n:
        fail(f"planned {got} deliveries, not {n}")


def backends(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(BACKENDS.text)]


def lateness(url: str, due: datetime) -> tuple[list[float], float | None]:
    """Per sent row, sent_at - due_at (s), and the last sent_at relative to the due instant."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT due_at, sent_at FROM delivery WHERE status = 'sent' "
                            "AND kind LIKE 'reminder-%%'").fetchall()
    rows = [(aware(d), aware(s)) for d, s in rows]
    late = sorted((s - d).total_seconds() for d, s in rows)
    last = max((s for _, s in rows), default=None)
    return late, ((last - due).total_seconds() if last else None)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def quantiles(late: list[float]) -> tuple[float, float]:
    cut = statistics.quantiles(late, n=100) if len(late) > 1 else [late[0] if late else 0.0] * 99
    return round(cut[49], 3), round(cut[98], 3)


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




def ours(kids: Children, url: str, n: int, processes: int, threads: int, lead: float, timeout: float,
         profile: Path | None) -> dict:
    """One burst through the scheduler and dramatiq worker; fails unless all N were sent once."""
    tmp = Path(tempfile.mkdtemp(prefix="production-burst-"))
    due = (datetime.now(UTC) + timedelta(seconds=lead + n / 5_000)).replace(microsecond=0)
    planned(url, tmp, n, due)
    out = tmp / "sent.txt"
    namespace, client = f"bench-{uuid.uuid4().hex[:8]}", redis.Redis.from_url(REDIS)
    env = {**os.environ, "REMINDERS_DATABASE_URL": url, "REMINDERS_REDIS_URL": REDIS,
           "REMINDERS_REDIS_NAMESPACE": namespace, "REMINDERS_ADAPTERS": "console",
           "REMINDERS_CONSOLE_FILE": str(out), "REMINDERS_CALENDARS": str(tmp)}
    procs = []

    def start(*args: str, log: str):
        with open(tmp / log, "w") as stderr:
            procs.append(kids.start(args, env=env, cwd=tmp, stdout=stderr, stderr=STDOUT))
        return procs[-1]

    scheduler = start(sys.executable, "-m", "reminders.cli", "scheduler", log="scheduler.log")
    worker = start(sys.executable, "-m", "dramatiq", "reminders.jobs.worker", "--processes", str(processes),
                   "--threads", str(threads), log="worker.log")
    watches = {"worker": Watch(), "scheduler": Watch(), "postgres": Watch(), "redis": Watch()}
    redis_pid = client.info("server")["process_id"]  # shared: counts others' work there too
    try:
        # Each worker process's consumers beat in the broker's heartbeat set once they fetch.
        while client.zcard(f"{namespace}:__heartbeats__") < processes:
            if time.time() > due.timestamp() - PREPARE_AHEAD.total_seconds() - 1 or worker.poll() is not None:
                fail(f"the worker was not ready a second before it could take its first batch (log: {tmp / 'worker.log'}); "
                     "start-up would count in the rate: raise --lead")
            time.sleep(0.1)
        ready_s = round(due.timestamp() - time.time(), 2)
        spies = [start(str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--subprocesses",
                       "--threads", "--nonblocking", "--format", "raw", "--gil" if role == "worker-gil" else "--idle",
                       "-o", str(profile.with_suffix(f".{role}.txt")), log=f"py-spy-{role}.log")
                 for pid, role in ((worker.pid, "worker"), (worker.pid, "worker-gil"), (scheduler.pid, "scheduler"))
                 if profile]

        def sample() -> Counter[str]:
            watches["worker"].sample([worker.pid])
            watches["scheduler"].sample([scheduler.pid])
            watches["redis"].sample([redis_pid], tree=False)
            watches["postgres"].sample(backends(url), tree=False)
            with psycopg.connect(url, autocommit=True) as conn:
                return Counter(dict(conn.execute("SELECT status, count(*) FROM delivery WHERE kind LIKE "
                                                 "'reminder-%%' GROUP BY status").fetchall()))

        # CPU counts from a second before the worker may take its first batch (it takes and
        # renders them PREPARE_AHEAD before the due instant: that work is part of the cost).
        # The scheduler's claims, made within its lookahead (30 s) before, are not counted.
        wait_until(due.timestamp() - PREPARE_AHEAD.total_seconds() - 1)
        statuses = sample()
        for watch in watches.values():
            watch.base = {pid: cpu for pid, (_, cpu) in watch.seen.items()}
        loadavg = load()
        while time.time() < due.timestamp() + timeout:
            statuses = sample()
            if statuses["pending"] + statuses["claimed"] == 0 or worker.poll() is not None:
                break
            time.sleep(0.25)
        statuses = sample()
        for proc in (*spies, worker, scheduler):
            stop(proc, signal.SIGINT if proc in spies else signal.SIGTERM)
    finally:
        for proc in procs:
            stop(proc, signal.SIGKILL, 5)
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
    late, last = lateness(url, due)
    written = Counter(line for line in (out.read_text(encoding="utf-8").splitlines() if out.exists() else [])
                      if line.startswith("── "))
    row = {"system": "ours", "n": n, "processes": processes, "threads": threads, "profiled": bool(profile),
           "sent": len(late), "statuses": dict(statuses), "messages_written": written.total(),
           "lost": n - len(late), "duplicates": max(0, written.total() - len(late)), "loadavg": loadavg,
           "ready_before_due_s": ready_s, "worker_rss_mb": watches["worker"].rss(but=worker.pid),
           "worker_supervisor_rss_mb": watches["worker"].rss(only=worker.pid),
           "scheduler_rss_mb": watches["scheduler"].rss(),
           "cpu_ms_per_delivery": {role: round(1000 * w.cpu() / n, 3) for role, w in watches.items()}}
    row["complete"] = row["lost"] == 0 and row["duplicates"] == 0 and written.total() == n
    if not row["complete"]:
        print(json.dumps(row), file=sys.stderr)
        fail(f"ours: {row['lost']} of {n} not sent, {row['duplicates']} sent twice (statuses {dict(statuses)}, "
             f"logs in {tmp})")
    p50, p99 = quantiles(late)
    row |= {"per_s": round(n / last, 1), "last_sent_s": round(last, 3), "p50_late_s": p50, "p99_late_s": p99,
            "max_late_s": round(late[-1], 3)}
    if profile:
        row["profile"] = {title: summarize(profile.with_suffix(f".{role}.txt"), root, parts) for title, role, root, parts in (
            ("worker event loop, wall clock %", "worker", "EventLoopThread.run", WORKER_PARTS),
            ("worker, all threads, holding the GIL %", "worker-gil", "", WORKER_PARTS + DRAMATIQ_PARTS),
            ("scheduler main thread, wall clock %", "scheduler", "scheduler", SCHEDULER_PARTS))}
    return row


def floor(url: str, n: int, lead: float, timeout: float) -> dict:
    """The same N rows claimed 100 at a time and marked sent on one connection, each batch
    carried through Redis as one message: the least work any design of ours must do."""
    tmp = Path(tempfile.mkdtemp(prefix="production-floor-"))
    due = (datetime.now(UTC) + timedelta(seconds=lead / 2 + n / 5_000)).replace(microsecond=0)
    planned(url, tmp, n, due)
    client, queue = redis.Redis.from_url(REDIS), f"bench-floor-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        backend = conn.info.backend_pid
        wait_until(due.timestamp())
        loadavg, cpu0, pg0 = load(), sum(psutil.Process().cpu_times()[:2]), cpu_of(backend)
        sent = 0
        while sent < n and time.time() < due.timestamp() + timeout:
            now = datetime.now(UTC)
            with conn.transaction():
                ids = [r[0] for r in conn.execute(FLOOR_CLAIM, {"now": now, "lease": now + timedelta(minutes=5)})]
            if not ids:
                time.sleep(0.01)
                continue
            client.lpush(queue, json.dumps(ids))
            _, message = client.brpop([queue])
            batch = json.loads(message)
            with conn.transaction():
                conn.execute(FLOOR_SENT, {"now": datetime.now(UTC), "ids": batch})
            sent += len(batch)
        cpu, pg = sum(psutil.Process().cpu_times()[:2]) - cpu0, cpu_of(backend) - pg0
    late, last = lateness(url, due)
    if len(late) != n or last is None:
        fail(f"floor: {n - len(late)} of {n} not marked sent")
    p50, p99 = quantiles(late)
    return {"system": "floor", "n": n, "sent": len(late), "loadavg": loadavg, "per_s": round(n / last, 1),
            "p50_late_s": p50, "p99_late_s": p99,
            "cpu_ms_per_delivery": {"bench": round(1000 * cpu / n, 3), "postgres": round(1000 * pg / n, 3)}}


def summary(rows: list[dict]) -> dict:
    mine, floors = [r for r in rows if r["system"] == "ours"], [r for r in rows if r["system"] == "floor"]
    ratios = [a["per_s"] / b["per_s"] for a, b in zip(mine, floors, strict=True)]
    roles = mine[0]["cpu_ms_per_delivery"].keys()
    return {"deliveries": mine[0]["n"], "repeats": len(mine),
            "per_s": spread([r["per_s"] for r in mine])["median"],
            "floor_per_s": spread([r["per_s"] for r in floors])["median"],
            "fraction_of_floor": spread(ratios)["median"],
            "p99_late_s": spread([r["p99_late_s"] for r in mine])["median"],
            "lost": max(r["lost"] for r in mine), "duplicates": max(r["duplicates"] for r in mine),
            "complete": all(r["complete"] for r in mine),
            "worker_rss_mb": max(r["worker_rss_mb"] for r in mine),
            "scheduler_rss_mb": max(r["scheduler_rss_mb"] for r in mine),
            "per_s_spread": spread([r["per_s"] for r in mine]),
            "floor_per_s_spread": spread([r["per_s"] for r in floors]),
            "fraction_of_floor_spread": spread(ratios),
            "p99_late_s_spread": spread([r["p99_late_s"] for r in mine]),
            "floor_p99_late_s_spread": spread([r["p99_late_s"] for r in floors]),
            "cpu_ms_per_delivery": {role: spread([r["cpu_ms_per_delivery"][role] for r in mine])["median"]
                                    for role in roles},
            "floor_cpu_ms_per_delivery": {role: spread([r["cpu_ms_per_delivery"][role] for r in floors])["median"]
                                          for role in ("bench", "postgres")},
            "loadavg_1min": spread([r["loadavg"][0] for r in rows]), "cpus": os.cpu_count()}


def report(rows: list[dict], total: dict) -> None:
    table = Table(title="Production burst (PostgreSQL + Redis, console adapter to a file) vs the floor")
    columns = {"system": "system", "deliv/s": "per_s", "p50 late s": "p50_late_s", "p99 late s": "p99_late_s",
               "worker MB": "worker_rss_mb", "sched MB": "scheduler_rss_mb", "CPU ms/deliv": "cpu_ms_per_delivery",
               "load 1/5/15": "loadavg"}
    for title in columns:
        table.add_column(title, justify="right")
    for r in rows:
        table.add_row(*(" ".join(f"{k[:5]}:{v}" for k, v in r[key].items()) if isinstance(r.get(key), dict)
                        else str(r.get(key, "-")) for key in columns.values()))
    Console(width=max(Console().width, 160), stderr=True).print(table)
    for r in rows:
        for thread, shares in r.get("profile", {}).items():
            print(f"\npy-spy, {r['n']} x {r['processes']} processes, {thread}:", file=sys.stderr)
            print("\n".join(f"  {share:5.1f}  {part}" for part, share in shares.items() if share >= 0.5),
                  file=sys.stderr)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous = previous if "invocations" in previous else {"invocations": []}
    previous["invocations"].append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "summary": total,
                                    "runs": rows})
    RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="A/B pairs (ours, then the floor)")
    parser.add_argument("--processes", type=int, default=2, help="dramatiq worker processes (the Procfile's 2)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default=DATABASE, help="its schema is reset; default "
                        "$REMINDERS_TEST_POSTGRES_URL")
    parser.add_argument("--lead", type=float, default=30, help="seconds from start-up to the due instant")
    parser.add_argument("--timeout", type=float, default=330, help="seconds after the due instant")
    parser.add_argument("--no-floor", action="store_true", help="ours only (a profile, say)")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker and scheduler (raw stacks)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary last on stdout")
    args = parser.parse_args()
    kids = Children()
    (RESULTS.parent / "profiles").mkdir(parents=True, exist_ok=True)
    profile = RESULTS.parent / "profiles" / f"production_burst-{args.deliveries}" if args.profile else None
    rows = []
    for _ in range(args.repeat):
        rows.append(ours(kids, args.database_url, args.deliveries, args.processes, args.threads, args.lead,
                         args.timeout, profile))
        print({k: rows[-1].get(k) for k in ("system", "per_s", "p99_late_s", "cpu_ms_per_delivery", "loadavg")},
              file=sys.stderr, flush=True)
        if not args.no_floor:
            rows.append(floor(args.database_url, args.deliveries, args.lead, args.timeout))
            print({k: rows[-1].get(k) for k in ("system", "per_s", "p99_late_s", "cpu_ms_per_delivery", "loadavg")},
                  file=sys.stderr, flush=True)
    total = summary(rows) if not args.no_floor else {"per_s": spread([r["per_s"] for r in rows])["median"]}
    report(rows, total)
    if args.json:
        print(json.dumps(total))
    else:
        print(json.dumps(total, indent=2))


if __name__ == "__main__":
    main()

"""Plan the shipped duties for a whole province of synthetic teams.

Why: the planner fans every duty out to every team, so a province (thousands of teams,
each with a leader and members) is where its cost shows. This times the first full plan
over a 14-day horizon that covers the October campaign, then a tick a minute later (which
should be nearly free) and a tick a day later (the horizon moves on a day), and reports
row counts and peak memory. Targets (issue): full plan < 30 s, tick < 0.5 s, < 500 MB.

The bare baseline, measured in the same invocation (A/B alternating, --repeat runs): the
same duties expanded with recurring-ical-events over the same window, fanned out in memory to
every member of every team for every alarm, and inserted with the driver's plain
`executemany` into a table of its own: no idempotence, no quiet hours, no occurrences table.
The database given is reset (its schema dropped) before each run; none is created.

    python bench/plan_province.py [--teams 5000] [--repeat 3] [--database-url postgresql://...] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import recurring_ical_events
from children import load, spread
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reminders.definitions.audience import recipients
from reminders.definitions.duties import load_duties
from reminders.definitions.roster import Commune, Person, Roster, Team
from reminders.schedule.planner import Planner
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow, OccurrenceRow

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "plan_province.json"
TEAMS_PER_COMMUNE = 40
NOW = datetime(2024, 9, 28, 0, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
# The first plan covers up to now + horizon + EXTEND_STEP (a day), so the +1 day tick is
# still unchanged; +1 day 1 min extends over an empty day (13 Oct), +2 days 1 h over 14 Oct,
# when the campaign report's check-in goes to every leader: a tick that writes rows.
STEPS = {"full plan": (timedelta(0), 30.0), "tick +1 min": (timedelta(minutes=1), 0.5),
         "tick +1 day": (timedelta(days=1), 0.5),
         "tick +1 day 1 min": (timedelta(days=1, minutes=1), 0.5),
         "tick +2 days 1 h": (timedelta(days=2, hours=1), 0.5)}
MAX_RSS_MB = 500.0
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đỗ", "Bùi", "Đặng", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Quốc", "Đức", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hải", "Lan", "Mai", "Nam", "Phương", "Quân"]


def synthetic_roster(teams: int) -> Roster:
    """`teams` teams of a leader and two members, in communes of 40; every 5th team has
    no group chat, so duties addressed to the group reach its three people one by one."""
    roster = Roster(source=f"<synthetic {teams} teams>")
    for c in range((teams + TEAMS_PER_COMMUNE - 1) // TEAMS_PER_COMMUNE):
        cid = f"xa-{c:04d}"
        roster.communes[cid] = Commune(cid, f"Xã {c}", roster.timezone, ())
    for t in range(teams):
        tid, cid = f"thon-{t:05d}", f"xa-{t // TEAMS_PER_COMMUNE:04d}"
        members = []
        for m, role in enumerate(("leader", "member", "member")):
            pid, n = f"p-{t:05d}-{m}", t * 3 + m
            name = f"{FAMILY[n % 10]} {MIDDLE[n % 6]} {GIVEN[n % 11]}"
            roster.people[pid] = Person(pid, name, role, "vi", {"telegram": str(100000 + n)},
                                        tid, cid)
            members.append(pid)
        chats = {} if t % 5 == 4 else {"telegram": f"-100{t:010d}"}
        roster.teams[tid] = Team(tid, f"Tổ CNSCĐ thôn {t}", cid, "vi", roster.timezone, chats,
                                 tuple(members))
    return roster


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        deliveries = conn.execute(select(func.count()).select_from(DeliveryRow)).scalar_one()
        occs = conn.execute(select(func.count()).select_from(OccurrenceRow)).scalar_one()
    return deliveries, occs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


def baseline(teams: int, url: str) -> float:
    """CPU seconds of the bare plan: expand, fan out, executemany."""
    reset(url)
    roster, duties = synthetic_roster(teams), load_duties(ROOT / "calendars")
    until = NOW + timedelta(days=15)
    started = time.process_time()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE baseline_delivery (id bigserial PRIMARY KEY, duty text, recurrence text, "
                     "recipient text, team_id text, kind text, due_at timestamptz, expires_at timestamptz)")
        # The same recipients as ours (a team's group, or its people where it has none), in memory.
        fanout = {duty.uid: [(team, recipients(duty, team, roster)) for team in roster.teams.values()]
                  for duty in duties.values()}
        rows = []
        for duty in duties.values():
            for component in recurring_ical_events.of(duty.calendar).between(NOW, until):
                start = component.start if isinstance(component.start, datetime) else datetime.combine(
                    component.start, datetime.min.time(), NOW.tzinfo)
                start = start if start.tzinfo else start.replace(tzinfo=NOW.tzinfo)
                rid = start.isoformat()
                for alarm in duty.alarms:
                    due = alarm.due(start, start + timedelta(hours=1))
                    for team, keys in fanout[duty.uid]:
                        for recipient in keys:
                            rows.append((duty.uid, rid, recipient, team.id, alarm.key, due,
                                         due + timedelta(days=1)))
        with conn.cursor() as cursor:
            for first in range(0, len(rows), 10_000):
                cursor.executemany("INSERT INTO baseline_delivery (duty, recurrence, recipient, team_id, kind, "
                                   "due_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                   rows[first:first + 10_000])
        conn.commit()
        written = conn.execute("SELECT count(*) FROM baseline_delivery").fetchone()
    print(f"baseline: {written[0] if written else 0} rows", file=sys.stderr)
    return time.process_time() - started


def run(teams: int, url: str, profile: bool) -> list[dict]:
    roster = synthetic_roster(teams)
    duties = load_duties(ROOT / "calendars")  # audiences are all "all": no roster check needed
    engine = make_engine(url)
    planner = Planner(engine, horizon=timedelta(days=14))
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
    rows = []
    for step, (offset, target) in STEPS.items():
        if profiler:
            profiler.start()
        started, cpu = time.perf_counter(), time.process_time()
        result = planner.plan(duties, roster, NOW + offset)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler:
            profiler.stop()
        deliveries, occs = counts(engine)
        rows.append({"step": step, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "target_s": target,
                     "upserted": result.deliveries_upserted, "planned": result.duties_planned,
                     "extended": result.duties_extended, "deliveries": deliveries,
                     "occurrences": occs, "peak_rss_mb": round(peak_rss_mb(), 1)})
    if profiler:
        profiler.print()
    return rows


def report(rows: list[dict], teams: int, url: str) -> None:
    table = Table(title=f"Planner, {teams} teams, 14-day horizon from {NOW.isoformat()}")
    for name in ("step", "seconds", "target", "upserted", "plan/ext", "deliveries", "occs",
                 "RSS MB"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for r in rows:
        ok = r["seconds"] < r["target_s"] and r["peak_rss_mb"] < MAX_RSS_MB
        table.add_row(r["step"], f"[{'green' if ok else 'red'}]{r['seconds']:.3f}", f"< {r['target_s']}",
                      str(r["upserted"]), f"{r['planned']}/{r['extended']}", str(r["deliveries"]),
                      str(r["occurrences"]), f"{r['peak_rss_mb']:.0f}")
    Console(width=max(Console().width, 100), stderr=True).print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"teams": teams, "database": url.split("://")[0], "now": NOW.isoformat(),
               "python": sys.version.split()[0], "max_rss_mb_target": MAX_RSS_MB, "steps": rows}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="A/B pairs (ours, then the baseline)")
    parser.add_argument("--database-url", default=os.environ.get("REMINDERS_TEST_POSTGRES_URL"),
                        help="PostgreSQL whose schema is reset (default $REMINDERS_TEST_POSTGRES_URL)")
    parser.add_argument("--profile", action="store_true", help="profile the steps with pyinstrument")
    parser.add_argument("--json", action="store_true", help="print one JSON summary last on stdout")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url or REMINDERS_TEST_POSTGRES_URL is needed (the baseline uses PostgreSQL)")
    runs = []
    for _ in range(args.repeat):
        reset(args.database_url)
        rows = run(args.teams, args.database_url, args.profile)
        report(rows, args.teams, args.database_url)
        gc.collect()
        runs.append({"steps": rows, "baseline_cpu_s": round(baseline(args.teams, args.database_url), 3),
                     "loadavg": load()})
        full = rows[0]
        print(f"full plan {full['seconds']} s ({full['cpu_s']} s CPU), baseline {runs[-1]['baseline_cpu_s']} s CPU",
              file=sys.stderr, flush=True)
    full = [r["steps"][0] for r in runs]
    tick = [r["steps"][-1] for r in runs]
    ratios = [round(f["cpu_s"] / r["baseline_cpu_s"], 3) for f, r in zip(full, runs, strict=True)]
    total = {"teams": args.teams, "runs": len(runs),
             "seconds": spread([f["seconds"] for f in full])["median"],
             "cpu_seconds": spread([f["cpu_s"] for f in full])["median"],
             "baseline_seconds": spread([r["baseline_cpu_s"] for r in runs])["median"],
             "ratio_to_baseline_cpu": spread(ratios)["median"], "ratio_spread": spread(ratios),
             "seconds_spread": spread([f["seconds"] for f in full]),
             "tick_2_days_s_spread": spread([t["seconds"] for t in tick]),
             "peak_rss_mb": runs[0]["steps"][-1]["peak_rss_mb"],  # before any baseline ran in this process
             "loadavg_1min": spread([r["loadavg"][0] for r in runs]), "cpus": os.cpu_count()}
    RESULTS.write_text(json.dumps({"summary": total, "runs": runs}, indent=2) + "\n")
    print(json.dumps(total) if args.json else json.dumps(total, indent=2))


if __name__ == "__main__":
    main()

"""Plan the shipped duties for a whole province of synthetic teams.

Why: the planner fans every duty out to every team, so a province (thousands of teams,
each with a leader and members) is where its cost shows. This times the first full plan
over a 14-day horizon that covers the October campaign, then a tick a minute later (which
should be nearly free) and a tick a day later (the horizon moves on a day), and reports
row counts and peak memory. Targets (issue): full plan < 30 s, tick < 0.5 s, < 500 MB.

    python bench/plan_province.py [--teams 5000] [--database-url sqlite:///...] [--profile]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

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
        started = time.perf_counter()
        result = planner.plan(duties, roster, NOW + offset)
        seconds = time.perf_counter() - started
        if profiler:
            profiler.stop()
        deliveries, occs = counts(engine)
        rows.append({"step": step, "seconds": round(seconds, 3), "target_s": target,
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
    Console(width=max(Console().width, 100)).print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"teams": teams, "database": url.split("://")[0], "now": NOW.isoformat(),
               "python": sys.version.split()[0], "max_rss_mb_target": MAX_RSS_MB, "steps": rows}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=5000)
    parser.add_argument("--database-url", help="an empty database (default: fresh SQLite in a temp dir)")
    parser.add_argument("--profile", action="store_true", help="profile the steps with pyinstrument")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-province-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'reminders.db'}"
        rows = run(args.teams, url, args.profile)
        report(rows, args.teams, url)


if __name__ == "__main__":
    main()

"""Serve a commune's calendar feed under load on loopback (issue 6).

Why: every subscribed calendar app polls its feed; a commune feed (40 teams x the shipped
duties, a year of acknowledgement overlays) must stay cheap to serve. Targets: p50 < 20 ms
for a 200, < 2 ms for a 304, with the rendered feed cached and rebuilt only on change.

Setup: plan weekly (14-day horizon) from 2023-10-01 to 2024-10-01, mark past deliveries sent
(bulk UPDATE) and bulk-insert AcknowledgementRow rows for ~70% of expected people (seeded).
The app runs in a uvicorn *subprocess* (h11, asyncio, no access log, as in the Procfile) so
the load generator (`wrk`, one thread) does not share its GIL.

    python bench/feed_serving.py [--seconds 10] [--connections 1,10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from reminders.definitions.live import Definitions
from reminders.definitions.load import load_definitions
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.inbound.acks import record_acknowledgement
from reminders.runtime import Runtime
from reminders.schedule.planner import Planner
from reminders.store.engine import make_engine
from reminders.store.feed_tokens import create_token, scope_for
from reminders.store.models import AcknowledgementRow, DeliveryRow, OccurrenceRow
from reminders.timeutil import as_utc
from reminders.views.feeds import Scope
from reminders.views.status import occurrence_status
from reminders.web.app import create_app
from reminders.web.feeds import FeedCache

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "feed_serving.json"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE, TEAMS, ACK_RATE = "xa-bench", 40, 0.7
START, NOW = datetime(2023, 10, 1, tzinfo=VN), datetime(2024, 10, 1, 12, 0, tzinfo=VN)
TARGET_MS = {"200": 20.0, "304": 2.0}
ANSWERS = {"number": "25", "yesno": "yes", "text": "đã làm"}


def write_roster(path: Path) -> None:
    """Like tests/helpers.write_roster: `TEAMS` teams of a leader and two members."""
    lines = ["timezone: Asia/Ho_Chi_Minh", "communes:", f"  - id: {COMMUNE}", "    name: Xã Thử", "teams:"]
    for n in range(TEAMS):  # no officials: every expected person is a team member
        lines += [f"  - id: t{n}", f"    name: Tổ {n}", f"    commune: {COMMUNE}", f"    chats: {{console: g{n}}}",
                  "    members:", f"      - {{id: t{n}-lead, name: Trưởng thôn {n}, role: leader}}",
                  f"      - {{id: t{n}-a, name: Thành viên A{n}}}", f"      - {{id: t{n}-b, name: Thành viên B{n}}}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def opened(tmp: Path) -> tuple[dict[str, Duty], Roster, Engine]:
    """The shipped duties, the bench roster and the SQLite database in `tmp`."""
    duties, roster = load_definitions(str(ROOT / "calendars"), str(tmp / "roster.yaml"))
    return duties, roster, make_engine(f"sqlite:///{tmp / 'r.db'}")


def populate(tmp: Path) -> dict:
    """A year of plans, sent deliveries and acknowledgements; returns row counts."""
    write_roster(tmp / "roster.yaml")
    duties, roster, engine = opened(tmp)
    planner, now = Planner(engine, horizon=timedelta(days=14)), START
    while now <= NOW:
        planner.plan(duties, roster, now)
        now += timedelta(days=7)
    rng, acks = random.Random(6), []
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.status == "pending", DeliveryRow.due_at < as_utc(NOW))
                     .values(status="sent", sent_at=DeliveryRow.due_at, channel="console"))
        uids = dict(conn.execute(select(OccurrenceRow.id, OccurrenceRow.duty_uid)).all())
    for row in occurrence_status(engine, roster, START - timedelta(days=1), NOW):
        checkin = duties[uids[row.occurrence_id]].checkin
        for person in row.expected:
            if row.codes and rng.random() < ACK_RATE:
                acks.append({"occurrence_id": row.occurrence_id, "person_id": person, "team_id": row.team_id,
                             "at": as_utc(row.start + timedelta(hours=2)), "channel": "console",
                             "answer": ANSWERS[checkin.answer_type] if checkin else None})
    with engine.begin() as conn:
        conn.execute(insert(AcknowledgementRow), acks)
        counts = {name: conn.execute(select(func.count()).select_from(model)).scalar_one() for name, model
                  in (("occurrences", OccurrenceRow), ("deliveries", DeliveryRow), ("acks", AcknowledgementRow))}
        counts["sent"] = conn.execute(select(func.count()).where(DeliveryRow.status == "sent")).scalar_one()
    counts["token"] = create_token(engine, f"commune:{COMMUNE}", NOW, "bench")[1]
    engine.dispose()
    return counts


def serve(tmp: Path, port: int) -> None:
    """The child process: the app over the prepared database, clock fixed at NOW."""
    duties, roster, engine = opened(tmp)
    app = create_app(Runtime(engine, Definitions(duties, roster), {}, clock=lambda: NOW))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def wrk(url: str, headers: dict[str, str], connections: int, seconds: int) -> dict:
    """One wrk run (one thread); latency percentiles in ms."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(cmd + [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")],
                         capture_output=True, text=True, check=True).stdout
    ms = {p: float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
          for p, v, u in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50_ms": round(ms["50"], 3), "p99_ms": round(ms["99"], 3), "bad_status": int(bad.group(1)) if bad else 0,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1))}


def after_ack(tmp: Path, url: str, etag: str, times: int = 5, burst: int = 10) -> tuple[list[float], list[float]]:
    """Record an acknowledgement, then time the next conditional GET (a rebuild), `times`
    times; then once more with `burst` concurrent GETs (does every request rebuild?)."""
    (duties, roster, engine), found = opened(tmp), []
    rows = [r for r in occurrence_status(engine, roster, START, NOW) if r.codes and len(r.acknowledged) < len(r.expected)]
    with engine.connect() as conn:
        uids = dict(conn.execute(select(OccurrenceRow.id, OccurrenceRow.duty_uid)).all())

    async def get(client: httpx.AsyncClient) -> float:
        started = time.perf_counter()
        response = await client.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 200 and response.headers["etag"] != etag, response.status_code
        return round((time.perf_counter() - started) * 1000, 1)

    async def wave(n: int) -> list[float]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=n)) as client:
            return list(await asyncio.gather(*(get(client) for _ in range(n))))

    for i, row in enumerate(random.Random(7).sample(rows, times + 1)):
        person = next(p for p in row.expected if p not in row.acknowledged)
        checkin = duties[uids[row.occurrence_id]].checkin
        record_acknowledgement(engine, roster, duties, code=row.codes[0], person_id=person, channel="console",
                               now=NOW, answer=ANSWERS[checkin.answer_type] if checkin else None)
        time.sleep(FeedCache.VERSION_TTL + 0.2)  # the server re-reads the feed's version this often
        found.append(asyncio.run(wave(burst if i == times else 1)))
        etag = httpx.get(url, timeout=60).headers["etag"]
    engine.dispose()
    return [f[0] for f in found[:times]], sorted(found[times])


def profile(tmp: Path, token: str) -> None:
    """pyinstrument over the request path minus HTTP: token lookup, version check, render."""
    from pyinstrument import Profiler

    duties, roster, engine = opened(tmp)
    cache = FeedCache(Runtime(engine, Definitions(duties, roster), {}, clock=lambda: NOW))
    for label, repeat in (("render (cold)", 1), ("cached hit x2000", 2000)):
        with Profiler(interval=0.0005) as profiler:
            for _ in range(repeat):
                cache._current(Scope.parse(scope_for(engine, token) or ""))
        print(f"--- {label}\n{profiler.output_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,10")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:  # the server child: only the parent drives wrk
        return serve(Path(args.serve[0]), int(args.serve[1]))
    if shutil.which("wrk") is None:
        sys.exit("feed_serving.py needs wrk, the HTTP load generator: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="feed-serving-") as name:
        tmp, started = Path(name), time.perf_counter()
        rows = populate(tmp)
        out: dict = {"teams": TEAMS, "now": NOW.isoformat(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                     "server": "uvicorn subprocess (h11, asyncio, no access log); wrk -t1 on loopback",
                     "targets_p50_ms": TARGET_MS, "setup_s": round(time.perf_counter() - started, 1), "rows": rows}
        with socket.socket() as sock:  # a free port for the server
            port = sock.bind(("127.0.0.1", 0)) or sock.getsockname()[1]
        base, token = f"http://127.0.0.1:{port}", rows.pop("token")
        url = f"{base}/feeds/{token}.ics"  # a commune:xa-bench token
        server = subprocess.Popen([sys.executable, __file__, "--serve", name, str(port)])
        try:
            while True:
                assert server.poll() is None, "the server exited"
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            started = time.perf_counter()
            first = httpx.get(url, timeout=60)
            out["cold_first_render_ms"] = round((time.perf_counter() - started) * 1000, 1)
            body, etag = first.content, first.headers["etag"]
            out["feed"] = {"bytes": len(body), "gzip_bytes": len(gzip.compress(body, 6)),
                           **{c: body.count(f"BEGIN:{c}".encode()) for c in ("VEVENT", "VTODO", "VTIMEZONE")},
                           "overrides": body.count(b"\nRECURRENCE-ID")}
            cases = (("200", url, {}), ("200 gzip", url, {"Accept-Encoding": "gzip"}),
                     ("304", url, {"If-None-Match": etag}), ("healthz (floor)", f"{base}/healthz", {}))
            out["runs"] = [{"case": case, "connections": conns, **wrk(target, headers, conns, args.seconds)}
                           for conns in map(int, args.connections.split(",")) for case, target, headers in cases]
            out["after_ack_ms"], out["after_ack_burst10_ms"] = after_ack(tmp, url, etag)
        finally:
            server.terminate()
            server.wait(10)
        out["after_ack_median_ms"] = statistics.median(out["after_ack_ms"])
        out["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)  # other benchmarks share the 2 cores
        report(out)
        if args.profile:
            profile(tmp, token)


def report(out: dict) -> None:
    table = Table(title=f"Commune feed, {TEAMS} teams, overlays {START.date()}..{NOW.date()}, uvicorn subprocess, wrk")
    for col in ("case", "conns", "p50 ms", "p99 ms", "req/s", "requests", "non-2xx/3xx"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in out["runs"]:
        ok = r["p50_ms"] < TARGET_MS.get(r["case"].split()[0], 1e9)
        table.add_row(r["case"], str(r["connections"]), f"[{'green' if ok else 'red'}]{r['p50_ms']:.2f}",
                      f"{r['p99_ms']:.2f}", f"{r['rps']:.0f}", str(r["requests"]), str(r["bad_status"]))
    console = Console(width=max(Console().width, 110))
    console.print(table)
    for key in ("cold_first_render_ms", "after_ack_ms", "after_ack_burst10_ms", "feed", "rows", "setup_s",
                "loadavg_1m_at_end"):
        console.print(f"{key}: {out[key]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()

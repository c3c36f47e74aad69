"""Two dispatcher processes on one database never send one delivery twice, and leases
return the claims of a process that died."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from helpers import vn, write_roster
from sqlalchemy import func, select

from reminders import load_duties, load_roster, plan
from reminders.schedule.dispatcher import claim_due
from reminders.store.engine import make_engine
from reminders.store.models import DeliveryRow

HERE = Path(__file__).resolve().parents[1]  # tests/, where the helper scripts live
CODE = re.compile(r"reminders ack (\w+) --member")


def test_two_dispatcher_processes_never_send_twice(tmp_path, calendars, database_url):
    roster_path = write_roster(tmp_path / "roster.yaml", teams=150)
    roster = load_roster(roster_path)
    duties = load_duties(calendars, roster)
    engine = make_engine(database_url)
    plan(engine, duties, roster, vn(2024, 9, 30, 0, 0))
    now = vn(2024, 10, 1, 7, 0)
    with engine.connect() as conn:
        due = conn.execute(select(func.count()).select_from(DeliveryRow).where(
            DeliveryRow.due_at <= now, DeliveryRow.expires_at > now)).scalar()
    assert due >= 150

    outputs = [tmp_path / f"out-{n}.txt" for n in range(2)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(HERE / "proc_dispatcher.py"), database_url, str(calendars),
                               str(roster_path), str(out), now.isoformat(), str(go)], cwd=HERE)
             for out in outputs]
    deadline = time.monotonic() + 60
    while not all(Path(f"{out}.ready").exists() for out in outputs) and time.monotonic() < deadline:
        time.sleep(0.02)
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0

    codes = [CODE.findall(out.read_text(encoding="utf-8")) for out in outputs]
    sent_codes = [c for per_process in codes for c in per_process if c]
    # Each group message shows two buttons with the same code; count messages, not buttons.
    messages = [out.read_text(encoding="utf-8").count("── ") for out in outputs]
    assert sum(messages) == due, f"every due delivery sent exactly once, got {messages}"
    assert len(set(sent_codes)) == due
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(DeliveryRow.status, func.count()).where(
            DeliveryRow.due_at <= now, DeliveryRow.expires_at > now).group_by(DeliveryRow.status)).all())
    assert statuses == {"sent": due}
    engine.dispose()


def test_claims_are_exclusive_and_leases_return(engine, calendars):
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    plan(engine, duties, roster, vn(2024, 9, 30))
    now = vn(2024, 10, 1, 7, 0)
    first = claim_due(engine, now, worker="a", lookahead=timedelta(0), lease=timedelta(minutes=5))
    assert first
    assert claim_due(engine, now, worker="b", lookahead=timedelta(0)) == []
    # Process "a" died holding its claims: after the lease they are claimed again, with a new token.
    later = claim_due(engine, now + timedelta(minutes=6), worker="b", lookahead=timedelta(0))
    assert {c.delivery_id for c in later} == {c.delivery_id for c in first}
    assert {c.token for c in later}.isdisjoint({c.token for c in first})


def test_racing_claimers_take_disjoint_sets(engine, calendars, tmp_path):
    """Eight threads claiming small batches at once: every row claimed exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    roster = load_roster(write_roster(tmp_path / "roster.yaml", teams=60))
    plan(engine, load_duties(calendars, roster), roster, vn(2024, 9, 30))
    now = vn(2024, 10, 1, 7, 0)

    def claimer(n: int) -> list[int]:
        taken = []
        while claims := claim_due(engine, now, worker=f"w{n}", lookahead=timedelta(0), limit=3):
            taken.extend(c.delivery_id for c in claims)
        return taken

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claimer, range(8)))
    flat = [d for r in results for d in r]
    with engine.connect() as conn:
        claimable = conn.execute(select(func.count()).select_from(DeliveryRow).where(
            DeliveryRow.status == "claimed")).scalar()
    assert len(flat) == len(set(flat)) == claimable >= 60
    assert sum(1 for r in results if r) > 1


def test_a_scheduler_sleeps_until_the_next_reminder_and_not_at_all_through_a_backlog(tmp_path, calendars):
    from reminders.schedule.dispatcher import (
        LOOKAHEAD,
        dispatch,
        seconds_to_next_tick,
    )
    from reminders.timeutil import from_naive_utc

    roster_path = write_roster(tmp_path / "roster.yaml", teams=1000)
    roster = load_roster(roster_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    plan(engine, load_duties(calendars, roster), roster, vn(2024, 9, 30, 0, 0))
    with engine.connect() as conn:
        first = from_naive_utc(conn.execute(select(func.min(DeliveryRow.due_at))).scalar())
    an_hour_before = first - timedelta(hours=1)
    assert seconds_to_next_tick(engine, an_hour_before, 10.0) == 10.0  # nothing near: the usual tick
    soon = first - LOOKAHEAD - timedelta(seconds=4)
    assert seconds_to_next_tick(engine, soon, 10.0) == 4.0  # wakes when it comes within the lookahead
    # A burst larger than the claims allowed in flight: the rest is already due, so no sleep.
    now = vn(2024, 10, 1, 20, 0)
    claimed = dispatch(engine, now, lambda claims, now: None, worker="w", max_in_flight=2000)
    assert claimed == 2000
    assert seconds_to_next_tick(engine, now, 10.0) == 0.2
    engine.dispose()

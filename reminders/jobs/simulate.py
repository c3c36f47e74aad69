"""`reminders simulate`: the real pipeline (planner, dispatcher, actor, console adapter)
on a virtual clock and a throw-away database. The admin's dry run."""

from __future__ import annotations

import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from reminders.adapters.base import Adapter
from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import Runtime, open_runtime
from reminders.schedule.dispatcher import next_due
from reminders.schedule.followup import week_of
from reminders.settings import Settings
from reminders.timeutil import VirtualClock


def simulate(settings: Settings, start: datetime, end: datetime, stream: TextIO) -> int:
    """Print every message that would go out in [start, end); returns how many."""
    clock = VirtualClock(start)
    with tempfile.TemporaryDirectory(prefix="reminders-sim-") as tmp:
        sim_settings = settings.replace(database_url=f"sqlite:///{Path(tmp) / 'sim.db'}", redis_url=None)
        console = ConsoleAdapter(stream=stream, clock=clock)
        # Every message goes to the console, whatever platform it would really use.
        adapters: dict[str, Adapter] = {name: console for name in dict.fromkeys(("console", *settings.adapters))}
        runtime = open_runtime(sim_settings, clock=clock, adapters=adapters, worker_id="simulate")
        console.timezone = runtime.roster.timezone
        with EmbeddedWorker(runtime, sim_settings, worker_threads=1, rate_limits=False, lookahead=timedelta(0),
                            lookback=timedelta(0)) as worker:
            now = start
            while now < end:
                clock.set(now)
                # Tick again at the same instant while the last one sent anything: the real
                # worker's next tick (a minute later) plans the follow-ups of what went out
                # -- nudges, escalations, summaries -- counted from when it was sent.
                while worker.scheduler.tick(now).dispatched:
                    worker.drain()
                now = next_instant(runtime, now, end, settings.horizon / 2)
        runtime.engine.dispose()
    return console.sent


def next_instant(runtime: Runtime, now: datetime, end: datetime, step: timedelta) -> datetime:
    """The next moment the real worker would act on: the next pending delivery (reminders,
    follow-ups and digests alike), the start of the next week (its digest is planned then),
    or `step` on, so the planner extends its horizon; never past `end`."""
    zone = ZoneInfo(runtime.roster.timezone)
    monday, _ = week_of(now.astimezone(zone).date())
    next_week = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    upcoming = next_due(runtime.engine)
    candidates = [next_week, now + step, end] + ([upcoming] if upcoming is not None else [])
    # A delivery due already but held back (a snooze, a burst) is looked at again a minute on.
    # On the minute, as a worker that ticks every minute sends it.
    soonest = max(min(candidates), now + timedelta(minutes=1))
    return soonest + (-(soonest - now) % timedelta(minutes=1))

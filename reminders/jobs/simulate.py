"""`reminders simulate`: the real pipeline (planner, dispatcher, actor, console adapter)
on a virtual clock and a throw-away database. The admin's dry run."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from reminders.adapters.base import Adapter
from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import next_due
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
        sent = 0
        with EmbeddedWorker(runtime, sim_settings, worker_threads=1, rate_limits=False, lookahead=timedelta(0),
                            lookback=timedelta(0)) as worker:
            now = start
            while True:
                sent += worker.scheduler.tick(now).dispatched
                worker.drain()
                # Jump to the next due reminder, but never past what the planner has seen.
                upcoming = next_due(runtime.engine)
                now = min(t for t in (upcoming, now + settings.horizon / 2, end) if t is not None)
                if now >= end:
                    break
                clock.set(now)
        runtime.engine.dispose()
    return sent

"""A dispatcher + worker process for the concurrency test: ticks at a fixed virtual time
until nothing is pending, printing each message to its own output file."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import next_due
from reminders.settings import load_settings
from reminders.timeutil import VirtualClock


def main(database_url: str, calendars: str, roster: str, output: str, now_iso: str, go: str) -> None:
    settings = load_settings({}).replace(database_url=database_url, calendars=calendars, roster_file=roster)
    now = datetime.fromisoformat(now_iso)
    with open(output, "w", encoding="utf-8") as stream:
        clock = VirtualClock(now)
        runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(stream, clock)},
                               worker_id=output[-12:])
        with EmbeddedWorker(runtime, settings, worker_threads=4, claim_batch=5) as worker:
            Path(output + ".ready").touch()
            while not Path(go).exists():  # start together, so both really compete
                time.sleep(0.01)
            for _ in range(500):
                worker.scheduler.tick(now)
                worker.drain()
                upcoming = next_due(runtime.engine)
                if upcoming is None or upcoming > now:
                    break


if __name__ == "__main__":
    main(*sys.argv[1:7])

"""`reminders simulate` prints exactly what the real worker would send: the same pipeline
(planner, follow-ups, dispatcher, console adapter) stepped on a virtual clock every minute
is the reference -- reminders, nudges, escalations, summaries and digests alike."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from helpers import vn

from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.jobs.simulate import simulate
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.timeutil import VirtualClock

ROOT = Path(__file__).resolve().parents[2]


def _stepped(settings, start, end, step: timedelta) -> str:
    """What the real worker sends when it ticks every `step` from `start` to `end`."""
    clock, out = VirtualClock(start), io.StringIO()
    console = ConsoleAdapter(out, clock)
    runtime = open_runtime(settings, clock=clock, adapters={"console": console}, worker_id="reference")
    console.timezone = runtime.roster.timezone
    with EmbeddedWorker(runtime, settings, worker_threads=1, rate_limits=False, lookahead=timedelta(0),
                        lookback=timedelta(0)) as worker:
        now = start
        while now < end:
            clock.set(now)
            worker.scheduler.tick(now)
            worker.drain()
            now += step
    runtime.engine.dispose()
    return out.getvalue()


def test_simulate_prints_what_the_worker_stepped_every_minute_sends(tmp_path):
    settings = load_settings({}).replace(database_url=f"sqlite:///{tmp_path / 'ref.db'}")
    start, end = vn(2024, 1, 5), vn(2024, 1, 8)
    reference = _stepped(settings, start, end, timedelta(minutes=1))
    printed = io.StringIO()
    count = simulate(settings, start, end, printed)
    headers = re.findall(r"^── .*$", reference, re.M)
    assert len(headers) == 7, "three reminders, the leaders' nudges and the commune's escalation"
    assert count == len(headers)
    assert printed.getvalue() == reference


def test_simulate_january_has_every_follow_up_and_no_false_missed_warning():
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "simulate", "--from", "2024-01-01",
                             "--to", "2024-01-31"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Sẽ gửi 89 tin nhắn." in result.stdout  # the worker stepped every 10 minutes sends 89 too
    assert len(re.findall(r"^── ", result.stdout, re.M)) == 89
    assert "missed" not in result.stderr and "bỏ lỡ" not in result.stderr, result.stderr

"""Processed event ids: kept as long as a platform may send an update again (48 hours), so a
replay is known; pruned after that, a few with each new event, so the table stays small."""

from __future__ import annotations

import io
from datetime import timedelta

from helpers import counting, vn
from sqlalchemy import func, select

from reminders.adapters.base import Inbound
from reminders.adapters.console import ConsoleAdapter
from reminders.inbound.router import handle
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import InboundEventRow
from reminders.timeutil import VirtualClock, from_naive_utc

PER_HOUR = 4


def test_event_ids_are_kept_for_the_replay_window_then_pruned(calendars, database_url):
    """Issue 13.8: inbound_event grew without bound (every update of every chat, forever)."""
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=database_url)
    start = vn(2024, 10, 1)
    runtime = open_runtime(settings, clock=VirtualClock(start), adapters={"console": ConsoleAdapter(io.StringIO())})

    def event(hour: int, n: int):  # a household chatting in a team's group: not for the bot, still an update
        return Inbound("console", f"u{hour}-{n}", "g-thon-dong", True, f"household-{n}", text="chào cả nhà")

    hours = 5 * 24
    for hour in range(hours):
        for n in range(PER_HOUR):
            assert handle(runtime, event(hour, n), now=start + timedelta(hours=hour, minutes=10 * n)) is not None
    now = start + timedelta(hours=hours - 1, minutes=10 * (PER_HOUR - 1))
    with runtime.engine.connect() as conn:
        kept, oldest = conn.execute(select(func.count(), func.min(InboundEventRow.received_at))).one()
    assert kept == 48 * PER_HOUR + 1, "the last 48 hours' events (both ends included), no more"
    assert now - from_naive_utc(oldest) == timedelta(hours=48)
    # Inside the window a replay is still a replay; an event pruned long ago would be new again.
    assert handle(runtime, event(hours - 40, 0), now=now) is None
    # Each event costs the same few statements, pruning included (a bounded delete by index).
    with counting(runtime.engine) as work:
        handle(runtime, event(hours, 0), now=now + timedelta(hours=1))
    assert work.statements <= 6, work
    runtime.engine.dispose()

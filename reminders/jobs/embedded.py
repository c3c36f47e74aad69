"""Assembling the pieces for one process: definitions + database + broker + worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import dramatiq

from reminders.adapters.base import Adapter
from reminders.adapters.registry import load_adapters
from reminders.definitions.duties import load_duties
from reminders.definitions.reload import notify_on_worker_loop, watcher_for
from reminders.definitions.roster import load_roster
from reminders.definitions.snapshot import STARTED, load_at_start, may_hold_a_snapshot
from reminders.errors import InvalidInput
from reminders.jobs.broker import make_broker
from reminders.jobs.ratelimit import make_backend
from reminders.jobs.send import enqueue
from reminders.runtime import Runtime, configure
from reminders.schedule.scheduler import Scheduler
from reminders.settings import Settings
from reminders.store.engine import make_engine
from reminders.timeutil import utcnow


def load_definitions(calendars: str, roster_path: str):
    """Roster and calendars together; raises InvalidInput with every problem of both.

    Duties are checked against the roster when it is valid; a broken roster does not hide
    the calendars' own problems.
    """
    problems = []
    roster = None
    try:
        roster = load_roster(roster_path)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    try:
        duties = load_duties(calendars, roster)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    return duties, roster


def open_runtime(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 adapters: dict[str, Adapter] | None = None, worker_id: str = "embedded") -> Runtime:
    """The process's runtime. Invalid files on disk do not stop it when a last good version
    is saved in the database (reminders.snapshot): it runs on that, and its watcher tells
    the admins; only a first run with invalid files raises InvalidInput."""
    engine, duties, roster, started = load_at_start(lambda: make_engine(settings.database_url),
                                                    settings.calendars, settings.roster,
                                                    may_hold=may_hold_a_snapshot(settings.database_url))
    try:
        if adapters is None:
            adapters = load_adapters(list(settings.adapters), settings.env)
    except BaseException:
        engine.dispose()
        raise
    runtime = Runtime(engine, roster, duties, adapters, clock, worker_id, lease=settings.claim_lease)
    runtime.extra[STARTED] = started
    return configure(runtime)


class EmbeddedWorker:
    """An in-process dramatiq worker on a StubBroker (or Redis), with its scheduler."""

    def __init__(self, runtime: Runtime, settings: Settings, *, worker_threads: int = 2,
                 broker: dramatiq.Broker | None = None, rate_limits: bool = True, **scheduler_options):
        self.runtime = runtime
        self.broker = broker or make_broker(settings.redis_url)
        if rate_limits and runtime.rate_backend is None:
            runtime.rate_backend = make_backend(settings.redis_url)
        self.worker = dramatiq.Worker(self.broker, worker_threads=worker_threads, worker_timeout=100)
        if "reloader" not in scheduler_options:  # edited duty files take effect while running
            scheduler_options["reloader"] = watcher_for(runtime, settings, notify=notify_on_worker_loop(runtime))
        self.scheduler = Scheduler(runtime, enqueue, horizon=settings.horizon, **scheduler_options)
        self._adapters_started = threading.Event()

    def __enter__(self) -> EmbeddedWorker:
        self.worker.start()
        self._run_on_loop(lambda a: a.start())
        return self

    def __exit__(self, *exc) -> None:
        self._run_on_loop(lambda a: a.close())
        self.worker.stop()
        self.broker.close()

    def _run_on_loop(self, call) -> None:
        """Adapter start/close on the worker's event loop, where actors will use them."""
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        for adapter in self.runtime.adapters.values():
            if loop_thread is not None:
                loop_thread.run_coroutine(call(adapter))

    def drain(self) -> None:
        """Wait until every enqueued delivery has been processed (tests, simulate)."""
        from dramatiq.brokers.stub import StubBroker

        if isinstance(self.broker, StubBroker):
            self.broker.join("deliveries", fail_fast=True)
        else:
            self.broker.join("deliveries")
        self.worker.join()

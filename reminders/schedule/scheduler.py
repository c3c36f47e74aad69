"""The scheduler: plan, follow up, mark what was missed, dispatch what is due -- one tick at a
time -- and the loops that run the ticks (`run_replica` for `reminders scheduler`)."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reminders.definitions.reload import DefinitionWatcher
from reminders.logs import redact
from reminders.runtime import Runtime
from reminders.schedule import lease
from reminders.schedule.dispatcher import (
    CLAIM_BATCH,
    LOOKAHEAD,
    Claim,
    dispatch,
    mark_missed,
    seconds_to_next_tick,
)
from reminders.schedule.followup import followup_pass
from reminders.schedule.planner import FIRST_PLAN_LOOKBACK, Planner, PlanResult
from reminders.store.workers import Heartbeat, new_worker_id

log = logging.getLogger(__name__)
@dataclass
class TickReport:
    plan: PlanResult
    missed: int
    dispatched: int


class Scheduler:
    def __init__(self, runtime: Runtime, enqueue: Callable[[list[Claim], datetime], object], *,
                 horizon: timedelta, lookahead: timedelta = LOOKAHEAD,
                 lookback: timedelta = FIRST_PLAN_LOOKBACK, claim_batch: int = CLAIM_BATCH,
                 reloader: DefinitionWatcher | None = None):
        self.runtime = runtime
        self.reloader = reloader  # hot reload of edited duty files and roster (reminders.reload)
        self.enqueue = enqueue
        self.planner = Planner(runtime.engine, horizon, lookback)
        self.lookahead = lookahead
        self.claim_batch = claim_batch
        self._last_full: datetime | None = None

    def step(self, full_every: timedelta, now: datetime | None = None) -> TickReport | int:
        """What the loops run: a full tick every `full_every` (the tick interval); when they
        wake in between -- a reminder coming due, a burst held back by MAX_IN_FLIGHT, when
        they wake five times a second -- only the dispatch (returns the number of claims).
        Planning, follow-ups and the missed sweep need not run that often: through a 50,000
        burst they cost the scheduler 0.09 ms of CPU per delivery."""
        now = now or self.runtime.clock()
        last = self._last_full
        if last is not None and last <= now < last + full_every:
            return self._dispatch(now)
        return self.tick(now)

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or self.runtime.clock()
        self._reload()
        rt = self.runtime
        planned = self.planner.plan(rt.duties, rt.roster, now)
        followup_pass(rt, now, lookahead=self.lookahead)
        missed = mark_missed(rt.engine, now)
        if missed:
            log.warning("%d reminders were missed (their occurrence was over before they went out)", missed)
        # Planning and the follow-ups took a while: claims and their broker delays (a batch
        # reaches its worker PREPARE_AHEAD before it is due) count from now, not the tick's start.
        dispatched = self._dispatch(max(now, rt.clock()))
        self._last_full = now  # only once it all went through: a failed tick is tried again at the next wake
        return TickReport(planned, missed, dispatched)

    def _dispatch(self, now: datetime) -> int:
        rt = self.runtime
        heartbeat = rt.state.get("heartbeat")
        return dispatch(rt.engine, now, self.enqueue, worker=rt.worker_id, lookahead=self.lookahead,
                        lease=rt.lease, batch=self.claim_batch,
                        watching=heartbeat if isinstance(heartbeat, Heartbeat) else None)

    def _reload(self) -> None:
        """Take up edited definitions before planning. A fresh planner: its fan-out cache is
        keyed by the roster object, which a reload replaces."""
        outcome = self.reloader.check() if self.reloader is not None else None
        if outcome is not None and outcome.status == "reloaded":
            self.planner = Planner(self.runtime.engine, self.planner.horizon, self.planner.lookback)


def run_ticks(scheduler: Scheduler, stop: threading.Event, tick_seconds: float) -> None:
    """Tick until `stop` is set: waking for the next reminder, and at once while a burst is
    held back. A failed tick (database or broker down) is logged and tried again; claims
    it made lapse and return."""
    rt = scheduler.runtime
    while not stop.is_set():
        try:
            wait = seconds_to_next_tick(rt.engine, rt.clock(), tick_seconds, scheduler.lookahead)
        except Exception as exc:  # the database is out of reach: a tick's time, and again
            log.warning("could not read the next due time: %s", redact(str(exc))[:300])
            wait = tick_seconds
        if stop.wait(wait):
            return
        try:
            scheduler.step(timedelta(seconds=tick_seconds))
        except Exception:
            log.exception("tick failed; retrying")


def run_replica(scheduler: Scheduler, stop: threading.Event, *, tick_seconds: float, ttl: timedelta,
                on_active: Callable[[str], None] = lambda name: None) -> None:
    """One of several scheduler replicas: the one holding the lease (schedule.lease) ticks;
    the others wait and take over within `ttl` when it dies. Releases the lease on stop."""
    rt = scheduler.runtime
    me = f"{rt.worker_id}-{uuid.uuid4().hex[:6]}"
    # Its heartbeat: the claims it hands to the broker carry its id, and it judges whether
    # a silent process elsewhere is dead only while its own beats go through.
    rt.worker_id = new_worker_id(str(rt.state.setdefault("worker_base", rt.worker_id)))
    heartbeat = Heartbeat(rt.engine, rt.worker_id, "scheduler", renamed=lambda name: setattr(rt, "worker_id", name))
    rt.state["heartbeat"] = heartbeat.start()
    try:
        _replica_loop(scheduler, stop, me, tick_seconds=tick_seconds, ttl=ttl, on_active=on_active)
    finally:
        heartbeat.stop(give_back=False)  # what it queued waits in Redis for the workers


def _replica_loop(scheduler: Scheduler, stop: threading.Event, me: str, *, tick_seconds: float, ttl: timedelta,
                  on_active: Callable[[str], None]) -> None:
    rt = scheduler.runtime
    active = False
    while not stop.is_set():
        now = rt.clock()
        try:
            holding = lease.hold(rt.engine, me, now, ttl)
        except Exception as exc:  # the database is out of reach: not active until it is back
            log.warning("could not renew the scheduler lease: %s", redact(str(exc))[:300])
            holding = False
        if holding:
            if not active:
                log.warning("%s is now the active scheduler", me)
                on_active(me)
                active = True
            try:
                report = scheduler.step(timedelta(seconds=tick_seconds), now)
                log.debug("tick: %s, %.2f s", report, (rt.clock() - now).total_seconds())
            except Exception:  # Redis or the database down: claims lapse and return; keep going
                log.exception("tick failed; retrying")
        else:
            active = False
        wait = min(tick_seconds, ttl.total_seconds() / 3)
        if active:  # wake for the next reminder, and at once while a burst is held back
            with contextlib.suppress(Exception):  # the database out of reach: the plain wait
                wait = seconds_to_next_tick(rt.engine, rt.clock(), wait, scheduler.lookahead)
        stop.wait(wait)
    if active:
        with contextlib.suppress(Exception):  # it lapses by itself otherwise
            lease.release(rt.engine, me)

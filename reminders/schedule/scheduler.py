"""The scheduler loop: plan, mark what was missed, dispatch what is due. One tick at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from reminders.definitions.reload import DefinitionWatcher
from reminders.runtime import Runtime
from reminders.schedule.dispatcher import CLAIM_BATCH, LOOKAHEAD, Claim, dispatch, mark_missed
from reminders.schedule.planner import FIRST_PLAN_LOOKBACK, Planner, PlanResult

log = logging.getLogger("reminders.scheduler")


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

    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or self.runtime.clock()
        self._reload()
        rt = self.runtime
        planned = self.planner.plan(rt.duties, rt.roster, now)
        from reminders.schedule.followup import (
            followup_pass,  # nudges, escalations, digests (reminders.followup)
        )

        followup_pass(rt, now, lookahead=self.lookahead)
        missed = mark_missed(rt.engine, now)
        if missed:
            log.warning("%d reminders were missed (their occurrence was over before they went out)", missed)
        dispatched = dispatch(rt.engine, now, self.enqueue, worker=rt.worker_id, lookahead=self.lookahead,
                              lease=rt.lease,
                              batch=self.claim_batch)
        return TickReport(planned, missed, dispatched)

    def _reload(self) -> None:
        """Take up edited definitions before planning. A fresh planner: its fan-out cache is
        keyed by the roster object, which a reload replaces."""
        outcome = self.reloader.check() if self.reloader is not None else None
        if outcome is not None and outcome.status == "reloaded":
            self.planner = Planner(self.runtime.engine, self.planner.horizon, self.planner.lookback)

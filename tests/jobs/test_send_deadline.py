"""A delivery that waited for a send slot until its claim nearly ran out is not sent then: it
goes back through the broker with a fresh lease. Otherwise the dispatcher could claim it again
once the lease lapsed, and another worker send it a second time (a large burst queued behind
a platform's 30 messages a second)."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from campaign import write_definitions
from helpers import settings_for, vn
from sqlalchemy import select

from reminders import plan
from reminders.adapters.base import Address, Capabilities, OutgoingMessage, SendResult
from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.send import deliver_batch, send_deadline
from reminders.runtime import open_runtime
from reminders.schedule.dispatcher import claim_due
from reminders.store.models import DeliveryRow
from reminders.timeutil import VirtualClock, from_naive_utc


class SlowConsole(ConsoleAdapter):
    """One request at a time, each taking 50 s of the runtime's clock."""

    capabilities = Capabilities(buttons=True, groups=True, max_text=4096, concurrency=1)

    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        result = await super().send(address, message)
        self.clock.set(self.clock() + timedelta(seconds=50))  # type: ignore[attr-defined]
        return result


def test_a_send_that_would_start_after_its_deadline_goes_back_with_a_fresh_lease(tmp_path):
    settings = settings_for(write_definitions(tmp_path), f"sqlite:///{tmp_path / 'r.db'}")
    clock = VirtualClock(vn(2024, 10, 1, 7, 0))  # the three teams' group reminders are due
    out = io.StringIO()
    rt = open_runtime(settings, clock=clock, adapters={"console": SlowConsole(out, clock)})
    plan(rt.engine, rt.duties, rt.roster, vn(2024, 9, 30, 12, 0))
    claims = claim_due(rt.engine, clock(), worker="w", lookahead=timedelta(0))
    assert len(claims) == 3
    taken_at = clock()
    assert send_deadline(rt, taken_at) == taken_at + timedelta(seconds=90)  # a 2-minute lease less 30 s

    statuses = asyncio.run(deliver_batch([c.delivery_id for c in claims], claims[0].token))

    # Sent at +0 s and +50 s; the third would have started at +100 s, past the deadline.
    assert sorted(statuses.values()) == ["sent", "sent", "throttled"]
    assert out.getvalue().count("── ") == 2
    with rt.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(DeliveryRow.__table__))}
    late = next(i for i, status in statuses.items() if status == "throttled")
    assert rows[late].status in ("claimed", "pending") and rows[late].sent_at is None
    if rows[late].status == "claimed":  # back in the broker: held under a new token, a new lease
        assert rows[late].claimed_by != claims[0].token
        assert from_naive_utc(rows[late].lease_until) > clock()
    rt.engine.dispose()

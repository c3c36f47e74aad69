"""Inbound processing for any adapter: one update in, its outcome carried out.

Used by the polling process (`reminders bot`) and by the web app's webhook routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from reminders.adapters.base import Adapter, Outcome
from reminders.inbound.router import handle
from reminders.jobs import replies
from reminders.runtime import Runtime

log = logging.getLogger(__name__)


async def process(rt: Runtime, adapter: Adapter, payload: dict[str, Any]) -> Outcome | None:
    """Handle one update; None if it was ignored or already processed (replays)."""
    event = adapter.parse_update(payload)
    if event is None:
        return None
    outcome = await asyncio.to_thread(handle, rt, event)
    if outcome is not None and (outcome.reply or outcome.edit or event.action):
        # Within the platform's limits (jobs.replies): the popup at once, a reply or an edit
        # queued when the limits have no room. It logs failures: the acknowledgement stands.
        await replies.respond(rt, adapter, payload, event, outcome)
    return outcome


async def run_polling(rt: Runtime, adapter: Adapter, stop: asyncio.Event | None = None) -> None:
    """Long-poll the platform until `stop` is set."""
    await adapter.start()
    try:
        async for payload in adapter.poll():
            await process(rt, adapter, payload)
            if stop is not None and stop.is_set():
                break
    finally:
        await adapter.close()


def pollers(adapters: Mapping[str, Adapter]) -> list[Adapter]:
    """The enabled adapters that can long-poll their platform."""
    return [a for a in adapters.values() if type(a).poll is not Adapter.poll]


def listen(rt: Runtime, adapters: list[Adapter]) -> None:
    """Poll every adapter until interrupted (`reminders bot`)."""

    async def gather() -> None:
        await asyncio.gather(*(run_polling(rt, adapter) for adapter in adapters))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gather())

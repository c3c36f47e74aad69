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
from reminders.runtime import Runtime

log = logging.getLogger(__name__)


async def process(rt: Runtime, adapter: Adapter, payload: dict[str, Any]) -> Outcome | None:
    """Handle one update; None if it was ignored or already processed (replays)."""
    event = adapter.parse_update(payload)
    if event is None:
        return None
    outcome = await asyncio.to_thread(handle, rt, event)
    if outcome is not None and (outcome.reply or outcome.edit or event.action):
        try:
            await adapter.respond(payload, outcome)
        except Exception as exc:  # the acknowledgement is recorded; a failed reply is not fatal
            log.warning("could not answer %s event %s: %s", adapter.name, event.event_id, exc)
    return outcome


async def run_polling(rt: Runtime, adapter: Adapter, stop: asyncio.Event | None = None) -> None:
    """Long-poll the platform until `stop` is set."""
    await adapter.start()
    try:
        await receive(rt, adapter, stop)
    finally:
        await adapter.close()


async def receive(rt: Runtime, adapter: Adapter, stop: asyncio.Event | None = None) -> None:
    """Long-poll an adapter already started (by whoever sends with it: `reminders run` polls on
    its worker's event loop) until `stop` is set or the task is cancelled. An update that
    fails is logged and polling goes on: one bad update must not stop the replies."""
    async for payload in adapter.poll():
        try:
            await process(rt, adapter, payload)
        except Exception:
            log.exception("could not process a %s update; going on", adapter.name)
        if stop is not None and stop.is_set():
            break


def pollers(adapters: Mapping[str, Adapter]) -> list[Adapter]:
    """The enabled adapters that can long-poll their platform."""
    return [a for a in adapters.values() if type(a).poll is not Adapter.poll]


def listen(rt: Runtime, adapters: list[Adapter]) -> None:
    """Poll every adapter until interrupted (`reminders bot`)."""

    async def gather() -> None:
        await asyncio.gather(*(run_polling(rt, adapter) for adapter in adapters))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(gather())

"""Inbound processing for any adapter: one update in, its outcome carried out.

Used by the polling process (`reminders bot`) and by the web app's webhook routes.

A pushed update (a webhook) that the platform dates more than FRESHNESS away from this
machine's clock is refused: a recorded call replayed later, or a forged time. Polled
updates are not checked: we fetched them ourselves, and after the bot was down they are
rightly hours old. In the polling loop one bad update never stops the others: it is
tried ATTEMPTS times (a database hiccup passes), then logged, answered if possible, and
left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from reminders.adapters.base import Adapter, Inbound, Outcome, TemporaryFailure, title_of
from reminders.i18n import N_, t
from reminders.inbound.router import handle
from reminders.jobs import replies
from reminders.jobs.admin_notices import tell_people
from reminders.runtime import Runtime
from reminders.timeutil import utcnow

log = logging.getLogger(__name__)

FRESHNESS = timedelta(hours=1)  # a pushed update dated further from now than this is refused
ATTEMPTS = 3  # tries of one polled update before it is given up
RETRY_PAUSE = 1.0  # seconds before the second try, doubling
START_PAUSES = (1, 2, 5, 10, 30, 60)  # seconds between tries to reach a platform at start; then every 60 s
FAILED = N_("Sorry, something went wrong on our side. Please try again later.")


def fresh(event: Inbound) -> bool:
    """Whether the platform's own time of the event (if it gives one) is within FRESHNESS
    of this machine's clock -- the real one, not a simulation's virtual clock."""
    return event.sent_at is None or abs(utcnow() - event.sent_at) <= FRESHNESS


async def process(rt: Runtime, adapter: Adapter, payload: dict[str, Any], *, polled: bool = False) -> Outcome | None:
    """Handle one update; None if it was ignored, refused or already processed (replays).
    An error in handling is raised (a webhook answers 500 and the platform retries; nothing
    of the update was recorded)."""
    try:
        event = adapter.parse_update(payload)
    except Exception as exc:  # malformed: retrying it would not help
        log.warning("ignored an unreadable %s update: %s", adapter.name, type(exc).__name__)
        return None
    if event is None:
        return None
    if not polled and not fresh(event):
        log.warning("refused a %s event dated %s, more than %s from now (replayed or forged)", adapter.name,
                    event.sent_at, FRESHNESS)
        return None
    outcome = await asyncio.to_thread(handle, rt, event)
    if outcome is not None and (outcome.reply or outcome.edit or event.action):
        # Within the platform's limits (jobs.replies): the popup at once, a reply or an edit
        # queued when the limits have no room. It logs failures: the acknowledgement stands.
        await replies.respond(rt, adapter, payload, event, outcome)
    if outcome is not None and outcome.notices:  # once: a replayed update has no outcome
        try:
            await tell_people(rt.engine, rt.roster, rt.adapters, outcome.notices)
        except Exception:
            log.exception("could not tell the commune's officials about a duty change")
    return outcome


async def process_polled(rt: Runtime, adapter: Adapter, payload: dict[str, Any]) -> Outcome | None:
    """`process` for the polling loop: retried a few times, then given up (logged, and the
    sender told if we can tell them), never raised."""
    pause = RETRY_PAUSE
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await process(rt, adapter, payload, polled=True)
        except Exception:
            if attempt == ATTEMPTS:
                log.exception("could not handle a %s update after %d tries; left behind", adapter.name, attempt)
                break
            log.warning("could not handle a %s update (try %d of %d); trying again", adapter.name, attempt,
                        ATTEMPTS, exc_info=True)
            await asyncio.sleep(pause)
            pause *= 2
    with contextlib.suppress(Exception):  # a malformed update may not even say whom to answer
        if adapter.parse_update(payload) is not None:
            await adapter.respond(payload, Outcome(reply=t("vi", FAILED), alert=True))
    return None


async def run_polling(rt: Runtime, adapter: Adapter, stop: asyncio.Event | None = None) -> None:
    """Long-poll the platform until `stop` is set."""
    await start_when_reachable(adapter)
    try:
        await receive(rt, adapter, stop)
    finally:
        await adapter.close()


async def receive(rt: Runtime, adapter: Adapter, stop: asyncio.Event | None = None) -> None:
    """Long-poll an adapter already started (by whoever sends with it: `reminders run` polls on
    its worker's event loop) until `stop` is set or the task is cancelled. An update that
    fails is retried, then left behind: one bad update must not stop the replies."""
    async for payload in adapter.poll():
        await process_polled(rt, adapter, payload)
        if stop is not None and stop.is_set():
            break


async def start_when_reachable(adapter: Adapter) -> None:
    """Start the adapter, retrying while its platform cannot be reached (the network or the
    platform down when the process starts), one log line per try, until it can or the task
    is cancelled. A refusal that retrying cannot help (a wrong token) is raised at once."""
    for attempt in itertools.count():
        try:
            await adapter.start()
            if attempt:
                log.warning("reached %s; receiving replies", title_of(adapter))
            return
        except TemporaryFailure as exc:
            pause = START_PAUSES[min(attempt, len(START_PAUSES) - 1)]
            log.warning("cannot reach %s (%s); retrying in %d s", title_of(adapter), exc, pause)
            await asyncio.sleep(pause)


def pollers(adapters: Mapping[str, Adapter]) -> list[Adapter]:
    """The enabled adapters that can long-poll their platform."""
    return [a for a in adapters.values() if type(a).poll is not Adapter.poll]


def listen(rt: Runtime, adapters: list[Adapter]) -> None:
    """Poll every adapter until interrupted (`reminders bot`)."""

    async def gather() -> None:
        main = asyncio.current_task()
        if main is not None:  # SIGTERM (a service manager's stop) ends it like Ctrl-C: quietly
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        await asyncio.gather(*(run_polling(rt, adapter) for adapter in adapters))

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(gather())

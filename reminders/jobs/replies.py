"""Answers to people -- a reply, the group message edited to show progress -- under the same
per-chat and bot-wide limits as reminders (jobs.ratelimit), so that a burst of reminders and
a crowd of answers never push the bot over a platform's flood limits.

- The popup that answers a button press goes at once: it is not a message
  (`answerCallbackQuery`), and the button spins until it comes.
- A reply or an edit goes at once when the limits have room. Otherwise it waits in its chat's
  queue (in order) until they do, on the process's event loop, and `respond` returns at once:
  one busy group never holds up the answers to others. A platform's 429 puts it back for the
  time the platform asked; a network error or 5xx is tried again with backoff (5 attempts).
  Nothing is dropped while the process runs (a refused message -- blocked, deleted -- is logged).
- Waiting edits of the same message collapse into the latest: "✅ 5/6" replaces "✅ 4/6".

The limits are the worker's own backend where the process has one (`reminders run`), else
the Redis one at REMINDERS_REDIS_URL (shared with every worker), else one of the process's
own (without Redis, a separate `reminders bot` or web app counts only its own answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dramatiq.rate_limits import RateLimiterBackend

from reminders.adapters.base import (
    Adapter,
    Address,
    Inbound,
    Outcome,
    OutgoingMessage,
    Payload,
    PermanentFailure,
    TemporaryFailure,
)
from reminders.jobs.broker import MAX_ATTEMPTS, MAX_BACKOFF_MS, MIN_BACKOFF_MS
from reminders.jobs.ratelimit import Ticket, WaitBudget, make_backend, per_loop, take_rate_slot
from reminders.logs import redact
from reminders.runtime import Runtime

log = logging.getLogger(__name__)
LIMITER_DOWN_WAIT = 1.0  # the limiter (Redis) out of reach: the answer goes without it after this


@dataclass
class _Answer:
    """One message to send into a chat: a reply, or an edit of `edits` (a message id)."""

    call: Callable[[], Awaitable[None]]
    what: str  # for the log: "reply" or "edit"
    edits: str | None = None
    attempts: int = 0


@dataclass
class _Lane:
    """A chat's waiting answers, sent in order by one task."""

    answers: deque[_Answer] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


async def respond(rt: Runtime, adapter: Adapter, payload: Payload, event: Inbound, outcome: Outcome) -> None:
    """Carry out `outcome` for the update `payload` (`event` parsed from it): the popup at
    once, the reply and the edit within the limits. Failures are logged, never raised: the
    acknowledgement is recorded whatever happens to its answer."""
    press = event.action is not None and adapter.capabilities.buttons
    if press:  # the popup, and with it the end of the button's spinner
        try:
            await adapter.respond(payload, Outcome(reply=outcome.reply, alert=outcome.alert))
        except Exception as exc:
            log.warning("could not answer %s event %s: %s", adapter.name, event.event_id, redact(str(exc)))
    elif outcome.reply:
        reply = Outcome(reply=outcome.reply, buttons=outcome.buttons)
        await _submit(rt, adapter, Address(event.chat, event.is_group, ""), _Answer(
            lambda: adapter.respond(payload, reply), "reply"))
    if outcome.edit is not None:
        chat, message_id, message = outcome.edit
        address = Address(chat, True, "")
        await _submit(rt, adapter, address, _Answer(_editing(adapter, address, message_id, message), "edit",
                                                     edits=message_id))


def _editing(adapter: Adapter, address: Address, message_id: str,
             message: OutgoingMessage) -> Callable[[], Awaitable[None]]:
    return lambda: adapter.edit(address, message_id, message)


async def settled() -> None:
    """Wait until every answer waiting on this event loop has gone (tests; a clean stop)."""
    while tasks := [lane.task for key, lane in list(per_loop().items())
                    if isinstance(key, tuple) and key[0] == "answers" and lane.task is not None]:
        await asyncio.gather(*tasks, return_exceptions=True)


def limits_for(rt: Runtime) -> RateLimiterBackend:
    """The rate-limiter backend answers count against (see the module's note)."""
    if rt.rate_backend is not None:
        return rt.rate_backend
    backend = rt.state.get("answer_limits")
    if not isinstance(backend, RateLimiterBackend):
        backend = rt.state["answer_limits"] = make_backend(rt.redis_url)
    return backend


async def _submit(rt: Runtime, adapter: Adapter, address: Address, answer: _Answer) -> None:
    lane: _Lane = per_loop().setdefault(("answers", adapter.name, address.chat), _Lane())
    if lane.task is None and not lane.answers:
        # Nothing waits in this chat: now, if the limits have room.
        wait, ticket = await _slot(rt, adapter, address, WaitBudget(0))
        if ticket is not None:
            outcome = await _attempt(adapter, address, answer, ticket)
            if outcome is None:
                return
            wait = outcome
        lane.answers.append(answer)
        lane.task = asyncio.get_running_loop().create_task(_drain(rt, adapter, address, lane, first_wait=wait))
        return
    if answer.edits is not None:  # a newer text for a message whose edit is waiting: only the latest goes
        for n, waiting in enumerate(lane.answers):
            if waiting.edits == answer.edits and (n > 0 or lane.task is None):
                lane.answers[n] = answer
                return
    lane.answers.append(answer)


async def _drain(rt: Runtime, adapter: Adapter, address: Address, lane: _Lane, first_wait: float) -> None:
    """Send the chat's waiting answers in order, each when the limits have room."""
    try:
        await asyncio.sleep(first_wait)
        while lane.answers:
            answer = lane.answers[0]
            wait, ticket = await _slot(rt, adapter, address, WaitBudget(None))
            if ticket is None:
                await asyncio.sleep(wait)
                continue
            again = await _attempt(adapter, address, answer, ticket)
            if again is not None:
                await asyncio.sleep(again)
                continue
            lane.answers.popleft()
    finally:
        lane.task = None
        if lane.answers:  # cancelled with answers left (the loop is stopping)
            log.warning("%d answers to %s chat %s not sent: the process stopped", len(lane.answers), adapter.name,
                        address.chat)


async def _slot(rt: Runtime, adapter: Adapter, address: Address, budget: WaitBudget) -> tuple[float, Ticket | None]:
    """Take the limits' slots for one message: (0, the ticket), or (the seconds to wait first, None)."""
    try:
        return await take_rate_slot(limits_for(rt), adapter, address, budget)
    except Exception as exc:  # Redis out of reach: answers are not held hostage by it
        log.warning("rate limiter out of reach (%s): answering without it", redact(str(exc))[:200])
        await asyncio.sleep(LIMITER_DOWN_WAIT)
        return 0.0, Ticket(limits_for(rt), [])


async def _attempt(adapter: Adapter, address: Address, answer: _Answer, ticket: Ticket) -> float | None:
    """Send one answer: None when done (sent, or refused for good), else seconds to wait
    before trying again."""
    answer.attempts += 1
    try:
        try:
            await answer.call()
        finally:
            with contextlib.suppress(Exception):  # Redis out of reach: the slots lapse by themselves
                ticket.release()
    except TemporaryFailure as exc:
        if exc.retry_after:  # the platform's flood control: as long as it says, not an attempt
            answer.attempts -= 1
            return exc.retry_after
        if answer.attempts >= MAX_ATTEMPTS:
            log.warning("gave up a %s to %s chat %s after %d attempts: %s", answer.what, adapter.name, address.chat,
                        answer.attempts, redact(str(exc)))
            return None
        return float(min(MIN_BACKOFF_MS * 2 ** (answer.attempts - 1), MAX_BACKOFF_MS)) / 1000
    except PermanentFailure as exc:
        log.warning("%s to %s chat %s refused: %s", answer.what, adapter.name, address.chat, redact(str(exc)))
    except Exception as exc:
        log.warning("%s to %s chat %s failed: %s", answer.what, adapter.name, address.chat, redact(str(exc)))
    return None

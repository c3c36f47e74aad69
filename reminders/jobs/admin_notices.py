"""Telling the roster's admins about the duty files (hot reload found them broken, or fixed):
a direct message on the first adapter where each admin can be reached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from dramatiq.asyncio import get_event_loop_thread
from sqlalchemy.engine import Engine

from reminders.adapters.base import Adapter, AdapterServices, Address, OutgoingMessage
from reminders.adapters.registry import load_adapters
from reminders.definitions.reload import Notify
from reminders.definitions.roster import Roster
from reminders.jobs.targets import first_address
from reminders.runtime import Runtime
from reminders.settings import Settings
from reminders.store.bindings import bindings_for_many
from reminders.store.tokens import TokenTable

log = logging.getLogger(__name__)


async def tell_admins(engine: Engine, roster: Roster, adapters: Mapping[str, Adapter],
                      text_for: Callable[[str], str]) -> int:
    """A direct message to each roster person with role `admin`, on the first enabled
    adapter where they have an address (a chat bound at run time first); returns how many
    were sent. Failures are logged: a notice about broken files must not break anything."""
    admins = [p for p in roster.people.values() if p.role == "admin"]
    if not admins:
        log.warning("no one in the roster has role admin: nobody was told about the duty files")
        return 0
    with engine.connect() as conn:
        bound = bindings_for_many(conn, [f"person:{p.id}" for p in admins])
    sent = 0
    for person in admins:
        found = first_address(adapters, person.chats, bound.get(f"person:{person.id}"), group=False)
        if found is None:
            log.warning("admin %s has no address on the enabled adapters (%s)", person.id, ", ".join(adapters))
            continue
        adapter, chat = found
        text = text_for(person.language)[: adapter.capabilities.max_text]
        try:
            await adapter.send(Address(chat=chat, is_group=False, label=person.name), OutgoingMessage(text))
            sent += 1
        except Exception as exc:
            log.warning("could not tell admin %s on %s: %s", person.id, adapter.name, exc)
    return sent


async def tell_people(engine: Engine, roster: Roster, adapters: Mapping[str, Adapter],
                      notices: tuple[tuple[str, str], ...]) -> int:
    """Each (person id, text) as a direct message on the first adapter where that person can
    be reached (a duty changed in chat, told to the commune's officials); returns how many
    were sent. Failures are logged: the change itself is recorded whatever happens here."""
    people = [(roster.people[pid], text) for pid, text in notices if pid in roster.people]
    with engine.connect() as conn:
        bound = bindings_for_many(conn, [f"person:{p.id}" for p, _ in people])
    sent = 0
    for person, text in people:
        found = first_address(adapters, person.chats, bound.get(f"person:{person.id}"), group=False)
        if found is None:
            log.info("%s has no address on the enabled adapters: not told of the duty change", person.id)
            continue
        adapter, chat = found
        try:
            await adapter.send(Address(chat=chat, is_group=False, label=person.name),
                               OutgoingMessage(text[: adapter.capabilities.max_text]))
            sent += 1
        except Exception as exc:
            log.warning("could not tell %s on %s: %s", person.id, adapter.name, exc)
    return sent


def notify_on_worker_loop(runtime: Runtime) -> Notify:
    """For `reminders run`: the runtime's adapters, already started on dramatiq's event loop."""

    def notify(roster: Roster, text_for: Callable[[str], str]) -> None:
        coroutine = tell_admins(runtime.engine, roster, runtime.adapters, text_for)
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            asyncio.run(coroutine)
        else:
            loop_thread.run_coroutine(coroutine)

    return notify


def notify_with_own_adapters(engine: Engine, settings: Settings) -> Notify:
    """For `reminders scheduler`, which sends nothing else: adapters opened for each notice."""

    def notify(roster: Roster, text_for: Callable[[str], str]) -> None:
        adapters = load_adapters(list(settings.adapters), settings)
        services = AdapterServices(tokens=TokenTable(engine, settings.secret_key))
        for adapter in adapters.values():
            adapter.attach(services)

        async def run() -> None:
            for adapter in adapters.values():
                await adapter.start()
            try:
                await tell_admins(engine, roster, adapters, text_for)
            finally:
                for adapter in adapters.values():
                    await adapter.close()

        asyncio.run(run())

    return notify

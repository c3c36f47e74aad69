"""What a worker process needs at hand: database, definitions, roster, adapters, clock.

Actors are plain functions; they find their context here, set once per process by
`configure()` (the way dramatiq actors find their broker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from reminders.adapters.base import Adapter, Address
from reminders.definitions.duties import Duty
from reminders.definitions.roster import Person, Roster, Team
from reminders.timeutil import utcnow


@dataclass(frozen=True)
class Target:
    """A recipient resolved to one adapter and chat."""

    adapter: Adapter
    address: Address
    language: str
    zone: ZoneInfo
    team: Team
    person: Person | None


@dataclass
class Runtime:
    engine: Engine
    roster: Roster
    duties: Mapping[str, Duty]
    adapters: dict[str, Adapter]  # in order of preference
    clock: Callable[[], datetime] = utcnow
    worker_id: str = "worker"
    rate_backend: object | None = None  # dramatiq rate-limiter backend, shared by all workers
    lease: timedelta = timedelta(minutes=5)  # how long a claim is held before it returns
    extra: dict = field(default_factory=dict)

    def swap_definitions(self, duties: Mapping[str, Duty], roster: Roster) -> None:
        """Hot reload (reminders.reload): the new duties and roster replace the old ones
        together; readers that took both a moment ago finish with the old pair."""
        self.duties, self.roster = duties, roster

    def resolve(self, recipient: str, team_id: str,
                bindings: Mapping[str, tuple[str, str]] | None = None) -> Target | None:
        """The first enabled adapter on which the recipient has a working address.

        Run-time `bindings` (adapter -> (address, status)) override the roster; a binding
        flagged broken (the bot was blocked or removed) skips that adapter."""
        kind, _, ident = recipient.partition(":")
        team = self.roster.teams.get(team_id)
        if team is None:
            return None
        if kind == "team":
            chats, person, language, label = team.chats, None, team.language, team.name
        else:
            person = self.roster.people.get(ident)
            if person is None:
                return None
            chats, language, label = person.chats, person.language, person.name
        bindings = bindings or {}
        for name, adapter in self.adapters.items():
            bound = bindings.get(name)
            if bound and bound[1] != "active":
                continue
            chat = bound[0] if bound else adapter.address_in(chats, name)
            if chat and (kind != "team" or adapter.capabilities.groups):
                address = Address(chat=chat, is_group=kind == "team", label=label)
                return Target(adapter, address, language, ZoneInfo(team.timezone), team, person)
        return None


_current: Runtime | None = None


def configure(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("reminders.runtime.configure() has not been called in this process")
    return _current

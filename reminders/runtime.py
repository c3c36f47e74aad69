"""What one process works with: the database, the definitions in use, the adapters, a clock.

`open_runtime(settings)` assembles it the same way for every process (the all-in-one
`reminders run`, the scheduler, send workers, the web app, the polling bot). Actors are
plain functions; they find it with `current()`, set once per process by `configure()`
(the way dramatiq actors find their broker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dramatiq.rate_limits import RateLimiterBackend
from sqlalchemy.engine import Engine

from reminders import logs
from reminders.adapters.base import Adapter, AdapterServices
from reminders.adapters.registry import load_adapters
from reminders.definitions.live import Definitions
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.definitions.snapshot import load_at_start, may_hold_a_snapshot
from reminders.settings import Settings
from reminders.store.engine import make_engine
from reminders.store.sealing import Sealer
from reminders.store.tokens import TokenTable
from reminders.store.writable import require_writable
from reminders.timeutil import utcnow


@dataclass
class Runtime:
    engine: Engine
    definitions: Definitions  # swapped as a whole by hot reload (reminders.definitions.reload)
    adapters: dict[str, Adapter]  # in order of preference
    clock: Callable[[], datetime] = utcnow
    worker_id: str = "worker"
    rate_backend: RateLimiterBackend | None = None  # dramatiq rate-limiter backend, shared by all workers
    lease: timedelta = timedelta(minutes=5)  # how long a claim is held before it returns
    public_url: str = "http://localhost:8000"  # the web app's address, for links in replies
    state: dict[str, object] = field(default_factory=dict)  # small per-process memory of long-running loops
    sealer: Sealer | None = None  # REMINDERS_SECRET_KEY's, for values the database keeps secret
    redis_url: str | None = None  # where the rate limits live, for processes that answer people (jobs.replies)
    calendars: str = "calendars"  # the duty files, read with duties written in chat when those are checked

    @property
    def duties(self) -> Mapping[str, Duty]:
        return self.definitions.duties

    @property
    def roster(self) -> Roster:
        return self.definitions.roster


def open_runtime(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                 adapters: dict[str, Adapter] | None = None, worker_id: str = "embedded") -> Runtime:
    """The process's runtime. Invalid files on disk do not stop it when a last good version
    is saved in the database (reminders.definitions.snapshot): it runs on that, and its
    watcher tells the admins; only a first run with invalid files raises InvalidInput."""
    logs.remember(*settings.secrets())  # taken out of every error text stored or shown, whoever logs
    engine, duties, roster, started = load_at_start(lambda: _writable_engine(settings.database_url),
                                                    settings.calendars, settings.roster,
                                                    may_hold=may_hold_a_snapshot(settings.database_url))
    try:
        if adapters is None:
            adapters = load_adapters(list(settings.adapters), settings)
        services = AdapterServices(tokens=TokenTable(engine, settings.secret_key))
        for adapter in adapters.values():
            adapter.attach(services)
    except BaseException:
        engine.dispose()
        raise
    runtime = Runtime(engine, Definitions(duties, roster, started), adapters, clock, worker_id,
                      lease=settings.claim_lease, public_url=settings.public_url, redis_url=settings.redis_url,
                      calendars=settings.calendars,
                      sealer=Sealer(settings.secret_key.get_secret_value()) if settings.secret_key else None)
    return configure(runtime)


def _writable_engine(url: str) -> Engine:
    """Every process that opens a runtime writes (snapshots, heartbeats, claims, replies): a
    database it may not write is refused here, in one line, before the first write fails."""
    engine = make_engine(url)
    try:
        require_writable(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


_current: Runtime | None = None


def configure(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("reminders.runtime.configure() has not been called in this process")
    return _current

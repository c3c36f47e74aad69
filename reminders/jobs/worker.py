"""The production worker: `dramatiq reminders.jobs.worker` (any number of processes and machines).

It reads the same settings as every other process (REMINDERS_REDIS_URL is required here),
starts each adapter once per process on dramatiq's event loop, and runs the send actor.
"""

from __future__ import annotations

import dramatiq

from reminders import logs
from reminders.definitions.reload import send_watcher
from reminders.errors import ConfigurationError
from reminders.jobs import send  # noqa: F401  (declares the send actor this worker runs)
from reminders.jobs.broker import make_broker
from reminders.jobs.middleware import AdapterLifecycle, Heartbeats, PollPromptly, RefreshDefinitions
from reminders.jobs.ratelimit import make_backend
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.workers import new_worker_id


def setup() -> dramatiq.Broker:
    settings = load_settings()
    logs.install(settings.secrets())  # dramatiq set up logging; keep secrets out of it
    if not settings.redis_url:
        raise ConfigurationError("REMINDERS_REDIS_URL is required for separate worker processes "
                                 "(on one machine, `reminders run` needs no Redis)")
    broker = make_broker(settings.redis_url, settings.redis_namespace)
    runtime = open_runtime(settings, worker_id=new_worker_id("worker"))
    runtime.rate_backend = make_backend(settings.redis_url)
    broker.add_middleware(PollPromptly())
    broker.add_middleware(AdapterLifecycle(runtime))
    broker.add_middleware(Heartbeats(runtime))
    watcher = send_watcher(settings, runtime.engine, runtime.definitions)  # edited duty files: looked for when a message comes
    if watcher is not None:
        broker.add_middleware(RefreshDefinitions(watcher))
    return broker


broker = setup()

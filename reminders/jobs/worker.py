"""The production worker: `dramatiq reminders.jobs.worker` (any number of processes and machines).

It reads the same settings as every other process (REMINDERS_REDIS_URL is required here),
starts each adapter once per process on dramatiq's event loop, and runs the send actor.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from reminders import logs
from reminders.definitions.reload import RefreshDefinitions, send_watcher
from reminders.errors import ConfigurationError
from reminders.jobs.broker import make_broker
from reminders.jobs.embedded import open_runtime
from reminders.jobs.ratelimit import make_backend
from reminders.runtime import Runtime
from reminders.settings import load_settings


class AdapterLifecycle(dramatiq.Middleware):
    """Start adapters after the AsyncIO middleware's loop is up; close them before it stops."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def after_worker_boot(self, broker, worker) -> None:
        for adapter in self.runtime.adapters.values():
            get_event_loop_thread().run_coroutine(adapter.start())

    def before_worker_shutdown(self, broker, worker) -> None:
        loop_thread = get_event_loop_thread()
        for adapter in self.runtime.adapters.values():
            if loop_thread is not None:
                loop_thread.run_coroutine(adapter.close())


def setup() -> dramatiq.Broker:
    logs.install(os.environ)  # dramatiq set up logging; keep secrets out of it
    settings = load_settings()
    if not settings.redis_url:
        raise ConfigurationError("REMINDERS_REDIS_URL is required for separate worker processes "
                                 "(on one machine, `reminders run` needs no Redis)")
    broker = make_broker(settings.redis_url)
    runtime = open_runtime(settings, worker_id=f"worker-{os.getpid()}")
    runtime.rate_backend = make_backend(settings.redis_url)
    broker.add_middleware(AdapterLifecycle(runtime))
    watcher = send_watcher(runtime, settings)  # edited duty files: looked for when a message comes
    if watcher is not None:
        broker.add_middleware(RefreshDefinitions(watcher))
    return broker


broker = setup()

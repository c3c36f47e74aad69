"""dramatiq middleware of the send workers: adapters started on the worker's event loop, the
process's heartbeat, and edited duty files looked for before each message."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from reminders.definitions.reload import DefinitionWatcher
from reminders.runtime import Runtime
from reminders.store.workers import Heartbeat

log = logging.getLogger(__name__)


class AdapterLifecycle(dramatiq.Middleware):
    """Start adapters after the AsyncIO middleware's loop is up; close them before it stops."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:  # started by the AsyncIO middleware (make_broker adds it) before this
            raise RuntimeError("dramatiq's AsyncIO middleware is not running: the adapters cannot start")
        for adapter in self.runtime.adapters.values():
            loop_thread.run_coroutine(adapter.start())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        for adapter in self.runtime.adapters.values():
            if loop_thread is not None:
                loop_thread.run_coroutine(adapter.close())


# How long a consumer whose prefetch is full sleeps, at most, before it looks again. dramatiq's
# default (1 s, growing from 5 ms while the prefetch stays full) left the worker threads idle
# in a burst: a batch takes longer than the first sleeps, so the consumer slept up to a second
# while threads waited for messages already in Redis.
POLL_MS = 100


class PollPromptly(dramatiq.Middleware):
    """The worker's consumers look for messages at least every POLL_MS (dramatiq_worker_timeout
    in the environment, for a `dramatiq` command line, sets the same thing for every worker)."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        worker.worker_timeout = min(worker.worker_timeout, POLL_MS)


class RefreshDefinitions(dramatiq.Middleware):
    """In dramatiq send workers: look for edited files before each message (at most every
    `interval` seconds), so the send renders the duty as it is now."""

    def __init__(self, watcher: DefinitionWatcher) -> None:
        self.watcher = watcher

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        try:
            self.watcher.check()
        except Exception:
            log.exception("checking the duty files failed; sending with the version in use")


class Heartbeats(dramatiq.Middleware):
    """The worker process's row in `worker` (store.workers), renewed while it runs; removed,
    and its claims given back, when it stops."""

    def __init__(self, runtime: Runtime) -> None:
        self.heartbeat = Heartbeat(runtime.engine, runtime.worker_id, "worker",
                                   renamed=lambda name: setattr(runtime, "worker_id", name))
        runtime.state["heartbeat"] = self.heartbeat

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.heartbeat.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.heartbeat.stop()

"""The all-in-one worker on one machine: an in-process dramatiq worker (StubBroker, or Redis)
and the scheduler loop, sharing one runtime (`reminders run`, `simulate`, tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypedDict, TypeVar, Unpack

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker

from reminders.adapters.base import Adapter
from reminders.definitions.reload import DefinitionWatcher, watcher_for
from reminders.jobs.admin_notices import notify_on_worker_loop
from reminders.jobs.broker import make_broker
from reminders.jobs.ratelimit import make_backend
from reminders.jobs.send import enqueue
from reminders.runtime import Runtime
from reminders.schedule.scheduler import Scheduler
from reminders.settings import Settings
from reminders.store.workers import Heartbeat, new_worker_id

T = TypeVar("T")


class SchedulerOptions(TypedDict, total=False):
    """The keyword options of `Scheduler` that an EmbeddedWorker passes through."""

    lookahead: timedelta
    lookback: timedelta
    claim_batch: int
    reloader: DefinitionWatcher | None


class EmbeddedWorker:
    """An in-process dramatiq worker on a StubBroker (or Redis), with its scheduler."""

    def __init__(self, runtime: Runtime, settings: Settings, *, worker_threads: int = 2,
                 broker: dramatiq.Broker | None = None, rate_limits: bool = True,
                 **scheduler_options: Unpack[SchedulerOptions]) -> None:
        self.runtime = runtime
        # Its claims carry this id, and its heartbeat says it lives: after a kill -9, the next
        # start (or any other process's tick) gives them back at once.
        base = runtime.state.setdefault("worker_base", runtime.worker_id)  # one suffix, however many workers
        runtime.worker_id = new_worker_id(str(base))
        self.heartbeat = Heartbeat(runtime.engine, runtime.worker_id, "run",
                                   renamed=lambda name: setattr(runtime, "worker_id", name))
        runtime.state["heartbeat"] = self.heartbeat
        self.broker = broker or make_broker(settings.redis_url, settings.redis_namespace)
        if rate_limits and runtime.rate_backend is None:
            runtime.rate_backend = make_backend(settings.redis_url)
        self.worker = dramatiq.Worker(self.broker, worker_threads=worker_threads, worker_timeout=100)
        if "reloader" not in scheduler_options:  # edited duty files take effect while running
            scheduler_options["reloader"] = watcher_for(settings, runtime.engine, runtime.definitions,
                                                      notify=notify_on_worker_loop(runtime))
        self.scheduler = Scheduler(runtime, enqueue, horizon=settings.horizon, **scheduler_options)
        self._adapters_started = threading.Event()
        self._background: list[asyncio.Task[None]] = []

    def __enter__(self) -> EmbeddedWorker:
        self.heartbeat.start()
        self.worker.start()
        self._run_on_loop(lambda a: a.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_background()
        self._run_on_loop(lambda a: a.close())
        self.worker.stop()
        self.broker.close()
        self.heartbeat.stop()  # what the broker held in memory is given back

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the worker's event loop, where the adapters live, and return its result."""
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            work.close()
            raise RuntimeError("the embedded worker has no event loop (AsyncIO middleware missing)")
        return loop_thread.run_coroutine(work)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on the worker's event loop, beside the sends, until the worker stops:
        `reminders run` polls the platforms there, with the adapters the senders use."""
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            work.close()
            raise RuntimeError("the embedded worker has no event loop (AsyncIO middleware missing)")

        async def spawn() -> asyncio.Task[None]:
            return asyncio.create_task(work)

        self._background.append(loop_thread.run_coroutine(spawn()))

    def _stop_background(self) -> None:
        """Cancel the background work and wait for it to end, before the adapters close."""
        tasks, self._background = self._background, []
        loop_thread = get_event_loop_thread()
        if not tasks or loop_thread is None:
            return

        async def cancel() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        loop_thread.run_coroutine(cancel())

    def _run_on_loop(self, call: Callable[[Adapter], Awaitable[None]]) -> None:
        """Adapter start/close on the worker's event loop, where actors will use them."""
        loop_thread = get_event_loop_thread()
        for adapter in self.runtime.adapters.values():
            if loop_thread is not None:
                loop_thread.run_coroutine(call(adapter))

    def drain(self) -> None:
        """Wait until every enqueued delivery has been processed (tests, simulate)."""
        if isinstance(self.broker, StubBroker):
            self.broker.join("deliveries", fail_fast=True)
        else:
            self.broker.join("deliveries")
        self.worker.join()

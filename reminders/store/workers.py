"""Heartbeats of the processes that hold claims, and the claims of dead ones given back.

A process that sends (`reminders run`, each `dramatiq reminders.jobs.worker` process) writes
its row in `worker` every HEARTBEAT and marks the deliveries it holds with its id: a claim
token is `<worker id>:<nonce>` while it waits in the broker and `<worker id>!<nonce>` while it
is being sent. When the process dies, its claims are given back at once -- by the next
scheduler tick -- instead of waiting out their lease:

- on the same machine (and pid namespace), as soon as its pid is gone (a `kill -9` and a
  restart: the survivor or the restarted process sees it on its first tick);
- elsewhere, once its row has not been renewed for STALE.

A process that finds its own heartbeat older than STALE less a margin (the database was out
of reach, the process was paused) sends nothing until it has written one again: its claims
may already be someone else's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.engine import Engine

from reminders.kinds import DeliveryStatus
from reminders.store.models import DELIVERY, WORKER
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc, from_naive_utc, utcnow

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=5)  # how often a process writes its row
STALE = timedelta(seconds=20)  # a row not renewed for this long belongs to a dead process
FENCE = STALE - timedelta(seconds=5)  # a process whose last beat is older sends nothing


@cache
def host_identity() -> str:
    """This machine and pid namespace: a pid is only meaningful within them. Hostname, the
    kernel's boot id (two containers may share a hostname; a reboot reuses pids) and the pid
    namespace's inode."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = open("/proc/sys/kernel/random/boot_id", encoding="ascii").read().strip()[:8]  # noqa: SIM115
    namespace = ""
    with contextlib.suppress(OSError):
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:")
    return f"{socket.gethostname()[:200]}/{boot}/{namespace}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def holding(worker_id: str) -> ColumnElement[bool]:
    """The deliveries claimed under `worker_id`: waiting in the broker or being sent."""
    return or_(DELIVERY.c.claimed_by.startswith(f"{worker_id}:", autoescape=True),
               DELIVERY.c.claimed_by.startswith(f"{worker_id}!", autoescape=True))


def beat(engine: Engine, worker_id: str, role: str, now: datetime, started_at: datetime) -> None:
    """Write (or renew) this process's row (`now`: the wall clock)."""
    stmt = dialect_insert(engine, WORKER).values(worker_id=worker_id, role=role, host=host_identity(),
                                                 pid=os.getpid(), started_at=as_utc(started_at), seen_at=as_utc(now))
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"seen_at": as_utc(now)}))


def dead_workers(engine: Engine, *, stale: timedelta = STALE) -> list[str]:
    """Processes that are gone: their pid no longer runs here, or their row is stale (wall
    clock time: liveness is physical, whatever clock the runtime plans with). Never this
    process's own rows."""
    here, me, now = host_identity(), os.getpid(), utcnow()
    with engine.connect() as conn:
        rows = conn.execute(select(WORKER.c.worker_id, WORKER.c.host, WORKER.c.pid, WORKER.c.seen_at)).all()
    return [r.worker_id for r in rows if not (r.host == here and r.pid == me)
            and (from_naive_utc(r.seen_at) < now - stale or (r.host == here and not pid_alive(r.pid)))]


def release_claims(engine: Engine, worker_ids: Iterable[str]) -> int:
    """Give the deliveries claimed under these ids back to `pending` (due as they were), so
    the next dispatch claims them again; returns how many. Any message still carrying an old
    token is skipped by the send actor (the token no longer matches)."""
    ids = list(worker_ids)
    if not ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(update(DELIVERY).where(DELIVERY.c.status == DeliveryStatus.CLAIMED,
                                                   or_(*(holding(i) for i in ids)))
                            .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None)).rowcount


def release_dead(engine: Engine, *, stale: timedelta = STALE) -> int:
    """The claims of every dead process given back, and their rows removed."""
    dead = dead_workers(engine, stale=stale)
    if not dead:
        return 0
    released = release_claims(engine, dead)
    with engine.begin() as conn:
        conn.execute(delete(WORKER).where(WORKER.c.worker_id.in_(dead)))
    log.warning("gave back %d deliveries held by %d stopped process(es): %s", released, len(dead), ", ".join(dead))
    return released


class Heartbeat:
    """This process's row in `worker`, renewed on a thread every HEARTBEAT; on a clean stop,
    the row is removed and whatever the process still held is given back."""

    def __init__(self, engine: Engine, worker_id: str, role: str, *, interval: timedelta = HEARTBEAT) -> None:
        self.engine, self.worker_id, self.role, self.clock = engine, worker_id, role, utcnow
        self.interval = interval.total_seconds()
        self.started_at = utcnow()
        self._last_beat = float("-inf")  # time.monotonic() of the last beat written
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fresh(self) -> bool:
        """Whether this process may still act on its claims: its last beat is recent."""
        return time.monotonic() - self._last_beat < FENCE.total_seconds()

    def beat(self) -> bool:
        started = time.monotonic()
        try:
            beat(self.engine, self.worker_id, self.role, self.clock(), self.started_at)
        except Exception as exc:  # the database is out of reach: try again at the next beat
            log.warning("heartbeat of %s not written: %s", self.worker_id, exc)
            return False
        self._last_beat = started
        return True

    def start(self) -> Heartbeat:
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.worker_id}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            release_claims(self.engine, [self.worker_id])
            with self.engine.begin() as conn:
                conn.execute(delete(WORKER).where(WORKER.c.worker_id == self.worker_id))
        except Exception as exc:
            log.warning("could not remove the heartbeat of %s: %s", self.worker_id, exc)


def new_worker_id(role: str) -> str:
    """An id no other process has, here or on another machine: `<role>-<pid>-<random>`."""
    return f"{role}-{os.getpid()}-{secrets.token_hex(3)}"

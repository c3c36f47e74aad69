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
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.engine import Connection, Engine

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


def register(engine: Engine, worker_id: str, role: str, started_at: datetime) -> None:
    """Write this process's row (`started_at`: the wall clock)."""
    now = as_utc(utcnow())
    stmt = dialect_insert(engine, WORKER).values(worker_id=worker_id, role=role, host=host_identity(),
                                                 pid=os.getpid(), started_at=as_utc(started_at), seen_at=now)
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"seen_at": now}))


def renew(engine: Engine, worker_id: str) -> bool:
    """Renew this process's row; False if it is gone: another process took this one for dead
    and gave its claims back."""
    with engine.begin() as conn:
        return bool(conn.execute(update(WORKER).where(WORKER.c.worker_id == worker_id)
                                 .values(seen_at=as_utc(utcnow()))).rowcount)


def dead_workers(engine: Engine, *, stale: timedelta | None = STALE) -> dict[str, datetime | None]:
    """Processes that are gone -- their pid no longer runs on this machine, or (with `stale`)
    their row is older than that (wall clock: liveness is physical, whatever clock the
    runtime plans with) -- as worker id -> the `seen_at` that made them stale (None: pid
    gone). Never this process's own rows."""
    here, me, now = host_identity(), os.getpid(), utcnow()
    with engine.connect() as conn:
        rows = conn.execute(select(WORKER.c.worker_id, WORKER.c.host, WORKER.c.pid, WORKER.c.seen_at)).all()
    dead: dict[str, datetime | None] = {}
    for r in rows:
        if r.host == here and r.pid == me:
            continue
        if r.host == here and not pid_alive(r.pid):
            dead[r.worker_id] = None
        elif stale is not None and from_naive_utc(r.seen_at) < now - stale:
            dead[r.worker_id] = from_naive_utc(r.seen_at)
    return dead


def release_claims(engine: Engine, worker_ids: Iterable[str]) -> int:
    """Give the deliveries claimed under these ids back to `pending` (due as they were), so
    the next dispatch claims them again; returns how many. Any message still carrying an old
    token is skipped by the send actor (the token no longer matches)."""
    ids = list(worker_ids)
    if not ids:
        return 0
    with engine.begin() as conn:
        return _release(conn, ids)


def _release(conn: Connection, ids: list[str]) -> int:
    return conn.execute(update(DELIVERY).where(DELIVERY.c.status == DeliveryStatus.CLAIMED,
                                               or_(*(holding(i) for i in ids)))
                        .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None)).rowcount


def release_dead(engine: Engine, *, watching: Heartbeat | None = None, stale: timedelta = STALE) -> int:
    """The claims of every dead process given back, and their rows removed (one transaction
    per process: a row renewed meanwhile is left alone, and its process lives on).

    A process on this machine is dead as soon as its pid is gone. One elsewhere only once it
    has been silent for `stale` while this process could see it: `watching` (this process's
    own heartbeat) must have been writing for that long -- after a database outage every row
    is old, and nobody is dead for it. Without `watching`, only the pid rule applies."""
    sure = watching is not None and watching.connected_for() >= stale.total_seconds()
    dead = dead_workers(engine, stale=stale if sure else None)
    released, gone = 0, []
    for worker_id, seen in dead.items():
        with engine.begin() as conn:
            removed = delete(WORKER).where(WORKER.c.worker_id == worker_id)
            if seen is not None:
                removed = removed.where(WORKER.c.seen_at <= as_utc(seen))
            if conn.execute(removed).rowcount:
                released += _release(conn, [worker_id])
                gone.append(worker_id)
    if gone:
        log.warning("gave back %d deliveries held by %d stopped process(es): %s", released, len(gone),
                    ", ".join(gone))
    return released


class Heartbeat:
    """This process's row in `worker`, renewed on a thread every HEARTBEAT; on a clean stop,
    the row is removed and whatever the process still held is given back.

    If the row is found gone (this process was silent long enough to be taken for dead, and
    its claims were given back), it goes on under a new id: `renamed` is told, and the claims
    it took under the old id are no longer its own (`holds`)."""

    def __init__(self, engine: Engine, worker_id: str, role: str, *, interval: timedelta = HEARTBEAT,
                 renamed: Callable[[str], None] = lambda worker_id: None) -> None:
        self.engine, self.worker_id, self.role, self.renamed = engine, worker_id, role, renamed
        self.interval = interval.total_seconds()
        self.started_at = utcnow()
        self._last_beat = float("-inf")  # time.monotonic() of the last beat written
        self._writing_since: float | None = None  # first beat of the current unbroken run
        self._registered = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fresh(self) -> bool:
        """Whether this process may still act on its claims: its last beat is recent."""
        return time.monotonic() - self._last_beat < FENCE.total_seconds()

    def holds(self, token: str) -> bool:
        """Whether a claim token taken by this process is still its own to act on."""
        return self.fresh() and token.startswith((f"{self.worker_id}!", f"{self.worker_id}:"))

    def connected_for(self) -> float:
        """Seconds this process has been writing its heartbeat without a miss."""
        return 0.0 if self._writing_since is None else time.monotonic() - self._writing_since

    def beat(self) -> bool:
        started = time.monotonic()
        try:
            if not renew(self.engine, self.worker_id):
                if self._registered:  # not the first beat: it was taken for dead
                    old, self.worker_id = self.worker_id, _renamed(self.worker_id)
                    log.warning("%s was taken for dead and its claims given back; going on as %s", old,
                                self.worker_id)
                    self.renamed(self.worker_id)
                register(self.engine, self.worker_id, self.role, self.started_at)
                self._registered = True
        except Exception as exc:  # the database is out of reach: try again at the next beat
            log.warning("heartbeat of %s not written: %s", self.worker_id, exc)
            self._writing_since = None
            return False
        if self._writing_since is None or started - self._last_beat > self.interval * 2 + 1:
            self._writing_since = started
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

    def stop(self, *, give_back: bool = True) -> None:
        """Stop beating and remove the row; with `give_back`, what the process still holds
        goes back to `pending` (an in-process broker's messages die with the process)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            with self.engine.begin() as conn:
                if give_back:
                    _release(conn, [self.worker_id])
                conn.execute(delete(WORKER).where(WORKER.c.worker_id == self.worker_id))
        except Exception as exc:
            log.warning("could not remove the heartbeat of %s: %s", self.worker_id, exc)


def new_worker_id(base: str) -> str:
    """An id no other process has, here or on another machine: `<base>-<pid>-<random>` (the
    pid once: "scheduler-4242" becomes "scheduler-4242-1a2b3c")."""
    pid = str(os.getpid())
    return f"{base}-{secrets.token_hex(3)}" if base.endswith(f"-{pid}") else f"{base}-{pid}-{secrets.token_hex(3)}"


def _renamed(worker_id: str) -> str:
    return f"{worker_id.rsplit('-', 1)[0]}-{secrets.token_hex(3)}"

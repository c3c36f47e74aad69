"""What the benches share: one process group for every child they start (killed on exit,
on an interrupt and on SIGTERM, so that no scheduler or worker outlives a run and disturbs
the next), the machine's load beside each figure, min/median/max over repeated runs, and
failing loudly.

Why one group: a bench starts a scheduler, a dramatiq supervisor (which forks its worker
processes) and py-spy; each in its own session (`start_new_session`) survived an
interrupted bench. Here an anchor process leads a group that every child joins, so one
`killpg` reaches them all, grandchildren included.
"""

from __future__ import annotations

import atexit
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn


class Children:
    """Every child of this bench in one process group, killed when the bench ends."""

    def __init__(self) -> None:
        # The anchor does nothing; it keeps the group alive while children come and go.
        self.anchor = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], process_group=0)
        self.group = self.anchor.pid
        atexit.register(self.kill)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def start(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(args), process_group=self.group, **kwargs)

    def kill(self) -> None:
        with _quiet():
            os.killpg(self.group, signal.SIGKILL)
        with _quiet():
            self.anchor.wait(5)

    def _on_signal(self, sig: int, _frame: object) -> NoReturn:
        self.kill()
        print(f"bench: stopped by signal {sig}; every child process killed", file=sys.stderr)
        raise SystemExit(128 + sig)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    """Stop one child (and what it forked: a dramatiq supervisor forwards the signal)."""
    if proc.poll() is None:
        with _quiet():
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError, subprocess.TimeoutExpired))


def load() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (2 cores: above 2 means contention)."""
    return [round(x, 2) for x in os.getloadavg()]


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    """min/median/max of repeated runs (None where a run gave no figure)."""
    got = [v for v in values if v is not None]
    if not got:
        return {"min": None, "median": None, "max": None}
    return {"min": round(min(got), 3), "median": round(statistics.median(got), 3), "max": round(max(got), 3)}


def fail(message: str) -> NoReturn:
    """A run that did not deliver everything: no rate is printed, and the bench exits 1."""
    print(f"FAILED: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of one process, from /proc (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(instant: float) -> None:
    time.sleep(max(0.0, instant - time.time()))

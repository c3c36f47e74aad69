"""A settable clock, so `simulate` runs the real pipeline on virtual time."""

from __future__ import annotations

import threading
from datetime import datetime


class VirtualClock:
    def __init__(self, start: datetime):
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = max(self._now, when)

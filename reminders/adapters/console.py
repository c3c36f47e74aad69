"""The console adapter: prints each message in the terminal, for local use and dry runs.

Buttons are shown as the `reminders ack` command that does the same thing, so the whole
loop (remind -> acknowledge) works without any chat platform.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from reminders.adapters.base import Adapter, Address, Capabilities, OutgoingMessage, SendResult
from reminders.settings import Settings
from reminders.timeutil import utcnow


class ConsoleAdapter(Adapter):
    name = "console"
    # No platform, no limits, no latency: its concurrency only bounds the messages printed and
    # not yet recorded (what a crash could print twice). 32 made a burst wait on the recording
    # of each group of 32 (1,300-1,500 deliveries/s against 2,000-2,500 at 256).
    capabilities = Capabilities(buttons=True, groups=True, edits=False, max_text=4096, concurrency=256)

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], datetime] = utcnow,
                 timezone: str = "Asia/Ho_Chi_Minh"):
        self.stream = stream
        self.clock = clock
        self.timezone = timezone
        self._lock = threading.Lock()
        self._count = 0

    @property
    def timezone(self) -> str:
        """The zone of the time printed above each message (simulate sets the roster's)."""
        return self._zone.key

    @timezone.setter
    def timezone(self, name: str) -> None:
        self._zone = ZoneInfo(name)
        self._stamp: tuple[datetime | None, str] = (None, "")  # (minute, its local time as printed)

    def _when(self) -> str:
        """The local time printed above a message, formatted once a minute (a burst prints
        thousands a second)."""
        minute = self.clock().replace(second=0, microsecond=0)
        stamp = self._stamp
        if stamp[0] != minute:
            stamp = self._stamp = (minute, minute.astimezone(self._zone).strftime("%Y-%m-%d %H:%M"))
        return stamp[1]

    @property
    def sent(self) -> int:
        """How many messages it has printed (simulate's count)."""
        with self._lock:
            return self._count

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleAdapter:
        """REMINDERS_CONSOLE_FILE appends messages to a file instead of the terminal."""
        path = settings.console_file
        return cls(open(path, "a", encoding="utf-8") if path else None)  # noqa: SIM115  (open for the process's life)

    def address_in(self, chats: Mapping[str, str], key: str) -> str | None:
        """The terminal reaches everyone, whether or not the roster names a console address."""
        return chats.get(key) or "terminal"

    async def send(self, address: Address, message: OutgoingMessage) -> SendResult:
        when = self._when()
        target = f"{address.label} [{'nhóm' if address.is_group else 'riêng'} {address.chat}]"
        lines = [f"── {when} → {target}", message.text]
        lines += [f"   [{b.label}] reminders ack {b.code}"
                  + (" --snooze" if b.action == "snooze" else "") + " --member <id>"
                  for b in message.buttons]
        with self._lock:
            self._count += 1
            stream = self.stream or sys.stdout
            stream.write("\n".join(lines) + "\n\n")
            stream.flush()
            return SendResult(message_id=str(self._count))

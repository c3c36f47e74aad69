"""Where a duty made in the web console is kept: the one seam to the authored-duty store.

Today a saved draft becomes an .ics file in the calendars directory (as `reminders duties
new` writes it), picked up by every process's hot reload. When duties authored in chat and
console live in the database, `save_duty` and `taken_uids` are the two functions to change;
the console calls nothing else to create a duty.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reminders.definitions.writer import existing_uids, slug, write_new
from reminders.runtime import Runtime
from reminders.views.duty_draft import Draft


def taken_uids(rt: Runtime, calendars: Path) -> Mapping[str, str]:
    """UIDs a new duty must not take: those loaded, and those in files not loaded yet."""
    found = {uid: f"{duty.file}:{duty.line}" for uid, duty in rt.duties.items()}
    found.update(existing_uids(calendars))
    return found


def save_duty(rt: Runtime, calendars: Path, draft: Draft, language: str = "vi") -> str:
    """Keep the draft (never replacing a duty); returns where it went. DutyExists if taken."""
    path = calendars / f"{slug(draft.spec.title)}.ics"
    write_new(path, draft.data, language)
    return str(path)

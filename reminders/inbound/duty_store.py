"""Where a duty made in the web console is kept: the authored-duty store, as for chat.

A saved draft becomes an authored duty in the database (`reminders.definitions.authored`),
checked by the same code as `reminders check`, owned by the admin's commune and picked up by
every process's hot reload. The console calls nothing else to create a duty.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from reminders.definitions import authored
from reminders.definitions.writer import existing_uids
from reminders.runtime import Runtime
from reminders.store.authored import has_table, list_rows
from reminders.views.duty_draft import Draft


def authored_uids(rt: Runtime) -> set[str]:
    """UIDs of the duties written in chat or console (paused ones too): not "từ tỉnh"."""
    if not has_table(rt.engine):
        return set()
    with rt.engine.connect() as conn:
        return {row.uid for row in list_rows(conn)}


def taken_uids(rt: Runtime, calendars: Path) -> Mapping[str, str]:
    """UIDs a new duty must not take: those loaded, in files not loaded yet, or authored."""
    found = {uid: f"{duty.file}:{duty.line}" for uid, duty in rt.duties.items()}
    found.update(existing_uids(calendars))
    found.update({uid: "database" for uid in authored_uids(rt) if uid not in found})
    return found


def save_duty(rt: Runtime, calendars: Path, draft: Draft, commune_id: str, actor: str, now: datetime) -> str:
    """Keep the draft as an authored duty of `commune_id` (never replacing one); returns its UID.
    UidTaken if the UID is in use, NotAllowed unless `actor` is an admin of that commune."""
    row = authored.create(rt.engine, calendars, rt.roster, draft.data.decode("utf-8"), commune_id, actor, now,
                          authority=rt.roster)
    return row.uid

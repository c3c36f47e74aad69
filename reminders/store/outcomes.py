"""Deliveries' outcomes and their audit events, written together: the send path's hot write.

Why: a burst records thousands of outcomes a second, and each has an audit event. The event
is made in the database from the delivery row itself (its occurrence, team, recipient and
kind), so the worker sends only what changed: on PostgreSQL one statement per set of columns
updates the rows and appends their events from the same JSON document (store.arrays), where
building each event in Python and sending it again cost about a sixth of the worker's CPU.

The event's detail is `store.audit.delivery_event`'s ("<kind> via <channel>: <error>"), made
in SQL (tests/store/test_outcome_writes.py compares the two). As before, a record's event is
written whether or not its row is still held under the record's token: it says what the
worker did (a message it sent is in the trail even if another worker took the row meanwhile).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from reminders.kinds import DeliveryStatus
from reminders.store.arrays import execute_raw, json_rows, literal_sql, update_each, update_sql
from reminders.store.models import AUDIT_EVENT, DELIVERY


@dataclass(frozen=True)
class Outcome:
    """One delivery's new column values under the token it is held by, and the name and time
    of its audit event (none for a delivery that only waits, say for a platform's limit)."""

    delivery_id: int
    token: str
    values: dict[str, Any]
    event: str | None = None
    at: datetime | None = None


_INSERT = ("INSERT INTO audit_event (at, event, occurrence_id, delivery_id, team_id, actor, recipient, detail) "
           "SELECT {at}, {event}, d.occurrence_id, d.id, d.team_id, 'system', substr(d.recipient, 1, 128), "
           "substr(d.kind || coalesce(' via ' || nullif({channel}, ''), '') "
           "|| coalesce(': ' || nullif({error}, ''), ''), 1, 2000) FROM ")
_SQLITE_EVENTS = text(_INSERT.format(at=":at", event=":event", channel=":channel", error=":error")
                      + "delivery AS d WHERE d.id = :id").bindparams(bindparam("at", type_=AUDIT_EVENT.c.at.type))


def write_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Each outcome's values on its row, if the row is still claimed under its token, and its
    event, in the caller's transaction."""
    groups: dict[tuple[str, ...], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[tuple(sorted(outcome.values))].append(outcome)
    for group in groups.values():
        if conn.dialect.name == "postgresql":
            _together(conn, group)
        else:
            _one_by_one(conn, group)


def _together(conn: Connection, group: list[Outcome]) -> None:
    """PostgreSQL: the updates and the events in one statement over one JSON document."""
    columns = list(group[0].values)
    names = ["_m_id", "_m_claimed_by", *columns, "_event", "_at"]
    types = [DELIVERY.c.id, DELIVERY.c.claimed_by, *(DELIVERY.c[c] for c in columns), AUDIT_EVENT.c.event,
             AUDIT_EVENT.c.at]
    values, source, params = json_rows(conn.dialect, names, types, [
        [o.delivery_id, o.token, *(o.values[c] for c in columns), o.event, o.at] for o in group])
    update = update_sql(DELIVERY, columns, ("id", "claimed_by"), values, "v",
                        [literal_sql(DELIVERY.c.status == DeliveryStatus.CLAIMED, conn.dialect)])
    events = (_INSERT.format(at=values["_at"], event=values["_event"], channel=values.get("channel", "NULL"),
                             error=values.get("error", "NULL"))
              + f"v JOIN delivery AS d ON d.id = {values['_m_id']} WHERE {values['_event']} IS NOT NULL")
    execute_raw(conn, f"WITH v AS {source}, written AS ({update}) {events}", params)


def _one_by_one(conn: Connection, group: list[Outcome]) -> None:
    """SQLite (one machine, no network): an executemany for the rows, one for the events."""
    update_each(conn, DELIVERY, ("id", "claimed_by"), [((o.delivery_id, o.token), o.values) for o in group],
                only_if=DELIVERY.c.status == DeliveryStatus.CLAIMED)
    events = [{"id": o.delivery_id, "at": o.at, "event": o.event, "channel": o.values.get("channel"),
               "error": o.values.get("error")} for o in group if o.event is not None]
    if events:
        conn.execute(_SQLITE_EVENTS, events)

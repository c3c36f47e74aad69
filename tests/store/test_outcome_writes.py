"""Outcomes written in one statement (store.outcomes, store.arrays) store what SQLAlchemy would, on
SQLite and on PostgreSQL, leave alone a row no longer held under the token it was sent under,
and come with the audit events `delivery_event` would make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from reminders.jobs.send import write_records
from reminders.store.audit import delivery_event
from reminders.store.models import AUDIT_EVENT, DELIVERY, OCCURRENCE
from reminders.store.outcomes import Outcome as Record

SENT_AT = datetime(2024, 10, 1, 1, 2, 3, 456789, tzinfo=UTC)


def _claimed(engine, n: int) -> list[int]:
    start = datetime(2024, 10, 1, tzinfo=UTC)
    with engine.begin() as conn:
        occ = conn.execute(insert(OCCURRENCE).values(
            duty_uid="d", recurrence_id="r", start_at=start, end_at=start + timedelta(hours=1), all_day=False,
            summary="Phát thanh", status="scheduled").returning(OCCURRENCE.c.id)).scalar_one()
        conn.execute(insert(DELIVERY), [{
            "occurrence_id": occ, "recipient": f"person:p{i}", "team_id": "t", "kind": "reminder-0",
            "due_at": start, "expires_at": start + timedelta(hours=2), "status": "claimed", "attempts": 0,
            "claimed_by": f"w!{i % 2}"} for i in range(n)])
        return [r.id for r in conn.execute(select(DELIVERY.c.id).order_by(DELIVERY.c.id))]


def test_outcomes_are_written_under_their_token_only(engine):
    ids = _claimed(engine, 6)
    sent = {"status": "sent", "sent_at": SENT_AT, "attempts": 1, "channel": "console", "address": None,
            "message_id": "7", "error": None}
    # Values the same in every row (one parameter) and values that differ (an array).
    records = [Record(i, "w!0", {**sent, "message_id": str(i)}, "sent", SENT_AT) for i in ids]
    # A retry of another column set (one with an event, one without), and one under a token
    # the row is no longer held by.
    records.append(Record(ids[1], "w!1", {"error": "hết giờ 'x' %s", "attempts": 2}, "retry", SENT_AT))
    records.append(Record(ids[3], "w!1", {"error": "chờ", "attempts": 0}))
    write_records(engine, records)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(DELIVERY))}
        events = conn.execute(select(AUDIT_EVENT).order_by(AUDIT_EVENT.c.delivery_id)).all()
    held = [i for n, i in enumerate(ids) if n % 2 == 0]
    for i in ids:
        row = rows[i]
        if i in held:
            assert (row.status, row.attempts, row.channel, row.message_id) == ("sent", 1, "console", str(i))
            assert row.sent_at.replace(tzinfo=UTC) == SENT_AT  # microseconds and zone kept
        elif i == ids[1]:
            assert (row.status, row.attempts, row.error) == ("claimed", 2, "hết giờ 'x' %s")
        elif i == ids[3]:
            assert (row.status, row.attempts, row.error) == ("claimed", 0, "chờ")
        else:
            assert (row.status, row.sent_at) == ("claimed", None)  # not its token: left alone
    # An audit event for every record that has one, held or not (it says what the worker did),
    # as store.audit.delivery_event makes it from the delivery row.
    assert sorted((e.delivery_id, e.event) for e in events) == sorted([(i, "sent") for i in ids] + [(ids[1], "retry")])
    for event in events:
        row = rows[event.delivery_id]
        record = next(r for r in records if r.delivery_id == row.id and r.event == event.event)
        expected = delivery_event(row, row.id, event.event, SENT_AT, channel=record.values.get("channel"),
                                  error=record.values.get("error"))
        assert (event.occurrence_id, event.team_id, event.actor, event.recipient, event.detail) == (
            expected.occurrence_id, expected.team_id, "system", expected.recipient, expected.detail)
        assert event.at.replace(tzinfo=UTC) == SENT_AT
    assert {e.detail for e in events} == {"reminder-0 via console", "reminder-0: hết giờ 'x' %s"}


def test_a_value_longer_than_its_column_is_refused_on_postgresql_not_cut(engine):
    """As SQLAlchemy's own statement would: PostgreSQL refuses it (SQLite keeps it whole)."""
    import psycopg
    import pytest

    ids = _claimed(engine, 1)
    long_address = "x" * 200  # the column holds 128
    record = Record(ids[0], "w!0", {"status": "sent", "address": long_address})
    if engine.dialect.name == "postgresql":
        with pytest.raises(psycopg.errors.StringDataRightTruncation):
            write_records(engine, [record])
        return
    write_records(engine, [record])
    with engine.connect() as conn:
        assert conn.execute(select(DELIVERY.c.address)).scalar() == long_address

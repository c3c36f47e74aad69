"""Bulk: one insert compiled once and run for many rows on the driver's cursor -- the same
rows as SQLAlchemy would write, on SQLite and PostgreSQL (whose named placeholders it makes
positional), in batches, and by COPY on PostgreSQL only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    literal_column,
    select,
)

from reminders.store.upsert import Bulk, dialect_insert

METADATA = MetaData()
NOTE = Table("bulk_note", METADATA, Column("id", Integer, primary_key=True), Column("key", String(16), unique=True),
             Column("at", DateTime(timezone=True)), Column("note", String(16)))
AT = datetime(2024, 10, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def bulk_engine(database_url):
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(k, a.replace(tzinfo=UTC) if a.tzinfo is None else a, n)
                for k, a, n in conn.execute(select(NOTE.c.key, NOTE.c.at, NOTE.c.note).order_by(NOTE.c.key))]


def test_many_rows_in_batches_and_a_literal_percent_sign(bulk_engine):
    with bulk_engine.begin() as conn:
        insert = dialect_insert(conn, NOTE)
        # The ON CONFLICT's literal "50%": a percent sign the driver must not take for a placeholder.
        stmt = insert.on_conflict_do_update(index_elements=["key"], set_={"at": insert.excluded.at,
                                                                          "note": literal_column("'50%'")})
        bulk = Bulk(conn, stmt, ["note", "key", "at"])
        at = [bulk.value("at", AT + timedelta(hours=n)) for n in range(5)]
        assert bulk.executemany([("new", f"k{n}", at[n]) for n in range(5)], batch=2) == 5
        assert bulk.executemany([("x", "k1", at[4]), ("x", "k5", at[0])], batch=2) == 2
    assert _rows(bulk_engine) == [("k0", AT, "new"), ("k1", AT + timedelta(hours=4), "50%"),
                                  ("k2", AT + timedelta(hours=2), "new"), ("k3", AT + timedelta(hours=3), "new"),
                                  ("k4", AT + timedelta(hours=4), "new"), ("k5", AT, "x")]


def test_copy_on_postgresql_only(bulk_engine):
    with bulk_engine.begin() as conn:
        bulk = Bulk(conn, dialect_insert(conn, NOTE), ["key", "at", "note"])
        rows = [(f"k{n}", bulk.value("at", AT), "tab\there") for n in range(3)]
        if conn.dialect.name != "postgresql":
            with pytest.raises(ValueError, match="COPY"):
                bulk.copy(NOTE, rows)
            return
        assert bulk.copy(NOTE, rows) == 3
    assert _rows(bulk_engine) == [(f"k{n}", AT, "tab\there") for n in range(3)]

"""Alembic migrations match the models on SQLite and PostgreSQL; SQLite moves to PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import ROOT, _postgres_database
from helpers import vn
from sqlalchemy import func, select

from reminders import load_duties, load_roster, plan
from reminders.schedule.dispatcher import claim_due
from reminders.store.engine import make_engine, metadata
from reminders.store.models import DeliveryRow, OccurrenceRow


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_sqlite_moves_to_postgresql_with_one_command(tmp_path, calendars):
    source_url = f"sqlite:///{tmp_path / 'r.db'}"
    source = make_engine(source_url)
    roster = load_roster(calendars / "roster.yaml")
    plan(source, load_duties(calendars, roster), roster, vn(2024, 9, 28))
    with source.connect() as conn:
        deliveries = conn.execute(select(func.count()).select_from(DeliveryRow)).scalar()
    target_url, drop = _postgres_database()
    try:
        result = subprocess.run([sys.executable, "-m", "reminders.cli", "db", "copy", "--to", target_url],
                                capture_output=True, text=True, cwd=ROOT, timeout=120,
                                env={**os.environ, "REMINDERS_DATABASE_URL": source_url})
        assert result.returncode == 0, result.stderr
        assert "Đã chép" in result.stdout
        target = make_engine(target_url)
        with target.connect() as conn:
            assert conn.execute(select(func.count()).select_from(DeliveryRow)).scalar() == deliveries
            assert conn.execute(select(func.count()).select_from(OccurrenceRow)).scalar() > 0
        # The copy is live: planning adds nothing new, claims work, ids keep counting up.
        assert plan(target, load_duties(calendars, roster), roster, vn(2024, 9, 28)).deliveries_upserted == 0
        assert claim_due(target, vn(2024, 10, 1, 7, 0), worker="t")
        again = subprocess.run([sys.executable, "-m", "reminders.cli", "db", "copy", "--to", target_url],
                               capture_output=True, text=True, cwd=ROOT, timeout=120,
                               env={**os.environ, "REMINDERS_DATABASE_URL": source_url})
        assert again.returncode != 0 and "not empty" in again.stderr and "Traceback" not in again.stderr
        target.dispose()
    finally:
        drop()


def test_upgrading_a_0004_database_with_data_to_head_and_back(database_url, calendars):
    """What an existing installation goes through: its schedule at 0004 survives 0005 (audit
    trail, deliveries of no occurrence), a digest row is unique per recipient and kind, and
    the downgrade removes only what 0004 has no place for."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy.dialects import postgresql, sqlite

    from reminders.store.migrate import alembic_config, current, upgrade

    engine = make_engine(database_url, create=False)
    upgrade(engine, "0004")
    roster = load_roster(calendars / "roster.yaml")
    plan(engine, load_duties(calendars, roster), roster, vn(2024, 10, 1, 6, 0))
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(DeliveryRow)).scalar()
    assert before > 0 and current(engine) == "0004"

    upgrade(engine)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    digest = {"occurrence_id": None, "recipient": "person:nguyen-van-an", "team_id": "thon-dong",
              "kind": "digest:2024-W40", "due_at": vn(2024, 10, 7, 8, 0), "expires_at": vn(2024, 10, 8, 8, 0),
              "status": "pending", "attempts": 0}
    with engine.begin() as conn:
        for _ in range(2):  # the second is a no-op: the partial unique index on (recipient, kind)
            conn.execute(dialect.insert(DeliveryRow).values(**digest).on_conflict_do_nothing(
                index_elements=["recipient", "kind"], index_where=DeliveryRow.occurrence_id.is_(None)))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeliveryRow)).scalar() == before + 1
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []

    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeliveryRow)).scalar() == before
    upgrade(engine)
    assert current(engine) == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    engine.dispose()

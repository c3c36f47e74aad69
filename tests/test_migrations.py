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
from reminders.db import make_engine, metadata
from reminders.dispatcher import claim_due
from reminders.models import DeliveryRow, OccurrenceRow


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

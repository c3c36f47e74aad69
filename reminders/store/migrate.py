"""Database migrations (alembic): `reminders db upgrade`, and moving SQLite to PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe when several processes start at once: PostgreSQL
    serialises on an advisory lock; on SQLite a loser of the race retries and finds it done."""
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                config = alembic_config(engine)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def copy_database(source: Engine, target: Engine, batch: int = 5000) -> dict[str, int]:
    """Copy every table from `source` to an empty, upgraded `target` (SQLite -> PostgreSQL)."""
    upgrade(source)
    upgrade(target)
    tables = MetaData()
    tables.reflect(bind=source)
    counts = {}
    with source.connect() as read, target.begin() as write:
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            target_table = MetaData()
            target_table.reflect(bind=write, only=[table.name])
            destination = target_table.tables[table.name]
            if write.execute(select(destination).limit(1)).first() is not None:
                raise RuntimeError(f"table {table.name} in the target database is not empty")
            rows = read.execute(select(table)).mappings()
            counts[table.name] = 0
            while chunk := rows.fetchmany(batch):
                write.execute(destination.insert(), [dict(r) for r in chunk])
                counts[table.name] += len(chunk)
        if write.dialect.name == "postgresql":  # keep id sequences ahead of the copied ids
            for table in tables.sorted_tables:
                if "id" in table.c and table.name != "alembic_version":
                    write.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)")
    return counts

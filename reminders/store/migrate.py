"""Database migrations (alembic): `reminders db upgrade`, and moving SQLite to PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from reminders.errors import RemindersError
from reminders.i18n import N_

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def alembic_config(engine: Engine) -> Config:
    # Alembic is imported where it is used, inside _alembic_quiet: importing it logs each of
    # its plugins at INFO ("setup plugin ..."), in every process that opens a database.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


@contextmanager
def _alembic_quiet() -> Iterator[None]:
    """Alembic says at INFO what it does on every start ("Context impl SQLiteImpl.", "Will
    assume non-transactional DDL.", its plugins): noise in every process's log at
    REMINDERS_LOG_LEVEL=INFO -- the CLI, the web app, each dramatiq worker. Its warnings
    stay; at DEBUG everything shows. Whether the schema changed is said once, below."""
    logger = logging.getLogger("alembic")
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    previous = logger.level
    logger.setLevel(max(logging.WARNING, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)


class NewerSchema(RemindersError):
    """The database's schema revision is not one of ours: a newer reminders migrated it."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe when several processes start at once: PostgreSQL
    serialises on an advisory lock; on SQLite a loser of the race retries and finds it done."""
    for attempt in range(5):
        try:
            with engine.begin() as connection, _alembic_quiet():
                # imported here, quietly: see alembic_config
                from alembic import command
                from alembic.runtime.migration import MigrationContext

                # imported here, quietly: see alembic_config
                from alembic.script import ScriptDirectory

                before = MigrationContext.configure(connection).get_current_revision()
                config = alembic_config(engine)
                known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
                if before is not None and before not in known:  # alembic's own error is a traceback
                    raise NewerSchema(N_("the database was upgraded by a newer version of reminders (schema "
                                         "revision {revision}, unknown to this one); upgrade reminders"),
                                      revision=before)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                after = MigrationContext.configure(connection).get_current_revision()
            if after != before:
                log.info("database schema upgraded from %s to %s", before or "empty", after)
            return
        except (OperationalError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def current(engine: Engine) -> str | None:
    with engine.connect() as connection, _alembic_quiet():
        # imported here, quietly: see alembic_config
        from alembic.runtime.migration import MigrationContext

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
                raise RemindersError(f"table {table.name} in the target database is not empty (copied "
                                     "before?); nothing was copied. Copy into a new, empty database.")
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

"""`reminders db upgrade` and `db copy`: the schema's migrations, and moving SQLite to PostgreSQL."""

from __future__ import annotations

import click

from reminders.cli.common import LANG, friendly, out, process_settings
from reminders.i18n import t
from reminders.store.engine import make_engine
from reminders.store.migrate import copy_database, current, upgrade


@click.group()
def db() -> None:
    """Database schema: migrations, and moving from SQLite to PostgreSQL."""


@db.command("upgrade")
@friendly
def upgrade_command() -> None:
    """Migrate the database named by REMINDERS_DATABASE_URL to the latest schema."""
    engine = make_engine(process_settings().database_url, create=False)
    upgrade(engine)
    out.print(t(LANG, "Database schema at revision {revision}.", revision=current(engine)), markup=False)


@db.command()
@click.option("--from", "source", default=None, help="Source database URL (default: REMINDERS_DATABASE_URL).")
@click.option("--to", "target", required=True, help="Target database URL, e.g. postgresql://user@host/db.")
@friendly
def copy(source: str | None, target: str) -> None:
    """Copy everything to another, empty database (SQLite -> PostgreSQL), schema included."""
    for option, url in (("--from", source), ("--to", target)):
        if url is not None and not url.startswith(("sqlite", "postgresql")):
            raise click.BadParameter(t(LANG, "must start with sqlite:// or postgresql://, not {value}",
                                       value=repr(url.split("://")[0] + "://")), param_hint=option)
    counts = copy_database(make_engine(source or process_settings().database_url, create=False),
                           make_engine(target, create=False))
    out.print(t(LANG, "Copied {rows} rows in {tables} tables.", rows=sum(counts.values()), tables=len(counts)),
              markup=False)

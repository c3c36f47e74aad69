"""INSERT ... ON CONFLICT for SQLite and PostgreSQL: one builder for both dialects.

`dialect_insert(conn, TABLE)` is an insert with `on_conflict_do_nothing` and
`on_conflict_do_update` (and `.excluded`), in the dialect of the engine or connection it
will run on. The two dialects' statements share these methods and arguments
(`index_elements`, `index_where`, `set_`, `where`), so callers use either the same way.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

DialectInsert: TypeAlias = postgresql.Insert | sqlite.Insert


def dialect_insert(bind: Connection | Engine, table: Table) -> DialectInsert:
    """An insert into `table` that can take ON CONFLICT: PostgreSQL's on PostgreSQL, else SQLite's."""
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

"""INSERT ... ON CONFLICT for SQLite and PostgreSQL: one builder for both dialects.

`dialect_insert(conn, TABLE)` is an insert with `on_conflict_do_nothing` and
`on_conflict_do_update` (and `.excluded`), in the dialect of the engine or connection it
will run on. The two dialects' statements share these methods and arguments
(`index_elements`, `index_where`, `set_`, `where`), so callers use either the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, TypeAlias

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import TableClause

DialectInsert: TypeAlias = postgresql.Insert | sqlite.Insert
# A named placeholder of the pyformat style, or a literal percent sign.
_PYFORMAT = re.compile(r"%%|%\(([^)]+)\)s")


def dialect_insert(bind: Connection | Engine, table: Table) -> DialectInsert:
    """An insert into `table` that can take ON CONFLICT: PostgreSQL's on PostgreSQL, else SQLite's."""
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Bulk:
    """An insert of many rows of the same columns, compiled once and run on the driver's cursor.

    Why: SQLAlchemy builds each row's parameters through `construct_params` and its type
    processing, which was 71 % of planning a province (5,000 teams); the driver does the
    same work several times faster. The caller gives each row as a tuple in `keys` order,
    of values already passed through `value` -- once per distinct value, not per row: the
    due time of a reminder is shared by thousands of rows. Values pass through the same
    bind processors (a datetime becomes SQLite's text form exactly as through SQLAlchemy),
    so both paths write the same rows. Runs in `conn`'s transaction.

    PostgreSQL's named placeholders (`%(due_at)s`) are rewritten to positional ones (`%s`),
    so that the driver gets a tuple per row instead of a dict it has to reorder."""

    def __init__(self, conn: Connection, stmt: Insert, keys: Sequence[str]) -> None:
        self.conn = conn
        self.keys = list(keys)
        compiled = stmt.compile(dialect=conn.dialect, column_keys=self.keys)
        # The statement's own literals (ON CONFLICT's WHERE, SET) with the row's keys unset.
        fixed = compiled.construct_params(dict.fromkeys(self.keys))
        # The compiled statement's per-parameter type processing (a private but stable attribute).
        processors: dict[str, Callable[[Any], Any]] = {
            name: proc for name, proc in compiled._bind_processors.items() if callable(proc)}
        self._processors = {key: processors.get(key) for key in self.keys}
        self.sql = compiled.string
        if compiled.positional and compiled.positiontup:
            names = list(compiled.positiontup)
        elif conn.dialect.paramstyle == "pyformat":
            names = []

            def positional(match: re.Match[str]) -> str:
                if match.group(1) is None:
                    return match.group(0)  # a literal "%%"
                names.append(match.group(1))
                return "%s"

            self.sql = _PYFORMAT.sub(positional, compiled.string)
        else:
            raise ValueError(f"paramstyle {conn.dialect.paramstyle} is not supported")
        literal = {name: processors[name](value) if name in processors else value
                   for name, value in fixed.items() if name not in self.keys}
        # Where each placeholder's value comes from: the row (its index) or the statement.
        self._plan = [(self.keys.index(name), None) if name in self.keys else (-1, literal[name])
                      for name in names]
        width = len(self.keys)
        self._tail = tuple(value for _, value in self._plan[width:])
        # Usually the row's columns come first, in order, then the literals: row + tail.
        self._simple = [index for index, _ in self._plan[:width]] == list(range(width)) and all(
            index < 0 for index, _ in self._plan[width:])

    def value(self, key: str, value: Any) -> Any:
        """`value` as the driver gets it for column `key` (through its bind processor)."""
        proc = self._processors[key]
        return proc(value) if proc else value

    def _params(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if self._simple:
            tail = self._tail
            return [row + tail for row in rows] if tail else rows
        plan = self._plan
        return [tuple(row[index] if index >= 0 else value for index, value in plan) for row in rows]

    def executemany(self, rows: Iterable[tuple[Any, ...]], batch: int = 10_000) -> int:
        """Run the statement once per row, `batch` rows at a time; returns how many rows."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open while conn is
        count = 0
        try:
            iterator = iter(rows)
            while part := list(islice(iterator, batch)):
                cursor.executemany(self.sql, self._params(part))
                count += len(part)
        finally:
            cursor.close()
        return count

    def copy(self, table: TableClause, rows: Iterable[tuple[Any, ...]]) -> int:
        """PostgreSQL only: the rows with COPY ... FROM STDIN into `table` (its `keys` columns),
        several times cheaper than an insert per row. A plain insert: only for rows that can
        conflict with none already there (the statement's ON CONFLICT is not applied), nor
        with each other. Returns how many rows."""
        if self.conn.dialect.name != "postgresql":
            raise ValueError("COPY is PostgreSQL's")
        quote = self.conn.dialect.identifier_preparer
        sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(key) for key in self.keys)}) "
               "FROM STDIN")
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open while conn is
        count = 0
        try:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        finally:
            cursor.close()
        return count

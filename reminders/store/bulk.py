"""Many rows in one statement: the send path's hot writes.

Why: a burst records thousands of outcomes a second. Through SQLAlchemy's executemany each
row costs its own parameter building, and on PostgreSQL its own statement in the pipeline
(`BasePipeline` was the largest single cost of the worker, bench/production_burst.py). On
PostgreSQL one statement takes every row as arrays (`unnest`): one parse, one round trip,
one plan. SQLite (one machine, no network) keeps the plain executemany.

Values pass through each column's bind processor, as SQLAlchemy would pass them, so both
paths store the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, any_, bindparam, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def update_each(conn: Connection, table: Table, match: Sequence[str], rows: Sequence[tuple[Sequence[Any], Mapping[str, Any]]],
                *, only_if: ColumnElement[bool] | None = None) -> None:
    """For each (match values, new values) row: UPDATE `table` SET new values WHERE the
    `match` columns equal the match values (and `only_if` holds). Every row sets the same
    columns. A row that matches nothing is left out, as a guarded UPDATE would."""
    if not rows:
        return
    columns = list(rows[0][1])
    if conn.dialect.name != "postgresql":
        where = [table.c[name] == bindparam(f"_m_{name}") for name in match]
        stmt = update(table).where(*where, *([only_if] if only_if is not None else [])).values(
            {name: bindparam(name) for name in columns})
        conn.execute(stmt, [{**{f"_m_{n}": v for n, v in zip(match, keys, strict=True)}, **values}
                            for keys, values in rows])
        return
    names = [*(f"_m_{n}" for n in match), *columns]
    types = [*(table.c[n] for n in match), *(table.c[n] for n in columns)]
    arrays = _arrays(types, [[*keys, *(values[c] for c in columns)] for keys, values in rows])
    guard = f" AND {_literal(only_if)}" if only_if is not None else ""
    sql = (f"UPDATE {table.name} SET " + ", ".join(f"{c} = v.{c}" for c in columns)
           + f" FROM {_unnest(types)} AS v({', '.join(names)}) WHERE "
           + " AND ".join(f"{table.name}.{n} = v._m_{n}" for n in match) + guard)
    _raw(conn, sql, arrays)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT every row (all with the same keys) in one statement on PostgreSQL."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    types = [table.c[n] for n in columns]
    arrays = _arrays(types, [[row[c] for c in columns] for row in rows])
    _raw(conn, f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM {_unnest(types)}", arrays)


def one_of(conn: Connection, column: Column[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(%s)` with the values as one array:
    a hundred placeholders made psycopg parse each statement anew (it caches statements of
    at most 50 parameters) and SQLAlchemy render each one."""
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def _arrays(columns: Sequence[Any], rows: list[list[Any]]) -> list[list[Any]]:
    """Column-wise lists of the rows' values, each through its column's bind processor."""
    out = []
    for i, column in enumerate(columns):
        process = _processor(column.type)
        out.append([process(row[i]) for row in rows] if process else [row[i] for row in rows])
    return out


@cache
def _processor(column_type: Any) -> Callable[[Any], Any] | None:
    return column_type.bind_processor(_PG)  # type: ignore[no-any-return]


def _unnest(columns: Sequence[Any]) -> str:
    return "unnest(" + ", ".join(f"%s::{c.type.compile(dialect=_PG)}[]" for c in columns) + ")"


def _literal(clause: ColumnElement[bool]) -> str:
    return str(and_(clause).compile(dialect=_PG, compile_kwargs={"literal_binds": True}))


def _raw(conn: Connection, sql: str, arrays: list[list[Any]]) -> None:
    """On the connection's own DBAPI cursor, in its transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open while conn is
    try:
        cursor.execute(sql, arrays)
    finally:
        cursor.close()

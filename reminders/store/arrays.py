"""Many rows in one statement, as one JSON document on PostgreSQL: the send path's hot writes.

Why: a burst records thousands of outcomes a second. Through SQLAlchemy's executemany each
row costs its own parameter building, and on PostgreSQL its own statement in the pipeline
(`BasePipeline` was the largest single cost of the worker, bench/production_burst.py). On
PostgreSQL one statement takes every row as one JSON document: one parse, one round trip,
one plan. SQLite (one machine, no network) keeps the plain executemany.

Values pass through each column's bind processor, as SQLAlchemy would pass them, so both
paths store the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    Table,
    TypeDecorator,
    and_,
    any_,
    bindparam,
    insert,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect


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
    values, source, params = json_rows(conn.dialect, names, types,
                                       [[*keys, *(new[c] for c in columns)] for keys, new in rows])
    guard = [literal_sql(only_if, conn.dialect)] if only_if is not None else []
    execute_raw(conn, update_sql(table, columns, match, values, f"{source} AS v", guard), params)


def update_sql(table: Table, columns: Sequence[str], match: Sequence[str], values: Mapping[str, str], source: str,
               guard: Sequence[str] = ()) -> str:
    """UPDATE `table` SET each of `columns` to its SQL in `values` (json_rows), FROM `source`,
    where each `match` column equals its `_m_<name>` value and every `guard` holds."""
    where = [f"{table.name}.{n} = {values[f'_m_{n}']}" for n in match]
    return (f"UPDATE {table.name} SET " + ", ".join(f"{c} = {values[c]}" for c in columns)
            + f" FROM {source} WHERE " + " AND ".join([*where, *guard]))


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT every row (all with the same keys) in one statement on PostgreSQL."""
    if not rows:
        return
    columns = list(rows[0])
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    values, source, params = json_rows(conn.dialect, columns, [table.c[n] for n in columns],
                                       [[row[c] for c in columns] for row in rows])
    execute_raw(conn, f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values[c] for c in columns)} "
                      f"FROM {source} AS v", params)


def json_rows(dialect: Dialect, names: Sequence[str], columns: Sequence[Any],
              rows: list[list[Any]]) -> tuple[dict[str, str], str, dict[str, Any]]:
    """Each column as SQL: a value the same in every row is one parameter, the others come
    from one JSON document of the rows (`json_array_elements`, one row per row; the first
    column is always there). Returns (name -> SQL, a subquery of the rows, to be named `v`,
    the parameters). Each
    value goes through its column's bind processor, in `rows` itself (the callers' own lists). Why JSON: psycopg dumps an array element
    by element in Python, `json.dumps` does the whole document in C."""
    values: dict[str, str] = {}
    params: dict[str, Any] = {}
    varying: list[int] = []
    fields: list[str] = []
    for i, (name, column) in enumerate(zip(names, columns, strict=True)):
        process = _processor(column.type, dialect)
        if process is not None:
            for row in rows:
                row[i] = process(row[i])
        first = rows[0][i]
        # A string without its length: a cast to VARCHAR(n) would cut a longer value silently,
        # where assigning it to the column refuses it, as SQLAlchemy's statement would.
        base = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
        sql_type = "VARCHAR" if isinstance(base, String) else column.type.compile(dialect=dialect)
        if i > 0 and all(row[i] == first and type(row[i]) is type(first) for row in rows):
            params[f"p{i}"] = first
            values[name] = f"%(p{i})s::{sql_type}"
        else:
            fields.append(f"(e->>{len(varying)})::{sql_type} AS {name}")
            varying.append(i)
            values[name] = f"v.{name}"
    params["rows"] = json.dumps([[row[i] for i in varying] for row in rows], default=_json_value,
                                ensure_ascii=False, separators=(",", ":"))
    return values, f"(SELECT {', '.join(fields)} FROM json_array_elements(%(rows)s::json) AS e)", params


def _json_value(value: Any) -> str:
    """A value JSON has no type for (a timestamp, a date), as PostgreSQL reads it from text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not written as JSON")


@cache
def _processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's bind processor on the connection's own dialect (psycopg's)."""
    return column_type.bind_processor(dialect)  # type: ignore[no-any-return]


def literal_sql(clause: ColumnElement[bool], dialect: Dialect) -> str:
    return str(and_(clause).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def execute_raw(conn: Connection, sql: str, params: dict[str, Any]) -> None:
    """On the connection's own DBAPI cursor, in its transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open while conn is
    try:
        cursor.execute(sql, params)
    finally:
        cursor.close()


def one_of(conn: Connection, column: Column[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(%s)` with the values as one array:
    a hundred placeholders made psycopg parse each statement anew (it caches statements of
    at most 50 parameters) and SQLAlchemy render each one."""
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))

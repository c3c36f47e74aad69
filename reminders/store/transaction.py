"""One transaction for everything an action writes.

An inbound update is recorded together with what it did (the acknowledgement, its audit
event, a snooze, a binding, an invite redeemed, a feed link): if the process dies or the
database fails half-way, none of it was written, and the platform's retry does it all
again. So the store's helpers take `Bind` -- an engine (they open and commit their own
transaction) or a connection (they join the caller's transaction, which the caller
commits or rolls back as one).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

from sqlalchemy.engine import Connection, Engine

Bind: TypeAlias = Engine | Connection


@contextmanager
def writing(bind: Bind) -> Iterator[Connection]:
    """A connection to write with: the caller's own, in its transaction (nothing is committed
    here), or a new one whose transaction commits when the block ends without an error."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.begin() as conn:
        yield conn


@contextmanager
def reading(bind: Bind) -> Iterator[Connection]:
    """A connection to read with: the caller's own (it sees the caller's uncommitted writes),
    or a new one."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as conn:
        yield conn

"""Chat bindings: run-time addresses that take precedence over the roster's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reminders.kinds import BindingStatus
from reminders.store.arrays import one_of
from reminders.store.models import CHAT_BINDING
from reminders.store.transaction import Bind, reading, writing
from reminders.store.upsert import dialect_insert


def bindings_for_many(conn: Connection, recipients: Iterable[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """recipient -> adapter -> (address, status), for a batch of recipients in one query."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    wanted = list(recipients)
    for start in range(0, len(wanted), 1000):
        rows = conn.execute(select(CHAT_BINDING.c.recipient, CHAT_BINDING.c.adapter, CHAT_BINDING.c.address,
                                   CHAT_BINDING.c.status)
                            .where(one_of(conn, CHAT_BINDING.c.recipient, wanted[start:start + 1000]))).all()
        for r in rows:
            found.setdefault(r.recipient, {})[r.adapter] = (r.address, r.status)
    return found


def bound_groups(conn: Connection) -> frozenset[str]:
    """The teams with a group chat bound at run time (`/bind`, active): their ids. The planner
    counts them like a group chat in the roster (reminders.definitions.audience)."""
    rows = conn.execute(select(CHAT_BINDING.c.recipient).distinct().where(
        CHAT_BINDING.c.recipient.startswith("team:"), CHAT_BINDING.c.status == BindingStatus.ACTIVE)).scalars()
    return frozenset(recipient.partition(":")[2] for recipient in rows)


def bind(engine: Bind, recipient: str, adapter: str, address: str, now: datetime, *,
         status: str = BindingStatus.ACTIVE, reason: str | None = None) -> None:
    """Insert or replace the binding of `recipient` on `adapter` (in the caller's transaction
    when given a connection)."""
    stmt = dialect_insert(engine, CHAT_BINDING).values(recipient=recipient, adapter=adapter, address=address,
                                                        status=status, reason=reason, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["recipient", "adapter"], set_={
        "address": address, "status": status, "reason": reason, "updated_at": now})
    with writing(engine) as conn:
        conn.execute(stmt)


def recipient_by_address(engine: Bind, adapter: str, address: str) -> str | None:
    """Who a platform address belongs to, by binding (active ones only)."""
    with reading(engine) as conn:
        return conn.execute(select(CHAT_BINDING.c.recipient).where(
            CHAT_BINDING.c.adapter == adapter, CHAT_BINDING.c.address == address,
            CHAT_BINDING.c.status == BindingStatus.ACTIVE)).scalar()

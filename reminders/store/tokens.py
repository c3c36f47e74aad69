"""Platform tokens in the database (the Zalo OA's), shared by every process (workers, web, bot).

Access tokens last about 25 hours. Refresh tokens are single-use and rotate: each refresh
returns a new pair and the old refresh token stops working, so the new pair is written
(committed) before it is used, and only one process refreshes at a time (a short lease on
the row; the others wait for the new token). Initial tokens come from the environment; the
table remembers a hash of the refresh token it was seeded from, so putting freshly
authorised tokens in the environment replaces the stored ones.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine

from reminders.adapters.base import Tokens
from reminders.store.models import PLATFORM_TOKEN, AnyRow
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc, from_naive_utc

REFRESH_LEASE = timedelta(seconds=30)


def _now() -> datetime:
    # Token lifetimes are real time, whatever clock the reminders run on.
    return datetime.now(UTC)


def _tokens(row: AnyRow) -> Tokens:
    expires = row.access_expires_at
    return Tokens(row.access_token, row.refresh_token, from_naive_utc(expires) if expires else None)


def seed_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def load(engine: Engine, app_id: str, initial: Tokens) -> Tokens:
    """The stored pair; seeded from `initial` (the environment's) when there is none, or when
    the environment holds tokens other than the ones the stored pair descends from."""
    fingerprint = seed_hash(initial.refresh_token)
    with engine.begin() as conn:
        row = conn.execute(select(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id)).first()
        if row is not None and row.seed_hash == fingerprint:
            return _tokens(row)
        values = {"access_token": initial.access_token, "refresh_token": initial.refresh_token,
                  "access_expires_at": None, "seed_hash": fingerprint, "refreshing_by": None,
                  "refreshing_until": None, "updated_at": as_utc(_now())}
        if row is None:  # another process may seed it at the same moment: the first one wins
            conn.execute(dialect_insert(conn, PLATFORM_TOKEN).values(app_id=app_id, **values).on_conflict_do_nothing())
        else:
            conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id).values(**values))
    with engine.connect() as conn:
        return _tokens(conn.execute(select(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id)).one())


def current(engine: Engine, app_id: str) -> Tokens | None:
    with engine.connect() as conn:
        row = conn.execute(select(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id)).first()
    return _tokens(row) if row else None


def claim_refresh(engine: Engine, app_id: str, stale_access: str, owner: str) -> Tokens | None:
    """Take the refresh lease if the stored access token is still `stale_access` and nobody
    else is refreshing: the stored pair (whose refresh token the caller may now spend), or None."""
    now = _now()
    with engine.begin() as conn:
        taken = conn.execute(
            update(PLATFORM_TOKEN)
            .where(PLATFORM_TOKEN.c.app_id == app_id, PLATFORM_TOKEN.c.access_token == stale_access,
                   or_(PLATFORM_TOKEN.c.refreshing_until.is_(None), PLATFORM_TOKEN.c.refreshing_until < as_utc(now)))
            .values(refreshing_by=owner, refreshing_until=as_utc(now + REFRESH_LEASE))
        ).rowcount
        if taken != 1:
            return None
        return _tokens(conn.execute(select(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id)).one())


def store_refreshed(engine: Engine, app_id: str, tokens: Tokens) -> None:
    """Persist a freshly issued pair (committed when this returns) and release the lease.
    Unconditional: the pair just issued is the only one that works now."""
    with engine.begin() as conn:
        conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id).values(
            access_token=tokens.access_token, refresh_token=tokens.refresh_token,
            access_expires_at=as_utc(tokens.access_expires_at) if tokens.access_expires_at else None,
            refreshing_by=None, refreshing_until=None, updated_at=as_utc(_now())))


def release(engine: Engine, app_id: str, owner: str) -> None:
    """Give up the lease after a failed refresh."""
    with engine.begin() as conn:
        conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id,
                                                PLATFORM_TOKEN.c.refreshing_by == owner)
                     .values(refreshing_by=None, refreshing_until=None))


class TokenTable:
    """The `TokenStore` adapters are lent (AdapterServices): these functions on one engine."""

    refresh_lease = REFRESH_LEASE

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, account: str, initial: Tokens) -> Tokens:
        return load(self.engine, account, initial)

    def current(self, account: str) -> Tokens | None:
        return current(self.engine, account)

    def claim_refresh(self, account: str, stale_access: str, owner: str) -> Tokens | None:
        return claim_refresh(self.engine, account, stale_access, owner)

    def store_refreshed(self, account: str, tokens: Tokens) -> None:
        store_refreshed(self.engine, account, tokens)

    def release(self, account: str, owner: str) -> None:
        release(self.engine, account, owner)

"""Platform tokens in the database (the Zalo OA's), shared by every process (workers, web, bot).

Access tokens last about 25 hours. Refresh tokens are single-use and rotate: each refresh
returns a new pair and the old refresh token stops working, so the new pair is written
(committed) before it is used, and only one process refreshes at a time (a short lease on
the row; the others wait for the new token). Initial tokens come from the environment; the
table remembers a hash of the refresh token it was seeded from, so putting freshly
authorised tokens in the environment replaces the stored ones.

Both tokens are stored sealed with REMINDERS_SECRET_KEY (reminders.store.sealing): a copy of
the database does not give the OA away. Without the key nothing is stored: a process refuses
to start when the table holds tokens and no key is set, and an adapter cannot seed the table
without one. Rows written in clear by an earlier version are sealed when a process first
starts with a key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine

from reminders.adapters.base import Tokens
from reminders.errors import ConfigurationError
from reminders.store.models import PLATFORM_TOKEN, AnyRow
from reminders.store.sealing import Sealer, SealError, is_sealed
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc, from_naive_utc

REFRESH_LEASE = timedelta(seconds=30)
NEW_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _now() -> datetime:
    # Token lifetimes are real time, whatever clock the reminders run on.
    return datetime.now(UTC)


def _open(sealer: Sealer | None, value: str) -> str:
    if not is_sealed(value):
        return value  # written in clear by an earlier version, before this process sealed it
    if sealer is None:
        raise ConfigurationError("REMINDERS_SECRET_KEY is not set, and the Zalo OA tokens in the database are "
                                 "sealed with it: set it to the key they were sealed with")
    try:
        return sealer.open(value)
    except SealError:
        raise ConfigurationError(
            "REMINDERS_SECRET_KEY does not open the Zalo OA tokens stored in the database (they were sealed with "
            "another key, or changed): set the key they were sealed with, or authorise the OA again and put the "
            "new pair in ZALO_OA_ACCESS_TOKEN and ZALO_OA_REFRESH_TOKEN") from None


def _seal(sealer: Sealer | None, value: str) -> str:
    if sealer is None:
        raise ConfigurationError("REMINDERS_SECRET_KEY must be set to keep Zalo OA tokens: they are stored sealed "
                                 f"with it (at least 32 characters, e.g. from `{NEW_KEY}`)")
    return sealer.seal(value)


def _tokens(row: AnyRow, sealer: Sealer | None) -> Tokens:
    expires = row.access_expires_at
    return Tokens(_open(sealer, row.access_token), _open(sealer, row.refresh_token),
                  from_naive_utc(expires) if expires else None)


def _pair(sealer: Sealer | None, access_token: str, refresh_token: str) -> dict[str, str]:
    return {"access_token": _seal(sealer, access_token), "refresh_token": _seal(sealer, refresh_token)}


def seed_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def prepare(engine: Engine, sealer: Sealer | None) -> int:
    """At a process's start: refuse to run without a key when the table holds tokens, and
    seal the rows an earlier version wrote in clear. Returns how many rows were sealed."""
    with engine.connect() as conn:
        rows = conn.execute(select(PLATFORM_TOKEN.c.app_id, PLATFORM_TOKEN.c.access_token,
                                   PLATFORM_TOKEN.c.refresh_token)).all()
    if not rows:
        return 0
    if sealer is None:
        clear = any(not is_sealed(r.access_token) or not is_sealed(r.refresh_token) for r in rows)
        raise ConfigurationError(
            "the database holds Zalo OA tokens " + ("in clear text" if clear else "sealed with a key")
            + ", and REMINDERS_SECRET_KEY is not set: set it ("
            + (f"at least 32 characters, e.g. from `{NEW_KEY}`; the tokens are sealed with it at the next start"
               if clear else "to the key they were sealed with") + ")")
    sealed = 0
    for row in rows:
        if is_sealed(row.access_token) and is_sealed(row.refresh_token):
            continue
        with engine.begin() as conn:  # only if unchanged since read (another process may seal it too)
            sealed += conn.execute(update(PLATFORM_TOKEN).where(
                PLATFORM_TOKEN.c.app_id == row.app_id, PLATFORM_TOKEN.c.access_token == row.access_token,
                PLATFORM_TOKEN.c.refresh_token == row.refresh_token,
            ).values(
                access_token=row.access_token if is_sealed(row.access_token) else sealer.seal(row.access_token),
                refresh_token=row.refresh_token if is_sealed(row.refresh_token) else sealer.seal(row.refresh_token),
            )).rowcount
    return sealed


def load(engine: Engine, app_id: str, initial: Tokens, sealer: Sealer | None = None) -> Tokens:
    """The stored pair; seeded from `initial` (the environment's) when there is none, or when
    the environment holds tokens other than the ones the stored pair descends from."""
    fingerprint = seed_hash(initial.refresh_token)
    with engine.begin() as conn:
        row = _row(conn, app_id)
        if row is not None and row.seed_hash == fingerprint:
            return _tokens(row, sealer)
        values = {**_pair(sealer, initial.access_token, initial.refresh_token),
                  "access_expires_at": None, "seed_hash": fingerprint, "refreshing_by": None,
                  "refreshing_until": None, "updated_at": as_utc(_now())}
        if row is None:  # another process may seed it at the same moment: the first one wins
            conn.execute(dialect_insert(conn, PLATFORM_TOKEN).values(app_id=app_id, **values).on_conflict_do_nothing())
        else:
            conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id).values(**values))
    with engine.connect() as conn:
        stored = _row(conn, app_id)
    assert stored is not None  # just written (by this process or the one that won the race)
    return _tokens(stored, sealer)


def _row(conn: Connection, app_id: str) -> AnyRow | None:
    return conn.execute(select(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id)).first()


def current(engine: Engine, app_id: str, sealer: Sealer | None = None) -> Tokens | None:
    with engine.connect() as conn:
        row = _row(conn, app_id)
    return _tokens(row, sealer) if row else None


def claim_refresh(engine: Engine, app_id: str, stale_access: str, owner: str,
                  sealer: Sealer | None = None) -> Tokens | None:
    """Take the refresh lease if the stored access token is still `stale_access` and nobody
    else is refreshing: the stored pair (whose refresh token the caller may now spend), or None."""
    now = _now()
    with engine.connect() as conn:
        row = _row(conn, app_id)
    # Sealing is not deterministic: the stored access token is compared opened, and the lease
    # is taken on the exact row read (its sealed value), as one guarded UPDATE.
    if row is None or _open(sealer, row.access_token) != stale_access:
        return None
    with engine.begin() as conn:
        taken = conn.execute(
            update(PLATFORM_TOKEN)
            .where(PLATFORM_TOKEN.c.app_id == app_id, PLATFORM_TOKEN.c.access_token == row.access_token,
                   or_(PLATFORM_TOKEN.c.refreshing_until.is_(None), PLATFORM_TOKEN.c.refreshing_until < as_utc(now)))
            .values(refreshing_by=owner, refreshing_until=as_utc(now + REFRESH_LEASE))
        ).rowcount
    return _tokens(row, sealer) if taken == 1 else None


def store_refreshed(engine: Engine, app_id: str, tokens: Tokens, sealer: Sealer | None = None) -> None:
    """Persist a freshly issued pair (committed when this returns) and release the lease.
    Unconditional: the pair just issued is the only one that works now."""
    values = _pair(sealer, tokens.access_token, tokens.refresh_token)
    with engine.begin() as conn:
        conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id).values(
            **values, access_expires_at=as_utc(tokens.access_expires_at) if tokens.access_expires_at else None,
            refreshing_by=None, refreshing_until=None, updated_at=as_utc(_now())))


def release(engine: Engine, app_id: str, owner: str) -> None:
    """Give up the lease after a failed refresh."""
    with engine.begin() as conn:
        conn.execute(update(PLATFORM_TOKEN).where(PLATFORM_TOKEN.c.app_id == app_id,
                                                PLATFORM_TOKEN.c.refreshing_by == owner)
                     .values(refreshing_by=None, refreshing_until=None))


class TokenTable:
    """The `TokenStore` adapters are lent (AdapterServices): these functions on one engine,
    sealing with REMINDERS_SECRET_KEY. Made once per process at its start: it refuses to go
    on (ConfigurationError) when the table holds tokens and there is no key, and seals rows
    left in clear."""

    refresh_lease = REFRESH_LEASE

    def __init__(self, engine: Engine, secret_key: SecretStr | str | None = None) -> None:
        self.engine = engine
        key = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        self._sealer = Sealer(key) if key else None
        prepare(engine, self._sealer)

    def load(self, account: str, initial: Tokens) -> Tokens:
        return load(self.engine, account, initial, self._sealer)

    def current(self, account: str) -> Tokens | None:
        return current(self.engine, account, self._sealer)

    def claim_refresh(self, account: str, stale_access: str, owner: str) -> Tokens | None:
        return claim_refresh(self.engine, account, stale_access, owner, self._sealer)

    def store_refreshed(self, account: str, tokens: Tokens) -> None:
        store_refreshed(self.engine, account, tokens, self._sealer)

    def release(self, account: str, owner: str) -> None:
        release(self.engine, account, owner)

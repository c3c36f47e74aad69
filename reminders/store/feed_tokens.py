"""Feed tokens: 128+ bits from `secrets`, stored hashed, revocable and rotatable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.store.models import FEED_TOKEN
from reminders.timeutil import as_utc


@dataclass(frozen=True)
class FeedToken:
    id: int
    scope: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, scope: str, now: datetime, label: str = "") -> tuple[int, str]:
    """A new token (160 bits, URL-safe) for `scope`; returns (id, token). Only the hash is kept."""
    token = secrets.token_urlsafe(20)
    with engine.begin() as conn:
        row_id = conn.execute(FEED_TOKEN.insert().values(
            token_hash=_hash(token), scope=scope, label=label, created_at=as_utc(now)
        ).returning(FEED_TOKEN.c.id)).scalar_one()
    return row_id, token


def scope_for(engine: Engine, token: str) -> str | None:
    """The scope of a live token, or None (unknown and revoked look the same)."""
    if not token or len(token) > 128:
        return None
    with engine.connect() as conn:
        return conn.execute(select(FEED_TOKEN.c.scope).where(
            FEED_TOKEN.c.token_hash == _hash(token), FEED_TOKEN.c.revoked_at.is_(None))).scalar()


def revoke(engine: Engine, token_id: int, now: datetime) -> bool:
    with engine.begin() as conn:
        return conn.execute(update(FEED_TOKEN).where(FEED_TOKEN.c.id == token_id, FEED_TOKEN.c.revoked_at.is_(None))
                            .values(revoked_at=as_utc(now))).rowcount == 1


def rotate(engine: Engine, token_id: int, now: datetime) -> tuple[int, str] | None:
    """Revoke a token and issue a new one for the same scope."""
    with engine.connect() as conn:
        row = conn.execute(select(FEED_TOKEN.c.scope, FEED_TOKEN.c.label).where(FEED_TOKEN.c.id == token_id)).first()
    if row is None or not revoke(engine, token_id, now):
        return None
    return create_token(engine, row.scope, now, row.label)


def list_tokens(engine: Engine) -> list[FeedToken]:
    with engine.connect() as conn:
        rows = conn.execute(select(FEED_TOKEN.c.id, FEED_TOKEN.c.scope, FEED_TOKEN.c.label,
                                   FEED_TOKEN.c.created_at, FEED_TOKEN.c.revoked_at).order_by(FEED_TOKEN.c.id)).all()
    return [FeedToken(*row) for row in rows]


def feed_links(base_url: str, token: str) -> tuple[str, str]:
    """(https link, webcal link) for a token."""
    https = f"{base_url.rstrip('/')}/feeds/{token}.ics"
    return https, "webcal://" + https.split("://", 1)[1]

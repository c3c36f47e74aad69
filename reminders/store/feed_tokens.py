"""Feed tokens: 128+ bits from `secrets`, stored hashed, revocable and rotatable.

A person's own link (`/calendar` in a chat) has an `owner`. With REMINDERS_SECRET_KEY set,
a sealed copy of the token is kept too, so asking again gives the same link; without a
key it cannot be given again, and a person keeps at most `MAX_OWN_LINKS` live links: a new
one revokes the oldest."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.store.models import FEED_TOKEN
from reminders.store.sealing import Sealer, SealError
from reminders.store.transaction import Bind, writing
from reminders.timeutil import as_utc

MAX_OWN_LINKS = 3  # live /calendar links per person; a new one beyond this revokes the oldest


@dataclass(frozen=True)
class FeedToken:
    id: int
    scope: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OwnLink:
    """The token of a person's own link, whether it was given before, and how many of their
    older links it revoked (only without a key: at most MAX_OWN_LINKS live)."""

    token: str
    again: bool
    revoked: int


def create_token(engine: Bind, scope: str, now: datetime, label: str = "", *, owner: str | None = None,
                 sealer: Sealer | None = None) -> tuple[int, str]:
    """A new token (160 bits, URL-safe) for `scope`; returns (id, token). Only the hash is
    kept, and with a `sealer` a sealed copy, so that the same link can be given again."""
    token = secrets.token_urlsafe(20)
    with writing(engine) as conn:
        row_id = conn.execute(FEED_TOKEN.insert().values(
            token_hash=_hash(token), scope=scope, label=label, created_at=as_utc(now), owner=owner,
            sealed=sealer.seal(token) if sealer else None,
        ).returning(FEED_TOKEN.c.id)).scalar_one()
    return row_id, token


def own_link(engine: Bind, owner: str, scope: str, now: datetime, *, label: str = "",
             sealer: Sealer | None = None) -> OwnLink:
    """The person's live link for `scope`, given again if its sealed copy opens with this
    key; else a new one. The owner's live links beyond MAX_OWN_LINKS are revoked, oldest first."""
    with writing(engine) as conn:
        live = conn.execute(select(FEED_TOKEN.c.id, FEED_TOKEN.c.scope, FEED_TOKEN.c.sealed).where(
            FEED_TOKEN.c.owner == owner, FEED_TOKEN.c.revoked_at.is_(None)).order_by(FEED_TOKEN.c.id.desc())).all()
        if sealer is not None:
            for row in live:
                if row.scope == scope and row.sealed:
                    try:
                        return OwnLink(sealer.open(row.sealed), again=True, revoked=0)
                    except SealError:
                        continue  # sealed with another key: cannot be given again
        _, token = create_token(conn, scope, now, label, owner=owner, sealer=sealer)
        oldest = [row.id for row in live[MAX_OWN_LINKS - 1:]]
        if oldest:
            conn.execute(update(FEED_TOKEN).where(FEED_TOKEN.c.id.in_(oldest)).values(revoked_at=as_utc(now)))
    return OwnLink(token, again=False, revoked=len(oldest))


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

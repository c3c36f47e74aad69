"""Signing in to the web console without a password: one-time links and sessions.

An admin sends /login to the bot; the bot answers with a link holding a random token that
works once, within LINK_VALID, for that person only. Opening it starts a session: its id
goes in a signed cookie, and only the id's hash is kept here, with the admin and the
commune it is scoped to, an expiry, and a revocation time. A copy of the database signs in
nobody: it holds hashes only.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, ColumnElement, select, update
from sqlalchemy.engine import Engine

from reminders.store.models import ADMIN_LOGIN, ADMIN_SESSION
from reminders.store.transaction import Bind, writing
from reminders.timeutil import as_utc

LINK_VALID = timedelta(minutes=10)
SESSION_LENGTH = timedelta(hours=12)  # a working day on the phone; then /login again
MAX_TOKEN = 128


@dataclass(frozen=True)
class Admin:
    """Who a link or session belongs to, and the commune they act for."""

    person_id: str
    commune_id: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_login(bind: Bind, person_id: str, commune_id: str, now: datetime) -> str:
    """A new one-time link token (160 bits); the person's earlier unused links stop working."""
    token = secrets.token_urlsafe(20)
    with writing(bind) as conn:
        conn.execute(update(ADMIN_LOGIN).where(ADMIN_LOGIN.c.person_id == person_id, ADMIN_LOGIN.c.used_at.is_(None))
                     .values(used_at=as_utc(now)))
        conn.execute(ADMIN_LOGIN.insert().values(token_hash=_hash(token), person_id=person_id, commune_id=commune_id,
                                                 created_at=as_utc(now), expires_at=as_utc(now + LINK_VALID)))
    return token


def login_holder(engine: Engine, token: str, now: datetime) -> Admin | None:
    """Whose live link this is, without spending it; None if unknown, used or expired."""
    return _holder(engine, ADMIN_LOGIN.c.token_hash, token, ADMIN_LOGIN.c.used_at.is_(None),
                   ADMIN_LOGIN.c.expires_at > as_utc(now))


def redeem_login(bind: Bind, token: str, now: datetime) -> Admin | None:
    """Spend a link: its admin, once (the update is the check: two tabs racing get one
    session); None if unknown, already used or older than LINK_VALID."""
    if not token or len(token) > MAX_TOKEN:
        return None
    with writing(bind) as conn:
        row = conn.execute(update(ADMIN_LOGIN).where(
            ADMIN_LOGIN.c.token_hash == _hash(token), ADMIN_LOGIN.c.used_at.is_(None),
            ADMIN_LOGIN.c.expires_at > as_utc(now)).values(used_at=as_utc(now))
            .returning(ADMIN_LOGIN.c.person_id, ADMIN_LOGIN.c.commune_id)).first()
    return Admin(row.person_id, row.commune_id) if row else None


def open_session(bind: Bind, admin: Admin, now: datetime) -> str:
    """A new session id (256 bits) for `admin`; only its hash is kept."""
    session_id = secrets.token_urlsafe(32)
    with writing(bind) as conn:
        conn.execute(ADMIN_SESSION.insert().values(
            session_hash=_hash(session_id), person_id=admin.person_id, commune_id=admin.commune_id,
            created_at=as_utc(now), expires_at=as_utc(now + SESSION_LENGTH)))
    return session_id


def session_admin(engine: Engine, session_id: str, now: datetime) -> Admin | None:
    """The admin of a live session; None if unknown, expired or revoked."""
    return _holder(engine, ADMIN_SESSION.c.session_hash, session_id, ADMIN_SESSION.c.revoked_at.is_(None),
                   ADMIN_SESSION.c.expires_at > as_utc(now))


def _holder(engine: Engine, hashed: Column[str], secret: str, *live: ColumnElement[bool]) -> Admin | None:
    """The admin of the row whose `hashed` column holds the secret's hash, while `live` holds."""
    if not secret or len(secret) > MAX_TOKEN:
        return None
    table = hashed.table
    with engine.connect() as conn:
        row = conn.execute(select(table.c.person_id, table.c.commune_id).where(
            hashed == _hash(secret), *live)).first()
    return Admin(row.person_id, row.commune_id) if row else None


def revoke_session(bind: Bind, session_id: str, now: datetime) -> bool:
    with writing(bind) as conn:
        return conn.execute(update(ADMIN_SESSION).where(
            ADMIN_SESSION.c.session_hash == _hash(session_id), ADMIN_SESSION.c.revoked_at.is_(None))
            .values(revoked_at=as_utc(now))).rowcount == 1


def revoke_sessions_of(bind: Bind, person_id: str, now: datetime) -> int:
    """Sign a person out everywhere (their role was taken away, a phone was lost)."""
    with writing(bind) as conn:
        return int(conn.execute(update(ADMIN_SESSION).where(
            ADMIN_SESSION.c.person_id == person_id, ADMIN_SESSION.c.revoked_at.is_(None))
            .values(revoked_at=as_utc(now))).rowcount)

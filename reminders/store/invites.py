"""One-time invite codes: `reminders members invite` makes them, `/start <code>` redeems them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine

from reminders.store.models import INVITE
from reminders.store.transaction import Bind, writing
from reminders.timeutil import as_utc


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def create_invite(engine: Engine, person_id: str, now: datetime) -> str:
    """A new code (about 80 bits, URL-safe: fits a deep link such as t.me's); only its hash is kept.

    The person's earlier unused codes stop working: a code links whoever redeems it to
    that person (an admin's card gives admin commands), so a reprinted card must not
    leave the lost or old one live."""
    code = secrets.token_urlsafe(10)
    with engine.begin() as conn:
        conn.execute(update(INVITE).where(INVITE.c.person_id == person_id, INVITE.c.used_at.is_(None))
                     .values(used_at=as_utc(now)))
        conn.execute(INVITE.insert().values(code_hash=_hash(code), person_id=person_id,
                                                         created_at=as_utc(now)))
    return code


def redeem(engine: Bind, code: str, now: datetime) -> str | None:
    """The person the code was made for, once; None if unknown or already used (in the
    caller's transaction when given a connection: the code is spent only if it commits)."""
    with writing(engine) as conn:
        row = conn.execute(update(INVITE).where(INVITE.c.code_hash == _hash(code), INVITE.c.used_at.is_(None))
                           .values(used_at=as_utc(now)).returning(INVITE.c.person_id)).first()
    return row.person_id if row else None

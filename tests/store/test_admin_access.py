"""Console sign-in links and sessions in the store: once, in time, hashes only, revocable."""

from __future__ import annotations

from datetime import timedelta

from helpers import vn
from sqlalchemy import select

from reminders.store.admin_access import (
    Admin,
    create_login,
    login_holder,
    open_session,
    redeem_login,
    revoke_session,
    revoke_sessions_of,
    session_admin,
)
from reminders.store.models import ADMIN_LOGIN, ADMIN_SESSION

NOW = vn(2024, 10, 2, 10, 0)
ADMIN = Admin("quan-tri-xa", "xa-tan-lap")


def test_a_link_is_spent_once_and_only_within_ten_minutes(engine):
    token = create_login(engine, ADMIN.person_id, ADMIN.commune_id, NOW)
    assert login_holder(engine, token, NOW) == ADMIN  # looking does not spend it
    assert redeem_login(engine, token, NOW + timedelta(minutes=9)) == ADMIN
    assert redeem_login(engine, token, NOW + timedelta(minutes=9)) is None
    late = create_login(engine, ADMIN.person_id, ADMIN.commune_id, NOW)
    assert redeem_login(engine, late, NOW + timedelta(minutes=10)) is None
    first = create_login(engine, ADMIN.person_id, ADMIN.commune_id, NOW)
    second = create_login(engine, ADMIN.person_id, ADMIN.commune_id, NOW)
    assert redeem_login(engine, first, NOW) is None, "a newer link replaces the older one"
    assert redeem_login(engine, second, NOW) == ADMIN
    for bad in ("", "x" * 300, token[:-1]):
        assert redeem_login(engine, bad, NOW) is None
    with engine.connect() as conn:
        stored = [row.token_hash for row in conn.execute(select(ADMIN_LOGIN.c.token_hash))]
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_sessions_expire_and_are_revoked(engine):
    session = open_session(engine, ADMIN, NOW)
    assert session_admin(engine, session, NOW + timedelta(hours=11)) == ADMIN
    assert session_admin(engine, session, NOW + timedelta(hours=12)) is None
    assert revoke_session(engine, session, NOW) and session_admin(engine, session, NOW) is None
    again, other = open_session(engine, ADMIN, NOW), open_session(engine, ADMIN, NOW)
    assert revoke_sessions_of(engine, ADMIN.person_id, NOW) == 2
    assert session_admin(engine, again, NOW) is None and session_admin(engine, other, NOW) is None
    with engine.connect() as conn:
        assert again not in {row.session_hash for row in conn.execute(select(ADMIN_SESSION.c.session_hash))}

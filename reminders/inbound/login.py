"""`/login`: an admin asks the bot for a one-time link that signs them in to the web console.

The link is the only credential: it goes to the admin's own private chat (never a group,
where everyone would read it), works once, for ten minutes, and for that person only.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Connection

from reminders.adapters.base import Inbound, Outcome
from reminders.definitions.roster import Person
from reminders.i18n import N_, t
from reminders.runtime import Runtime
from reminders.store.admin_access import LINK_VALID, create_login

log = logging.getLogger(__name__)
LOGIN_PATH = "/admin/login/"
ONLY_ADMINS = N_("Sorry, {command} is only for admins.")
IN_PRIVATE = N_("Send /login to me in a private chat: a sign-in link must not be shown to a group.")
NOT_SET_UP = N_("The web console is not set up on this server (REMINDERS_SECRET_KEY is not set).")
LINK = N_("Your sign-in link for the web console (works once, for {minutes} minutes, only for you; "
          "do not forward it):\n{link}")


def login_link(rt: Runtime, conn: Connection, event: Inbound, person: Person, now: datetime) -> Outcome:
    """The reply to /login: a fresh link for an admin of a commune, in a private chat."""
    lang = person.language
    if person.role != "admin" or not person.commune_id:
        return Outcome(reply=t(lang, ONLY_ADMINS, command="/login"))
    if event.is_group:
        return Outcome(reply=t(lang, IN_PRIVATE))
    if rt.sealer is None:
        return Outcome(reply=t(lang, NOT_SET_UP))
    token = create_login(conn, person.id, person.commune_id, now)
    log.info("admin %s asked for a console sign-in link", person.id)
    link = rt.public_url.rstrip("/") + LOGIN_PATH + token
    return Outcome(reply=t(lang, LINK, minutes=int(LINK_VALID.total_seconds() // 60), link=link), recorded=True)

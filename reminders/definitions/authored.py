"""Duties written in chat or in the console: what the chat commands and the console call.

    listing(engine, duties, commune_id)                   -> [Listed]: files ("từ tỉnh", read-only)
                                                             and the commune's authored duties
    draft_from_words(text, roster, commune_id, ...)       -> Draft (not saved): title, rhythm,
                                                             reminders, the iCalendar text, the Duty
    create(engine, ics_text, commune_id, actor, ...)      -> AuthoredRow (version 1)
    edit(engine, uid, expected_version, ics_text, ...)    -> AuthoredRow (SEQUENCE + 1)
    pause / resume / delete(engine, uid, expected_version, actor, ...)

Every change names the version it was made from: a second admin saving an older version
gets `StaleVersion` ("đã có người sửa trước"), never a lost update. Every text is checked by
the loader of `reminders check` (`load_duties`) together with the duty files and the other
authored duties, so a UID in both a file and the database is refused. Authority (an admin
of the duty's commune) is checked here, where the change is recorded; a `Roster` of None
means the server's operator (the CLI), who may do anything.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import icalendar
from sqlalchemy.engine import Engine

from reminders.definitions.duties import authored_name, is_authored, load_duties
from reminders.definitions.model import DUTY_COMPONENTS, Duty
from reminders.definitions.phrase import DutyWords, parse_duty_words
from reminders.definitions.roster import Roster
from reminders.definitions.writer import DutySpec, build_calendar, existing_uids, slug
from reminders.errors import InvalidInput, Problem, RemindersError, problem
from reminders.i18n import N_
from reminders.store.authored import (
    AuthoredRow,
    StaleVersion,
    UidTaken,
    delete_row,
    fingerprint,
    get_row,
    has_table,
    insert_row,
    list_rows,
    update_row,
)
from reminders.store.transaction import Bind

__all__ = ["AuthoredRow", "Draft", "Listed", "NotAllowed", "StaleVersion", "UidTaken", "create", "delete",
           "draft_from_words", "edit", "listing", "pause", "resume", "active_sources", "read_authored"]


class NotAllowed(RemindersError):
    """The person is not an admin of the duty's commune, or the duty is a file's (read-only)."""


@dataclass(frozen=True)
class Draft:
    """A duty described in words, checked, not saved yet."""

    words: DutyWords
    spec: DutySpec
    ics_text: str
    duty: Duty


@dataclass(frozen=True)
class Listed:
    """One line of the list shown to a commune's admin."""

    uid: str
    summary: str
    authored: bool  # False: from a file ("từ tỉnh"), read-only here
    paused: bool
    row: AuthoredRow | None  # the authored row (its version, for the next change)
    duty: Duty | None  # as loaded (None: paused, or not loaded yet)


# -- what hot reload and the loaders read ---------------------------------------------------
def active_sources(bind: Bind) -> list[tuple[str, str]]:
    """(uid, iCalendar text) of every authored duty that is not paused, for the loader."""
    return [(row.uid, row.ics_text) for row in list_rows(bind) if not row.paused]


def read_authored(engine: Engine) -> tuple[str, list[tuple[str, str]]]:
    """(fingerprint, active sources), read together; nothing before `db upgrade` made the table."""
    if not has_table(engine):
        return "", []
    with engine.connect() as conn:
        return authored_fingerprint(conn), active_sources(conn)


def authored_fingerprint(bind: Bind) -> str:
    """"" when there is no authored duty, so the definitions' version is the files' alone."""
    return fingerprint(bind)


# -- checks -----------------------------------------------------------------------------------
def _require_admin(roster: Roster | None, actor: str, commune_id: str) -> None:
    if roster is None:
        return
    person = roster.people.get(actor)
    if person is None or person.role != "admin" or person.commune_id != commune_id:
        raise NotAllowed(N_("{actor} is not an admin of commune {commune}"), actor=actor, commune=commune_id)


def _within_commune(roster: Roster, duty: Duty, commune_id: str) -> None:
    """A duty saved for a commune reaches that commune's teams only: its admins may edit,
    pause and delete it, so it must not reach anyone else's (a province-wide duty is a file).
    Checked where it is saved, whoever calls (chat, console, `duties import`)."""
    outside = sorted(team.id for team in roster.teams.values()
                     if team.commune_id != commune_id and duty.applies_to(team.id, team.commune_id))
    if outside:
        raise InvalidInput([problem(duty.file, None, N_(
            "a duty of commune {commune} may reach only its teams; it also reaches {teams}"), duty.uid,
            commune=commune_id, teams=", ".join(outside[:5]) + (" …" if len(outside) > 5 else ""))])


def validate(engine: Engine, calendars: str | Path, roster: Roster, uid: str, ics_text: str) -> Duty:
    """The duty `ics_text` describes, read by the loader of `reminders check` together with
    the duty files and the other authored duties; InvalidInput with this text's problems
    (a problem elsewhere -- a file being edited -- does not block it)."""
    others = [(u, text) for u, text in active_sources(engine) if u != uid]
    name = authored_name(uid)
    try:
        duties = load_duties(calendars, roster, [*others, (uid, ics_text)])
    except InvalidInput as exc:
        own = [p for p in exc.problems if p.file == name]
        if own:
            raise InvalidInput(own) from None
        duties = _alone(calendars, roster, uid, ics_text)
    found = [d for d in duties.values() if d.file == name]
    if len(found) != 1 or found[0].uid != uid:
        raise InvalidInput([Problem(name, None, f"the text must hold exactly one duty, with UID {uid}", uid)])
    return found[0]


def _alone(calendars: str | Path, roster: Roster, uid: str, ics_text: str) -> dict[str, Duty]:
    """The files have problems of their own: read this text by itself (same loader), and
    still refuse a UID one of the files holds (found line by line)."""
    taken = existing_uids(Path(calendars))
    if uid in taken:
        raise InvalidInput([Problem(authored_name(uid), None, f"UID {uid} is both in the file {taken[uid]} and in "
                                    "the database (a duty written in chat or the console); a UID must be "
                                    "unique: rename or delete one of them", uid)])
    with tempfile.TemporaryDirectory(prefix="reminders-authored-") as empty:
        return load_duties(empty, roster, [(uid, ics_text)])


def _check_uid_free(engine: Engine, calendars: str | Path, roster: Roster, uid: str, ics_text: str) -> Duty:
    if get_row(engine, uid) is not None:
        raise UidTaken(uid)
    return validate(engine, calendars, roster, uid, ics_text)


def uid_of(ics_text: str) -> str:
    """The UID of the one duty component in `ics_text` ("" when there is none)."""
    try:
        calendar = icalendar.Calendar.from_ical(ics_text)
    except Exception:
        return ""
    uids = {str(c.get("UID", "")).strip() for c in calendar.walk() if c.name in DUTY_COMPONENTS}
    return str(uids.pop()) if len(uids) == 1 else ""


def with_sequence(ics_text: str, sequence: int) -> str:
    """The text with SEQUENCE set on each duty component (RFC 5545: bumped by each change)."""
    calendar = icalendar.Calendar.from_ical(ics_text)
    for component in calendar.walk():
        if component.name in DUTY_COMPONENTS:
            if "SEQUENCE" in component:
                del component["SEQUENCE"]
            component.add("SEQUENCE", sequence)
    data: bytes = calendar.to_ical()
    return data.decode("utf-8")


# -- drafts -----------------------------------------------------------------------------------
def free_uid(engine: Engine, duties: Mapping[str, Duty], title: str, commune_id: str) -> str:
    base = f"{slug(title)}-{commune_id}@reminders"
    uid, number = base, 1
    while uid in duties or get_row(engine, uid) is not None:
        number += 1
        uid = base.replace("@", f"-{number}@", 1)
    return uid


def draft_from_words(engine: Engine, calendars: str | Path, roster: Roster, duties: Mapping[str, Duty],
                     commune_id: str, text: str, today: date, now: datetime, *, uid: str | None = None,
                     teams: tuple[str, ...] = (), language: str = "vi") -> Draft:
    """A duty from one sentence (PhraseError when unclear), for the whole commune or some of
    its teams, built like `reminders duties new` builds it and checked like `check` does."""
    words = parse_duty_words(text, today)
    audience = tuple(f"team:{team}" for team in teams) or (f"commune:{commune_id}",)
    spec = DutySpec(uid=uid or free_uid(engine, duties, words.title, commune_id), title=words.title,
                    rhythm=words.rhythm, reminders=words.reminders, audience=audience,
                    checkin=words.question.text if words.question else None,
                    answer=words.question.answer if words.question else "text", holiday=words.holiday or "KEEP",
                    followup=words.followup or "",
                    timezone=(roster.communes[commune_id].timezone if commune_id in roster.communes
                              else roster.timezone))
    ics_text = build_calendar(spec, now, language).to_ical().decode("utf-8")
    duty = validate(engine, calendars, roster, spec.uid, ics_text)
    return Draft(words, spec, ics_text, duty)


# -- changes ----------------------------------------------------------------------------------
def create(engine: Engine, calendars: str | Path, roster: Roster, ics_text: str, commune_id: str, actor: str,
           now: datetime, *, authority: Roster | None = None, action: str = "create",
           bind: Bind | None = None) -> AuthoredRow:
    """Save a new authored duty (checked first); UidTaken, InvalidInput, NotAllowed."""
    _require_admin(authority, actor, commune_id)
    uid = uid_of(ics_text)
    if not uid:
        raise InvalidInput([Problem("(text)", None, "the text must hold exactly one VEVENT or VTODO with a UID")])
    duty = _check_uid_free(engine, calendars, roster, uid, ics_text)
    _within_commune(roster, duty, commune_id)
    return insert_row(bind or engine, uid=uid, commune_id=commune_id, ics_text=with_sequence(ics_text, 0),
                      sequence=0, actor=actor, now=now, summary=duty.summary, action=action)


def _own(bind: Bind, uid: str, expected_version: int, authority: Roster | None, actor: str) -> AuthoredRow:
    row = get_row(bind, uid)
    if row is None:
        raise StaleVersion(uid, expected_version, None)
    _require_admin(authority, actor, row.commune_id)
    if row.version != expected_version:
        raise StaleVersion(uid, expected_version, row.version)
    return row


def edit(engine: Engine, calendars: str | Path, roster: Roster, uid: str, expected_version: int, ics_text: str,
         actor: str, now: datetime, *, authority: Roster | None = None, bind: Bind | None = None) -> AuthoredRow:
    """Replace the text of an authored duty (same UID), SEQUENCE bumped; StaleVersion when
    someone saved since `expected_version` was read."""
    row = _own(bind or engine, uid, expected_version, authority, actor)
    if uid_of(ics_text) != uid:
        raise InvalidInput([Problem(authored_name(uid), None, f"the UID must stay {uid}", uid)])
    text = with_sequence(ics_text, row.sequence + 1)
    duty = validate(engine, calendars, roster, uid, text)
    _within_commune(roster, duty, row.commune_id)
    return update_row(bind or engine, uid, expected_version, actor=actor, now=now, action="edit", ics_text=text,
                      sequence=row.sequence + 1, summary=duty.summary)


def _set_paused(engine: Engine, uid: str, expected_version: int, actor: str, now: datetime, paused: bool,
                authority: Roster | None, bind: Bind | None) -> AuthoredRow:
    row = _own(bind or engine, uid, expected_version, authority, actor)
    text = with_sequence(row.ics_text, row.sequence + 1)
    return update_row(bind or engine, uid, expected_version, actor=actor, now=now,
                      action="pause" if paused else "resume", ics_text=text, sequence=row.sequence + 1,
                      paused=paused, summary=_summary(row))


def pause(engine: Engine, uid: str, expected_version: int, actor: str, now: datetime, *,
          authority: Roster | None = None, bind: Bind | None = None) -> AuthoredRow:
    """Kept but not planned: no new reminders until resumed (pending ones are cancelled)."""
    return _set_paused(engine, uid, expected_version, actor, now, True, authority, bind)


def resume(engine: Engine, uid: str, expected_version: int, actor: str, now: datetime, *,
           authority: Roster | None = None, bind: Bind | None = None) -> AuthoredRow:
    return _set_paused(engine, uid, expected_version, actor, now, False, authority, bind)


def delete(engine: Engine, uid: str, expected_version: int, actor: str, now: datetime, *,
           authority: Roster | None = None, bind: Bind | None = None) -> AuthoredRow:
    """Gone from the definitions (pending reminders cancelled); its history is kept."""
    row = _own(bind or engine, uid, expected_version, authority, actor)
    return delete_row(bind or engine, uid, expected_version, actor=actor, now=now, summary=_summary(row))


def _summary(row: AuthoredRow) -> str:
    try:
        calendar = icalendar.Calendar.from_ical(row.ics_text)
    except Exception:
        return row.uid
    return next((str(c.get("SUMMARY", "")) for c in calendar.walk() if c.name in DUTY_COMPONENTS), row.uid)


def summary_of(row: AuthoredRow) -> str:
    return _summary(row)


# -- listing ----------------------------------------------------------------------------------
def listing(bind: Bind, duties: Mapping[str, Duty], commune_id: str | None) -> list[Listed]:
    """The duties an admin of `commune_id` sees, numbered in this order: every duty from the
    files (read-only), and the commune's authored ones (paused ones too), by UID."""
    rows = {row.uid: row for row in list_rows(bind, commune_id)} if commune_id is not None else {}
    found = [Listed(d.uid, d.summary, False, False, None, d) for d in duties.values() if not is_authored(d)]
    for uid, row in rows.items():
        duty = duties.get(uid)
        found.append(Listed(uid, duty.summary if duty else _summary(row), True, row.paused, row, duty))
    return sorted(found, key=lambda item: item.uid)

"""The last good duty files and roster, kept in the database.

Hot reload keeps the last good version in memory; this keeps it across restarts, deploys
and scheduler failovers. Every process saves the version it loaded successfully (at start
and on each reload; one SELECT when it is the one already saved). A process that starts
while the files on disk are invalid logs every problem and runs on the saved version,
loaded by the normal loaders from a private temporary directory, so it is validated
exactly like the files. Only a first run (nothing saved yet) with invalid files stops.

The row also holds the last bad version the admins were told about: telling is claimed
with one conditional UPDATE, so whichever process (restarted, or a scheduler that took
over) sees a bad version tells them once, and a fix is announced once.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, select, update
from sqlalchemy.engine import Engine, make_url

from reminders.definitions.authored import read_authored
from reminders.definitions.duties import duty_files, is_authored
from reminders.definitions.load import load_definitions
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.errors import InvalidInput, Problem
from reminders.i18n import N_, format_when, t
from reminders.store.migrate import NewerSchema
from reminders.store.models import DEFINITIONS_SNAPSHOT
from reminders.timeutil import utcnow

log = logging.getLogger(__name__)

ROW = "definitions"  # the key of the one row (a deployment is one database)

Signature = tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of each file


@dataclass(frozen=True)
class Sources:
    """The duty files and roster as read at one moment; `version` names their contents
    (relative paths and bytes, so the same files elsewhere on disk are the same version)."""

    signature: Signature
    roster: bytes | None  # None: unreadable
    files: tuple[tuple[str, bytes | None], ...]  # (path relative to calendars/, contents)
    version: str


@dataclass(frozen=True)
class Started:
    """Which definitions a process started with; its DefinitionWatcher carries on from here."""

    calendars: Path
    roster: Path
    signature: Signature  # the files on disk at start
    version: str  # the version in use
    rejected: str | None = None  # the files' version, when they were invalid and the saved one is in use
    problems: tuple[Problem, ...] = ()
    saved_at: datetime | None = None  # when the version in use was saved, if it came from the database
    authored: str = ""  # fingerprint of the authored duties (database) loaded with them


@dataclass(frozen=True)
class Snapshot:
    version: str
    roster_text: str
    files: tuple[tuple[str, str], ...]
    saved_at: datetime
    told_version: str | None = None
    told_at: datetime | None = field(default=None, compare=False)


# -- reading the files ------------------------------------------------------------------
def stat_sources(calendars: Path, roster: Path) -> Signature:
    """Cheap: one stat per file. A changed signature means "read them again"."""
    try:
        found = duty_files(calendars)
    except OSError:
        found = []
    entries = []
    for path in [*found, roster]:
        try:
            st = path.stat()
            entries.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            entries.append((str(path), -1, -1))
    return tuple(entries)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def version_of(roster: bytes | None, files: tuple[tuple[str, bytes | None], ...]) -> str:
    digest = hashlib.sha256()
    for name, data in [("\0roster", roster), *files]:
        digest.update(name.encode() + b"\0")
        digest.update(b"\0unreadable" if data is None else data)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def read_sources(calendars: Path, roster: Path) -> Sources:
    signature = stat_sources(calendars, roster)
    files = []
    for name, _, _ in signature[:-1]:
        path = Path(name)
        files.append((path.relative_to(calendars).as_posix(), _read(path)))
    roster_bytes = _read(roster)
    return Sources(signature, roster_bytes, tuple(files), version_of(roster_bytes, tuple(files)))


# -- the row ------------------------------------------------------------------------------
def fetch(engine: Engine) -> Snapshot | None:
    with engine.connect() as conn:
        row = conn.execute(select(DEFINITIONS_SNAPSHOT).where(DEFINITIONS_SNAPSHOT.c.name == ROW)).first()
    if row is None:
        return None
    return Snapshot(row.version, row.roster_text, tuple((p, text) for p, text in row.files), row.saved_at,
                    row.told_version, row.told_at)


def save(engine: Engine, sources: Sources) -> bool:
    """Keep `sources` (just loaded successfully) as the last good version; True if written.

    Cheap when unchanged: one SELECT of the saved version."""
    with engine.connect() as conn:
        saved = conn.execute(select(DEFINITIONS_SNAPSHOT.c.version).where(DEFINITIONS_SNAPSHOT.c.name == ROW)).scalar()
    if saved == sources.version:
        return False
    try:
        texts = _texts(sources)
    except UnicodeDecodeError:  # changed under us: the loader would have said
        texts = None
    if texts is None:  # unreadable, or not UTF-8
        log.warning("the duty files could not be read back to save them; the saved version is unchanged")
        return False
    roster_text, files = texts
    values = {"version": sources.version, "roster_text": roster_text, "files": files, "saved_at": utcnow()}
    statement: Insert
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        statement = postgresql_insert(DEFINITIONS_SNAPSHOT).values(name=ROW, **values).on_conflict_do_update(
            index_elements=[DEFINITIONS_SNAPSHOT.c.name], set_=values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        statement = sqlite_insert(DEFINITIONS_SNAPSHOT).values(name=ROW, **values).on_conflict_do_update(
            index_elements=[DEFINITIONS_SNAPSHOT.c.name], set_=values)
    with engine.begin() as conn:
        conn.execute(statement)
    log.info("saved duty files version %s as the last good version (%d files)", sources.version, len(files))
    return True


def _texts(sources: Sources) -> tuple[str, list[list[str]]] | None:
    """The roster and the duty files as text, to be saved; None if one was unreadable.
    Raises UnicodeDecodeError for one that is not UTF-8."""
    if sources.roster is None:
        return None
    roster_text = sources.roster.decode("utf-8")  # "utf-8", not "-sig": a BOM is kept, bytes round-trip
    files = []
    for name, data in sources.files:
        if data is None:
            return None
        files.append([name, data.decode("utf-8")])
    return roster_text, files


def claim_told(engine: Engine, version: str) -> bool:
    """True for the one process that is to tell the admins about bad `version`."""
    with engine.begin() as conn:
        result = conn.execute(update(DEFINITIONS_SNAPSHOT).where(DEFINITIONS_SNAPSHOT.c.name == ROW, (DEFINITIONS_SNAPSHOT.c.told_version.is_(None))
                                                | (DEFINITIONS_SNAPSHOT.c.told_version != version))
                              .values(told_version=version, told_at=utcnow()))
        if result.rowcount:
            return True
        # No row at all (nothing saved, e.g. the database failed at start): tell.
        return conn.execute(select(DEFINITIONS_SNAPSHOT.c.name).where(DEFINITIONS_SNAPSHOT.c.name == ROW)).first() is None


def claim_fixed(engine: Engine) -> bool:
    """True for the one process that is to tell the admins the files are valid again."""
    with engine.begin() as conn:
        result = conn.execute(update(DEFINITIONS_SNAPSHOT).where(DEFINITIONS_SNAPSHOT.c.name == ROW, DEFINITIONS_SNAPSHOT.c.told_version.is_not(None))
                              .values(told_version=None, told_at=utcnow()))
        return bool(result.rowcount)


# -- loading the saved version ------------------------------------------------------------
def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unsafe path in the saved duty files: {name!r}")
    return path


def load_snapshot(snapshot: Snapshot, calendars: Path, roster_path: Path,
                  authored: Sequence[tuple[str, str]] = ()) -> tuple[dict[str, Duty], Roster]:
    """The saved version, through the same loaders as the files (written to a private
    temporary directory). Duties and roster name the real files, for messages and logs."""
    with tempfile.TemporaryDirectory(prefix="reminders-last-good-") as tmp:
        root = Path(tmp)
        directory = root / "calendars"
        directory.mkdir()
        for name, text in snapshot.files:
            target = directory / _safe(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        roster_file = root / (roster_path.name or "roster.yaml")
        roster_file.write_bytes(snapshot.roster_text.encode("utf-8"))
        try:
            duties, roster = load_definitions(str(directory), str(roster_file), authored)
        except InvalidInput as exc:
            raise InvalidInput([_real(p, directory, roster_file, calendars, roster_path)
                                for p in exc.problems]) from None
        for duty in duties.values():
            if not is_authored(duty):
                duty.file = str(calendars / Path(duty.file).relative_to(directory))
        roster.source = str(roster_path)
    return duties, roster


def _real(problem: Problem, directory: Path, roster_file: Path, calendars: Path, roster_path: Path) -> Problem:
    path = Path(problem.file)
    if path == roster_file:
        real = roster_path
    elif path.is_relative_to(directory):
        real = calendars / path.relative_to(directory)
    else:
        real = path
    return Problem(f"{real} (saved version)", problem.line, problem.message, problem.uid)


# -- start-up -------------------------------------------------------------------------------
def may_hold_a_snapshot(database_url: str) -> bool:
    """False for an SQLite file that does not exist yet: a refused first run must not
    create it (a server database is only looked at)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database
    return database is not None and database not in ("", ":memory:") and Path(database).exists()


def load_at_start(open_engine: Callable[[], Engine], calendars: str | Path, roster_path: str | Path, *,
                  may_hold: bool = True) -> tuple[Engine, dict[str, Duty], Roster, Started]:
    """The definitions a process starts with: the files when valid (and then saved), else
    the last good version saved in the database, with every problem logged. Raises the
    files' InvalidInput when nothing was saved yet (a first run; `may_hold` False says so
    without opening the database) or the database is out of reach, so the process stops
    with the files' problems as before."""
    calendars, roster_path = Path(calendars), Path(roster_path)
    engine: Engine | None = None
    fingerprint, authored = "", list[tuple[str, str]]()
    unread: Exception | None = None
    if may_hold:  # the authored duties live in the database: read them with the files
        try:
            engine = open_engine()
            fingerprint, authored = read_authored(engine)
        except NewerSchema:  # not out of reach: a clear refusal, said once by the caller
            raise
        except Exception as exc:  # without them their reminders would be cancelled: never start so
            log.warning("the database is out of reach: duties written in chat cannot be read", exc_info=True)
            unread = exc
    sources = read_sources(calendars, roster_path)
    try:
        duties, roster = load_definitions(str(calendars), str(roster_path), authored)
    except InvalidInput as exc:
        invalid = exc
    else:
        if unread is not None:
            if engine is not None:
                engine.dispose()
            raise unread
        engine = engine or open_engine()
        started = Started(calendars, roster_path, sources.signature, sources.version, authored=fingerprint)
        if stat_sources(calendars, roster_path) == sources.signature:  # what was loaded is what was read
            try:
                save(engine, sources)
            except Exception:  # the files are valid and in use: saving them must not stop the process
                log.exception("could not save the duty files as the last good version")
        return engine, duties, roster, started

    if not may_hold:
        raise invalid
    try:
        engine = engine or open_engine()
    except Exception:
        log.warning("the database is out of reach: the last good version of the duty files cannot be read",
                    exc_info=True)
        raise invalid from None
    try:
        snapshot = fetch(engine)
        if snapshot is None:
            raise invalid
        for problem in invalid.problems:
            log.error("duty files are invalid; running with the last good version (saved %s): %s",
                      snapshot.saved_at.isoformat(timespec="seconds"), problem)
        try:
            duties, roster = load_snapshot(snapshot, calendars, roster_path, authored)
        except InvalidInput as saved:
            for problem in saved.problems:
                log.error("the last good version no longer loads either: %s", problem)
            raise invalid from None
    except BaseException:
        engine.dispose()
        raise
    log.warning("started with the last good duty files, saved %s: %d duties, %d teams; %d problem(s) in the "
                "files on disk", snapshot.saved_at.isoformat(timespec="seconds"), len(duties), len(roster.teams),
                len(invalid.problems))
    started = Started(calendars, roster_path, sources.signature, snapshot.version, rejected=sources.version,
                      problems=tuple(invalid.problems), saved_at=snapshot.saved_at, authored=fingerprint)
    return engine, duties, roster, started


STARTED_FROM_SAVED = N_("The duty files have {count} problem(s) (see the log); the last good version, saved {when}, "
                        "is in use until they are fixed.")


def start_note(started: Started | None, timezone: str, language: str) -> str | None:
    """For the terminal of a long-running command that started on the saved version."""
    if started is None or started.rejected is None or started.saved_at is None:
        return None
    when = format_when(started.saved_at, language, ZoneInfo(timezone))
    return t(language, STARTED_FROM_SAVED, count=len(started.problems), when=when)

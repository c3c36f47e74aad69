"""Hot reload: edited duty files and roster take effect while every process keeps running.

A `DefinitionWatcher` looks at the calendars directory and the roster at most every
`interval` seconds. Detection is cheap and two-staged: the (path, mtime, size) of each
file first, and only when that changed a SHA-256 of the contents (a `touch` or a save
without changes reloads nothing). A changed version is loaded with the same
`load_definitions` as at start, which collects every problem:

* valid: the runtime's duties and roster are swapped in one step (readers that cache
  anything derived from them notice the new objects; the scheduler re-plans: removed duties have their pending reminders cancelled, history kept);
* invalid: the last good duties and roster stay in use, each problem is logged with its
  file and line, and the roster's admins are told in their chat -- once per bad version,
  not on every check. When a later edit is valid again, they are told that too.

Each valid version is also saved in the database (reminders.snapshot), so a process that
starts while the files are invalid runs on the last good version; "told once" is kept
there too, so a restart or a scheduler failover does not tell the admins again.

Who runs a watcher: the scheduler (`reminders run`, `reminders scheduler`) before each
tick, and it alone tells admins; dramatiq send workers before each message they process
(`RefreshDefinitions`), so a reminder for a duty that was just edited renders the new
text; the web app and the polling bot on a background thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from reminders.definitions.authored import authored_fingerprint, read_authored
from reminders.definitions.live import Definitions
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import Roster
from reminders.definitions.snapshot import (
    Sources,
    Started,
    claim_fixed,
    claim_told,
    read_sources,
    save,
    stat_sources,
)
from reminders.errors import InvalidInput, Problem
from reminders.i18n import N_, t
from reminders.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0  # seconds between checks: an edit is live within one tick after that
SETTLE = 1.0  # a file modified less than this long ago may still be being written
MAX_LISTED = 8  # problems listed in an admin's chat message; the log has them all

BROKEN = N_("⚠ The duty files were changed, but {count} problem(s) were found. "
            "The previous version stays in use until they are fixed:")
MORE = N_("…and {count} more (run `reminders check` to see them all).")
FIXED = N_("✅ The duty files are valid again: {duties} duties for {teams} teams are in use.")

Notify = Callable[[Roster, Callable[[str], str]], None]  # (roster to find admins in, language -> text)


def combined(files_version: str, authored: str) -> str:
    """The version of the definitions in use: the files' alone while no duty was written in
    chat, else both together."""
    if not authored:
        return files_version
    return hashlib.sha256(f"{files_version}:{authored}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ReloadOutcome:
    status: str  # "reloaded" | "rejected" | "recovered" (back to the version in use)
    version: str
    problems: tuple[Problem, ...] = ()


class DefinitionWatcher:
    """Watches one calendars directory and roster file for one process's `Definitions`
    (thread-safe); saves each good version, and tells admins through `notify`."""

    def __init__(self, engine: Engine, definitions: Definitions, calendars: str | Path, roster: str | Path, *,
                 interval: float = DEFAULT_INTERVAL, settle: float = SETTLE, notify: Notify | None = None):
        self.engine = engine
        self.definitions = definitions
        self.calendars = Path(calendars)
        self.roster_path = Path(roster)
        self.interval = interval
        self.settle = settle
        self.notify = notify
        self._lock = threading.Lock()
        self._next_check = time.monotonic() + interval
        self._rejected: str | None = None  # the last bad version, reported once
        started = definitions.started
        if started is not None and (started.calendars.resolve(), started.roster.resolve()) == (
                self.calendars.resolve(), self.roster_path.resolve()):
            # Carry on from the start: the version in use may be the saved one, the files bad.
            self._authored = started.authored
            self._signature, self.version = started.signature, combined(started.version, self._authored)
            self._rejected = combined(started.rejected, self._authored) if started.rejected else None
            self._start: Started | None = started  # admins are told on the first check (adapters are up)
        else:  # the runtime was just loaded from these files: they are the version in use
            sources = read_sources(self.calendars, self.roster_path)
            self._authored = self._authored_now() or ""
            self._signature, self.version = sources.signature, combined(sources.version, self._authored)
            self._start = None

    # -- detection ------------------------------------------------------------------
    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        return stat_sources(self.calendars, self.roster_path)

    def _authored_now(self) -> str | None:
        """The authored duties' fingerprint (one small SELECT); None when the database does
        not answer: then they are taken as unchanged (never as gone)."""
        try:
            return authored_fingerprint(self.engine)
        except Exception:
            log.warning("could not look at the duties written in chat; trying again next time", exc_info=True)
            return None

    # -- the check ------------------------------------------------------------------
    def check(self, *, force: bool = False) -> ReloadOutcome | None:
        """Reload if the files changed since the last check; None when nothing happened.

        Cheap when called often: returns at once until `interval` has passed."""
        if self._start is not None:
            self._start_notice()
        if not force and time.monotonic() < self._next_check:
            return None
        with self._lock:  # several send threads may ask at once: one looks, the others wait
            if not force and time.monotonic() < self._next_check:
                return None
            self._next_check = time.monotonic() + self.interval
            signature = self._stat()
            authored = self._authored_now()
            authored_moved = authored is not None and authored != self._authored
            if signature == self._signature and not authored_moved:
                return None
            if signature != self._signature:
                newest = max((mtime for _, mtime, _ in signature), default=0) / 1e9
                if self.settle and time.time() - newest < self.settle:
                    return None  # still being saved: look again next time
            sources = read_sources(self.calendars, self.roster_path)
            texts: list[tuple[str, str]] | None = None
            if authored_moved:
                try:
                    authored, texts = read_authored(self.engine)
                except Exception:
                    log.warning("could not read the duties written in chat; trying again next time", exc_info=True)
                    return None
            fingerprint = self._authored if authored is None or texts is None else authored
            version = combined(sources.version, fingerprint)
            self._signature = sources.signature
            if version == self.version:
                self._authored = fingerprint
                return self._recovered(version) if self._rejected else None
            if version == self._rejected:
                self._authored = fingerprint
                return None
            if texts is None:
                try:
                    fingerprint, texts = read_authored(self.engine)
                except Exception:
                    log.warning("could not read the duties written in chat; trying again next time", exc_info=True)
                    return None
                version = combined(sources.version, fingerprint)
            self._authored = fingerprint
            return self._load(sources, texts, version)

    def _load(self, sources: Sources, authored: list[tuple[str, str]], version: str) -> ReloadOutcome:
        started = time.perf_counter()
        try:
            duties, roster = load_definitions(str(self.calendars), str(self.roster_path), authored)
        except InvalidInput as exc:
            self._rejected, problems = version, exc.problems
            for problem in problems:
                log.error("duty files not reloaded, the previous version stays in use: %s", problem)
            self._announce_broken(version, problems)
            return ReloadOutcome("rejected", version, tuple(problems))
        except Exception:  # never let a reload take the process down; the old version keeps working
            self._rejected = version
            log.exception("duty files not reloaded (internal error); the previous version stays in use")
            return ReloadOutcome("rejected", version)
        before = self.definitions.duties
        self.definitions.swap(duties, roster)
        was_rejected, self._rejected, self.version = self._rejected, None, version
        if self._stat() == sources.signature:  # what was loaded is what was read: keep it
            try:
                save(self.engine, sources)
            except Exception:
                log.exception("could not save the reloaded duty files as the last good version")
        added = sorted(set(duties) - set(before))
        removed = sorted(set(before) - set(duties))
        changed = sorted(u for u in set(duties) & set(before) if duties[u].fingerprint != before[u].fingerprint)
        log.warning("duty files reloaded in %.0f ms: %d duties, %d teams (added %s; removed %s; changed %s)",
                    (time.perf_counter() - started) * 1000, len(duties), len(roster.teams),
                    ", ".join(added) or "none", ", ".join(removed) or "none", ", ".join(changed) or "none")
        self._announce_fixed(bool(was_rejected))
        return ReloadOutcome("reloaded", version)

    def _recovered(self, version: str) -> ReloadOutcome:
        """The files went back to the version in use (a bad edit was undone)."""
        self._rejected = None
        log.warning("duty files are back to the version in use; nothing to reload")
        self._announce_fixed(True)
        return ReloadOutcome("recovered", version)

    # -- once per bad version, across processes ---------------------------------------
    def _start_notice(self) -> None:
        """What the start found, told on the first check: the files were bad (the saved
        version is in use), or they are valid again after admins were told they were not.
        Dropped when the files changed since: the look that follows deals with them."""
        with self._lock:
            started, self._start = self._start, None
            if started is None or self.notify is None or self._stat() != started.signature:
                return
            if started.rejected is not None:
                self._announce_broken(started.rejected, list(started.problems))
            else:
                self._announce_fixed(False)

    def _claim(self, claim: Callable[[], bool]) -> bool | None:
        try:
            return claim()
        except Exception:
            log.exception("could not record telling the admins about the duty files")
            return None

    def _announce_broken(self, version: str, problems: list[Problem]) -> None:
        if self.notify is None:
            return
        if self._claim(lambda: claim_told(self.engine, version)) is False:
            log.info("the admins were already told about this version of the duty files")
            return
        self._tell_admins(lambda lang: self._broken_text(lang, problems))

    def _announce_fixed(self, was_rejected: bool) -> None:
        if self.notify is None:
            return
        claimed = self._claim(lambda: claim_fixed(self.engine))
        if claimed or (claimed is None and was_rejected):
            self._tell_admins(self._fixed_text)

    # -- telling admins ---------------------------------------------------------------
    def _where(self, problem: Problem) -> str:
        path = Path(problem.file)
        for base in (self.calendars, self.roster_path.parent):
            try:
                path = path.resolve().relative_to(base.resolve())
                break
            except ValueError:
                continue
        return str(Problem(str(path), problem.line, problem.message, problem.uid))

    def _broken_text(self, language: str, problems: list[Problem]) -> str:
        lines = [t(language, BROKEN, count=len(problems))]
        lines += [f"• {self._where(p)}" for p in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(t(language, MORE, count=len(problems) - MAX_LISTED))
        return "\n".join(lines)

    def _fixed_text(self, language: str) -> str:
        return t(language, FIXED, duties=len(self.definitions.duties), teams=len(self.definitions.roster.teams))

    def _tell_admins(self, text_for: Callable[[str], str]) -> None:
        if self.notify is None:
            return
        try:
            self.notify(self.definitions.roster, text_for)
        except Exception:
            log.exception("could not tell the admins about the duty files")


# -- where watchers run ------------------------------------------------------------------
def watch_in_background(watcher: DefinitionWatcher, stop: threading.Event) -> threading.Thread:
    """A daemon thread checking every `interval` seconds until `stop` is set (web app, bot)."""

    def loop() -> None:
        while not stop.wait(watcher.interval):
            try:
                watcher.check()
            except Exception:
                log.exception("checking the duty files failed")

    thread = threading.Thread(target=loop, name="reminders-reload", daemon=True)
    thread.start()
    return thread


def send_watcher(settings: Settings, engine: Engine, definitions: Definitions) -> DefinitionWatcher | None:
    """The watcher of a separate send worker: it looks before every message (a stat of each
    file; read only when one changed). A worker that had looked a moment before the
    scheduler took up a new duty would otherwise meet that duty's first reminders without
    knowing it, and cancel them as "duty removed"."""
    if settings.reload_seconds <= 0:
        return None  # hot reload turned off
    return DefinitionWatcher(engine, definitions, settings.calendars, settings.roster, interval=0.0)


def watcher_for(settings: Settings, engine: Engine, definitions: Definitions, *, notify: Notify | None = None,
                interval: float | None = None) -> DefinitionWatcher | None:
    """The watcher for a process started from `settings`; None if hot reload is turned off
    (REMINDERS_RELOAD_SECONDS=0)."""
    interval = settings.reload_seconds if interval is None else interval
    if interval <= 0:
        return None
    return DefinitionWatcher(engine, definitions, settings.calendars, settings.roster, interval=interval,
                             notify=notify)

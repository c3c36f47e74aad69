"""The long-running commands: `reminders run` (everything in one process), `scheduler` and
`bot`. Each assembles its process and hands over to the loop, which lives with its layer
(schedule.scheduler, inbound.updates); Ctrl-C or SIGTERM stops between ticks."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

import click
from rich.table import Table
from sqlalchemy.engine import make_url

from reminders.adapters.base import Adapter, implements, title_of, webhook_url
from reminders.cli.common import LANG, definitions_options, err, fail, friendly, out, settings_for
from reminders.cli.webhooks import WEB_APP
from reminders.definitions.reload import watch_in_background, watcher_for
from reminders.definitions.roster import Roster
from reminders.definitions.snapshot import start_note
from reminders.errors import ConfigurationError
from reminders.i18n import format_when, t
from reminders.inbound.updates import listen, pollers, receive
from reminders.jobs.admin_notices import notify_with_own_adapters
from reminders.jobs.broker import make_broker
from reminders.jobs.embedded import EmbeddedWorker
from reminders.jobs.send import enqueue
from reminders.kinds import is_checkin
from reminders.runtime import Runtime, open_runtime
from reminders.schedule.scheduler import Scheduler, run_replica, run_ticks
from reminders.settings import DEFAULT_DATABASE_URL, Settings
from reminders.store import runlock
from reminders.timeutil import utcnow
from reminders.views.status import Upcoming, upcoming

log = logging.getLogger(__name__)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop between ticks, never mid-send
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _note_last_good(runtime: Runtime) -> None:
    """Started on the last good version saved in the database: say so (the log lists why)."""
    if note := start_note(runtime.definitions.started, runtime.roster.timezone, LANG):
        err.print(note, markup=False)


@click.command()
@definitions_options
@friendly
def run(calendars_dir: str | None, roster_path: str | None) -> None:
    """The all-in-one worker: planner, dispatcher and senders in one process."""
    settings = settings_for(calendars_dir, roster_path)
    lock = _only_worker_on_the_database(settings)  # held until the process ends, however it ends
    runtime = open_runtime(settings)
    _note_last_good(runtime)
    stop = _stop_on_signals()
    with EmbeddedWorker(runtime, settings) as worker:
        report = worker.scheduler.tick()
        out.print(t(LANG, "Loaded {duties} duties and {teams} teams; database {db}.",
                    duties=len(runtime.duties), teams=len(runtime.roster.teams),
                    db=runtime.engine.url.render_as_string(hide_password=True)), markup=False)
        out.print(t(LANG, "Planned {count} reminders in the next {days} days.",
                    count=report.plan.deliveries_upserted, days=settings.horizon.days), markup=False)
        rows = _print_upcoming(runtime)
        _receive_updates(worker, runtime, settings)
        _print_next_steps(runtime, settings, rows, calendars_dir, roster_path)
        out.print(t(LANG, "Running. Press Ctrl-C to stop."), markup=False)
        run_ticks(worker.scheduler, stop, settings.tick_seconds)
        out.print(t(LANG, "Stopping: waiting for messages being sent..."), markup=False)
    lock.release()


def _only_worker_on_the_database(settings: Settings) -> runlock.RunLock:
    """The lock of the all-in-one worker on this database, or a clear refusal: two would
    both send everything, over the platforms' limits."""
    lock, holder = runlock.hold(settings.database_url)
    if lock is not None:
        return lock
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    who = t(LANG, "process {pid} on {host}, started {since} UTC", pid=holder.pid or "?",
            host=holder.host or "?", since=holder.since.replace("T", " ")[:19] or "?") if holder else "?"
    fail(t(LANG, "Another `reminders run` is already working on this database ({database}; {who}). Two would "
                 "send every reminder twice and go over the platforms' limits. Stop the other one first; for "
                 "several processes, use `reminders scheduler` and dramatiq workers with Redis.",
           database=database, who=who))


def _receive_updates(worker: EmbeddedWorker, runtime: Runtime, settings: Settings) -> None:
    """Presses and replies: polled here, on the worker's event loop, for every adapter that
    can poll and has no webhook set (the platform is asked); for the others, say exactly
    what receives them instead."""
    for adapter in runtime.adapters.values():
        platform, url = title_of(adapter), webhook_url(settings.public_url, adapter.name)
        if implements(adapter, "poll"):
            hook = _webhook_set(worker, adapter)
            if hook:
                out.print(t(LANG, "{platform}: a webhook is set ({url}), so presses and replies go to the web app: "
                                  "keep it running ({command}), or run `reminders webhook delete {name}` to "
                                  "receive them here.", platform=platform, url=hook, command=WEB_APP,
                            name=adapter.name), markup=False, soft_wrap=True)
                continue
            worker.background(receive(runtime, adapter))
            out.print(t(LANG, "{platform}: receiving presses and replies here (polling).", platform=platform),
                      markup=False, soft_wrap=True)
        elif implements(adapter, "parse_update"):
            out.print(t(LANG, "{platform}: replies arrive only by webhook: run the web app ({command}) and give "
                              "the platform the address {url}.", platform=platform, command=WEB_APP, url=url),
                      markup=False, soft_wrap=True)


def _webhook_set(worker: EmbeddedWorker, adapter: Adapter) -> str:
    """The webhook the platform calls for this adapter ("" if none, or if it cannot be told:
    then polling is tried, and the platform's refusal is logged)."""
    if not implements(adapter, "webhook_info"):
        return ""
    try:
        return worker.run(adapter.webhook_info()).url
    except Exception as exc:  # the platform unreachable: poll, which retries
        log.warning("could not ask %s whether a webhook is set (%s); polling", adapter.name, exc)
        return ""


def _print_upcoming(runtime: Runtime, limit: int = 5) -> list[Upcoming]:
    """The next few reminders, with their codes (short enough that the next steps fit one screen)."""
    rows = upcoming(runtime.engine, limit)
    if not rows:
        out.print(t(LANG, "No reminders are due in the planning horizon."), markup=False)
        return rows
    table = Table(title=t(LANG, "Next reminders"))
    for column in (t(LANG, "When"), t(LANG, "Duty"), t(LANG, "To"), t(LANG, "Code")):
        table.add_column(column)
    zone = ZoneInfo(runtime.roster.timezone)
    for row in rows:
        table.add_row(format_when(row.due_at, LANG, zone), row.summary,
                      _recipient_name(runtime.roster, row.recipient), row.code)
    out.print(table)
    return rows


def _print_next_steps(runtime: Runtime, settings: Settings, rows: list[Upcoming], calendars_dir: str | None,
                      roster_path: str | None) -> None:
    """What a newcomer does next, with commands that work as printed against this database:
    acknowledge from another terminal, switch on a chat platform, hand out a calendar feed."""
    program = _program()
    options = "".join(f" {flag} {value}" for flag, value in (("--calendars", calendars_dir),
                                                              ("--roster", roster_path)) if value)
    where = t(LANG, "in this folder") if settings.database_url == DEFAULT_DATABASE_URL \
        else t(LANG, "with the same REMINDERS_DATABASE_URL")
    lines = [t(LANG, "Next steps:")]
    # A plain reminder (a check-in's code wants an answer too), and someone it reaches.
    row = next((r for r in rows if not is_checkin(r.kind) and _someone_reached(runtime.roster, r)), None)
    if row is not None:
        member = _someone_reached(runtime.roster, row)
        lines.append("  " + t(LANG, "Acknowledge from another terminal ({where}): {command}", where=where,
                              command=f"{program} ack {row.code} --member {member}{options}"))
        days = _days_to_show(row)
        lines.append("  " + t(LANG, "Who has acknowledged what: {command}",
                              command=f"{program} status{f' --days {days}' if days > 7 else ''}{options}"))
    if "telegram" not in runtime.adapters:
        lines.append("  " + t(LANG, "Telegram: set TELEGRAM_BOT_TOKEN (from @BotFather) and "
                                    "REMINDERS_ADAPTERS=telegram,console, then run again."))
    if "zalo_bot" not in runtime.adapters and "zalo_oa" not in runtime.adapters:
        lines.append("  " + t(LANG, "Zalo: set ZALO_BOT_TOKEN and REMINDERS_ADAPTERS=zalo_bot,console "
                                    "(an Official Account: docs/zalo.md)."))
    commune = next(iter(runtime.roster.communes), None)
    if commune:
        lines.append("  " + t(LANG, "Calendar feed for officials: {command} prints its link, served by the web "
                                    "app ({web}) at {url}/feeds/<token>.ics.",
                              command=f"{program} feed create --commune {commune}{options}", web=WEB_APP,
                              url=settings.public_url.rstrip("/")))
    out.print("\n".join(lines), markup=False, soft_wrap=True)


def _days_to_show(row: Upcoming) -> int:
    """`status --days` that reaches this reminder's occurrence (7, the default, if it does)."""
    ahead = (row.starts_at - utcnow()) if row.starts_at else timedelta(0)
    return max(7, ahead.days + 1)


def _program() -> str:
    """This command as the person typed it, so a printed command runs as printed
    (`.venv/bin/reminders` when the venv is not on PATH)."""
    typed = sys.argv[0] if sys.argv else ""
    if os.path.basename(typed) != "reminders" or os.sep not in typed:
        return "reminders"
    path = os.path.abspath(typed)
    found = shutil.which("reminders")
    if found and os.path.abspath(found) == path:
        return "reminders"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _someone_reached(roster: Roster, row: Upcoming) -> str | None:
    """A person the reminder reaches, who may acknowledge it: the person, or a team member."""
    kind, _, ident = row.recipient.partition(":")
    if kind == "person" and ident in roster.people:
        return ident
    team = roster.teams.get(row.team_id)
    return team.member_ids[0] if team and team.member_ids else None


def _recipient_name(roster: Roster, recipient: str) -> str:
    kind, _, ident = recipient.partition(":")
    if kind == "team" and ident in roster.teams:
        return roster.teams[ident].name + " (" + t(LANG, "group") + ")"
    person = roster.people.get(ident)
    return person.name if person else recipient


@click.command()
@definitions_options
@friendly
def bot(calendars_dir: str | None, roster_path: str | None) -> None:
    """Receive button presses and replies by long polling (where webhooks are not used)."""
    settings = settings_for(calendars_dir, roster_path)
    runtime = open_runtime(settings, worker_id="bot")
    if (watcher := watcher_for(settings, runtime.engine, runtime.definitions)) is not None:
        watch_in_background(watcher, threading.Event())  # roster edits reach replies too
    polling = pollers(runtime.adapters)
    if not polling:
        fail(t(LANG, "No enabled adapter can poll for messages (REMINDERS_ADAPTERS={names}).",
                names=",".join(runtime.adapters)))
    out.print(t(LANG, "Listening for replies on {names}. Press Ctrl-C to stop.",
                names=", ".join(a.name for a in polling)), markup=False)
    listen(runtime, polling)


@click.command()
@definitions_options
@friendly
def scheduler(calendars_dir: str | None, roster_path: str | None) -> None:
    """The planner and dispatcher loop for separate worker processes (needs Redis).

    Several replicas may run: one holds the lease and works; another takes over within
    REMINDERS_SCHEDULER_LEASE_SECONDS (default 30) if it dies."""
    settings = settings_for(calendars_dir, roster_path)
    if not settings.redis_url:
        raise ConfigurationError("REMINDERS_REDIS_URL is required for a separate scheduler "
                                 "(on one machine, `reminders run` does everything)")
    make_broker(settings.redis_url, settings.redis_namespace)
    runtime = open_runtime(settings, adapters={}, worker_id=f"scheduler-{os.getpid()}")
    _note_last_good(runtime)
    notify = notify_with_own_adapters(runtime.engine, settings)
    loop = Scheduler(runtime, enqueue, horizon=settings.horizon,
                     reloader=watcher_for(settings, runtime.engine, runtime.definitions, notify=notify))
    run_replica(loop, _stop_on_signals(), tick_seconds=settings.tick_seconds, ttl=settings.scheduler_lease,
                on_active=lambda name: out.print(t(LANG, "Active scheduler: {name}.", name=name), markup=False))

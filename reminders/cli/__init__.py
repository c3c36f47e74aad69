"""The `reminders` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from reminders import logs
from reminders.cli.audit import audit
from reminders.cli.common import (
    LANG,
    definitions_options,
    err,
    fail,
    friendly,
    out,
    parse_day,
    settings_for,
)
from reminders.cli.duties import duties
from reminders.cli.report import report
from reminders.cli.teams import teams
from reminders.i18n import format_when, t
from reminders.settings import load_settings
from reminders.timeutil import DEFAULT_TZ, utcnow


@click.group()
@click.version_option(package_name="reminders")
def main() -> None:
    """Recurring duties from iCalendar files, reminded through chat adapters."""
    logs.configure(os.environ.get("REMINDERS_LOG_LEVEL", "WARNING"),
                        os.environ.get("REMINDERS_LOG_FORMAT", "text"))
    logs.install(os.environ)


@main.command()
@definitions_options
@friendly
def check(calendars_dir, roster_path) -> None:
    """Validate calendars and roster; list every problem as file:line."""
    from reminders.jobs.embedded import load_definitions

    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    out.print(t(LANG, "OK: {duties} duties, {teams} teams, {people} people.",
                duties=len(duties), teams=len(roster.teams), people=len(roster.people)), markup=False)


@main.command()
@click.argument("uid")
@click.option("--from", "from_", required=True, help="First day, e.g. 2024-10-01.")
@click.option("--to", "to", required=True, help="Last day (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@definitions_options
@friendly
def preview(uid, from_, to, as_json, calendars_dir, roster_path) -> None:
    """The occurrences and reminder times of one duty."""
    from reminders.jobs.embedded import load_definitions
    from reminders.views.preview import preview_occurrences

    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    if uid not in duties:
        fail(t(LANG, "No duty has UID {uid}.", uid=uid))
    items = preview_occurrences(duties[uid], parse_day(from_, "--from"), parse_day(to, "--to"))
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    duty = duties[uid]
    table = Table(title=duty.summary)
    for column in ("recurrence_id", "start", "end", "reminders"):
        table.add_column(column)
    for item in items:
        status = " (" + t(LANG, "cancelled") + ")" if item["cancelled"] else ""
        table.add_row(item["recurrence_id"], item["start"] + status, item["end"],
                      "\n".join(f"{r['at']} {r['kind']}" for r in item["reminders"]))
    out.print(table)


@main.command()
@click.option("--from", "from_", required=True, help="First day, e.g. 2024-10-01.")
@click.option("--to", "to", required=True, help="Last day (inclusive).")
@definitions_options
@friendly
def simulate(from_, to, calendars_dir, roster_path) -> None:
    """Run the real pipeline on a virtual clock and print every message that would go out."""
    from reminders.jobs.simulate import simulate as run_simulation

    settings = settings_for(calendars_dir, roster_path)
    zone = ZoneInfo(DEFAULT_TZ)
    start = datetime.combine(parse_day(from_, "--from"), datetime.min.time(), tzinfo=zone)
    end = datetime.combine(parse_day(to, "--to") + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    count = run_simulation(settings, start, end, sys.stdout)
    out.print(t(LANG, "{count} messages would be sent.", count=count), markup=False)


@main.command()
@definitions_options
@friendly
def run(calendars_dir, roster_path) -> None:
    """The all-in-one worker: planner, dispatcher and senders in one process."""
    from reminders.jobs.embedded import EmbeddedWorker, open_runtime
    from reminders.schedule.dispatcher import seconds_to_next_tick

    settings = settings_for(calendars_dir, roster_path)
    runtime = open_runtime(settings)
    _note_last_good(runtime)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # stop between ticks, never mid-send
        signal.signal(signum, lambda *_: stop.set())
    with EmbeddedWorker(runtime, settings) as worker:
        report = worker.scheduler.tick()
        out.print(t(LANG, "Loaded {duties} duties and {teams} teams; database {db}.",
                    duties=len(runtime.duties), teams=len(runtime.roster.teams),
                    db=runtime.engine.url.render_as_string(hide_password=True)), markup=False)
        out.print(t(LANG, "Planned {count} reminders in the next {days} days.",
                    count=report.plan.deliveries_upserted, days=settings.horizon.days), markup=False)
        _print_upcoming(runtime)
        out.print(t(LANG, "Running. Press Ctrl-C to stop."), markup=False)
        while not stop.is_set():
            wait = seconds_to_next_tick(runtime.engine, utcnow(), settings.tick_seconds, worker.scheduler.lookahead)
            if stop.wait(wait):
                break
            try:
                worker.scheduler.tick()
            except Exception:  # a database hiccup must not stop the worker
                logging.getLogger("reminders.scheduler").exception("tick failed; retrying")
        out.print(t(LANG, "Stopping: waiting for messages being sent..."), markup=False)


def _print_upcoming(runtime, limit: int = 10) -> None:
    from reminders.views.status import upcoming

    rows = upcoming(runtime.engine, limit)
    if not rows:
        out.print(t(LANG, "No reminders are due in the planning horizon."), markup=False)
        return
    table = Table(title=t(LANG, "Next reminders"))
    for column in (t(LANG, "When"), t(LANG, "Duty"), t(LANG, "To"), t(LANG, "Kind")):
        table.add_column(column)
    zone = ZoneInfo(runtime.roster.timezone)
    for row in rows:
        table.add_row(format_when(row.due_at, LANG, zone), row.summary,
                      _recipient_name(runtime.roster, row.recipient), row.kind)
    out.print(table)


def _recipient_name(roster, recipient: str) -> str:
    kind, _, ident = recipient.partition(":")
    if kind == "team" and ident in roster.teams:
        return roster.teams[ident].name + " (" + t(LANG, "group") + ")"
    person = roster.people.get(ident)
    return person.name if person else recipient


@main.command()
@click.option("--days", default=7, show_default=True, help="Days back and ahead to show.")
@definitions_options
@friendly
def status(days, calendars_dir, roster_path) -> None:
    """Occurrences around today and who has acknowledged them."""
    from reminders.jobs.embedded import load_definitions
    from reminders.store.engine import make_engine
    from reminders.views.status import occurrence_status

    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    engine = make_engine(settings.database_url)
    now = utcnow()
    rows = occurrence_status(engine, roster, now - timedelta(days=days), now + timedelta(days=days))
    if not rows:
        out.print(t(LANG, "Nothing planned around today. Is `reminders run` running?"), markup=False)
        return
    zone = ZoneInfo(roster.timezone)
    table = Table(title=t(LANG, "Status"))
    for column in (t(LANG, "When"), t(LANG, "Duty"), t(LANG, "Team"), t(LANG, "Acknowledged"), t(LANG, "Codes")):
        table.add_column(column)
    for row in rows:
        table.add_row(format_when(row.start, LANG, zone, all_day=row.all_day), row.summary,
                      row.team_name, row.progress, " ".join(row.codes))
    out.print(table)


@main.command()
@click.argument("code")
@click.option("--member", "member", required=True, help="Roster id of the person acknowledging.")
@click.option("--answer", default=None, help="The check-in answer, if the reminder asked a question.")
@click.option("--snooze", is_flag=True, help="Remind me again in an hour instead.")
@click.option("--on-behalf-of", "on_behalf", default=None,
              help="Leader or admin confirming for another member: that member's id.")
@definitions_options
@friendly
def ack(code, member, answer, snooze, on_behalf, calendars_dir, roster_path) -> None:
    """Acknowledge a reminder by its code (the console's '✅ Đã xong' button)."""
    from reminders.inbound.acks import record_acknowledgement
    from reminders.inbound.acks import snooze as snooze_delivery
    from reminders.jobs.embedded import load_definitions
    from reminders.store.engine import make_engine

    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    engine = make_engine(settings.database_url)
    person = roster.people.get(on_behalf or member)
    language = person.language if person else LANG
    if snooze:
        due = snooze_delivery(engine, roster, code=code, person_id=member, now=utcnow())
        out.print(t(language, "OK, I will remind you again at {when}.",
                    when=format_when(due, language, ZoneInfo(roster.timezone))), markup=False)
        return
    result = record_acknowledgement(engine, roster, duties, code=code, person_id=on_behalf or member,
                                    channel="console", now=utcnow(), answer=answer,
                                    recorded_by=member if on_behalf else None)
    message = t(language, "Thank you, {name}: \"{summary}\" is recorded as done.",
                name=result.person.name, summary=result.summary)
    if result.answer is not None:
        message += " " + t(language, "Answer: {answer}.", answer=result.answer)
    out.print(message, markup=False)


def _note_last_good(runtime) -> None:
    """Started on the last good version saved in the database: say so (the log lists why)."""
    from reminders.definitions.snapshot import start_note

    if note := start_note(runtime, LANG):
        err.print(note, markup=False)


@main.command()
@definitions_options
@friendly
def bot(calendars_dir, roster_path) -> None:
    """Receive button presses and replies by long polling (where webhooks are not used)."""
    import asyncio

    from reminders.adapters.base import Adapter
    from reminders.definitions.reload import watch_in_background, watcher_for
    from reminders.inbound.updates import run_polling
    from reminders.jobs.embedded import open_runtime

    settings = settings_for(calendars_dir, roster_path)
    runtime = open_runtime(settings, worker_id="bot")
    if (watcher := watcher_for(runtime, settings)) is not None:  # roster edits reach replies too
        watch_in_background(watcher, threading.Event())
    pollers = [a for a in runtime.adapters.values() if type(a).poll is not Adapter.poll]
    if not pollers:
        fail(t(LANG, "No enabled adapter can poll for messages (REMINDERS_ADAPTERS={names}).",
                names=",".join(runtime.adapters)))
    out.print(t(LANG, "Listening for replies on {names}. Press Ctrl-C to stop.",
                names=", ".join(a.name for a in pollers)), markup=False)

    async def listen() -> None:
        await asyncio.gather(*(run_polling(runtime, adapter) for adapter in pollers))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(listen())


@main.command()
@definitions_options
@friendly
def scheduler(calendars_dir, roster_path) -> None:
    """The planner and dispatcher loop for separate worker processes (needs Redis).

    Several replicas may run: one holds the lease and works; another takes over within
    REMINDERS_SCHEDULER_LEASE_SECONDS (default 30) if it dies."""
    import uuid

    from reminders.definitions.reload import notify_with_own_adapters, watcher_for
    from reminders.errors import ConfigurationError
    from reminders.jobs.broker import make_broker
    from reminders.jobs.embedded import open_runtime
    from reminders.jobs.send import enqueue
    from reminders.schedule import lease as leader
    from reminders.schedule.dispatcher import seconds_to_next_tick
    from reminders.schedule.scheduler import Scheduler

    settings = settings_for(calendars_dir, roster_path)
    if not settings.redis_url:
        raise ConfigurationError("REMINDERS_REDIS_URL is required for a separate scheduler "
                                 "(on one machine, `reminders run` does everything)")
    ttl = timedelta(seconds=float(os.environ.get("REMINDERS_SCHEDULER_LEASE_SECONDS", "30")))
    make_broker(settings.redis_url)
    runtime = open_runtime(settings, adapters={}, worker_id=f"scheduler-{os.getpid()}")
    _note_last_good(runtime)
    notify = notify_with_own_adapters(runtime.engine, list(settings.adapters), settings.env)
    loop = Scheduler(runtime, enqueue, horizon=settings.horizon, reloader=watcher_for(runtime, settings, notify=notify))
    me = f"{runtime.worker_id}-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    active = False
    while not stop.is_set():
        now = utcnow()
        if leader.hold(runtime.engine, me, now, ttl):
            if not active:
                logging.getLogger("reminders.scheduler").warning("%s is now the active scheduler", me)
                out.print(t(LANG, "Active scheduler: {name}.", name=me), markup=False)
                active = True
            try:
                report = loop.tick(now)
                logging.getLogger("reminders.scheduler").debug(
                    "tick: %d claimed, %d missed, %.2f s", report.dispatched, report.missed,
                    (utcnow() - now).total_seconds())
            except Exception:  # Redis or the database down: claims lapse and return; keep going
                logging.getLogger("reminders.scheduler").exception("tick failed; retrying")
        elif active:
            active = False
        wait = min(settings.tick_seconds, ttl.total_seconds() / 3)
        if active:  # wake for the next reminder, and at once while a burst is held back
            wait = seconds_to_next_tick(runtime.engine, utcnow(), wait, loop.lookahead)
        stop.wait(wait)
    if active:
        leader.release(runtime.engine, me)


@main.command()
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("--retry", "retry_codes", multiple=True, help="Send this failed delivery again (code); repeatable.")
@click.option("--retry-all-failed", is_flag=True, help="Send every failed delivery again.")
@click.option("--limit", default=50, show_default=True)
@definitions_options
@friendly
def deliveries(failed, retry_codes, retry_all_failed, limit, calendars_dir, roster_path) -> None:
    """List deliveries (newest first) with their status and reason; retry failed ones."""
    from reminders.schedule.outbox import list_deliveries, retry_failed
    from reminders.store.engine import make_engine

    settings = settings_for(calendars_dir, roster_path)
    engine = make_engine(settings.database_url)
    if retry_codes or retry_all_failed:
        count = retry_failed(engine, utcnow(), codes=list(retry_codes) or None)
        out.print(t(LANG, "{count} deliveries will be sent again.", count=count), markup=False)
        return
    rows = list_deliveries(engine, status="failed" if failed else None, limit=limit)
    table = Table(title=t(LANG, "Deliveries"))
    for column in (t(LANG, "Code"), t(LANG, "When"), t(LANG, "Duty"), t(LANG, "To"), "status", t(LANG, "Reason")):
        table.add_column(column)
    zone = ZoneInfo(DEFAULT_TZ)
    for row in rows:
        table.add_row(row.code, row.due_at.astimezone(zone).strftime("%d/%m %H:%M"), row.summary,
                      row.recipient, row.status, row.error or "")
    Console(highlight=False, width=200).print(table)


@main.group()
def db() -> None:
    """Database schema: migrations, and moving from SQLite to PostgreSQL."""


@db.command()
@friendly
def upgrade() -> None:
    """Migrate the database named by REMINDERS_DATABASE_URL to the latest schema."""
    from reminders.store.engine import make_engine
    from reminders.store.migrate import current

    engine = make_engine(load_settings().database_url, create=False)
    from reminders.store.migrate import upgrade as run_upgrade

    run_upgrade(engine)
    out.print(t(LANG, "Database schema at revision {revision}.", revision=current(engine)), markup=False)


@db.command()
@click.option("--from", "source", default=None, help="Source database URL (default: REMINDERS_DATABASE_URL).")
@click.option("--to", "target", required=True, help="Target database URL, e.g. postgresql://user@host/db.")
@friendly
def copy(source, target) -> None:
    """Copy everything to another, empty database (SQLite -> PostgreSQL), schema included."""
    from reminders.store.engine import make_engine
    from reminders.store.migrate import copy_database

    counts = copy_database(make_engine(source or load_settings().database_url, create=False),
                           make_engine(target, create=False))
    out.print(t(LANG, "Copied {rows} rows in {tables} tables.", rows=sum(counts.values()), tables=len(counts)),
              markup=False)


def _scope(commune: str | None, team: str | None, category: str | None, roster) -> str:
    chosen = [(k, v) for k, v in (("commune", commune), ("team", team), ("category", category)) if v]
    if len(chosen) != 1:
        raise click.UsageError(t(LANG, "Give exactly one of --commune, --team or --category."))
    kind, value = chosen[0]
    known = roster.communes if kind == "commune" else roster.teams if kind == "team" else None
    if known is not None and value not in known:
        fail(t(LANG, "Not on the roster: {ids}.", ids=value))
    return f"{kind}:{value}"


def feed_scope_options(func):
    for option in (click.option("--category", default=None, help="A duty category, e.g. 'báo cáo'."),
                   click.option("--team", default=None, help="A team id."),
                   click.option("--commune", default=None, help="A commune id.")):
        func = option(func)
    return func


@main.group()
def feed() -> None:
    """Private calendar feeds (.ics links) for commune officials."""


@feed.command("create")
@feed_scope_options
@click.option("--label", default="", help="Who the link is for (shown in `feed list`).")
@click.option("--base-url", envvar="REMINDERS_PUBLIC_URL", default="http://localhost:8000", show_default=True,
              help="The web app's public address (or $REMINDERS_PUBLIC_URL).")
@definitions_options
@friendly
def feed_create(commune, team, category, label, base_url, calendars_dir, roster_path) -> None:
    """A new private feed link; prints its https:// and webcal:// forms."""
    from reminders.jobs.embedded import load_definitions
    from reminders.store.engine import make_engine
    from reminders.store.feed_tokens import create_token, feed_links

    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    scope = _scope(commune, team, category, roster)
    token_id, token = create_token(make_engine(settings.database_url), scope, utcnow(), label)
    https, webcal = feed_links(base_url, token)
    out.print(t(LANG, "Feed {id} for {scope}:", id=token_id, scope=scope), markup=False)
    out.print(f"  {https}\n  {webcal}", markup=False, soft_wrap=True)


@feed.command("list")
@friendly
def feed_list() -> None:
    """Feed links (ids, scopes, labels; never the tokens, which are stored hashed)."""
    from reminders.store.engine import make_engine
    from reminders.store.feed_tokens import list_tokens

    table = Table(title=t(LANG, "Feeds"))
    for column in ("id", "scope", "label", t(LANG, "When"), "revoked"):
        table.add_column(column)
    for token in list_tokens(make_engine(load_settings().database_url)):
        table.add_row(str(token.id), token.scope, token.label, token.created_at.strftime("%Y-%m-%d"),
                      token.revoked_at.strftime("%Y-%m-%d") if token.revoked_at else "")
    out.print(table)


@feed.command("revoke")
@click.argument("token_id", type=int)
@friendly
def feed_revoke(token_id) -> None:
    """Stop a feed link at once."""
    from reminders.store.engine import make_engine
    from reminders.store.feed_tokens import revoke

    if not revoke(make_engine(load_settings().database_url), token_id, utcnow()):
        fail(t(LANG, "No live feed has id {id}.", id=token_id))
    out.print(t(LANG, "Feed {id} revoked.", id=token_id), markup=False)


@feed.command("rotate")
@click.argument("token_id", type=int)
@click.option("--base-url", envvar="REMINDERS_PUBLIC_URL", default="http://localhost:8000", show_default=True)
@friendly
def feed_rotate(token_id, base_url) -> None:
    """Revoke a feed link and print a new one for the same scope."""
    from reminders.store.engine import make_engine
    from reminders.store.feed_tokens import feed_links, rotate

    result = rotate(make_engine(load_settings().database_url), token_id, utcnow())
    if result is None:
        fail(t(LANG, "No live feed has id {id}.", id=token_id))
    https, webcal = feed_links(base_url, result[1])
    out.print(t(LANG, "Feed {id} for {scope}:", id=result[0], scope=token_id), markup=False)
    out.print(f"  {https}\n  {webcal}", markup=False, soft_wrap=True)


@feed.command("export")
@feed_scope_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .ics file to write.")
@definitions_options
@friendly
def feed_export(commune, team, category, output, calendars_dir, roster_path) -> None:
    """Write the same calendar as the feed to a file (to send through Zalo or email)."""
    from pathlib import Path

    from reminders.jobs.embedded import load_definitions
    from reminders.store.engine import make_engine
    from reminders.views.feeds import Scope, build_feed

    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    scope = Scope.parse(_scope(commune, team, category, roster))
    body = build_feed(make_engine(settings.database_url), duties, roster, scope, utcnow())
    target = Path(output)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(body)
    partial.replace(target)  # nothing half-written
    out.print(t(LANG, "Wrote {path}.", path=str(target)), markup=False)


@main.group()
def members() -> None:
    """Roster members: invite codes for linking chat accounts."""


@members.command()
@click.argument("member_ids", nargs=-1)
@click.option("--team", "team_ids", multiple=True, help="Every member of this team; repeatable.")
@click.option("--commune", "commune_ids", multiple=True, help="Every team member in this commune; repeatable.")
@click.option("--sheet", "sheet_dir", type=click.Path(file_okay=False),
              help="Write a printable A4 sheet (index.html, one card and QR code per person) here.")
@click.option("--bot-username", envvar="TELEGRAM_BOT_USERNAME", required=True,
              help="The bot's @username, for the t.me deep link (or $TELEGRAM_BOT_USERNAME).")
@definitions_options
@friendly
def invite(member_ids, team_ids, commune_ids, sheet_dir, bot_username, calendars_dir, roster_path) -> None:
    """One-time invite codes and their Telegram deep links (`/start <code>`)."""
    from reminders.inbound.invites import create_invite, deep_link
    from reminders.jobs.embedded import load_definitions
    from reminders.store.engine import make_engine
    from reminders.views.invite_sheet import make_cards, select_people, write_sheet

    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    people, unknown = select_people(roster, member_ids, team_ids, commune_ids)
    if unknown:
        fail(t(LANG, "Not on the roster: {ids}.", ids=", ".join(unknown)))
    if not people:
        fail(t(LANG, "Name people, or give --team or --commune."), 2)
    engine = make_engine(settings.database_url)
    bot_username = bot_username.lstrip("@")
    codes = {person.id: create_invite(engine, person.id, utcnow()) for person in people}
    if sheet_dir:
        page = write_sheet(sheet_dir, make_cards(roster, people, codes, bot_username),
                           title=t(LANG, "Invite codes"), language=LANG)
        out.print(t(LANG, "Wrote {count} invite cards to {path}. Print it, hand the cards out, then delete "
                          "the folder: the codes work until used.", count=len(people), path=str(page)),
                  markup=False, soft_wrap=True)
        return
    table = Table(title=t(LANG, "Invite codes"))
    for column in (t(LANG, "Person"), t(LANG, "Code"), t(LANG, "Link")):
        table.add_column(column)
    for person in people:
        table.add_row(person.name, codes[person.id], deep_link(bot_username, codes[person.id]))
    Console(highlight=False, width=200).print(table)


main.add_command(teams)
main.add_command(report)
main.add_command(duties)
main.add_command(audit)


if __name__ == "__main__":
    main()

"""`reminders feed`: private calendar links (.ics) for commune officials, and the same
calendar written to a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from reminders.cli.common import (
    LANG,
    definitions_options,
    fail,
    friendly,
    out,
    process_settings,
    settings_for,
)
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import Roster
from reminders.files import write_atomic
from reminders.i18n import t
from reminders.settings import checked_public_url
from reminders.store.engine import make_engine
from reminders.store.feed_tokens import create_token, feed_links, list_tokens, revoke, rotate
from reminders.timeutil import utcnow
from reminders.views.feeds import Scope, build_feed


def _scope(commune: str | None, team: str | None, category: str | None, roster: Roster) -> str:
    chosen = [(k, v) for k, v in (("commune", commune), ("team", team), ("category", category)) if v]
    if len(chosen) != 1:
        raise click.UsageError(t(LANG, "Give exactly one of --commune, --team or --category."))
    kind, value = chosen[0]
    known = roster.communes if kind == "commune" else roster.teams if kind == "team" else None
    if known is not None and value not in known:
        fail(t(LANG, "Not on the roster: {ids}.", ids=value))
    return f"{kind}:{value}"


def feed_scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in (click.option("--category", default=None, help="A duty category, e.g. 'báo cáo'."),
                   click.option("--team", default=None, help="A team id."),
                   click.option("--commune", default=None, help="A commune id.")):
        func = option(func)
    return func


def _base_url(given: str | None) -> str:
    return given or process_settings().public_url


def _check_base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--base-url is checked like REMINDERS_PUBLIC_URL, before anything is written: a link
    without https:// would be printed broken (or not at all) after its token was stored."""
    if value is None:
        return None
    try:
        return checked_public_url(value)
    except ValueError:
        raise click.BadParameter(t(LANG, "{value} is not a web address: it must start with https:// (or http://) "
                                         "and name a host, e.g. https://nhacviec.example.vn; nothing was "
                                         "written.", value=repr(value))) from None


def base_url_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--base-url", default=None, callback=_check_base_url,
                        help="The web app's public address (default: $REMINDERS_PUBLIC_URL).")(func)


@click.group()
def feed() -> None:
    """Private calendar feeds (.ics links) for commune officials."""


@feed.command("create")
@feed_scope_options
@click.option("--label", default="", help="Who the link is for (shown in `feed list`).")
@base_url_option
@definitions_options
@friendly
def feed_create(commune: str | None, team: str | None, category: str | None, label: str, base_url: str | None,
                calendars_dir: str | None, roster_path: str | None) -> None:
    """A new private feed link; prints its https:// and webcal:// forms."""
    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    scope = _scope(commune, team, category, roster)
    token_id, token = create_token(make_engine(settings.database_url), scope, utcnow(), label)
    https, webcal = feed_links(base_url or settings.public_url, token)
    out.print(t(LANG, "Feed {id} for {scope}:", id=token_id, scope=scope), markup=False)
    out.print(f"  {https}\n  {webcal}", markup=False, soft_wrap=True)


@feed.command("list")
@friendly
def feed_list() -> None:
    """Feed links (ids, scopes, labels; never the tokens, which are stored hashed)."""
    table = Table(title=t(LANG, "Feeds"))
    for column in ("id", t(LANG, "Scope"), t(LANG, "For whom"), t(LANG, "When"), t(LANG, "Revoked")):
        table.add_column(column)
    for token in list_tokens(make_engine(process_settings().database_url)):
        table.add_row(str(token.id), token.scope, token.label, token.created_at.strftime("%Y-%m-%d"),
                      token.revoked_at.strftime("%Y-%m-%d") if token.revoked_at else "")
    out.print(table)


@feed.command("revoke")
@click.argument("token_id", type=int)
@friendly
def feed_revoke(token_id: int) -> None:
    """Stop a feed link at once."""
    if not revoke(make_engine(process_settings().database_url), token_id, utcnow()):
        fail(t(LANG, "No live feed has id {id}.", id=token_id))
    out.print(t(LANG, "Feed {id} revoked.", id=token_id), markup=False)


@feed.command("rotate")
@click.argument("token_id", type=int)
@base_url_option
@friendly
def feed_rotate(token_id: int, base_url: str | None) -> None:
    """Revoke a feed link and print a new one for the same scope."""
    result = rotate(make_engine(process_settings().database_url), token_id, utcnow())
    if result is None:
        fail(t(LANG, "No live feed has id {id}.", id=token_id))
        return
    https, webcal = feed_links(_base_url(base_url), result[1])
    out.print(t(LANG, "Feed {id} for {scope}:", id=result[0], scope=token_id), markup=False)
    out.print(f"  {https}\n  {webcal}", markup=False, soft_wrap=True)


@feed.command("export")
@feed_scope_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .ics file to write.")
@definitions_options
@friendly
def feed_export(commune: str | None, team: str | None, category: str | None, output: str,
                calendars_dir: str | None, roster_path: str | None) -> None:
    """Write the same calendar as the feed to a file (to send through Zalo or email)."""
    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    scope = Scope.parse(_scope(commune, team, category, roster))
    body = build_feed(make_engine(settings.database_url), duties, roster, scope, utcnow())
    write_atomic(Path(output), body)  # nothing half-written
    out.print(t(LANG, "Wrote {path}.", path=str(output)), markup=False)

"""`reminders members invite`: one-time invite codes, printed or as a sheet of cards."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from reminders.cli.common import LANG, definitions_options, fail, friendly, out, settings_for
from reminders.definitions.load import load_definitions
from reminders.i18n import t
from reminders.store.engine import make_engine
from reminders.store.invites import create_invite, deep_link
from reminders.timeutil import utcnow
from reminders.views.invite_sheet import make_cards, select_people, write_sheet


@click.group()
def members() -> None:
    """Roster members: invite codes for linking chat accounts."""


@members.command()
@click.argument("member_ids", nargs=-1)
@click.option("--team", "team_ids", multiple=True, help="Every member of this team; repeatable.")
@click.option("--commune", "commune_ids", multiple=True, help="Every team member in this commune; repeatable.")
@click.option("--sheet", "sheet_dir", type=click.Path(file_okay=False),
              help="Write a printable A4 sheet (index.html, one card and QR code per person) here.")
@click.option("--bot-username", default=None,
              help="The bot's @username, for the t.me deep link (default: $TELEGRAM_BOT_USERNAME).")
@definitions_options
@friendly
def invite(member_ids: tuple[str, ...], team_ids: tuple[str, ...], commune_ids: tuple[str, ...],
           sheet_dir: str | None, bot_username: str | None, calendars_dir: str | None,
           roster_path: str | None) -> None:
    """One-time invite codes and their Telegram deep links (`/start <code>`)."""
    settings = settings_for(calendars_dir, roster_path)
    bot_username = bot_username or settings.telegram_bot_username
    if not bot_username:
        raise click.UsageError(t(LANG, "Give --bot-username, or set TELEGRAM_BOT_USERNAME."))
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

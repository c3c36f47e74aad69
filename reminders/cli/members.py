"""`reminders members invite`: one-time invite codes, printed or as a sheet of cards.

How a person redeems a code is the platform's to say (`Adapter.invite_route`): a t.me deep
link on Telegram (the bot's name from getMe), the OA's chat and `/start <code>` on Zalo. The
platform is asked before any code is made, so a platform that cannot be reached leaves
every earlier card working."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from reminders.adapters.base import (
    Adapter,
    AdapterServices,
    DeliveryError,
    InviteRoute,
    implements,
    title_of,
)
from reminders.adapters.registry import load_adapters
from reminders.cli.common import LANG, definitions_options, fail, friendly, out, settings_for
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import Person
from reminders.i18n import t
from reminders.logs import redact
from reminders.settings import Settings
from reminders.store.engine import make_engine
from reminders.store.invites import create_invite
from reminders.store.tokens import TokenTable
from reminders.timeutil import utcnow
from reminders.views.invite_sheet import make_cards, select_people, write_sheet

PROBE = "0"  # a code only to ask the platform how codes are redeemed, before any real one exists


@click.group()
def members() -> None:
    """Roster members: invite codes for linking chat accounts."""


@members.command()
@click.argument("member_ids", nargs=-1)
@click.option("--team", "team_ids", multiple=True, help="Every member of this team; repeatable.")
@click.option("--commune", "commune_ids", multiple=True, help="Every team member in this commune; repeatable.")
@click.option("--sheet", "sheet_dir", type=click.Path(file_okay=False),
              help="Write a printable A4 sheet (index.html, one card and QR code per person) here.")
@click.option("--adapter", "adapter_name", default=None,
              help="The platform people join on (default: the first enabled one that takes invites).")
@definitions_options
@friendly
def invite(member_ids: tuple[str, ...], team_ids: tuple[str, ...], commune_ids: tuple[str, ...],
           sheet_dir: str | None, adapter_name: str | None, calendars_dir: str | None,
           roster_path: str | None) -> None:
    """One-time invite codes, and how to redeem each (`/start <code>`) on the platform."""
    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    people, unknown = select_people(roster, member_ids, team_ids, commune_ids)
    if unknown:
        fail(t(LANG, "Not on the roster: {ids}.", ids=", ".join(unknown)))
    if not people:
        fail(t(LANG, "Name people, or give --team or --commune."), 2)
    engine = make_engine(settings.database_url)
    adapter = _platform(settings, adapter_name)
    adapter.attach(AdapterServices(tokens=TokenTable(engine, settings.secret_key)))
    platform = title_of(adapter)
    try:
        codes, routes = asyncio.run(_invite(adapter, engine, people))
    except DeliveryError as exc:
        fail(t(LANG, "Could not ask {platform} how invite codes are redeemed ({detail}); no code was made.",
               platform=platform, detail=redact(str(exc))))
    if sheet_dir:
        page = write_sheet(sheet_dir, make_cards(roster, people, codes, routes, platform),
                           title=t(LANG, "Invite codes"), language=LANG)
        out.print(t(LANG, "Wrote {count} invite cards to {path}. Print it, hand the cards out, then delete "
                          "the folder: the codes work until used.", count=len(people), path=str(page)),
                  markup=False, soft_wrap=True)
        return
    table = Table(title=t(LANG, "Invite codes") + f" · {platform}")
    for column in (t(LANG, "Person"), t(LANG, "Code"), t(LANG, "How")):
        table.add_column(column)
    for card in make_cards(roster, people, codes, routes, platform):
        table.add_row(card.person.name, card.code, card.how(LANG))
    Console(highlight=False, width=200).print(table)


def _platform(settings: Settings, name: str | None) -> Adapter:
    """The enabled adapter people redeem codes on: `name`, or the first that takes invites."""
    adapters = load_adapters(list(settings.adapters), settings)
    takes = [a for a in adapters.values() if implements(a, "invite_route")]
    if name is not None:
        if name not in adapters:
            fail(t(LANG, "Not enabled: {names} (REMINDERS_ADAPTERS={enabled}).", names=name,
                   enabled=",".join(settings.adapters)))
        if adapters[name] not in takes:
            fail(t(LANG, "{platform} takes no invite codes: people cannot write to it.",
                   platform=title_of(adapters[name])))
        return adapters[name]
    if not takes:
        fail(t(LANG, "No enabled adapter takes invite codes (REMINDERS_ADAPTERS={enabled}): people redeem a code "
                     "by sending it to a chat bot, so enable one that people write to (telegram, zalo_bot, "
                     "zalo_oa).", enabled=",".join(settings.adapters)))
    return takes[0]


async def _invite(adapter: Adapter, engine: Engine, people: list[Person]) -> tuple[dict[str, str],
                                                                                   dict[str, InviteRoute]]:
    """The platform asked first (getMe, the OA's profile); then a code per person, and its route."""
    await adapter.start()
    try:
        await adapter.invite_route(PROBE)  # fails here, before any code replaces a person's earlier one
        now = utcnow()
        codes = {person.id: create_invite(engine, person.id, now) for person in people}
        routes = {person.id: await adapter.invite_route(codes[person.id]) or InviteRoute() for person in people}
        return codes, routes
    finally:
        await adapter.close()

"""`reminders deliveries`: the outbox, newest first, and sending failed deliveries again."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from reminders.cli.common import LANG, definitions_options, friendly, out, settings_for
from reminders.i18n import N_, t
from reminders.kinds import DeliveryStatus
from reminders.logs import redact
from reminders.schedule.outbox import list_deliveries, retry_failed
from reminders.store.engine import make_engine
from reminders.timeutil import DEFAULT_TZ, utcnow

STATUS_WORDS: dict[str, str] = {
    DeliveryStatus.PENDING: N_("Waiting to be sent"), DeliveryStatus.CLAIMED: N_("Being sent"),
    DeliveryStatus.SENT: N_("Sent"), DeliveryStatus.FAILED: N_("Failed"), DeliveryStatus.MISSED: N_("Missed"),
    DeliveryStatus.CANCELLED: N_("Cancelled"),
}


@click.command()
@click.option("--failed", is_flag=True, help="Only deliveries that failed for good.")
@click.option("--retry", "retry_codes", multiple=True, help="Send this failed delivery again (code); repeatable.")
@click.option("--retry-all-failed", is_flag=True, help="Send every failed delivery again.")
@click.option("--limit", default=50, show_default=True)
@definitions_options
@friendly
def deliveries(failed: bool, retry_codes: tuple[str, ...], retry_all_failed: bool, limit: int,
               calendars_dir: str | None, roster_path: str | None) -> None:
    """List deliveries (newest first) with their status and reason; retry failed ones."""
    settings = settings_for(calendars_dir, roster_path)
    engine = make_engine(settings.database_url)
    if retry_codes or retry_all_failed:
        count = retry_failed(engine, utcnow(), codes=list(retry_codes) or None)
        out.print(t(LANG, "{count} deliveries will be sent again.", count=count), markup=False)
        return
    rows = list_deliveries(engine, status=DeliveryStatus.FAILED if failed else None, limit=limit)
    table = Table(title=t(LANG, "Deliveries"))
    for column in (t(LANG, "Code"), t(LANG, "When"), t(LANG, "Duty"), t(LANG, "To"), t(LANG, "State"), t(LANG, "Reason")):
        table.add_column(column)
    zone = ZoneInfo(DEFAULT_TZ)
    for row in rows:
        state = STATUS_WORDS.get(row.status)  # the StrEnum's members are their values
        table.add_row(row.code, row.due_at.astimezone(zone).strftime("%d/%m %H:%M"), row.summary,
                      row.recipient, t(LANG, state) if state else row.status,
                      redact(row.error or ""))  # rows kept before redaction
    Console(highlight=False, width=200).print(table)

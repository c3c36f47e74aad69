"""The `reminders` command line. One module per command group, registered here."""

from __future__ import annotations

import click

from reminders.cli.acks import ack, status
from reminders.cli.audit import audit
from reminders.cli.db import db
from reminders.cli.definitions import check, preview, simulate
from reminders.cli.duties import duties
from reminders.cli.feeds import feed
from reminders.cli.members import members
from reminders.cli.outbox import deliveries
from reminders.cli.processes import bot, run, scheduler
from reminders.cli.report import report
from reminders.cli.teams import teams
from reminders.cli.webhooks import webhook


@click.group()
@click.version_option(package_name="reminders")
def main() -> None:
    """Recurring duties from iCalendar files, reminded through chat adapters."""


for command in (check, preview, simulate, run, bot, scheduler, status, ack, deliveries, db, feed, members,
                teams, report, duties, audit, webhook):
    main.add_command(command)


if __name__ == "__main__":
    main()

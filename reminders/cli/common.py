"""What every `reminders` command shares: the consoles, the language, turning bad input
into a clear message and a non-zero exit, and the --calendars/--roster options.

Its own module so that the command modules import it at the top, with no import cycle
through the command group in `reminders/cli/__init__.py`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from reminders import logs
from reminders.errors import InvalidInput, RemindersError
from reminders.i18n import t
from reminders.logs import redact
from reminders.settings import Settings, cli_language, load_settings

LANG = cli_language()
FIRST_YEAR, LAST_YEAR = 1970, 2199
MAX_DAYS = 3660  # `status --days`: ten years either way
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # file:line stays on one line

P = ParamSpec("P")
R = TypeVar("R")
FC = TypeVar("FC", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(redact(message), markup=False)  # an error's text may echo a secret (a URL with a token)
    sys.exit(code)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Bad input ends in a clear message and a non-zero exit, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: a bad option value is a usage error (exit 2), with its message
        except InvalidInput as exc:
            err.print(t(LANG, "{count} problem(s) found; nothing was changed:", count=len(exc.problems)),
                      markup=False)
            for problem in exc.problems:
                err.print(f"  {problem.shown(lambda message: t(LANG, message))}", markup=False)
            sys.exit(1)
        except RemindersError as exc:  # said in the admin's language where the message is in the catalogs
            detail = t(LANG, exc.message, **exc.values) if exc.message is not None and exc.values else exc
            fail(t(LANG, "Error: {detail}", detail=detail))
        except OSError as exc:
            fail(t(LANG, "Error: {detail}", detail=f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}"))
        except Exception as exc:  # a database that cannot be reached, and the like
            if isinstance(exc, SQLAlchemyError):
                fail(t(LANG, "Database error: {detail}", detail=str(exc).splitlines()[0]))
            logging.getLogger(__name__).debug("internal error", exc_info=True)
            fail(t(LANG, "Internal error ({kind}: {detail}). Run again with REMINDERS_LOG_LEVEL=DEBUG "
                          "for the details, and please report it.", kind=type(exc).__name__, detail=exc), 70)

    return wrapper


def definitions_options(func: FC) -> FC:
    """--calendars and --roster on every command, defaulting to the shipped ones."""
    func = click.option("--roster", "roster_path", type=click.Path(),
                        help="Roster file (default: $REMINDERS_ROSTER or calendars/roster.yaml).")(func)
    return click.option("--calendars", "calendars_dir", type=click.Path(),
                        help="Directory of .ics duty files (default: $REMINDERS_CALENDARS or calendars).")(func)


def process_settings() -> Settings:
    """The settings, read when a command needs them (so `--help` works whatever the
    environment holds), with logging configured from them: format, level, secrets redacted,
    alembic's own lines only from WARNING. Read afresh by each command: one process may run
    several (tests, an embedding application)."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    logs.install(settings.secrets())
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


def settings_for(calendars_dir: str | None, roster_path: str | None) -> Settings:
    """The process's settings, with --calendars and --roster applied (a roster given by
    neither option nor REMINDERS_ROSTER is the roster.yaml beside the duty files)."""
    settings = process_settings()
    if calendars_dir:
        settings = settings.replace(calendars=calendars_dir)
    if roster_path:
        settings = settings.replace(roster_file=roster_path)
    return settings


def parse_day(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(t(LANG, "expected a date like 2024-10-01, got {value}", value=repr(value)),
                                 param_hint=name) from None
    return within_years(day, name)


def within_years(day: date, name: str) -> date:
    """Days the commands plan and count: FIRST_YEAR to LAST_YEAR (year 1 or 9999 would run
    past what dates and time zones can hold)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise click.BadParameter(t(LANG, "{value} is outside the years {first}-{last} that reminders handles",
                                   value=day.isoformat(), first=FIRST_YEAR, last=LAST_YEAR), param_hint=name)
    return day

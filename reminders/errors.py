"""Errors the library raises on purpose, each carrying where the problem is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an admin's input, located as precisely as we can."""

    file: str
    line: int | None
    message: str
    uid: str | None = None
    # A message the command line shows in the admin's language: its catalog id ({names}
    # filled from `values`); `message` is the same text in English, for logs and the library.
    template: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.shown(None)

    def shown(self, translate: Callable[[str], str] | None) -> str:
        """'file:line (UID …): message', the message translated when it has a template."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.uid:
            where = f"{where} (UID {self.uid})"
        return f"{where}: {self.text(translate)}"

    def text(self, translate: Callable[[str], str] | None) -> str:
        """The message alone, translated when it has a template (for a chat or a web page,
        where the place is the duty being written)."""
        if translate is not None and self.template:
            return translate(self.template).format(**dict(self.values))
        return self.message


def problem(file: str, line: int | None, template: str, uid: str | None = None, **values: str) -> Problem:
    """A Problem whose message is translatable: `template` is a catalog id marked with N_."""
    return Problem(file, line, template.format(**values), uid, template, tuple(sorted(values.items())))


class RemindersError(Exception):
    """Base class for errors reported to a person rather than as a traceback.

    Raised as `Error(N_("{name} is not ..."), name=...)`, its English message is a catalog
    msgid with its values kept apart, so the command line can say it in the admin's language
    (`message` and `values`); str() is the English text."""

    def __init__(self, *args: object, **values: object) -> None:
        super().__init__(*args)
        self.values = values

    @property
    def message(self) -> str | None:
        """The msgid, when the error was raised with one (and its values)."""
        return self.args[0] if len(self.args) == 1 and isinstance(self.args[0], str) else None

    def __str__(self) -> str:
        text = super().__str__()
        return text.format(**self.values) if self.values else text

    def said(self, translate: Callable[[str], str]) -> str:
        """The message in the reader's language, when it was raised with a catalog id."""
        if self.message is not None and self.values:
            return translate(self.message).format(**self.values)
        return str(self)


class InvalidInput(RemindersError):
    """Calendars or roster did not validate; `problems` lists every issue found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigurationError(RemindersError):
    """An environment variable is missing or malformed."""


class AlreadyDone(RemindersError):
    """A snooze of a reminder the person has already acknowledged; the message says so, in
    their language."""


class AnswerError(RemindersError):
    """A check-in answer does not match the expected type; `message` is the re-ask."""


class UnknownDelivery(RemindersError):
    """An acknowledgement named a delivery code or occurrence that does not exist."""


class NotOnRoster(RemindersError):
    """Someone who is not on the roster (or not in the team) tried to acknowledge."""

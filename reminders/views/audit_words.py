"""An audit row's detail in the admin's words: the delivery's kind ("reminder-0") said as
"nhắc 1", and a time written in UTC ("until 2024-01-05 08:00Z") said in the local zone.
The rows are stored in a fixed English form (tools and exports read them); only the
display is translated."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reminders.i18n import N_, t
from reminders.kinds import Kind, kind_of, unsnoozed

KIND_WORDS = {
    Kind.REMINDER: N_("reminder {number}"), Kind.CHECKIN: N_("check-in question {number}"),
    Kind.NUDGE: N_("nudge {number}"), Kind.REMINDER_NOW: N_("reminder sent by an admin"),
    Kind.ESCALATE_LEADER: N_("told the team leader"), Kind.ESCALATE_COMMUNE: N_("told the commune"),
    Kind.SUMMARY: N_("summary"), Kind.DIGEST: N_("weekly digest"), Kind.NOTICE: N_("notice of a failed chat"),
}
DELIVERY = re.compile(r"^(?P<kind>[a-z][\w:.@-]*?)(?: via (?P<channel>[\w-]+))?(?P<rest>: .*)?$", re.S)
UNTIL = re.compile(r"^until (?P<at>\d{4}-\d\d-\d\d \d\d:\d\d)Z$")


def kind_words(kind: str, language: str) -> str | None:
    """'reminder-0' -> 'nhắc 1' (alarms counted from 1); None if `kind` is not a delivery's kind."""
    try:
        which = kind_of(kind)
    except ValueError:
        return None
    head = unsnoozed(kind).split(":")[0]
    number = int(head.rsplit("-", 1)[1]) + (0 if which is Kind.NUDGE else 1) if head[-1:].isdigit() else 0
    words = t(language, KIND_WORDS[which], number=number)
    snoozed = "@" in kind and which is not Kind.REMINDER_NOW  # a /remindnow carries its minute, not a snooze
    return words + " " + t(language, "(snoozed)") if snoozed else words


def detail_words(detail: str, language: str, zone: ZoneInfo) -> str:
    """The detail as shown: kinds in words, UTC times in `zone`; anything else as stored."""
    if until := _until(detail):
        local = until.astimezone(zone)
        return t(language, "until {time}", time=f"{local:%d/%m/%Y %H:%M}")
    match = DELIVERY.match(detail)
    if not match or (words := kind_words(match["kind"], language)) is None:
        return detail
    if match["channel"]:
        words = t(language, "{what} via {channel}", what=words, channel=match["channel"])
    return words + (match["rest"] or "")


def _until(detail: str) -> datetime | None:
    """The time of a snooze detail ("until 2024-01-05 08:00Z"), if `detail` is one."""
    match = UNTIL.match(detail)
    return datetime.strptime(match["at"], "%Y-%m-%d %H:%M").replace(tzinfo=UTC) if match else None

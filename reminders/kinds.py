"""The words of the outbox: what state a delivery is in, and what kind of message it is.

A delivery's `kind` column holds a structured string, `<kind>[-<n>][:<detail>][@<when>]`:
"reminder-0" and "checkin-1" (the duty's alarms, planned), "reminder-now@28812345" (an admin's
/remindnow, one per minute), "nudge-2", "escalate-leader", "escalate-commune", "summary",
"digest:2024-W41", "notice:telegram:2S7" (a failed chat, told to the leader), and any of
them snoozed: "checkin-1@1727780000". `kind_of` reads the kind back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import lru_cache


class DeliveryStatus(StrEnum):
    """pending -> claimed -> sent | failed | missed; pending -> cancelled."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class OccurrenceStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"  # STATUS:CANCELLED in the duty file
    REMOVED = "removed"  # no longer produced by the definition, or the duty was deleted


class BindingStatus(StrEnum):
    ACTIVE = "active"
    BROKEN = "broken"  # the bot was blocked or removed from the chat


class Kind(StrEnum):
    REMINDER = "reminder"
    CHECKIN = "checkin"
    REMINDER_NOW = "reminder-now"
    NUDGE = "nudge"
    ESCALATE_LEADER = "escalate-leader"
    ESCALATE_COMMUNE = "escalate-commune"
    SUMMARY = "summary"
    DIGEST = "digest"
    NOTICE = "notice"


FOLLOWUPS = frozenset({Kind.NUDGE, Kind.ESCALATE_LEADER, Kind.ESCALATE_COMMUNE, Kind.SUMMARY, Kind.DIGEST})
ESCALATIONS = frozenset({Kind.ESCALATE_LEADER, Kind.ESCALATE_COMMUNE})
_WHOLE = {k.value: k for k in (Kind.REMINDER_NOW, Kind.ESCALATE_LEADER, Kind.ESCALATE_COMMUNE, Kind.SUMMARY)}


@lru_cache(maxsize=4096)  # asked several times per delivery, of a handful of distinct kinds
def kind_of(kind: str) -> Kind:
    """The Kind of a delivery's `kind` column ("checkin-1@1727780000" -> CHECKIN)."""
    head = unsnoozed(kind).split(":")[0]
    if head in _WHOLE:
        return _WHOLE[head]
    return Kind(head.rsplit("-", 1)[0] if head[-1:].isdigit() else head)


def numbered(kind: Kind, number: int) -> str:
    """'reminder-0', 'checkin-1', 'nudge-2': an alarm of a duty, or the n-th nudge."""
    return f"{kind}-{number}"


def unsnoozed(kind: str) -> str:
    """The kind without its snooze time ("reminder-0@1727780000" -> "reminder-0")."""
    return kind.split("@")[0]


def snoozed(kind: str, due: datetime) -> str:
    """The kind of a snoozed copy of a delivery, due at `due` (one per time)."""
    return f"{unsnoozed(kind)}@{int(due.timestamp())}"


def is_followup(kind: str) -> bool:
    return kind_of(kind) in FOLLOWUPS


def is_checkin(kind: str) -> bool:
    return kind_of(kind) is Kind.CHECKIN


def is_notice(kind: str) -> bool:
    return kind_of(kind) is Kind.NOTICE

"""The follow-up and holiday policies a duty declares (README, "Duty format").

    X-REMINDER-FOLLOWUP:NUDGE=PT2H;TIMES=1;LEADER=PT4H;COMMUNE=P1D     (or NONE)
    X-REMINDER-HOLIDAY:KEEP | SKIP | PREVIOUS | NEXT

Kept apart from duties.py so the follow-up pass and the holiday rule can import the
policy without the whole duty reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import icalendar

HOLIDAY_POLICIES = ("KEEP", "SKIP", "PREVIOUS", "NEXT")
# How long after being due a reminder is still worth sending (README, "Missed reminders"):
# a check-in this long after the later of its time and the occurrence's end; a plain
# reminder until its occurrence ends, and at least this long after it was due.
CHECKIN_GRACE = timedelta(hours=12)
LATE_REMINDER_GRACE = timedelta(hours=2)
MAX_NUDGES = 5
FOLLOWUP_PARTS = ("NUDGE", "TIMES", "LEADER", "COMMUNE")
_DEFAULT_LEADER = timedelta(hours=4)
_DEFAULT_COMMUNE = timedelta(days=1)


@dataclass(frozen=True)
class FollowUpPolicy:
    """When someone has not acknowledged, counted from the occurrence's last reminder:
    `times` personal nudges every `nudge`; at `leader` one message to the team leader(s)
    naming who is missing; at `commune` one to the commune official(s). None: that step
    is off."""

    nudge: timedelta = timedelta(hours=2)
    times: int = 1
    leader: timedelta | None = _DEFAULT_LEADER
    commune: timedelta | None = _DEFAULT_COMMUNE

    @property
    def enabled(self) -> bool:
        return bool(self.times) or self.leader is not None or self.commune is not None

    def __str__(self) -> str:
        def text(value: timedelta | None) -> str:
            if value is None:
                return "NONE"
            data: bytes = icalendar.vDuration(value).to_ical()  # type: ignore[no-untyped-call]  # icalendar leaves it unannotated
            return data.decode()
        return f"NUDGE={text(self.nudge)};TIMES={self.times};LEADER={text(self.leader)};COMMUNE={text(self.commune)}"


DEFAULT_FOLLOWUP = FollowUpPolicy()
NO_FOLLOWUP = FollowUpPolicy(times=0, leader=None, commune=None)


def _duration(name: str, value: str) -> timedelta | None:
    if value.upper() == "NONE":
        return None
    try:
        parsed: object = icalendar.vDuration.from_ical(value.upper())  # type: ignore[no-untyped-call]  # unannotated in icalendar
    except (ValueError, TypeError):
        parsed = None
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        raise ValueError(f"X-REMINDER-FOLLOWUP {name}={value} must be a positive duration such as "
                         "PT2H, PT30M or P1D (or NONE)")
    return parsed


def parse_followup(text: str) -> FollowUpPolicy:
    """'NUDGE=PT2H;TIMES=2;LEADER=PT4H;COMMUNE=P1D' -> policy; parts left out keep their
    defaults. Raises ValueError with a message an admin can act on."""
    text = text.strip()
    if text.upper() in ("NONE", "FALSE", "OFF"):
        return NO_FOLLOWUP
    durations: dict[str, timedelta | None] = {}  # NUDGE, LEADER, COMMUNE as given (None: NONE)
    times: int | None = None
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition("=")
        name, value = name.strip().upper(), value.strip()
        if not sep or name not in FOLLOWUP_PARTS:
            raise ValueError(f"X-REMINDER-FOLLOWUP part '{part}' must be one of "
                             f"{', '.join(p + '=…' for p in FOLLOWUP_PARTS)} (or the single word NONE)")
        if name in durations or (name == "TIMES" and times is not None):
            raise ValueError(f"X-REMINDER-FOLLOWUP gives {name} twice")
        if name == "TIMES":
            if not value.isdigit() or int(value) > MAX_NUDGES:
                raise ValueError(f"X-REMINDER-FOLLOWUP TIMES={value} must be a whole number 0..{MAX_NUDGES}")
            times = int(value)
        else:
            durations[name] = _duration(name, value)
    nudge = durations.get("NUDGE", DEFAULT_FOLLOWUP.nudge)
    if nudge is None:  # NUDGE=NONE: no nudges
        nudge, times = DEFAULT_FOLLOWUP.nudge, 0
    if times is None:
        times = DEFAULT_FOLLOWUP.times
    last_nudge = nudge * times
    # Defaults follow the nudges the duty asked for.
    leader = durations["LEADER"] if "LEADER" in durations else max(_DEFAULT_LEADER, last_nudge + nudge)
    commune = (durations["COMMUNE"] if "COMMUNE" in durations
               else max(_DEFAULT_COMMUNE, (leader or last_nudge) + nudge))
    policy = FollowUpPolicy(nudge=nudge, times=times, leader=leader, commune=commune)
    if policy.leader is not None and policy.times and policy.leader <= last_nudge:
        raise ValueError(f"X-REMINDER-FOLLOWUP LEADER ({policy.leader}) must come after the last nudge "
                         f"({policy.times} x {policy.nudge} = {last_nudge})")
    if policy.commune is not None:
        before = policy.leader if policy.leader is not None else last_nudge
        if policy.commune <= before:
            raise ValueError(f"X-REMINDER-FOLLOWUP COMMUNE ({policy.commune}) must come after the "
                             f"{'LEADER step' if policy.leader is not None else 'last nudge'} ({before})")
    return policy


def parse_holiday(text: str) -> str:
    value = text.strip().upper()
    if value not in HOLIDAY_POLICIES:
        raise ValueError(f"X-REMINDER-HOLIDAY must be one of {', '.join(HOLIDAY_POLICIES)}, not {text.strip()}")
    return value

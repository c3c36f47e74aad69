"""The follow-up policy of a chat sentence, in words, as X-REMINDER-FOLLOWUP (README, "Duty
format"): what happens when someone has not acknowledged, counted from the last reminder.

    nhắc lại sau 2 tiếng                      nudge after 2 hours                NUDGE=PT2H
    nhắc lại 2 lần mỗi 2 tiếng                nudge 2 times every 2 hours        NUDGE=PT2H;TIMES=2
    báo tổ trưởng sau 1 ngày                  tell the leader after 1 day        LEADER=P1D
    báo xã sau 2 ngày                         tell the commune after 2 days      COMMUNE=P2D
    không nhắc lại / không báo tổ trưởng / không báo xã / không theo dõi (no follow-up)

A clause is one of these when it starts with their words; each piece (joined by "và" /
"and") must be one of them whole. Parts not said keep the file format's defaults, and the
result is checked by `parse_followup`, the reader of the files (the leader after the last
nudge, the commune after the leader).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from babel.dates import format_timedelta

from reminders.definitions.policy import FollowUpPolicy, parse_followup
from reminders.i18n import N_, t
from reminders.text import fold

FOLLOWUP_UNCLEAR = N_('what to do when nobody answers; write "nudge after 2 hours", "tell the leader after 4 hours", '
                      '"tell the commune after 1 day" or "no follow-up"')
FOLLOWUP_ORDER = N_("the steps must come in order: nudges first, then the team leader, then the commune")
START = re.compile(r"^(?:nhac lai|khong nhac lai|bao (?:to truong|truong nhom|xa|can bo xa)|khong bao|"
                   r"khong theo doi|nudges?|no nudges?|tell the|no follow[- ]?up)\b")
_AMOUNT = r"(?P<n>\d+) ?(?P<u>phut|tieng|gio|ngay|minutes?|mins?|hours?|hrs?|days?)"
_UNITS = {"phut": "M", "min": "M", "minute": "M", "tieng": "H", "gio": "H", "hour": "H", "hr": "H",
          "ngay": "D", "day": "D"}
_LEADER = r"(?:to truong|truong nhom|nhom truong)"
_COMMUNE = r"(?:xa|can bo xa|lanh dao xa|uy ban xa)"
_PIECES: tuple[tuple[str, str], ...] = (
    ("NUDGE", rf"nhac lai(?: (?P<times>\d+) lan)? (?:sau|moi|cach nhau|cach) {_AMOUNT}(?: mot lan)?"),
    ("NUDGE", rf"nudge(?: (?P<times>\d+) times?)? (?:after|every) {_AMOUNT}"),
    ("NUDGE=NONE", r"khong nhac lai|no nudges?"),
    ("LEADER", rf"bao {_LEADER} sau {_AMOUNT}"),
    ("LEADER", rf"tell the (?:team )?leaders? after {_AMOUNT}"),
    ("LEADER=NONE", rf"khong bao {_LEADER}"),
    ("COMMUNE", rf"bao {_COMMUNE} sau {_AMOUNT}"),
    ("COMMUNE", rf"tell the commune(?: officials?)? after {_AMOUNT}"),
    ("COMMUNE=NONE", rf"khong bao {_COMMUNE}"),
    ("NONE", r"khong theo doi|no follow[- ]?up"),
)


def is_followup(clause: str) -> bool:
    return START.match(" ".join(fold(clause).split())) is not None


def _duration(match: re.Match[str]) -> str:
    unit = _UNITS[match.group("u").removesuffix("s")]
    return f"P{match.group('n')}D" if unit == "D" else f"PT{match.group('n')}{unit}"


def followup_of(clauses: list[str]) -> tuple[str | None, str, str]:
    """(X-REMINDER-FOLLOWUP text, problem, detail) of the follow-up clauses; (None, "", "")
    when there are none."""
    if not clauses:
        return None, "", ""
    parts: dict[str, str] = {}
    for clause in clauses:
        for piece in re.split(r" (?:va|and|roi) ", " ".join(fold(clause).split())):
            for name, pattern in _PIECES:
                match = re.fullmatch(pattern, piece)
                if match is None:
                    continue
                key, sep, value = name.partition("=")
                value = value if sep else ("NONE" if key == "NONE" else "")
                if key in parts or (key == "NONE" and parts) or "NONE" in parts:
                    return None, FOLLOWUP_UNCLEAR, clause.strip(" .")  # said twice: which one?
                parts[key] = value or _duration(match)
                if key == "NUDGE" and match.groupdict().get("times"):
                    parts["TIMES"] = match.group("times")
                break
            else:
                return None, FOLLOWUP_UNCLEAR, clause.strip(" .")
    text = "NONE" if "NONE" in parts else ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        parse_followup(text)
    except ValueError:
        return None, FOLLOWUP_ORDER, ", ".join(c.strip(" .") for c in clauses)
    return text, "", ""


def _amount(delta: timedelta, language: str) -> str:
    """'1 ngày 2 giờ': each unit whole, none rounded away."""
    days, rest = divmod(delta, timedelta(days=1))
    hours, rest = divmod(rest, timedelta(hours=1))
    minutes = rest // timedelta(minutes=1)
    units: tuple[tuple[int, timedelta, Literal["day", "hour", "minute"]], ...] = ((days, timedelta(days=1), "day"), (hours, timedelta(hours=1), "hour"),
             (minutes, timedelta(minutes=1), "minute"))
    return " ".join(format_timedelta(number * unit, threshold=1e9, granularity=name, locale=language)
                    for number, unit, name in units if number)


def followup_words(policy: FollowUpPolicy, language: str) -> str:
    """'nhắc lại 1 lần sau 2 giờ; báo tổ trưởng sau 4 giờ; báo xã sau 1 ngày', from the policy."""
    if not policy.enabled:
        return t(language, "no follow-up")
    steps = []
    if policy.times:
        steps.append(t(language, "nudge {times} time(s), every {every}", times=policy.times,
                       every=_amount(policy.nudge, language)))
    if policy.leader is not None:
        steps.append(t(language, "tell the team leader after {after}", after=_amount(policy.leader, language)))
    if policy.commune is not None:
        steps.append(t(language, "tell the commune after {after}", after=_amount(policy.commune, language)))
    return "; ".join(steps)

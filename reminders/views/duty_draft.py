"""A new duty from plain words, before it is saved: the same engine as `reminders duties new`
(rhythm and reminder times in words, the calendar built by the writer and read back by the
loader exactly as `reminders check` reads it), for the web console's create-and-preview.

A draft is scoped to one commune: "all" means that commune's teams, and only its teams can
be named, so an admin's duty never reaches another commune."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reminders.definitions.duties import load_duties
from reminders.definitions.model import ADDRESS_MODES, ANSWER_TYPES, Duty
from reminders.definitions.rhythm import Offset, Rhythm, RhythmError, parse_offset, parse_rhythm
from reminders.definitions.roster import Roster
from reminders.definitions.writer import DutySpec, build_calendar, slug
from reminders.errors import InvalidInput
from reminders.i18n import t
from reminders.timeutil import DEFAULT_TZ
from reminders.views.duty_words import alarm_words, audience_words, occurrence_lines


@dataclass(frozen=True)
class DraftForm:
    """What the admin typed."""

    title: str
    rhythm: str
    remind: str = ""  # several separated by ';' or new lines; empty: at the start
    teams: tuple[str, ...] = ()  # team ids of the commune; none: the whole commune
    address: str = "group"
    checkin: str = ""
    answer: str = "text"
    ack: bool = True


@dataclass(frozen=True)
class Draft:
    spec: DutySpec
    duty: Duty
    data: bytes  # the .ics as it will be saved
    facts: tuple[tuple[str, str], ...]  # (label, value) read back in words
    occurrences: tuple[str, ...]  # the next five, with their reminder times


class DraftRefused(Exception):
    """What could not be read, in words, with examples where the engine gives them."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _offsets(text: str, start_time: object, problems: list[str], lang: str) -> list[Offset]:
    found = []
    for part in (p.strip() for p in text.replace("\n", ";").split(";")):
        if not part:
            continue
        try:
            offset = parse_offset(part)
            offset.trigger(start_time)  # type: ignore[arg-type]
            found.append(offset)
        except RhythmError as exc:
            problems.append(exc.explain(lang))
    return found


def draft_duty(form: DraftForm, roster: Roster, commune_id: str, taken: Mapping[str, object], now: datetime,
               lang: str = "vi") -> Draft:
    """The duty the words describe, read back as the worker will read it; DraftRefused
    listing every problem (nothing is guessed)."""
    problems: list[str] = []
    commune = roster.communes.get(commune_id)
    zone_name = commune.timezone if commune else roster.timezone or DEFAULT_TZ
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    title = " ".join(form.title.split())
    if not title:
        problems.append(t(lang, "The title is empty; nothing was written."))
    rhythm: Rhythm | None = None
    try:
        rhythm = parse_rhythm(form.rhythm, today, today=today)
    except RhythmError as exc:
        problems.append(exc.explain(lang))
    offsets = _offsets(form.remind, rhythm.time if rhythm else None, problems, lang) if rhythm else []
    own = {team.id for team in roster.teams_in(commune_id)}
    outside = [tid for tid in form.teams if tid not in own]
    if outside:
        problems.append(t(lang, "Not on the roster: {ids}.", ids=", ".join(outside)))
    audience = tuple(f"team:{tid}" for tid in form.teams) or (f"commune:{commune_id}",)
    if form.address not in ADDRESS_MODES:
        problems.append(t(lang, "--to must be group, members or leader, not {value}; nothing was written.",
                          value=form.address))
    checkin = " ".join(form.checkin.split()) or None
    answer = form.answer if form.answer in ANSWER_TYPES else "text"
    uid = f"{slug(title)}@reminders"
    if uid in taken:
        problems.append(t(lang, "A duty with UID {uid} already exists ({where}); choose another --title or --uid. "
                                "Nothing was written.", uid=uid, where=str(taken[uid])))
    if problems or rhythm is None:
        raise DraftRefused(problems)
    spec = DutySpec(uid=uid, title=title, rhythm=rhythm, reminders=tuple(offsets), audience=audience,
                    address=(form.address,), ack=form.ack, checkin=checkin, answer=answer, timezone=zone_name)
    data = build_calendar(spec, now, lang).to_ical()
    with tempfile.TemporaryDirectory() as scratch:  # read back exactly as the worker will
        (Path(scratch) / f"{slug(title)}.ics").write_bytes(data)
        try:
            duty = load_duties(scratch, roster)[uid]
        except InvalidInput as exc:
            raise DraftRefused([p.text(lambda m: t(lang, m)) for p in exc.problems]) from None
    facts = [(t(lang, "Duty"), duty.summary), (t(lang, "Rhythm"), rhythm.describe(lang)),
             ("RRULE", rhythm.rrule or "—"), (t(lang, "For whom"), audience_words(duty, roster, lang)),
             (t(lang, "To"), ", ".join(duty.address)),
             (t(lang, "Reminders"), "; ".join(alarm_words(a, duty, lang) for a in duty.alarms))]
    if duty.checkin:
        facts.append((t(lang, "Check-in question"), f"{duty.checkin.question(lang)} ({duty.checkin.answer_type})"))
    first = datetime.combine(rhythm.first, datetime.min.time(), tzinfo=zone)
    lines = tuple(line.strip() for line in occurrence_lines(duty, max(first, now), lang, zone))
    return Draft(spec, duty, data, tuple(facts), lines)

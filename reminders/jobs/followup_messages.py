"""The messages of follow-ups, written when they are sent: who is still missing is decided
from the acknowledgements as they are at that moment (reminders.schedule.followup plans the
rows). A follow-up with nothing left to say renders as None and is cancelled."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TypedDict

from reminders.adapters.base import Button, OutgoingMessage
from reminders.codes import delivery_code
from reminders.definitions.expand import occurrences
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.i18n import N_, format_when, t
from reminders.jobs.render import OccurrenceView
from reminders.jobs.targets import Target
from reminders.kinds import Kind, kind_of
from reminders.runtime import Runtime
from reminders.schedule.followup import (
    campaign_run,
    commune_missing,
    is_bounded,
    missing_for,
    team_states,
)
from reminders.store.models import AnyRow
from reminders.text import shown
from reminders.views import tally
from reminders.views.tally import CheckinTotal, TeamCompletion


class DigestScope(TypedDict, total=False):
    """The keyword scope of a digest or summary's numbers (tally.completion's commune / team)."""

    commune: str
    team: str


NUDGE_HEAD = N_("🔔 Reminder again: {summary}")
NOT_CONFIRMED = N_("You have not confirmed yet.")
MISSING_LINE = N_("{team}: {missing}/{total} still to confirm: {names}")
ON_BEHALF_HINT = N_("If someone confirmed by phone, record it for them: /done {code} <name>")
COMMUNE_HEAD = N_("⚠ Not confirmed yet: {summary} · {day}")
DIGEST_HEAD = N_("📊 Week {first}–{last}")
SUMMARY_HEAD = N_("🏁 Campaign over: {summary} ({first}–{last})")
TEAM_LINE = N_("{team}: {done}/{expected} confirmed")
TEAM_MISSING = N_("not confirmed: {names}")
CHECKIN_LINE = N_("{summary}: total {total} ({answers} answers)")
MORE_TEAMS = N_("… and {count} more teams")


def _fit(head: list[str], items: list[list[str]], tail: list[str], limit: int, lang: str) -> str:
    """Head, as many whole items (a team's lines) as fit in `limit` characters, a line saying
    how many teams were left out, and the tail: a commune of thirty teams on Zalo (2,000
    characters) must not lose its last teams and the how-to line mid-word."""
    text = "\n".join([*head, *(line for item in items for line in item), *tail])
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for n, item in enumerate(items):
        more = t(lang, MORE_TEAMS, count=len(items) - n - 1)
        if len("\n".join([*head, *kept, *item, more, *tail])) > limit:
            break
        kept.extend(item)
    else:
        n = len(items)
    left = len(items) - n
    return "\n".join([*head, *kept, *([t(lang, MORE_TEAMS, count=left)] if left else []), *tail])[:limit]


def _short(roster: Roster, person_id: str, team_id: str | None = None) -> str:
    """The given name ("Cường"), as people call each other; the full name when someone else
    in the team has the same given name (two "An" in one message would name nobody)."""
    person = roster.people.get(person_id)
    name = shown(person.name) if person else ""
    if person is None or not name.split():
        return person_id
    given = name.split()[-1]
    team = roster.teams.get(team_id or person.team_id or "")
    if team is not None and any(other != person_id and other in roster.people
                                and shown(roster.people[other].name).split()[-1:] == [given]
                                for other in team.member_ids):
        return name
    return given


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def render_followup(rt: Runtime, duty: Duty | None, view: OccurrenceView | None, row: AnyRow, delivery_id: int,
                    target: Target) -> OutgoingMessage | None:
    """The message of a follow-up delivery (`is_followup(row.kind)`), from the state at send
    time; None when there is nothing left to say (everyone answered): the send path then
    marks the row cancelled. `duty` and `view` (an OccurrenceView) are None for a digest."""
    lang, zone = target.language, target.zone
    code = delivery_code(delivery_id)
    if kind_of(row.kind) is Kind.DIGEST:
        return _digest_message(rt, row, lang, zone, target.adapter.capabilities.max_text)
    if duty is None or view is None:
        return None
    day = format_when(view.start, lang, zone, all_day=True)
    if kind_of(row.kind) is Kind.SUMMARY:
        return _summary_message(rt, duty, view, row, lang, zone, target.adapter.capabilities.max_text)
    kind = kind_of(row.kind)
    team = rt.roster.teams.get(row.team_id)
    if team is None:
        return None
    # Only the teams this message is about: one team, or the commune's teams.
    scope = [team.id] if kind is not Kind.ESCALATE_COMMUNE else [x.id for x in rt.roster.teams_in(team.commune_id)]
    with rt.engine.connect() as conn:
        states = team_states(conn, rt.roster, [row.occurrence_id], team_ids=scope)
    by_commune = commune_missing(states, rt.roster)
    missing = missing_for(row, states, rt.roster, by_commune)
    if not missing:
        return None
    if kind is Kind.NUDGE:
        lines = [t(lang, NUDGE_HEAD, summary=view.summary), "🗓 " + format_when(
            view.start, lang, zone, all_day=view.all_day), t(lang, NOT_CONFIRMED)]
        # A confirmation, never the check-in question: the team's number comes from its group
        # check-in, and asking each member again would count it several times.
        buttons: tuple[Button, ...] = ()
        if target.adapter.capabilities.buttons:
            lines.append(t(lang, "Press ✅ when it is done."))
            buttons = (Button(t(lang, "✅ Done"), "done", code), Button(t(lang, "⏰ Remind me later"), "snooze", code))
        else:
            lines.append(t(lang, "Reply \"done\" when it is done (code {code}).", code=code))
        return OutgoingMessage(text="\n".join(lines), buttons=buttons, code=code)
    # The roster's order (the admin's own), as in the report: Python's order puts Đ after T.
    teams = [(team.id, states[(row.occurrence_id, team.id)])] if kind is Kind.ESCALATE_LEADER else \
        by_commune.get((row.occurrence_id, team.commune_id), [])
    lines = [t(lang, MISSING_LINE, team=rt.roster.teams[tid].name, missing=len(state.missing),
               total=len(state.expected), names=", ".join(_short(rt.roster, p, tid) for p in state.missing))
             for tid, state in teams]
    hint, limit = [t(lang, ON_BEHALF_HINT, code=code)], target.adapter.capabilities.max_text
    if kind is Kind.ESCALATE_LEADER:
        text = _fit(["⚠ " + lines[0], f"{view.summary} · {day}"], [], hint, limit, lang)
    else:
        text = _fit([t(lang, COMMUNE_HEAD, summary=view.summary, day=day)], [["• " + line] for line in lines],
                    hint, limit, lang)
    return OutgoingMessage(text=text, code=code)


def _team_lines(rt: Runtime, lang: str, completions: Iterable[TeamCompletion],
                totals: Iterable[CheckinTotal]) -> list[list[str]]:
    """Per team with something expected: its line, then its check-in totals."""
    lines: list[list[str]] = []
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for total in totals:
        if total.answers:
            entry = sums[(total.team_id, total.summary)]
            entry[0] += total.total
            entry[1] += total.answers
    for item in completions:  # the roster's order, as in the report
        if not item.expected:
            continue
        line = "• " + t(lang, TEAM_LINE, team=item.team_name, done=item.acknowledged, expected=item.expected)
        missing = sorted(item.missing.items(), key=lambda kv: -kv[1])  # stable: roster order on ties
        if missing:
            line += " · " + t(lang, TEAM_MISSING, names=", ".join(
                f"{_short(rt.roster, pid, item.team_id)} ({count})" for pid, count in missing))
        lines.append([line])
        for (team_id, summary), (value, answers) in sorted(sums.items()):
            if team_id == item.team_id:
                lines[-1].append("   " + t(lang, CHECKIN_LINE, summary=summary, total=_number(value),
                                               answers=answers))
    return lines


def _scope(rt: Runtime, row: AnyRow) -> DigestScope:
    """A leader's digest covers their team; an official's, their commune."""
    person = rt.roster.people.get(row.recipient.partition(":")[2])
    if person is not None and person.role in ("official", "admin") and person.commune_id:
        return {"commune": person.commune_id}
    return {"team": row.team_id}


def _digest_message(rt: Runtime, row: AnyRow, lang: str, zone: tzinfo, limit: int) -> OutgoingMessage | None:
    label = row.kind.partition(":")[2]
    monday = date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = start + timedelta(days=7)
    scope = _scope(rt, row)
    completions = tally.completion(rt.engine, rt.roster, rt.duties, start=start, end=end, **scope)
    totals = tally.checkin_totals(rt.engine, rt.roster, rt.duties, start=start, end=end, **scope)
    lines = _team_lines(rt, lang, completions, totals)
    if not lines:
        return None
    head = t(lang, DIGEST_HEAD, first=f"{monday:%d/%m}", last=f"{monday + timedelta(days=6):%d/%m}")
    return OutgoingMessage(text=_fit([head], lines, [], limit, lang))


def _summary_message(rt: Runtime, duty: Duty, view: OccurrenceView, row: AnyRow, lang: str, zone: tzinfo,
                     limit: int) -> OutgoingMessage | None:
    if is_bounded(duty):
        master = duty.calendar.walk(duty.component)[0]
        first_value = (master.get("DTSTART") or master.get("DUE")).dt
        first = first_value if isinstance(first_value, datetime) else datetime.combine(first_value, time(0))
        first = first if first.tzinfo else first.replace(tzinfo=duty.zone)
        runs = [o for o in occurrences(duty, first - timedelta(days=1), view.end) if not o.cancelled]
    else:  # this year's run of a campaign that comes back every year
        runs = campaign_run(duty, view.start, view.end)
    begin = runs[0].start if runs else view.start
    scope = _scope(rt, row)
    subset = {duty.uid: duty}
    end = view.end + timedelta(seconds=1)
    completions = tally.completion(rt.engine, rt.roster, subset, start=begin, end=end, **scope)
    totals = tally.checkin_totals(rt.engine, rt.roster, subset, start=begin, end=end, **scope)
    lines = _team_lines(rt, lang, completions, totals)
    if not lines:
        return None
    head = t(lang, SUMMARY_HEAD, summary=view.summary, first=f"{begin.astimezone(zone):%d/%m}",
             last=f"{view.start.astimezone(zone):%d/%m}")
    return OutgoingMessage(text=_fit([head], lines, [], limit, lang))

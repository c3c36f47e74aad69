"""The board: a read-only web page of this week's duties and who has confirmed them.

Served at /board/{token} with the same private token as the calendar feed
(/feeds/{token}.ics): whoever may subscribe to a commune's feed may read its board. One
section per occurrence this week (Monday to Sunday, in the commune's time zone), one row
per team: done or how many of how many, who confirmed (with check-in answers), who is
still missing. Plain HTML with inline CSS, no JavaScript, sized for a small phone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.i18n import LANGUAGES, N_, format_when, t
from reminders.runtime import Runtime
from reminders.store.models import OCCURRENCE
from reminders.text import shown
from reminders.timeutil import DEFAULT_TZ
from reminders.views.feeds import Scope, duties_in, feed_version, shown_fingerprint
from reminders.views.status import occurrence_status

CACHE_SECONDS = 60  # people reload to see new confirmations; a minute's staleness is fine
STATE_WORDS = {"done": N_("Done"), "partial": N_("Partly"), "waiting": N_("Nobody yet"),
               "upcoming": N_("Not yet due")}


@dataclass(frozen=True)
class Confirmation:
    name: str
    answer: str  # "" when none was asked or given


@dataclass(frozen=True)
class TeamRow:
    name: str
    state: str  # done | partial | waiting | upcoming | info
    label: str  # "✅ 3/3", "⚠ 1/3", ...
    confirmed: tuple[Confirmation, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    summary: str
    when: str
    question: str
    teams: tuple[TeamRow, ...]


@dataclass(frozen=True)
class Board:
    language: str
    title: str
    week: str
    updated: str
    items: tuple[Item, ...]


class _Section(TypedDict):
    """An Item while its team rows are being collected."""

    start: datetime
    summary: str
    teams: list[TeamRow]
    when: str
    question: str


def board_language(scope: Scope, roster: Roster) -> str:
    """The language most of the board's teams read; Vietnamese when in doubt."""
    counts = Counter(roster.teams[tid].language for tid in scope.teams(roster) if tid in roster.teams)
    if not counts:
        return "vi"
    top = max(counts.values())
    return "vi" if counts.get("vi") == top else counts.most_common(1)[0][0]


def board_zone(scope: Scope, roster: Roster) -> ZoneInfo:
    if scope.kind == "commune" and scope.value in roster.communes:
        return ZoneInfo(roster.communes[scope.value].timezone)
    if scope.kind == "team" and scope.value in roster.teams:
        return ZoneInfo(roster.teams[scope.value].timezone)
    return ZoneInfo(roster.timezone or DEFAULT_TZ)


def week_of(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local time, as aware datetimes."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(), zone)
    return start, datetime.combine(monday + timedelta(days=7), time(), zone)


def _answer_text(answer: str, duty: Duty | None, language: str) -> str:
    if duty is not None and duty.checkin and duty.checkin.answer_type == "yesno" and answer in ("yes", "no"):
        return t(language, "Yes") if answer == "yes" else t(language, "No")
    return shown(answer)


def _namer(roster: Roster) -> Callable[[str], str]:
    return lambda pid: shown(roster.people[pid].name) if pid in roster.people else pid


def build_board(engine: Engine, duties: dict[str, Duty], roster: Roster, scope: Scope, now: datetime,
                language: str | None = None) -> Board:
    """What the page shows, computed from the schedule (nothing is written)."""
    language = language or board_language(scope, roster)
    zone = board_zone(scope, roster)
    since, until = week_of(now, zone)
    teams = set(scope.teams(roster))
    wanted = {d.uid for d in duties_in(scope, duties, roster)} if scope.kind == "category" else None
    rows = [r for r in occurrence_status(engine, roster, since, until) if r.team_id in teams]
    with engine.connect() as conn:
        occs = {o.id: o for o in conn.execute(select(OCCURRENCE.c.id, OCCURRENCE.c.duty_uid).where(
            OCCURRENCE.c.id.in_({r.occurrence_id for r in rows})))} if rows else {}
    items: dict[int, _Section] = {}
    name = _namer(roster)
    for row in rows:
        uid = occs[row.occurrence_id].duty_uid
        if wanted is not None and uid not in wanted:
            continue
        duty = duties.get(uid)
        item = items.setdefault(row.occurrence_id, {
            "start": row.start, "summary": row.summary, "teams": [],
            "when": format_when(row.start, language, zone, all_day=row.all_day),
            "question": duty.checkin.question(language) if duty and duty.checkin else ""})
        confirmed = tuple(Confirmation(name(p), _answer_text(row.answers.get(p, ""), duty, language))
                          for p in row.acknowledged)
        missing = tuple(name(p) for p in row.expected if p not in row.acknowledged)
        done, expected = len(row.acknowledged), len(row.expected)
        if duty is not None and not duty.ack and not done:
            state, label = "info", t(language, "For information")
        else:  # words, not only colours or emoji (an old phone may have no emoji font)
            state = ("done" if expected and done >= expected else "partial" if done
                     else "upcoming" if row.start > now else "waiting")
            label = f"{t(language, STATE_WORDS[state])} {done}/{expected}"
        item["teams"].append(TeamRow(row.team_name, state, label, confirmed, missing))
    ordered = sorted(items.values(), key=lambda i: (i["start"], i["summary"]))
    order = {team.name: n for n, team in enumerate(roster.teams.values())}  # as the roster lists them
    last_day: date = (until - timedelta(days=1)).date()
    return Board(
        language=language,
        title=scope.title(roster, language),
        week=t(language, "Week {first} – {last}", first=since.strftime("%d/%m"), last=last_day.strftime("%d/%m/%Y")),
        updated=t(language, "Updated {when}", when=now.astimezone(zone).strftime("%H:%M %d/%m/%Y")),
        items=tuple(Item(i["summary"], i["when"], i["question"],
                         tuple(sorted(i["teams"], key=lambda r: order.get(r.name, 0)))) for i in ordered),
    )


TEMPLATE = """<!doctype html>
<html lang="{{ board.language }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>{{ board.title }}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1a1a1a;background:#f3f4f6}
header{background:#0b5394;color:#fff;padding:12px 16px}
h1{font-size:1.15rem;margin:0 0 2px}
header p{margin:0;font-size:.9rem;opacity:.9}
main{max-width:40rem;margin:0 auto;padding:8px}
section{background:#fff;border-radius:10px;margin:10px 0;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:1.05rem;margin:0 0 2px;overflow-wrap:anywhere}
.when{color:#555;font-size:.9rem;margin:0 0 6px}
.question{font-size:.9rem;margin:0 0 6px;color:#333}
ul{list-style:none;margin:0;padding:0}
li.team{border-top:1px solid #e5e7eb;padding:8px 0}
.row{display:flex;justify-content:space-between;gap:8px;align-items:baseline}
.name{font-weight:600;overflow-wrap:anywhere}
.badge{white-space:nowrap;font-weight:600;font-size:.95rem;padding:1px 8px;border-radius:999px}
.done .badge{background:#d1fae5;color:#065f46}
.partial .badge{background:#fef3c7;color:#92400e}
.waiting .badge{background:#fee2e2;color:#991b1b}
.upcoming .badge,.info .badge{background:#e5e7eb;color:#374151}
.who{font-size:.9rem;margin:2px 0 0;overflow-wrap:anywhere}
.who b{font-weight:600}
.empty{text-align:center;color:#555;padding:24px 8px}
footer{text-align:center;color:#666;font-size:.8rem;padding:8px 16px 20px}
</style>
</head>
<body>
<header><h1>{{ board.title }}</h1><p>{{ board.week }}</p></header>
<main>
{% for item in board.items %}
<section>
<h2>{{ item.summary }}</h2>
<p class="when">{{ item.when }}</p>
{% if item.question %}<p class="question"><b>{{ labels.question }}</b> {{ item.question }}</p>{% endif %}
<ul>
{% for team in item.teams %}
<li class="team {{ team.state }}" data-team="{{ team.name }}">
<div class="row"><span class="name">{{ team.name }}</span><span class="badge">{{ team.label }}</span></div>
{% if team.state == "info" %}<p class="who">{{ labels.no_ack }}</p>{% endif %}
{% if team.confirmed %}<p class="who confirmed"><b>{{ labels.confirmed }}</b> {% for c in team.confirmed %}{{ c.name }}{% if c.answer %} ({{ c.answer }}){% endif %}{% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}
{% if team.missing and team.state != "info" %}<p class="who missing"><b>{{ labels.missing }}</b> {{ team.missing | join(", ") }}</p>{% endif %}
</li>
{% endfor %}
</ul>
</section>
{% else %}
<p class="empty">{{ labels.empty }}</p>
{% endfor %}
</main>
<footer>{{ board.updated }} · {{ labels.read_only }}</footer>
</body>
</html>
"""

TEMPLATE_HASH = hashlib.sha256(TEMPLATE.encode()).hexdigest()[:8]  # a new page layout is a new ETag
_template = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(TEMPLATE)


def render_board(board: Board) -> str:
    """The page as HTML; every value from the roster, calendars or answers is escaped."""
    lang = board.language
    labels = {
        "confirmed": t(lang, "Confirmed:"),
        "missing": t(lang, "Not yet:"),
        "no_ack": t(lang, "No confirmation is asked for this duty."),
        "question": t(lang, "Check-in:"),
        "empty": t(lang, "No duties this week."),
        "read_only": t(lang, "Read-only page; reload to see new confirmations."),
    }
    return _template.render(board=board, labels=labels)


@dataclass
class _Page:
    version: str
    html: bytes


class BoardPages:
    """Rendered boards by (scope, language, week), rebuilt when their version changes: the
    feed's version (definitions, roster, acknowledgements of its teams) plus the week."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._pages: dict[tuple[str, str], _Page] = {}
        self._lock = threading.Lock()
        self._names: tuple[Roster, str] | None = None  # (roster object, its names' fingerprint)

    def page(self, scope: Scope, language: str | None = None) -> tuple[str, bytes]:
        rt = self.runtime
        duties, roster, now = dict(rt.duties), rt.roster, rt.clock()
        language = language if language in LANGUAGES else board_language(scope, roster)
        week = week_of(now, board_zone(scope, roster))[0].date().isoformat()
        if self._names is None or self._names[0] is not roster:  # computed once per roster loaded
            self._names = (roster, shown_fingerprint(roster))
        base = feed_version(rt.engine, duties, roster, self._names[1], scope)
        # Also every 5 minutes: a duty whose time has come turns from ⏳ to ❌.
        version = hashlib.sha256(f"{base}|{language}|{week}|{int(now.timestamp() // 300)}|{TEMPLATE_HASH}"
                                 .encode()).hexdigest()[:32]
        key = (str(scope), language)
        cached = self._pages.get(key)
        if cached is None or cached.version != version:
            html = render_board(build_board(rt.engine, duties, roster, scope, now, language)).encode()
            cached = _Page(version, html)
            with self._lock:
                self._pages[key] = cached
        return cached.version, cached.html

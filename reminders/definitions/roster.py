"""The roster: communes, teams, people and the chat addresses they can be reached at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reminders.definitions.quiet import DEFAULT as DEFAULT_QUIET
from reminders.definitions.quiet import QuietHours, parse_quiet
from reminders.definitions.yamlsource import Located, YAMLError, load_located_yaml
from reminders.errors import InvalidInput, Problem, problem
from reminders.i18n import N_
from reminders.text import shown
from reminders.timeutil import DEFAULT_TZ

ROLES = ("leader", "member", "admin", "official")
# A province: 5,000 teams and 25,000 people take about 3 MB; much more is a mistake, not a roster.
MAX_FILE_BYTES = 8 * 1024 * 1024
LANGUAGES = ("vi", "en")
# Ids name files (invite sheets, reports) and URLs: a slug, so "../../x" can go nowhere.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str
    language: str
    chats: dict[str, str]
    team_id: str | None = None
    commune_id: str | None = None


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    commune_id: str
    language: str
    timezone: str
    chats: dict[str, str]
    member_ids: tuple[str, ...]
    quiet: QuietHours | None = DEFAULT_QUIET  # no messages then (None: no quiet hours)

    @property
    def recipient_key(self) -> str:
        return f"team:{self.id}"


@dataclass(frozen=True)
class Commune:
    id: str
    name: str
    timezone: str
    official_ids: tuple[str, ...]
    quiet: QuietHours | None = DEFAULT_QUIET


@dataclass
class Roster:
    source: str
    timezone: str = DEFAULT_TZ
    quiet: QuietHours | None = DEFAULT_QUIET
    communes: dict[str, Commune] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)

    def members(self, team: Team) -> list[Person]:
        return [self.people[pid] for pid in team.member_ids]

    def leaders(self, team: Team) -> list[Person]:
        return [p for p in self.members(team) if p.role == "leader"]

    def teams_in(self, commune_id: str) -> Iterator[Team]:
        return (t for t in self.teams.values() if t.commune_id == commune_id)

    def find_by_address(self, adapter: str, address: str) -> Person | None:
        for person in self.people.values():
            if person.chats.get(adapter) == address:
                return person
        return None

    def team_by_group(self, adapter: str, address: str) -> Team | None:
        for team in self.teams.values():
            if team.chats.get(adapter) == address:
                return team
        return None


class _Reader:
    """Turns the located YAML tree into a Roster, collecting every problem on the way."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[Problem] = []

    def fail(self, line: int | None, message: str, **values: str) -> None:
        """A problem at `line`; with `values`, `message` is a catalog id (marked N_) filled
        from them, so that `check` says it in the admin's language."""
        if values:
            self.problems.append(problem(str(self.path), line, message, **values))
        else:
            self.problems.append(Problem(str(self.path), line, message))

    def fail_t(self, line: int | None, template: str) -> None:
        """A problem whose fixed message is a catalog id (marked N_)."""
        self.problems.append(problem(str(self.path), line, template))

    def text(self, node: Located, key: str, *, required: bool = True, default: str = "") -> str:
        value = node.get(key)
        if value is None or value == "":
            if required:
                self.fail(node.line, N_("missing '{key}'"), key=key)
            return default
        if not isinstance(value, str | int):
            self.fail(node.key_lines.get(key, node.line), f"'{key}' must be text")
            return default
        return str(value)

    def ident(self, node: Located, what: str) -> str:
        """The entry's id, refused unless it is a slug (lower-case letters, digits, hyphens)."""
        value = self.text(node, "id")
        if value and not ID_PATTERN.fullmatch(value):
            self.fail(node.key_lines.get("id", node.line),
                      f"{what} id '{value}' must be a slug: lower-case letters a-z, digits and hyphens, "
                      "starting with a letter or digit (e.g. thon-dong)")
            return ""
        return value

    def timezone(self, node: Located, default: str) -> str:
        name = self.text(node, "timezone", required=False, default=default)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(node.key_lines.get("timezone", node.line), N_("unknown time zone '{name}'"), name=str(name))
            return default
        return name

    def chats(self, node: Located) -> dict[str, str]:
        value = node.get("chats") or {}
        if not isinstance(value, dict):
            self.fail(node.key_lines.get("chats", node.line),
                      "'chats' must map adapter names to addresses, e.g. {telegram: '12345'}")
            return {}
        return {str(k): str(v) for k, v in value.items() if v not in (None, "")}

    def quiet(self, node: Located, default: QuietHours | None) -> QuietHours | None:
        if "quiet_hours" not in node:
            return default
        try:
            return parse_quiet(node.get("quiet_hours"))
        except ValueError as exc:
            self.fail(node.key_lines.get("quiet_hours", node.line), str(exc))
            return default

    def language(self, node: Located, default: str) -> str:
        lang = self.text(node, "language", required=False, default=default)
        if lang not in LANGUAGES:
            self.fail(node.key_lines.get("language", node.line),
                      f"language must be one of {', '.join(LANGUAGES)}, not '{lang}'")
            return default
        return lang

    def items(self, node: Located, key: str) -> list[Located]:
        value = node.get(key) or []
        if not isinstance(value, list):
            self.fail(node.key_lines.get(key, node.line), f"'{key}' must be a list")
            return []
        good = []
        for item in value:
            if isinstance(item, Located):
                good.append(item)
            else:
                self.fail(getattr(value, "line", node.line), f"each entry of '{key}' must be a mapping")
        return good

    def name(self, node: Located) -> str:
        """A name as it is shown: without the invisible characters that would reorder the
        lines around it (a U+202E pasted from a spreadsheet turns "An, Bình" around)."""
        name = shown(self.text(node, "name")).strip()
        if not name and node.get("name") not in (None, ""):
            self.fail(node.key_lines.get("name", node.line), "'name' has no visible characters")
        return name

    def person(self, node: Located, roster: Roster, language: str, *, team: str | None = None,
               commune: str | None = None, default_role: str = "member") -> str | None:
        pid = self.ident(node, "person")
        name = self.name(node)
        role = self.text(node, "role", required=False, default=default_role)
        if role not in ROLES:
            self.fail(node.key_lines.get("role", node.line),
                      N_("role must be one of {roles}, not '{role}'"), roles=", ".join(ROLES), role=str(role))
        if not pid:
            return None
        if pid in roster.people:
            self.fail(node.line, N_("person id '{id}' is used twice"), id=str(pid))
            return None
        roster.people[pid] = Person(pid, name, role, self.language(node, language),
                                    self.chats(node), team, commune)
        return pid

    def read(self) -> Roster:
        try:
            tree = load_located_yaml(self.path)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            message = f"not valid YAML: {getattr(exc, 'problem', exc)}"
            duplicate = re.match(r'found duplicate key "([^"]*)"', str(getattr(exc, "problem", "")))
            if duplicate:
                message = f"not valid YAML: found duplicate key '{duplicate.group(1)}' (each key once per entry)"
            context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
            if context and start and mark and start.line != mark.line:
                message += f" ({context} from line {start.line + 1})"
            self.fail(mark.line + 1 if mark else None, message)
            raise InvalidInput(self.problems) from None
        if tree is None:
            self.fail(None, "file is empty; expected a mapping with 'communes' and 'teams'")
            raise InvalidInput(self.problems)
        if not isinstance(tree, Located):
            self.fail(None, "the roster must be a mapping with 'communes' and 'teams'")
            raise InvalidInput(self.problems)
        roster = Roster(str(self.path))
        roster.timezone = self.timezone(tree, DEFAULT_TZ)
        roster.quiet = self.quiet(tree, DEFAULT_QUIET)
        default_lang = self.language(tree, "vi")
        for cnode in self.items(tree, "communes"):
            cid = self.ident(cnode, "commune")
            if cid in roster.communes:
                self.fail(cnode.line, N_("commune id '{id}' is used twice"), id=str(cid))
                continue
            officials = tuple(
                pid for o in self.items(cnode, "officials")
                if (pid := self.person(o, roster, default_lang, commune=cid, default_role="official"))
            )
            roster.communes[cid] = Commune(cid, self.name(cnode),
                                           self.timezone(cnode, roster.timezone), officials,
                                           self.quiet(cnode, roster.quiet))
        for tnode in self.items(tree, "teams"):
            self._team(tnode, roster, default_lang)
        if not roster.teams and not self.problems:
            self.fail_t(tree.line, N_("the roster has no teams"))
        if self.problems:
            raise InvalidInput(self.problems)
        return roster

    def _team(self, tnode: Located, roster: Roster, default_lang: str) -> None:
        tid = self.ident(tnode, "team")
        commune = self.text(tnode, "commune")
        if tid in roster.teams:
            self.fail(tnode.line, N_("team id '{id}' is used twice"), id=str(tid))
            return
        if commune and commune not in roster.communes:
            self.fail(tnode.key_lines.get("commune", tnode.line), N_("unknown commune '{commune}'"), commune=str(commune))
        lang = self.language(tnode, default_lang)
        tz = self.timezone(tnode, roster.communes[commune].timezone
                           if commune in roster.communes else roster.timezone)
        member_nodes = self.items(tnode, "members")
        members = tuple(pid for m in member_nodes
                        if (pid := self.person(m, roster, lang, team=tid, commune=commune)))
        if not member_nodes:
            self.fail(tnode.line, N_("team '{id}' has no members"), id=str(tid))
        elif not any(roster.people[m].role == "leader" for m in members):
            self.fail(tnode.line, N_("team '{id}' has no leader (set role: leader on one member)"), id=str(tid))
        quiet = self.quiet(tnode, roster.communes[commune].quiet if commune in roster.communes
                           else roster.quiet)
        roster.teams[tid] = Team(tid, self.name(tnode), commune, lang, tz,
                                 self.chats(tnode), members, quiet)


def load_roster(path: str | Path) -> Roster:
    """Read and validate a roster file; raises InvalidInput listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput([Problem(str(path), None, "roster file not found")])
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidInput([Problem(str(path), None, f"file is {size / 1_048_576:.1f} MB; a roster "
                                                     f"may be at most {MAX_FILE_BYTES // 1_048_576} MB")])
    try:
        return _Reader(path).read()
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InvalidInput([Problem(str(path), line, f"not UTF-8 text (bad byte 0x{exc.object[exc.start]:02x}); "
                                                     "save the file as UTF-8")]) from None


def roster_fingerprint(roster: Roster) -> str:
    """Changes whenever anything that affects planning changes."""
    import hashlib

    payload: list[Any] = [roster.timezone]
    for team in sorted(roster.teams.values(), key=lambda t: t.id):
        payload.append((team.id, team.commune_id, team.timezone, sorted(team.chats.items()),
                        [(p.id, p.role) for p in roster.members(team)], str(team.quiet)))
    return hashlib.sha256(repr(payload).encode()).hexdigest()[:16]

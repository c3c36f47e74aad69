"""`reminders teams import`: a spreadsheet of people (CSV, as Excel saves it) into the roster YAML.

Commune staff keep their lists in Excel, not in YAML. This reads the CSV (UTF-8 with or
without BOM, comma, semicolon or tab separated), checks every row, and only if nothing is
wrong merges it into the roster file -- keeping the file's comments and layout (ruamel.yaml)
-- and replaces the file atomically after the result has loaded as a roster. Every bad row
is reported with its line and column; a single bad row means nothing is written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reminders.adapters.registry import available_adapters
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import LANGUAGES, MAX_FILE_BYTES, Roster, load_roster
from reminders.definitions.yamlsource import reads_as_text
from reminders.errors import InvalidInput, Problem
from reminders.files import staged
from reminders.i18n import t
from reminders.text import fold

BASE_COLUMNS = ("commune", "commune_name", "team", "team_name", "person_id", "name", "role", "language", "phone")
REQUIRED_COLUMNS = ("commune", "person_id", "name")
TEAM_ROLES = ("leader", "member")
COMMUNE_ROLES = ("official", "admin")
# What people type in the role column, folded (no diacritics, lower case).
ROLE_WORDS = {
    "leader": "leader", "to truong": "leader", "truong to": "leader", "truong thon": "leader",
    "truong nhom": "leader", "member": "member", "thanh vien": "member", "to vien": "member",
    "official": "official", "can bo": "official", "can bo xa": "official",
    "admin": "admin", "quan tri": "admin", "quan tri vien": "admin",
}
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
EXCEL_NUMBER = re.compile(r"-?\d+([.,]\d+)?[eE]\+?\d+")  # 1.00100E+12: Excel reformatted an id
ADDRESS_PATTERN = re.compile(r"[A-Za-z0-9_.:@-]{1,120}")
# Vietnamese mobile numbers; Excel drops the leading 0 of a number typed into a General cell.
PHONE_PATTERN = re.compile(r"(?:\+?84|0)?([35789]\d{8})")


@dataclass
class Row:
    """One CSV record: its first physical line and its cells by column name."""

    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    new_teams: list[str] = field(default_factory=list)
    new_communes: list[str] = field(default_factory=list)
    roster: Roster | None = None


def chat_columns() -> tuple[str, ...]:
    """One column per installed adapter (telegram, zalo_bot, ...): a plug-in adds its own."""

    return tuple(sorted(available_adapters()))


# -- reading -----------------------------------------------------------------------------
def read_csv(path: Path, language: str = "vi") -> tuple[list[str], list[Row]]:
    """Header and non-empty rows; InvalidInput for a file that is not a readable CSV."""
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput([Problem(where, None, t(language, "file not found"))]) from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput([Problem(where, None, t(language, "file is larger than {mb} MB; split it",
                                                   mb=MAX_FILE_BYTES // 1_048_576))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput([Problem(where, line, t(
            language, "not UTF-8 text; in Excel use Save As, type \"CSV UTF-8 (Comma delimited)\""))]) from None
    first = text.split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","  # one column, or nothing to go by
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[Row] = []
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if header is None:
                header = [_column_name(c) for c in record]
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
                raise InvalidInput([Problem(where, start, t(
                    language, "{count} cells but the header has {columns} columns",
                    count=len(record), columns=len(header)))])
            cells = {name: cell.strip() for name, cell in zip(header, record, strict=False) if name}
            rows.append(Row(start, cells))
    except csv.Error as exc:
        raise InvalidInput([Problem(where, reader.line_num, t(language, "not valid CSV: {detail}",
                                                              detail=exc))]) from None
    if header is None:
        raise InvalidInput([Problem(where, None, t(language, "the file is empty; the first line must name "
                                                            "the columns"))])
    return header, rows


def _column_name(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


# -- checking ----------------------------------------------------------------------------
class _Checker:
    """Checks rows against each other and against the roster, collecting every problem."""

    def __init__(self, where: str, language: str, adapters: tuple[str, ...]):
        self.where = where
        self.lang = language
        self.adapters = adapters
        self.problems: list[Problem] = []

    def fail(self, line: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.where, line, f"{column}: {message}" if column else message))

    def header(self, header: list[str]) -> None:
        known = set(BASE_COLUMNS) | set(self.adapters) | {f"team_{a}" for a in self.adapters}
        seen: set[str] = set()
        for name in header:
            if not name:
                continue
            if name in seen:
                self.fail(1, name, t(self.lang, "this column appears twice"))
            seen.add(name)
            if name not in known:
                self.fail(1, name, t(self.lang, "unknown column; the columns are: {columns}",
                                     columns=", ".join(sorted(known))))
        for name in REQUIRED_COLUMNS:
            if name not in seen:
                self.fail(1, name, t(self.lang, "missing column"))

    def row(self, row: Row, seen_people: dict[str, int]) -> None:
        pid, team, commune = row.get("person_id"), row.get("team"), row.get("commune")
        for column, value, required in (("person_id", pid, True), ("commune", commune, True),
                                        ("team", team, False)):
            if not value:
                if required:
                    self.fail(row.line, column, t(self.lang, "missing"))
            elif not ID_PATTERN.fullmatch(value):
                self.fail(row.line, column, t(self.lang, "'{value}' is not a valid id: use letters without "
                                                         "accents, digits and '-', e.g. nguyen-van-an",
                                              value=value))
        if pid and pid in seen_people:
            self.fail(row.line, "person_id", t(self.lang, "'{id}' is also on line {line}", id=pid,
                                               line=seen_people[pid]))
        elif pid:
            seen_people[pid] = row.line
        if not row.get("name"):
            self.fail(row.line, "name", t(self.lang, "missing"))
        role = self.role(row)
        if role in TEAM_ROLES and not team:
            self.fail(row.line, "team", t(self.lang, "a {role} belongs to a team; fill in the team", role=role))
        if role in COMMUNE_ROLES and team:
            self.fail(row.line, "role", t(self.lang, "officials and admins belong to the commune: leave team empty "
                                                     "or use role leader or member"))
        language = row.get("language")
        if language and language not in LANGUAGES:
            self.fail(row.line, "language", t(self.lang, "'{value}' is not one of {allowed}", value=language,
                                              allowed=", ".join(LANGUAGES)))
        phone = row.get("phone")
        if phone and normalise_phone(phone) is None:
            self.fail(row.line, "phone", t(self.lang, "'{value}' is not a Vietnamese phone number", value=phone))
        for adapter in self.adapters:
            if value := row.get(adapter):
                self.address(row.line, adapter, adapter, value, group=False)
            if value := row.get(f"team_{adapter}"):
                if not team:
                    self.fail(row.line, f"team_{adapter}", t(self.lang, "a group chat needs a team"))
                self.address(row.line, f"team_{adapter}", adapter, value, group=True)

    def role(self, row: Row) -> str | None:
        """The row's role in English, or None if the cell is empty; a problem if unknown."""
        raw = row.get("role")
        role = parse_role(raw)
        if raw and role is None:
            self.fail(row.line, "role", t(self.lang, "unknown role '{value}'; use leader, member, official or admin",
                                          value=raw))
        return role

    def address(self, line: int, column: str, adapter: str, value: str, *, group: bool) -> None:
        if EXCEL_NUMBER.fullmatch(value):
            self.fail(line, column, t(self.lang, "Excel changed the id into '{value}'; format the column as Text "
                                                 "and type the id again", value=value))
        elif adapter == "telegram":
            if value.startswith("@"):
                self.fail(line, column, t(self.lang, "'{value}' is a username; Telegram needs the numeric chat id "
                                                     "(or give the person an invite code)", value=value))
            elif not re.fullmatch(r"-?\d{1,20}", value):
                self.fail(line, column, t(self.lang, "'{value}' is not a Telegram chat id (a number)", value=value))
            elif group and not value.startswith("-"):
                self.fail(line, column, t(self.lang, "a Telegram group id is negative, e.g. -1001234567890"))
            elif not group and value.startswith("-"):
                self.fail(line, column, t(self.lang, "'{value}' is a group id; put it in team_telegram",
                                          value=value))
        elif not ADDRESS_PATTERN.fullmatch(value):
            self.fail(line, column, t(self.lang, "'{value}' is not a valid {adapter} id", value=value,
                                      adapter=adapter))


def parse_role(raw: str) -> str | None:
    """'leader', 'Tổ trưởng', 'thành viên' -> the roster's role; None if empty or unknown."""
    return ROLE_WORDS.get(fold(raw)) if raw else None


def normalise_phone(value: str) -> str | None:
    """'0912 345 678', '+84 912.345.678', '912345678' (Excel ate the 0) -> '0912345678'."""
    match = PHONE_PATTERN.fullmatch(re.sub(r"[\s.()-]", "", value))
    return "0" + match.group(1) if match else None


# -- the YAML document ---------------------------------------------------------------------
def _yaml() -> YAML:
    handler = YAML()
    handler.preserve_quotes = True
    handler.width = 4096
    handler.indent(mapping=2, sequence=4, offset=2)
    return handler


def _scalar(value: str) -> Any:
    """Quote what the roster's reader would not read back as text."""
    return value if reads_as_text(value) else DoubleQuotedScalarString(value)


def _flow(mapping: dict[str, str]) -> CommentedMap:
    result = CommentedMap((k, DoubleQuotedScalarString(v)) for k, v in mapping.items())
    result.fa.set_flow_style()
    return result


class _Document:
    """The roster YAML as ruamel's round-trip tree, with entries indexed by id (a province's
    roster has thousands of people: no scanning per row)."""

    def __init__(self, tree: CommentedMap):
        self.tree = tree
        for key in ("communes", "teams"):
            if not isinstance(tree.get(key), list):
                tree[key] = CommentedSeq()
        # A round-trip tree: every mapping in it is a CommentedMap, every sequence a CommentedSeq.
        self.communes = {str(c.get("id")): c for c in tree["communes"] if isinstance(c, CommentedMap)}
        self.teams = {str(x.get("id")): x for x in tree["teams"] if isinstance(x, CommentedMap)}
        self.people: dict[str, tuple[CommentedMap, list[Any], str | None]] = {}  # id -> (entry, list, team)
        for kind, owner, entries in self.people_lists():
            for entry in entries:
                if isinstance(entry, CommentedMap):
                    self.people.setdefault(str(entry.get("id")), (entry, entries, owner if kind == "team" else None))

    def add(self, key: str, entry: CommentedMap) -> None:
        """A new commune or team."""
        self.tree[key].append(entry)
        (self.communes if key == "communes" else self.teams)[str(entry["id"])] = entry

    def people_lists(self) -> Iterable[tuple[str, str, list[Any]]]:
        """(kind, owner id, list) for every officials and members list."""
        for commune in self.tree["communes"]:
            if isinstance(commune, dict) and isinstance(commune.get("officials"), list):
                yield "commune", str(commune.get("id")), commune["officials"]
        for team in self.tree["teams"]:
            if isinstance(team, dict) and isinstance(team.get("members"), list):
                yield "team", str(team.get("id")), team["members"]

    def place(self, pid: str, entries: list[Any], team: str | None) -> tuple[CommentedMap, str | None, bool]:
        """Put the person's entry (comments and all) in `entries`, taking it out of wherever
        it was: (entry, the team it left or None, whether it is new)."""
        found = self.people.get(pid)
        if found is not None and found[1] is entries:
            return found[0], None, False
        if found is not None:
            entry, old_list, old_team = found
            old_list.remove(entry)
        else:
            entry, old_team = CommentedMap([("id", _scalar(pid))]), None
        entries.append(entry)
        self.people[pid] = (entry, entries, team)
        return entry, old_team if old_team != team else None, found is None


KEY_ORDER = ("id", "name", "role", "commune", "language", "phone", "chats", "members")


def _set(entry: CommentedMap, key: str, value: Any, *, replace: bool) -> None:
    """Merge: an empty cell keeps the roster's value. Replace: an empty cell clears it.
    A new key goes where the shipped roster has it (id, name, role, ..., chats last)."""
    if value:
        value = _scalar(value) if isinstance(value, str) else value
        if key in entry:
            entry[key] = value
            return
        rank = KEY_ORDER.index(key)
        keys = list(entry)
        position = next((i for i, k in enumerate(keys) if k in KEY_ORDER and KEY_ORDER.index(k) > rank), len(keys))
        entry.insert(position, key, value)
    elif replace and key in entry:
        del entry[key]


def _set_chats(entry: CommentedMap, chats: dict[str, str], columns: Iterable[str], *, replace: bool) -> None:
    current = entry.get("chats")
    merged = {} if replace or not isinstance(current, dict) else {str(k): str(v) for k, v in current.items()}
    merged.update(chats)
    if replace:
        merged = {k: v for k, v in merged.items() if k in chats or k not in set(columns)}
    if merged and isinstance(current, dict):
        for key in list(current):
            if key not in merged:
                del current[key]
        for key, value in merged.items():
            current[key] = DoubleQuotedScalarString(value)
    else:
        _set(entry, "chats", _flow(merged) if merged else None, replace=True)


# -- the import ----------------------------------------------------------------------------
def import_roster(csv_path: str | Path, roster_path: str | Path, *, replace: bool = False,
                  calendars: str | Path | None = None, dry_run: bool = False,
                  language: str = "vi") -> ImportReport:
    """Check the CSV and merge it into (or with `replace`, make it) the roster file.

    Raises InvalidInput listing every problem; then the roster file is untouched. With
    `calendars`, the duties are checked against the new roster too (a duty naming a team
    that the import removes is a problem)."""
    csv_path = Path(csv_path)
    header, rows = read_csv(csv_path, language)
    return merge_rows(header, rows, roster_path, where=str(csv_path), replace=replace, calendars=calendars,
                      dry_run=dry_run, language=language)


def merge_rows(header: list[str], rows: list[Row], roster_path: str | Path, *, where: str, replace: bool = False,
               calendars: str | Path | None = None, dry_run: bool = False, language: str = "vi") -> ImportReport:
    """Rows as a spreadsheet's (the web console's forms make one or two), checked and merged
    exactly as `teams import` does; problems are reported against `where`."""
    roster_path = Path(roster_path)
    adapters = chat_columns()
    document = _Document(_load_tree(roster_path))
    checker = _Checker(where, language, adapters)
    checker.header(header)
    if checker.problems:
        raise InvalidInput(checker.problems)
    if not rows:
        raise InvalidInput([Problem(where, None, t(language, "no people in the file"))])
    seen: dict[str, int] = {}
    for row in rows:
        checker.row(row, seen)
    _check_across_rows(checker, rows, set(document.communes))
    if not replace:
        _check_other_communes(checker, document, rows)
    # The merge runs even after bad rows, so team-level problems are reported in the same pass.
    report, emptied = _apply(document, rows, header, adapters, replace)
    _check_result(checker, document, rows, emptied)
    if checker.problems:
        raise InvalidInput(checker.problems)
    report.roster = _write(document, roster_path, calendars, dry_run, language)
    return report


def _load_tree(path: Path) -> CommentedMap:
    """The roster as a round-trip tree; a new one if there is no file yet. The result is
    validated as a whole before it is written, so the old file is not validated here."""
    if not path.exists():
        return CommentedMap([("timezone", "Asia/Ho_Chi_Minh"), ("language", "vi")])
    try:
        with path.open(encoding="utf-8") as handle:
            tree = _yaml().load(handle)
    except (RuamelError, UnicodeDecodeError):
        load_roster(path)  # reports the problem as file:line, as `reminders check` does
        raise
    if not isinstance(tree, CommentedMap) or any(
            tree.get(key) is not None and not isinstance(tree.get(key), list) for key in ("communes", "teams")):
        load_roster(path)
        raise InvalidInput([Problem(str(path), None, "the roster must be a mapping with 'communes' and 'teams'")])
    return tree


def _check_across_rows(checker: _Checker, rows: list[Row], known: set[str]) -> None:
    """Names and places that must agree between rows: a team in one commune, one name each."""
    lang = checker.lang
    first: dict[tuple[str, str], tuple[str, int]] = {}
    commune_named: set[str] = set()
    for row in rows:
        team, commune = row.get("team"), row.get("commune")
        facts = [("commune_name", commune, row.get("commune_name"))]
        if team:
            facts += [("team's commune", team, commune), ("team_name", team, row.get("team_name"))]
            facts += [(f"team_{a}", team, row.get(f"team_{a}")) for a in checker.adapters]
        for column, key, value in facts:
            if not value:
                continue
            earlier = first.setdefault((column, key), (value, row.line))
            if earlier[0] != value:
                shown = "commune" if column == "team's commune" else column
                checker.fail(row.line, shown, t(lang, "'{value}' differs from '{other}' on line {line}",
                                                value=value, other=earlier[0], line=earlier[1]))
        if row.get("commune_name"):
            commune_named.add(commune)
    reported: set[str] = set()
    for row in rows:
        commune = row.get("commune")
        if commune and commune not in known and commune not in commune_named and commune not in reported:
            reported.add(commune)
            checker.fail(row.line, "commune", t(lang, "unknown commune '{id}'; give its commune_name to add it",
                                                id=commune))


def _check_other_communes(checker: _Checker, document: _Document, rows: list[Row]) -> None:
    """Merge: a team or person id already in another commune is not taken over.

    Ids are unique in the whole roster, but "thon-1" or "nguyen-van-an" are natural in
    every commune: one commune's spreadsheet must not silently move another commune's team
    (with its group chat and people) or person into it. A real move is --replace or an edit."""
    lang = checker.lang
    commune_of_list = {id(entries): owner if kind == "commune"
                       else str((document.teams.get(owner) or CommentedMap()).get("commune"))
                       for kind, owner, entries in document.people_lists()}
    for row in rows:
        commune, team, pid = row.get("commune"), row.get("team"), row.get("person_id")
        existing = document.teams.get(team) if team else None
        if existing is not None and str(existing.get("commune")) != commune:
            checker.fail(row.line, "team", t(lang, "team '{id}' already exists in commune '{other}'; "
                                                   "give this team another id", id=team,
                                             other=existing.get("commune")))
        found = document.people.get(pid) if pid else None
        if found is not None and commune_of_list.get(id(found[1]), commune) != commune:
            checker.fail(row.line, "person_id", t(lang, "'{id}' is already someone in commune '{other}'; "
                                                        "give this person another id", id=pid,
                                                  other=commune_of_list[id(found[1])]))


def _apply(document: _Document, rows: list[Row], header: list[str], adapters: tuple[str, ...],
           replace: bool) -> tuple[ImportReport, dict[str, int]]:
    """Merge the rows into the document; also returns, for each team someone moved out
    of, the line that moved them (to point at if the team is left empty)."""
    report = ImportReport()
    left: dict[str, int] = {}
    old_people = set(document.people)
    for row in rows:
        cid = row.get("commune")
        commune = document.communes.get(cid)
        if commune is None:
            commune = CommentedMap([("id", _scalar(cid)), ("name", _scalar(row.get("commune_name")))])
            document.add("communes", commune)
            report.new_communes.append(cid)
        elif row.get("commune_name"):
            commune["name"] = _scalar(row.get("commune_name"))
        tid = row.get("team")
        if tid:
            team = document.teams.get(tid)
            if team is None:
                team = CommentedMap([("id", _scalar(tid)), ("name", _scalar(row.get("team_name"))),
                                     ("commune", _scalar(cid))])
                document.add("teams", team)
                report.new_teams.append(tid)
            else:
                _set(team, "name", row.get("team_name"), replace=False)
                _set(team, "commune", cid, replace=False)
            group = {a: row.get(f"team_{a}") for a in adapters if row.get(f"team_{a}")}
            if group:
                _set_chats(team, group, (), replace=False)
            if not isinstance(team.get("members"), list):
                team["members"] = CommentedSeq()
            people, default_role = team["members"], "member"
        else:
            if not isinstance(commune.get("officials"), list):
                commune["officials"] = CommentedSeq()
            people, default_role = commune["officials"], "official"
        pid = row.get("person_id")
        if not pid:
            continue
        entry, came_from, _ = document.place(pid, people, tid or None)
        if came_from:
            left.setdefault(came_from, row.line)
        (report.updated if pid in old_people else report.added).append(pid)
        _set(entry, "name", row.get("name"), replace=True)
        role = parse_role(row.get("role"))
        if role is None:  # an empty cell: keep a fitting role (merge), else the place's default
            fitting = entry.get("role") in (TEAM_ROLES if tid else COMMUNE_ROLES)
            role = str(entry["role"]) if fitting and not replace else default_role
        if role != default_role or "role" in entry:  # shipped rosters leave the default out
            _set(entry, "role", role, replace=True)
        if "language" in header:
            _set(entry, "language", row.get("language"), replace=replace)
        if "phone" in header:
            phone = row.get("phone")
            _set(entry, "phone", DoubleQuotedScalarString(normalise_phone(phone) or "") if phone else "",
                 replace=replace)
        chats = {a: row.get(a) for a in adapters if row.get(a)}
        _set_chats(entry, chats, [a for a in adapters if a in header], replace=replace)
    if replace:
        report.removed = _drop_unlisted(document, rows)
    return report, left


def _drop_unlisted(document: _Document, rows: list[Row]) -> list[str]:
    """--replace: people, teams and communes the file does not name are removed."""
    people = {r.get("person_id") for r in rows}
    removed = []
    for _, _, entries in document.people_lists():
        for entry in list(entries):
            if str(entry.get("id")) not in people:
                removed.append(str(entry.get("id")))
                entries.remove(entry)
    teams, communes = {r.get("team") for r in rows}, {r.get("commune") for r in rows}
    for key, wanted in (("teams", teams), ("communes", communes)):
        seq = document.tree[key]
        for entry in list(seq):
            if str(entry.get("id")) not in wanted:
                seq.remove(entry)
    return removed


def _check_result(checker: _Checker, document: _Document, rows: list[Row], emptied: dict[str, int]) -> None:
    """Team-level rules on the merged roster, reported at the team's first row in the CSV."""
    lang = checker.lang
    first_line: dict[str, int] = {}
    for row in rows:
        if row.get("team"):
            first_line.setdefault(row.get("team"), row.line)
    for team in document.tree["teams"]:
        tid = str(team.get("id"))
        members = team.get("members") or []
        line = first_line.get(tid) or emptied.get(tid)
        if tid in first_line and not team.get("name"):
            checker.fail(line, "team_name", t(lang, "team '{id}' is new: give its team_name", id=tid))
        if not members:
            checker.fail(line, "team", t(lang, "team '{id}' would have no members left", id=tid))
        elif not any(isinstance(m, dict) and m.get("role") == "leader" for m in members):
            checker.fail(line, "role", t(lang, "team '{id}' has no leader; set role leader on one of its people",
                                         id=tid))
    # Two people with one chat id (a copied cell): replies would be credited to the first.
    owner: dict[tuple[str, str], str] = {}
    row_of = {r.get("person_id"): r.line for r in rows}
    for _, _, people in document.people_lists():
        for entry in people:
            chats = entry.get("chats") if isinstance(entry, dict) else None
            pid = str(entry.get("id")) if isinstance(entry, dict) else ""
            for adapter, address in (chats or {}).items():
                other = owner.setdefault((str(adapter), str(address)), pid)
                if other == pid:
                    continue
                here, there = (pid, other) if pid in row_of else (other, pid)
                if here in row_of:
                    checker.fail(row_of[here], str(adapter), t(lang, "chat id {address} is also {other}'s",
                                                               address=address, other=there))


def _write(document: _Document, roster_path: Path, calendars: str | Path | None, dry_run: bool,
           language: str) -> Roster:
    """Write beside the roster, load it back as the worker would, then swap it in."""
    buffer = io.StringIO()
    _yaml().dump(document.tree, buffer)
    mode = roster_path.stat().st_mode & 0o777 if roster_path.exists() else 0o644
    with staged(roster_path, mode=mode, commit=not dry_run) as temp:
        temp.write_text(buffer.getvalue(), encoding="utf-8", newline="\n")
        try:
            if calendars is not None:
                _, roster = load_definitions(str(calendars), temp)
            else:
                roster = load_roster(temp)
        except InvalidInput as exc:
            raise InvalidInput([Problem(str(roster_path) if p.file == str(temp) else p.file, p.line,
                                        t(language, "after the import: {detail}", detail=p.message), p.uid)
                                for p in exc.problems]) from None
    return roster

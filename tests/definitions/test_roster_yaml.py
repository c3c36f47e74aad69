"""The roster is read as the admin typed it: ids and chat addresses that look like numbers,
dates or booleans stay the text they are; problems in the YAML itself come back as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reminders.definitions.roster import load_roster
from reminders.errors import InvalidInput

ROSTER = """timezone: Asia/Ho_Chi_Minh
quiet_hours: off
communes:
  - id: 08
    name: Yes
teams:
  - id: 0123
    name: Tổ 1:30
    commune: 08
    chats: {zalo_oa: 0912345678, telegram: -1001000000001}
    members:
      - {id: 09, name: No, role: leader, chats: {telegram: 1e5}}
      - {id: an, name: An, phone: }
"""


def test_values_are_the_text_typed(tmp_path: Path):
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER, encoding="utf-8")
    roster = load_roster(path)
    assert list(roster.communes) == ["08"] and roster.communes["08"].name == "Yes"
    team = roster.teams["0123"]
    assert (team.name, team.commune_id) == ("Tổ 1:30", "08")
    assert team.chats == {"zalo_oa": "0912345678", "telegram": "-1001000000001"}
    leader = roster.people["09"]
    assert (leader.name, leader.chats) == ("No", {"telegram": "1e5"})
    assert roster.quiet is None  # quiet_hours: off


@pytest.mark.parametrize("text, line, said", [
    ("timezone: Asia/Ho_Chi_Minh\ncommunes:\n  - id: a\n    name: A\n    name: B\n", 5, "duplicate key 'name'"),
    ("timezone: Asia/Ho_Chi_Minh\ncommunes:\n  - id: a\x07\n", 3, "unacceptable character"),
    ("timezone: Asia/Ho_Chi_Minh\ncommunes: [\n", 3, "not valid YAML"),
])
def test_yaml_problems_have_a_line(tmp_path: Path, text: str, line: int, said: str):
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_roster(path)
    problem = caught.value.problems[0]
    assert (problem.line, said in problem.message) == (line, True), problem


def test_a_merge_key_is_a_clear_problem_not_a_crash(tmp_path: Path):
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER.replace("      - {id: an, name: An, phone: }",
                                   "      - &base {id: an, name: An}\n      - {<<: *base, id: binh}"), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_roster(path)
    problem = caught.value.problems[0]
    assert problem.line == 14 and "merge keys (<<)" in problem.message, problem

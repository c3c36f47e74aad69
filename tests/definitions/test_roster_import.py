"""`reminders teams import`: a commune's spreadsheet into the roster, all or nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from reminders.cli import main
from reminders.definitions.roster import load_roster
from reminders.definitions.roster_import import import_roster
from reminders.errors import InvalidInput

HEADER = "commune,commune_name,team,team_name,person_id,name,role,language,telegram,zalo_bot,team_telegram,phone"


def _csv(path: Path, *rows: str, header: str = HEADER, bom: bool = True, newline: str = "\r\n") -> Path:
    """As Excel's "CSV UTF-8" saves it: a BOM and CRLF line ends."""
    text = newline.join([header, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def test_bad_rows_are_all_reported_by_line_and_column_and_nothing_is_written(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    before = roster.read_bytes()
    source = _csv(
        tmp_path / "bad.csv",
        "xa-tan-lap,,thon-nam,Tổ CNSCĐ thôn Nam,ngo-thi-mai,Ngô Thị Mai,thành viên,,100021,,,",   # 2: no leader
        "xa-tan-lap,,thon-nam,,dang-van-on,Đặng Văn Ơn,chủ tịch,,100022,,,",                     # 3: role
        "xa-tan-lap,,thon-dong,,ngo-thi-mai,Ngô Thị Mai B,,,100023,,,",                         # 4: duplicate id
        "xa-tan-lap,,thon-dong,,vo-van-phuc,,,,100024,,,",                                     # 5: no name
        "xa-moi,,thon-moi,Tổ thôn Mới,ly-thi-hoa,Lý Thị Hoa,leader,,,,,",                       # 6: commune
        "xa-tan-lap,,thon-dong,,ha-van-quang,Hà Văn Quang,,,1.00100E+12,,,",                   # 7: Excel number
        "xa-tan-lap,,thon-dong,,mai-thi-su,Mai Thị Sự,,,@su,,100,",                             # 8: chat ids
        "xa-tan-lap,,thon-dong,,kim-van-tam,Kim Văn Tâm,,fr,100002,,,12345",                    # 9: lang, chat, phone
    )
    result = _run("teams", "import", str(source), "--calendars", str(calendars))
    assert result.exit_code == 1
    found = set(re.findall(rf"{re.escape(str(source))}:(\d+): (\w+):", result.output))
    assert found >= {("2", "role"), ("3", "role"), ("4", "person_id"), ("5", "name"), ("6", "commune"),
                     ("7", "telegram"), ("8", "telegram"), ("8", "team_telegram"), ("9", "language"),
                     ("9", "telegram"), ("9", "phone")}, result.output
    assert {line for line, _ in found} == {str(n) for n in range(2, 10)}, "every bad row, and only those"
    assert "Traceback" not in result.output
    assert roster.read_bytes() == before
    assert _leftovers(calendars) == []


def test_problem_messages_say_what_to_do(calendars, tmp_path):
    source = _csv(tmp_path / "bad.csv",
                  "xa-tan-lap,,thon-dong,,ha-van-quang,Hà Văn Quang,,,1.00100E+12,,,",
                  "xa-tan-lap,,thon-dong,,kim-van-tam,Kim Văn Tâm,,,100001,,,")
    with pytest.raises(InvalidInput) as caught:
        import_roster(source, calendars / "roster.yaml", language="en")
    text = str(caught.value)
    assert "bad.csv:2: telegram: Excel changed the id into '1.00100E+12'; format the column as Text" in text
    assert "bad.csv:3: telegram: chat id 100001 is also nguyen-van-an's" in text


def test_a_good_excel_file_merges_into_the_roster(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    source = _csv(
        tmp_path / "to-moi.csv",
        "xa-tan-lap,,thon-nam,Tổ CNSCĐ thôn Nam,ngo-thi-mai,Ngô Thị Mai,Tổ trưởng,,100021,,-1001000000003,912 345 678",
        "xa-tan-lap,,thon-nam,,dang-van-on,Đặng Văn Ơn,,,100022,z-on,,",
        "xa-tan-lap,,thon-dong,,tran-thi-binh,Trần Thị Bình,,en,100099,,,",
        "xa-an-phu,Xã An Phú,,,pho-chu-tich,Hồ Thị Nguyệt,official,,900200,,,+84 987.654.321",
    )
    result = _run("teams", "import", str(source), "--calendars", str(calendars))
    assert result.exit_code == 0, result.output
    assert "Thêm 3 người, cập nhật 1, xoá 0; 1 tổ mới, 1 xã mới." in result.output
    loaded = load_roster(roster)
    nam = loaded.teams["thon-nam"]
    assert nam.name == "Tổ CNSCĐ thôn Nam" and nam.commune_id == "xa-tan-lap"
    assert nam.chats == {"telegram": "-1001000000003"}
    assert [(p.id, p.name, p.role) for p in loaded.members(nam)] == [
        ("ngo-thi-mai", "Ngô Thị Mai", "leader"), ("dang-van-on", "Đặng Văn Ơn", "member")]
    assert loaded.people["dang-van-on"].chats == {"telegram": "100022", "zalo_bot": "z-on"}
    binh = loaded.people["tran-thi-binh"]  # merged by id: new chat id and language, still in thôn Đông
    assert (binh.team_id, binh.language, binh.chats) == ("thon-dong", "en", {"telegram": "100099"})
    assert loaded.communes["xa-an-phu"].name == "Xã An Phú"
    assert loaded.people["pho-chu-tich"].role == "official"
    assert loaded.people["nguyen-van-an"].chats == {"telegram": "100001", "zalo_bot": "z-an"}  # untouched
    text = roster.read_text(encoding="utf-8")
    assert text.startswith("# Danh sách Tổ công nghệ số cộng đồng (roster)."), "the admin's comments stay"
    assert 'phone: "0912345678"' in text and 'phone: "0987654321"' in text
    assert "\ufeff" not in text
    check = _run("check", "--calendars", str(calendars))
    assert check.exit_code == 0 and "4 tổ, 13 người" in check.output, check.output
    assert _leftovers(calendars) == []


def test_semicolons_and_no_bom_as_excel_saves_with_a_vietnamese_locale(calendars, tmp_path):
    header = HEADER.replace(",", ";")
    source = _csv(tmp_path / "x.csv", "xa-tan-lap;;thon-bac;;ta-van-bao;Tạ Văn Bảo;;;100031;;;",
                  header=header, bom=False, newline="\n")
    report = import_roster(source, calendars / "roster.yaml", calendars=calendars)
    assert report.added == ["ta-van-bao"]
    assert load_roster(calendars / "roster.yaml").people["ta-van-bao"].team_id == "thon-bac"


def test_a_team_left_without_its_leader_is_reported_at_that_row(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    before = roster.read_bytes()
    source = _csv(tmp_path / "x.csv", "xa-tan-lap,,thon-tay,,pham-van-dung,Phạm Văn Dũng,member,,100011,,,")
    with pytest.raises(InvalidInput) as caught:
        import_roster(source, roster, language="en")
    [problem] = caught.value.problems
    assert (problem.line, problem.message) == (2, "role: team 'thon-tay' has no leader; set role leader on one "
                                                  "of its people")
    assert roster.read_bytes() == before


def test_not_utf8_names_the_line_and_how_to_save(calendars, tmp_path):
    source = tmp_path / "ansi.csv"
    source.write_bytes((HEADER + "\r\nxa-tan-lap,,thon-bac,,a,Nguy\xe3n A,,,,,,\r\n").encode("latin-1"))
    result = _run("teams", "import", str(source), "--calendars", str(calendars))
    assert result.exit_code == 1
    assert f"{source}:2:" in result.output and "CSV UTF-8" in result.output


def test_unknown_and_missing_columns(calendars, tmp_path):
    source = _csv(tmp_path / "x.csv", "xa-tan-lap,thon-bac,Ai Đó,1", header="commune,team,name,telgram")
    with pytest.raises(InvalidInput) as caught:
        import_roster(source, calendars / "roster.yaml", language="en")
    messages = [p.message for p in caught.value.problems]
    assert any(m.startswith("telgram: unknown column") for m in messages)
    assert "person_id: missing column" in messages


def test_replace_makes_the_file_the_whole_roster_and_checks_the_duties(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    rows = ["xa-tan-lap,,thon-dong,,nguyen-van-an,Nguyễn Văn An,leader,,100001,,,",
            "xa-tan-lap,,thon-dong,,tran-thi-binh,Trần Thị Bình,,,,,,",
            "xa-tan-lap,,,,quan-tri-xa,Trần Quốc Việt,admin,en,900101,,,"]
    (calendars / "for-bac.ics").write_text((calendars / "radio-weekly.ics").read_text(encoding="utf-8")
                                           .replace("UID:", "X-REMINDER-FOR:team:thon-bac\nUID:x-", 1),
                                           encoding="utf-8")
    before = roster.read_bytes()
    with pytest.raises(InvalidInput) as caught:  # a duty is addressed to thôn Bắc, which would go
        import_roster(_csv(tmp_path / "x.csv", *rows), roster, replace=True, calendars=calendars)
    assert any("for-bac.ics" in p.file for p in caught.value.problems)
    assert roster.read_bytes() == before
    (calendars / "for-bac.ics").unlink()
    report = import_roster(_csv(tmp_path / "x.csv", *rows), roster, replace=True, calendars=calendars)
    loaded = load_roster(roster)
    assert set(loaded.teams) == {"thon-dong"} and set(loaded.people) == {"nguyen-van-an", "tran-thi-binh",
                                                                          "quan-tri-xa"}
    assert loaded.people["tran-thi-binh"].chats == {}, "with --replace an empty cell clears the field"
    assert loaded.teams["thon-dong"].chats["telegram"] == "-1001000000001", "the team keeps its group chat"
    assert "le-van-cuong" in report.removed and "can-bo-van-hoa" in report.removed


def test_dry_run_checks_but_writes_nothing(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    before = roster.read_bytes()
    source = _csv(tmp_path / "x.csv", "xa-tan-lap,,thon-bac,,ta-van-bao,Tạ Văn Bảo,,,100031,,,")
    result = _run("teams", "import", str(source), "--dry-run", "--calendars", str(calendars))
    assert result.exit_code == 0, result.output
    assert roster.read_bytes() == before and _leftovers(calendars) == []


def test_import_into_a_new_roster_file(tmp_path):
    source = _csv(tmp_path / "x.csv",
                  "xa-binh-minh,Xã Bình Minh,to-1,Tổ 1,a,Nguyễn Văn A,leader,,,,,",
                  "xa-binh-minh,,to-1,,b,Yes,,,,,,")  # a name PyYAML would read as true unless quoted
    target = tmp_path / "new" / "roster.yaml"
    import_roster(source, target)
    loaded = load_roster(target)
    assert loaded.people["b"].name == "Yes" and loaded.teams["to-1"].name == "Tổ 1"


def test_a_broken_roster_is_reported_not_overwritten(calendars, tmp_path):
    roster = calendars / "roster.yaml"
    roster.write_text(roster.read_text(encoding="utf-8").replace("teams:\n", "teams: [\n", 1), encoding="utf-8")
    before = roster.read_bytes()
    source = _csv(tmp_path / "x.csv", "xa-tan-lap,,thon-bac,,ta-van-bao,Tạ Văn Bảo,,,100031,,,")
    result = _run("teams", "import", str(source), "--calendars", str(calendars))
    assert result.exit_code == 1 and re.search(rf"{re.escape(str(roster))}:\d+: ", result.output), result.output
    assert roster.read_bytes() == before


def test_another_communes_spreadsheet_does_not_take_over_its_teams_or_people(calendars, tmp_path):
    """'thon-dong' and 'nguyen-van-an' are natural ids in every commune: a new commune's
    file reusing them must not move Tân Lập's team (group chat, people) or person away."""
    roster = calendars / "roster.yaml"
    before = roster.read_bytes()
    source = _csv(tmp_path / "an-phu.csv",
                  "xa-an-phu,Xã An Phú,thon-dong,Thôn Đông,le-thi-xuan,Lê Thị Xuân,leader,,,,,",
                  "xa-an-phu,,thon-moi,Thôn Mới,nguyen-van-an,Nguyễn Văn An,leader,,,,,")
    with pytest.raises(InvalidInput) as caught:
        import_roster(source, roster, calendars=calendars, language="en")
    found = {(p.line, p.message.partition(":")[0]) for p in caught.value.problems}
    assert found == {(2, "team"), (3, "person_id")}, caught.value.problems
    assert "already exists in commune 'xa-tan-lap'" in str(caught.value)
    assert roster.read_bytes() == before and _leftovers(calendars) == []
    # Within its own commune a person still moves between teams.
    source = _csv(tmp_path / "move.csv", "xa-tan-lap,,thon-bac,,tran-thi-binh,Trần Thị Bình,,,,,,")
    import_roster(source, roster, calendars=calendars)
    assert load_roster(roster).people["tran-thi-binh"].team_id == "thon-bac"

"""`reminders duties new | list | show` as an admin uses them: flags, prompts, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner

from reminders.cli import main
from reminders.definitions.duties import load_duties
from reminders.definitions.roster import load_roster

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


RADIO = ["--title", "Phát thanh chuyên mục Chuyển đổi số", "--rhythm", "hằng tuần vào thứ Sáu lúc 17:00",
         "--start", "2024-10-01", "--remind", "2 giờ trước", "--remind", "lúc bắt đầu",
         "--for", "thon-dong,thon-tay", "--to", "leader", "--checkin", "Đã gửi nội dung chưa?", "--answer", "yesno"]


def test_new_writes_a_file_that_passes_check_and_round_trips(calendars):
    result = run("duties", "new", "--calendars", str(calendars), *RADIO, "--yes")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "RRULE: FREQ=WEEKLY;BYDAY=FR" in out
    assert "Nhịp lặp: hằng tuần vào Thứ Sáu, lúc 17:00" in out
    for day in (4, 11, 18, 25):
        assert f"Thứ Sáu, {day} tháng 10, 2024 lúc 17:00 — nhắc {day:02d}/10 15:00; nhắc {day:02d}/10 17:00; " \
               f"hỏi kết quả {day:02d}/10 17:00" in out
    assert "5. Thứ Sáu, 1 tháng 11, 2024 lúc 17:00" in out
    written = calendars / "phat-thanh-chuyen-muc-chuyen-doi-so.ics"
    assert f"Đã ghi {written}." in out

    check = subprocess.run([sys.executable, "-m", "reminders.cli", "check", "--calendars", str(calendars)],
                           capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120)
    assert check.returncode == 0, check.stderr
    assert "Hợp lệ: 8 nhiệm vụ" in check.stdout

    data = written.read_bytes()
    assert icalendar.Calendar.from_ical(data).to_ical() == data  # icalendar reads back what it wrote
    text = data.decode()
    assert "BEGIN:VTIMEZONE" in text and "DTSTART;TZID=Asia/Ho_Chi_Minh:20241004T170000" in text
    assert "COMMENT:" in text and "X-REMINDER-KIND:CHECKIN" in text

    duty = load_duties(calendars, load_roster(calendars / "roster.yaml"))["phat-thanh-chuyen-muc-chuyen-doi-so@reminders"]
    assert duty.audience == ("team:thon-dong", "team:thon-tay") and duty.address == ("leader",)
    assert [(a.kind, a.offset, a.related) for a in duty.alarms] == [
        ("reminder", -timedelta(hours=2), "START"), ("reminder", timedelta(0), "START"),
        ("checkin", timedelta(0), "END")]
    assert duty.checkin.answer_type == "yesno" and duty.checkin.question("vi") == "Đã gửi nội dung chưa?"


def test_campaign_all_day_in_english_words(calendars):
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Chiến dịch thử",
                 "--rhythm", "1–10 October every year", "--start", "2024-09-01",
                 "--remind", "1 day before at 17:00", "--checkin", "Bao nhiêu hộ?", "--answer", "number",
                 "--category", "chiến dịch", "--yes")
    assert result.exit_code == 0, result.output
    assert "1. Thứ Ba, 1 tháng 10, 2024 — nhắc 30/09 17:00; hỏi kết quả 01/10 17:00" in result.output
    assert "5. Thứ Bảy, 5 tháng 10, 2024" in result.output
    duty = load_duties(calendars)["chien-dich-thu@reminders"]
    assert duty.all_day and duty.categories == ("chiến dịch",)
    assert [(a.kind, a.offset, a.related) for a in duty.alarms] == [
        ("reminder", -timedelta(hours=7), "START"), ("checkin", -timedelta(hours=7), "END")]


def test_refused_rhythm_writes_nothing(calendars):
    before = files(calendars)
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Họp",
                 "--rhythm", "hằng tuần vào thứ Sáu lúc 17:00 và gọi điện", "--yes")
    assert result.exit_code == 1
    assert "Không dùng được nhịp lặp «hằng tuần vào thứ Sáu lúc 17:00 và gọi điện»." in result.output
    assert "Đã hiểu: «hằng tuần», «thứ Sáu», «17:00»" in result.output
    assert "Không hiểu: «gọi», «điện»" in result.output
    assert "Ví dụ: «hằng tuần vào thứ Sáu lúc 17:00»" in result.output
    assert "Chưa ghi gì." in result.output and "Traceback" not in result.output
    assert files(calendars) == before


def test_refused_english_rhythm_is_explained_in_english_too(calendars):
    before = files(calendars)
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Meeting",
                 "--rhythm", "every blue moon", "--yes")
    assert result.exit_code == 1
    assert "Not understood: «blue», «moon»" in result.output and "Examples: «every Friday at 17:00»" in result.output
    assert "Không hiểu: «blue», «moon»" in result.output
    assert files(calendars) == before


def test_subprocess_refusal_exit_code_and_no_traceback(calendars):
    before = files(calendars)
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "duties", "new", "--calendars", str(calendars),
                             "--title", "Họp", "--rhythm", "ngày 10 tháng 3", "--yes"],
                            capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120)
    assert result.returncode == 1
    assert "Chưa rõ: có ngày tháng nhưng không có 'hằng năm'" in result.stderr
    assert "Traceback" not in result.stderr
    assert files(calendars) == before


@pytest.mark.parametrize(("extra", "message"), [
    (["--remind", "2 giờ trước"], "nhiệm vụ cả ngày không có giờ bắt đầu"),  # an all-day duty
    (["--remind", "sớm một chút"], "Không dùng được thời điểm nhắc «sớm một chút»"),
    (["--for", "thon-khong-co"], "Không có trong danh sách: thon-khong-co"),
    (["--to", "everyone"], "--to phải là group"),
    (["--answer", "number"], "--answer cần có câu hỏi --checkin"),
    (["--file", "x.txt"], "Tên tệp phải kết thúc bằng .ics"),
])
def test_other_bad_input_writes_nothing(calendars, extra, message):
    before = files(calendars)
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Báo cáo thử",
                 "--rhythm", "ngày 5 hằng tháng", "--start", "2024-10-01", *extra, "--yes")
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert files(calendars) == before


@pytest.mark.parametrize("command, expected", [
    (["duties", "new", "--title", "Báo cáo thử", "--rhythm", "ngày 5 hằng tháng", "--start", "mai", "--yes"],
     "cần một ngày dạng 2024-10-01 hoặc 1/10/2024, nhận được 'mai'"),
    (["preview", "chien-dich-di-tung-ngo@reminders", "--from", "mai", "--to", "2024-10-31"],
     "cần một ngày dạng 2024-10-01, nhận được 'mai'"),
])
def test_a_bad_date_is_refused_in_vietnamese(calendars, command, expected):
    before = files(calendars)
    result = run(*command, "--calendars", str(calendars))
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()), result.output
    assert files(calendars) == before


def test_existing_uid_or_file_is_never_overwritten(calendars):
    shipped = (calendars / "monthly-report.ics").read_bytes()
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Báo cáo tháng", "--uid",
                 "bao-cao-thang@reminders", "--rhythm", "ngày 5 hằng tháng", "--yes")
    assert result.exit_code == 1 and "Đã có nhiệm vụ với UID bao-cao-thang@reminders" in result.output
    assert "monthly-report.ics:6" in result.output  # the UID line
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Báo cáo khác",
                 "--rhythm", "ngày 5 hằng tháng", "--file", str(calendars / "monthly-report.ics"), "--yes")
    assert result.exit_code == 1 and "monthly-report.ics đã có; không ghi đè" in result.output
    assert (calendars / "monthly-report.ics").read_bytes() == shipped


def test_interactive_prompts_reask_a_refused_rhythm_and_confirm(calendars):
    answers = "\n".join([
        "Báo cáo tháng thử",                      # title
        "cuối tháng gì đó",                        # refused: asked again
        "ngày làm việc cuối cùng của tháng",       # rhythm
        "",                                        # description: none
        "1 ngày trước lúc 8:00; lúc 7:00",         # reminders
        "thon-bac",                                # for
        "Tháng này bao nhiêu hộ?",                 # check-in question
        "number",                                  # answer type
        "y",                                       # confirm
    ]) + "\n"
    result = run("duties", "new", "--calendars", str(calendars), "--start", "2024-08-01", input=answers)
    assert result.exit_code == 0, result.output
    assert "Không hiểu: «cuối», «tháng», «gì», «đó»" in result.output  # "cuối tháng" is not guessed
    assert "RRULE: FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1" in result.output
    # August 2024 ends on a Saturday, November on a Saturday too.
    assert "1. Thứ Sáu, 30 tháng 8, 2024 — nhắc 29/08 08:00; nhắc 30/08 07:00; hỏi kết quả 30/08 17:00" in result.output
    assert "4. Thứ Sáu, 29 tháng 11, 2024" in result.output
    duty = load_duties(calendars)["bao-cao-thang-thu@reminders"]
    assert duty.audience == ("team:thon-bac",) and duty.checkin.answer_type == "number"


def test_declining_the_confirmation_writes_nothing(calendars):
    before = files(calendars)
    result = run("duties", "new", "--calendars", str(calendars), *RADIO, input="n\n")
    assert result.exit_code == 1 and "Chưa ghi gì." in result.output
    assert files(calendars) == before


def test_list_and_show(calendars):
    assert run("duties", "new", "--calendars", str(calendars), *RADIO, "--yes").exit_code == 0
    listing = run("duties", "list", "--calendars", str(calendars))
    assert listing.exit_code == 0, listing.output
    assert "phat-thanh-chuyen-muc-chuyen-doi-so@reminders" in listing.output
    assert "hằng tháng vào ngày làm việc cuối cùng, lúc 08:00" in listing.output  # a hand-written file
    assert "hằng năm vào ngày 1–10 tháng 10, lúc 07:30" in listing.output
    shown = run("duties", "show", "phat-thanh-chuyen-muc-chuyen-doi-so@reminders", "--calendars", str(calendars))
    assert shown.exit_code == 0, shown.output
    assert "Nhịp lặp: hằng tuần vào Thứ Sáu, lúc 17:00" in shown.output
    assert "Cho: Tổ CNSCĐ thôn Đông, Tổ CNSCĐ thôn Tây" in shown.output
    assert "Thời điểm nhắc: nhắc 2 tiếng trước khi bắt đầu; nhắc lúc bắt đầu; hỏi kết quả lúc kết thúc" in shown.output
    assert shown.output.count(" lúc 17:00 — ") == 5
    national = run("duties", "show", "ngay-chuyen-doi-so-quoc-gia@reminders", "--calendars", str(calendars))
    assert "nhắc 1 ngày trước, lúc 17:00; nhắc trong ngày, lúc 07:00" in national.output
    missing = run("duties", "show", "khong-co@reminders", "--calendars", str(calendars))
    assert missing.exit_code == 1 and "khong-co@reminders" in missing.output


def test_checkin_time_start_day_and_single_date(calendars):
    result = run("duties", "new", "--calendars", str(calendars), "--title", "Ngày hội số",
                 "--rhythm", "ngày 15/10/2024 từ 8:00 đến 11:00", "--start", "1/9/2024",
                 "--remind", "1 ngày trước lúc 17:00", "--checkin", "Bao nhiêu người đến?", "--answer", "number",
                 "--checkin-at", "30 phút sau khi kết thúc", "--no-ack", "--yes")
    assert result.exit_code == 0, result.output
    assert "RRULE: —" in result.output
    assert "1. Thứ Ba, 15 tháng 10, 2024 lúc 08:00 — nhắc 14/10 17:00; hỏi kết quả 15/10 11:30" in result.output
    assert "2." not in result.output
    duty = load_duties(calendars)["ngay-hoi-so@reminders"]
    assert not duty.ack
    assert [(a.kind, a.offset, a.related) for a in duty.alarms] == [
        ("reminder", -timedelta(hours=15), "START"), ("checkin", timedelta(minutes=30), "END")]

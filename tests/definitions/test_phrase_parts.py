"""The check-in question and holiday policy of a chat sentence (/newduty), in Vietnamese and
English: read whole in several phrasings, refused with what was understood when not."""

from __future__ import annotations

from datetime import date

import pytest

from reminders.definitions.phrase import PhraseError, parse_duty_words

TODAY = date(2026, 12, 4)
BASE = "Họp giao ban sáng thứ Hai hàng tuần lúc 8 giờ"


@pytest.mark.parametrize(("sentence", "question", "answer"), [
    (f'{BASE}, hỏi "Đã phát thanh chưa?" (có/không)', "Đã phát thanh chưa?", "yesno"),
    (f'{BASE}, hỏi: “Bao nhiêu hộ, đã được hướng dẫn?” (số)', "Bao nhiêu hộ, đã được hướng dẫn?", "number"),
    (f'{BASE}, nhắc trước 1 ngày, hỏi "Có gì vướng?" (chữ)', "Có gì vướng?", "text"),
    (f'{BASE}, hoi «Da phat thanh chua?» (Co / Khong)', "Da phat thanh chua?", "yesno"),
    ('Weekly meeting every Monday at 8am, ask "Did the radio segment go out?" (yes/no)',
     "Did the radio segment go out?", "yesno"),
    ('Weekly meeting every Monday at 8am, remind 1 day before, ask "How many households?" (number)',
     "How many households?", "number"),
])
def test_question_and_answer_type(sentence, question, answer):
    words = parse_duty_words(sentence, TODAY)
    assert words.question is not None
    assert (words.question.text, words.question.answer) == (question, answer)
    assert words.title in ("Họp giao ban", "Weekly meeting")


@pytest.mark.parametrize(("clause", "policy"), [
    ("nghỉ Tết thì bỏ", "SKIP"), ("trùng ngày lễ thì bỏ qua", "SKIP"), ("bỏ qua ngày lễ", "SKIP"),
    ("skip on holidays", "SKIP"), ("skip public holidays", "SKIP"),
    ("lùi sang ngày làm việc sau", "NEXT"), ("gặp ngày lễ thì lùi sang ngày làm việc sau", "NEXT"),
    ("move to the next working day", "NEXT"), ("on holidays move to the next working day", "NEXT"),
    ("làm trước ngày nghỉ", "PREVIOUS"), ("nghỉ lễ thì làm trước ngày nghỉ", "PREVIOUS"),
    ("move to the previous working day", "PREVIOUS"),
    ("ngày lễ vẫn làm", "KEEP"), ("even on holidays", "KEEP"),
])
def test_holiday_policy(clause, policy):
    words = parse_duty_words(f"{BASE}, nhắc trước 1 ngày, {clause}", TODAY)
    assert words.holiday == policy
    assert [o.text for o in words.reminders] == ["trước 1 ngày"], "the reminder clause is still read"


def test_all_parts_in_any_order():
    words = parse_duty_words(f'{BASE}, nghỉ Tết thì bỏ, hỏi "Đã họp chưa?" (có/không), nhắc trước 30 phút', TODAY)
    assert (words.title, words.holiday) == ("Họp giao ban", "SKIP")
    assert words.question is not None and words.question.answer == "yesno"
    assert [o.text for o in words.reminders] == ["trước 30 phút"]


def test_nothing_said_means_no_question_and_no_policy():
    words = parse_duty_words("Chuẩn bị Tết hằng năm ngày 20 tháng 12, nhắc trước 1 ngày", TODAY)
    assert (words.title, words.question, words.holiday) == ("Chuẩn bị Tết", None, None)


@pytest.mark.parametrize(("sentence", "unclear"), [
    (f"{BASE}, hỏi Đã phát thanh chưa (có/không)", "ngoặc kép"),
    (f'{BASE}, hỏi "Đã phát thanh chưa?"', "kiểu trả lời"),
    (f'{BASE}, hỏi "Đã phát thanh chưa?" (ngày)', "không rõ kiểu trả lời"),
    (f'{BASE}, hỏi "Đã phát thanh chưa?" (có/không) nhé', "sau câu hỏi"),
    (f'{BASE}, hỏi "A?" (số), hỏi "B?" (số)', "một câu hỏi"),
    (f"{BASE}, nghỉ Tết thì tính sau", "ngày lễ thì làm gì"),
    (f"{BASE}, nghỉ Tết thì không bỏ", "ngày lễ thì làm gì"),
    (f"{BASE}, nghỉ Tết thì bỏ, lùi sang ngày làm việc sau", "hai cách"),
])
def test_unclear_part_is_refused_with_what_was_understood(sentence, unclear):
    with pytest.raises(PhraseError) as caught:
        parse_duty_words(sentence, TODAY)
    text = caught.value.explain("vi")
    assert unclear in text
    assert "«Họp giao ban»" in text and "Lịch đã hiểu: hằng tuần vào Thứ Hai, lúc 08:00" in text
    assert text.count("/newduty ") == 2, "two examples"


def test_unclear_part_in_english():
    with pytest.raises(PhraseError) as caught:
        parse_duty_words('Weekly meeting every Monday at 8am, ask "Did it go out?" (maybe)', TODAY)
    text = caught.value.explain("en")
    assert "unknown answer type; write (yes/no)" in text and "«(maybe)»" in text and "every week on Monday" in text


@pytest.mark.parametrize(("clauses", "followup"), [
    ("nhắc lại sau 2 tiếng, báo tổ trưởng sau 1 ngày", "NUDGE=PT2H;LEADER=P1D"),
    ("nhắc lại 2 lần mỗi 2 tiếng và báo xã sau 2 ngày", "NUDGE=PT2H;TIMES=2;COMMUNE=P2D"),
    ("báo tổ trưởng sau 4 tiếng, báo xã sau 1 ngày", "LEADER=PT4H;COMMUNE=P1D"),
    ("không nhắc lại, không báo tổ trưởng", "NUDGE=NONE;LEADER=NONE"),
    ("không theo dõi", "NONE"),
    ("nudge 2 times every 90 minutes, tell the leader after 4 hours", "NUDGE=PT90M;TIMES=2;LEADER=PT4H"),
    ("nudge after 2 hours and tell the commune after 1 day", "NUDGE=PT2H;COMMUNE=P1D"),
    ("no follow-up", "NONE"),
])
def test_followup_policy(clauses, followup):
    words = parse_duty_words(f"{BASE}, nhắc trước 1 ngày, {clauses}", TODAY)
    assert words.followup == followup
    assert [o.text for o in words.reminders] == ["trước 1 ngày"], "'nhắc lại' is not a reminder time"


@pytest.mark.parametrize(("clauses", "unclear"), [
    ("nhắc lại khi nào rảnh", "khi chưa ai trả lời"),
    ("báo tổ trưởng sau 1 ngày, báo tổ trưởng sau 2 ngày", "khi chưa ai trả lời"),
    ("báo tổ trưởng sau 1 tiếng, báo xã sau 30 phút", "theo thứ tự"),
    ("nhắc lại sau 5 tiếng, báo tổ trưởng sau 2 tiếng", "theo thứ tự"),
])
def test_unclear_followup_is_refused(clauses, unclear):
    with pytest.raises(PhraseError) as caught:
        parse_duty_words(f"{BASE}, {clauses}", TODAY)
    text = caught.value.explain("vi")
    assert unclear in text and "Lịch đã hiểu" in text


def test_readme_example():
    words = parse_duty_words('Phát thanh chuyển đổi số thứ Sáu hằng tuần lúc 7 giờ, nhắc trước 1 ngày, hỏi '
                             '"Đã phát thanh chưa?" (có/không), nghỉ Tết thì bỏ, nhắc lại sau 2 tiếng, '
                             'báo tổ trưởng sau 1 ngày', TODAY)
    assert words.title == "Phát thanh chuyển đổi số" and words.question is not None
    assert (words.question.answer, words.holiday, words.followup) == ("yesno", "SKIP", "NUDGE=PT2H;LEADER=P1D")


def test_unknown_clause_is_not_swallowed_into_the_title():
    """Before: "Monthly report on the 5th of every month, move to the next" was taken as the
    title and "business day" as the rhythm, a guess; the title never spans a comma."""
    with pytest.raises(PhraseError) as caught:
        parse_duty_words("Monthly report on the 5th of every month, move to the next business day", TODAY)
    assert "«Monthly report»" in caught.value.explain("en")
    assert parse_duty_words("Họp giao ban, thứ Hai hàng tuần lúc 8 giờ", TODAY).title == "Họp giao ban"

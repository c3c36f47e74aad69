"""A whole duty in one sentence, as an admin writes it in chat:

    Họp giao ban sáng thứ Hai hàng tuần lúc 8 giờ, nhắc trước 1 ngày và 30 phút
    Weekly meeting every Monday at 8am, remind 1 day before and 30 minutes before

The title comes first, then the rhythm (read by `parse_rhythm`, the engine of `reminders
duties new`), then optionally "nhắc …" / "remind …" with reminder times (`parse_offset`).
Clauses with a check-in question (hỏi "…" (có/không) / ask "…" (number)) and a holiday
policy ("nghỉ Tết thì bỏ" / "skip on holidays") and a follow-up ("nhắc lại sau 2 tiếng, báo tổ
trưởng sau 1 ngày" / "nudge after 2 hours, tell the leader after 1 day") may follow, anywhere after the first comma
(`phrase_parts`). The title is where the rhythm cannot start; nothing is guessed: a sentence whose rhythm or
reminder times are not fully understood is refused with what was understood and examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from reminders.definitions.phrase_followup import followup_words
from reminders.definitions.phrase_parts import ANSWER_NAMES, HOLIDAY_WORDS, Question, take_parts
from reminders.definitions.policy import parse_followup
from reminders.definitions.rhythm import Offset, Rhythm, RhythmError, parse_offset, parse_rhythm
from reminders.errors import RemindersError
from reminders.i18n import N_, t
from reminders.text import fold_with_index

EXAMPLES = ("Họp giao ban sáng thứ Hai hàng tuần lúc 8 giờ, nhắc trước 1 ngày và 30 phút",
            "Báo cáo tháng ngày làm việc cuối cùng của tháng, nhắc 1 ngày trước lúc 17:00")
EXAMPLES_EN = ("Team meeting every Monday at 8am, remind 1 day before and 30 minutes before",
               "Monthly report on the last working day of the month, remind 1 day before at 17:00")
_REMIND = re.compile(r"[,;.]?\s*\b(?:nhac(?:\s+truoc\s+khi)?|remind(?:er)?s?(?:\s+me)?)\b\s*:?\s*")
_SPLIT = re.compile(r"\s*(?:,|;|\bva\b|\band\b|\bvoi\b)\s*")
_BARE_AMOUNT = re.compile(r"\d+\s*(?:ngay|tuan|gio|tieng|phut|days?|weeks?|hours?|hrs?|minutes?|mins?)")
NO_TITLE = N_("no title: write what the duty is before its rhythm")
NO_RHYTHM = N_("no rhythm: say how often it comes")

MAX_TITLE_WORDS = 20


class PhraseError(RemindersError):
    """A sentence that is not fully understood: what was, what not, and two examples."""

    def __init__(self, text: str, *, title: str = "", rhythm: RhythmError | None = None, problem: str = "",
                 language: str = "vi", detail: str = "", understood: DutyWords | None = None):
        self.text, self.title, self.rhythm, self.problem, self.language = text, title, rhythm, problem, language
        self.detail, self.understood = detail, understood
        super().__init__(self.explain("vi"))

    def explain(self, language: str) -> str:
        lines = [t(language, "I could not read this duty: {text}", text=f"«{self.text}»")]
        if self.title:
            lines.append(t(language, "Title understood: {title}", title=f"«{self.title}»"))
        if self.rhythm is not None:
            lines.extend(line for line in self.rhythm.explain(language).splitlines()
                         if not line.startswith(t(language, "Examples: {examples}", examples="")))
        if self.understood is not None:
            lines.extend(understood_lines(self.understood, language))
        if self.problem:
            lines.append(t(language, "Unclear: {problem}", problem=t(language, self.problem))
                         + (f" — «{self.detail}»" if self.detail else ""))
        examples = EXAMPLES_EN if language == "en" else EXAMPLES
        lines.append(t(language, "Nothing was saved. Two examples:"))
        lines.extend(f"• /newduty {example}" for example in examples)
        return "\n".join(lines)


@dataclass(frozen=True)
class DutyWords:
    title: str
    rhythm: Rhythm
    reminders: tuple[Offset, ...]
    question: Question | None = None
    holiday: str | None = None  # KEEP, SKIP, NEXT, PREVIOUS; None: not said (KEEP)
    followup: str | None = None  # X-REMINDER-FOLLOWUP text; None: not said (the defaults)


def understood_lines(words: DutyWords, language: str) -> list[str]:
    """What was read of a sentence, part by part, in words."""
    lines = []
    if words.title:
        lines.append(t(language, "Title understood: {title}", title=f"«{words.title}»"))
    if words.rhythm is not None:
        lines.append(t(language, "Rhythm understood: {words}", words=words.rhythm.describe(language)))
    if words.question is not None:
        lines.append(question_words(words.question.text, words.question.answer, language))
    if words.holiday is not None:
        lines.append(holiday_words(words.holiday, language))
    if words.followup is not None:
        lines.append(t(language, "If nobody answers: {steps}",
                       steps=followup_words(parse_followup(words.followup), language)))
    return lines


def question_words(question: str, answer: str, language: str) -> str:
    return t(language, "Check-in question: {question} (answer: {answer})", question=f"«{question}»",
             answer=t(language, ANSWER_NAMES.get(answer, answer)))


def holiday_words(policy: str, language: str) -> str:
    return t(language, "Public holidays: {policy}", policy=t(language, HOLIDAY_WORDS.get(policy, policy)))


def _cut(text: str, pattern: re.Pattern[str]) -> tuple[str, str]:
    """(before, after) the first match of `pattern` in the folded text, in the original text."""
    folded, index = fold_with_index(text)
    match = pattern.search(folded)
    if match is None:
        return text, ""
    start = index[match.start()] if match.start() < len(index) else len(text)
    end = index[match.end()] if match.end() < len(index) else len(text)
    return text[:start], text[end:]


def _offsets(text: str) -> tuple[Offset, ...]:
    """"trước 1 ngày và 30 phút" -> 1 day before, 30 minutes before (a bare amount takes the
    direction said before it)."""
    folded, index = fold_with_index(text)
    pieces: list[tuple[str, str]] = []  # (original, folded)
    last = 0
    for match in [*_SPLIT.finditer(folded), None]:
        start = len(folded) if match is None else match.start()
        if start > last:
            a, b = index[last], index[start - 1] + 1
            pieces.append((text[a:b].strip(), folded[last:start].strip()))
        if match is not None:
            last = match.end()
    found: list[Offset] = []
    direction: tuple[str, bool] | None = None  # ("truoc", word first)
    for original, plain in pieces:
        if not plain:
            continue
        words = plain.split()
        if words[0] in ("truoc", "sau", "before", "after"):
            direction = (original.split()[0], True)
        elif words[-1] in ("truoc", "sau", "before", "after"):
            direction = (original.split()[-1], False)
        elif _BARE_AMOUNT.fullmatch(plain) and direction is not None:
            word, first = direction
            original = f"{word} {original}" if first else f"{original} {word}"
        found.append(parse_offset(original))
    return tuple(found)


def parse_duty_words(text: str, today: date) -> DutyWords:
    """Title, rhythm, reminder times, check-in question and holiday policy of one sentence;
    PhraseError when any part is unclear (with the parts that were understood)."""
    text = " ".join(text.split()).strip(" .")
    parts = take_parts(text)
    words = _main(text, parts.rest, today)  # a rhythm problem first: it says what was understood
    words = DutyWords(words.title, words.rhythm, words.reminders, parts.question, parts.holiday, parts.followup)
    if parts.problem:
        raise PhraseError(text, problem=parts.problem, detail=parts.detail, understood=words)
    return words


def _main(text: str, rest: str, today: date) -> DutyWords:
    """Title, rhythm and reminder times of `rest` (the sentence without its other parts)."""
    head, remind = _cut(rest, _REMIND)
    head = head.strip(" ,;.")
    try:
        reminders = _offsets(remind) if remind.strip() else ()
    except RhythmError as exc:
        raise PhraseError(text, rhythm=exc) from None
    if ":" in head and not re.search(r"\d:\d", head.split(":", 1)[0] + ":" + head.split(":", 1)[1][:1]):
        title, rhythm_text = (part.strip() for part in head.split(":", 1))
        candidates = [(title, rhythm_text)]
    else:
        words = head.split()
        # The rhythm starts in the first clause: a title never spans a comma (else "…, move to the
        # next business day" would be a title and the rhythm "business day", a guess).
        # A title of at most MAX_TITLE_WORDS: each split parses the rest once, so a long
        # message would cost its length squared in the chat's update handler.
        candidates = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, min(len(words), MAX_TITLE_WORDS + 1))
                      if not any(c in " ".join(words[:i]).rstrip(",;") for c in ",;")]
    if not candidates:
        raise PhraseError(text, problem=NO_RHYTHM if head else NO_TITLE)
    best: tuple[int, str, RhythmError] | None = None
    for title, rhythm_text in candidates:
        title = title.strip(" ,;-–")
        try:
            rhythm = parse_rhythm(rhythm_text, today, today=today)
        except RhythmError as exc:
            score = len(exc.leftover) + (0 if exc.understood else 100)
            if best is None or score < best[0]:
                best = (score, title, exc)
            continue
        if not title:
            raise PhraseError(text, problem=NO_TITLE)
        return DutyWords(title, rhythm, reminders)
    assert best is not None
    _, title, error = best
    if not error.understood:
        raise PhraseError(text, problem=NO_RHYTHM, language=error.language)
    raise PhraseError(text, title=title, rhythm=error, language=error.language)

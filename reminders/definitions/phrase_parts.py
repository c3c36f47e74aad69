"""The parts of a chat sentence besides title, rhythm and reminder times, each in its own
clause, each read whole or refused (never guessed):

    hỏi "Đã phát thanh chưa?" (có/không)      ask "Did the radio segment go out?" (yes/no)
    hỏi "Bao nhiêu hộ?" (số)                  ask "How many households?" (number)
    nghỉ Tết thì bỏ                            skip on holidays                      -> SKIP
    lùi sang ngày làm việc sau                 move to the next working day          -> NEXT
    làm trước ngày nghỉ                        move to the previous working day      -> PREVIOUS

and the follow-up when nobody answers (`phrase_followup`: "nhắc lại sau 2 tiếng, báo tổ
trưởng sau 1 ngày"). They become X-REMINDER-CHECKIN;ANSWER=… (as `reminders duties new`
writes it), X-REMINDER-HOLIDAY and X-REMINDER-FOLLOWUP. `take_parts` removes them from the sentence and hands back the rest
(title, rhythm, "nhắc …") for the rhythm engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reminders.definitions.phrase_followup import followup_of, is_followup
from reminders.i18n import N_
from reminders.text import fold, fold_with_index

# "(có/không)" -> yesno, ...; folded, spaces squeezed.
ANSWER_WORDS = {"co/khong": "yesno", "co khong": "yesno", "yes/no": "yesno", "yes no": "yesno",
                "so": "number", "con so": "number", "number": "number",
                "chu": "text", "van ban": "text", "loi": "text", "text": "text"}
HOLIDAY_WORDS = {"KEEP": N_("on public holidays it happens as usual"),
                 "SKIP": N_("skipped on public holidays (Tết too)"),
                 "NEXT": N_("moved to the next working day after a public holiday"),
                 "PREVIOUS": N_("moved to the working day before a public holiday")}
ANSWER_NAMES = {"yesno": N_("yes/no"), "number": N_("a number"), "text": N_("text")}

NO_QUOTES = N_('the check-in question must be in quotes, then its answer type in brackets: '
               'ask "Did the radio segment go out?" (yes/no), (number) or (text)')
NO_ANSWER_TYPE = N_("the check-in question needs its answer type in brackets after it: (yes/no), (number) or (text)")
BAD_ANSWER_TYPE = N_("unknown answer type; write (yes/no), (number) or (text)")
AFTER_QUESTION = N_("words after the check-in question; start a new part with a comma")
TWO_QUESTIONS = N_("only one check-in question per duty")
HOLIDAY_UNCLEAR = N_('what to do on public holidays; write "skip on holidays", "move to the next working day" '
                     'or "move to the previous working day"')
TWO_HOLIDAYS = N_("two different holiday policies")

_ASK = re.compile(r"(?:^|[,;.])\s*\b(?:hoi|ask)\b")
_QUOTED = re.compile(r'\s*:?\s*["“«„]([^"”»“]*)["”»“]')
_TYPE = re.compile(r"\s*\(([^)]*)\)")
_SEP = re.compile(r"[,;]")
_HOLIDAY_MARK = re.compile(r"\b(?:tet|le|nghi le|ngay nghi|holidays?|working day|ngay lam viec)\b")
_VI_ON = r"(?:(?:neu |khi )?(?:trung|gap|vao|roi vao) )?(?:ngay |nghi |dip )?(?:le tet|nghi le|ngay le|le|tet|ngay nghi)"
_EN_ON = r"(?:(?:if it falls |when it falls )?on (?:a )?(?:public )?holidays?|(?:public )?holidays?)"
_HOLIDAY_PATTERNS = {
    "SKIP": (rf"{_VI_ON}(?: tet)? (?:thi )?(?:bo|bo qua|nghi|khong lam|khong nhac)",
             r"bo qua (?:ngay |dip |nghi )?(?:le tet|nghi le|ngay le|le|tet)",
             r"skip (?:it )?(?:on )?(?:public )?holidays?", rf"{_EN_ON} skip(?: it)?"),
    "NEXT": (rf"(?:{_VI_ON}(?: tet)? (?:thi )?)?(?:lui|doi|chuyen|de|dua) (?:sang|den|toi|ve) ngay lam viec "
             r"(?:sau|ke tiep|tiep theo|lien sau)",
             rf"(?:{_EN_ON},? )?move (?:it )?to the next working day"),
    "PREVIOUS": (rf"(?:{_VI_ON}(?: tet)? (?:thi )?)?(?:lam|doi|chuyen|dua|lui) (?:sang |ve |len )?"
                 r"(?:truoc (?:ngay nghi|ngay le|ky nghi|dip le|tet)|ngay lam viec (?:truoc|lien truoc))",
                 rf"(?:{_EN_ON},? )?move (?:it )?to the previous working day"),
    "KEEP": (rf"{_VI_ON}(?: tet)? (?:thi )?van (?:lam|nhac)", r"keep (?:it )?on (?:public )?holidays?",
             r"even on (?:public )?holidays?"),
}


@dataclass(frozen=True)
class Question:
    """A check-in question as written, and its answer type (one of ANSWER_TYPES)."""

    text: str
    answer: str


@dataclass(frozen=True)
class Parts:
    rest: str  # the sentence without the parts: title, rhythm, "nhắc …"
    question: Question | None = None
    holiday: str | None = None  # KEEP, SKIP, NEXT, PREVIOUS; None: not said (KEEP)
    followup: str | None = None  # X-REMINDER-FOLLOWUP; None: not said (the defaults)
    problem: str = ""  # a part not understood (a msgid)
    detail: str = ""  # the words of that part


def _squeeze(text: str) -> str:
    return " ".join(fold(text).split())


def _question(text: str) -> tuple[str, Question | None, str, str]:
    """(text without the question, question, problem, detail); with a problem, the text
    before the question (what can still be read)."""
    folded, index = fold_with_index(text, keep=":/-,;.")
    asks = list(_ASK.finditer(folded))
    if not asks:
        return text, None, "", ""
    start = index[asks[0].start()] if asks[0].start() < len(index) else len(text)
    keyword_end = index[asks[0].end() - 1] + 1
    if len(asks) > 1:
        return text[:start], None, TWO_QUESTIONS, text[start:].strip(" ,;.")
    clause = text[start:].strip(" ,;.")
    quoted = _QUOTED.match(text, keyword_end)
    if quoted is None or not quoted.group(1).strip():
        return text[:start], None, NO_QUOTES, clause
    typed = _TYPE.match(text, quoted.end())
    if typed is None:
        return text[:start], None, NO_ANSWER_TYPE, clause
    answer = ANSWER_WORDS.get(" ".join(fold_with_index(typed.group(1), keep="/")[0].split()).replace(" / ", "/"))
    if answer is None:
        return text[:start], None, BAD_ANSWER_TYPE, typed.group(0).strip()
    after = text[typed.end():]
    if after.strip(" .") and not re.match(r"\s*[,;]", after):
        return text[:start], None, AFTER_QUESTION, after.strip()
    return text[:start] + after, Question(" ".join(quoted.group(1).split()), answer), "", ""


def holiday_of(clause: str) -> str | None:
    """The policy one clause says, or None when it says none of them in full."""
    plain = _squeeze(clause)
    found = {policy for policy, patterns in _HOLIDAY_PATTERNS.items()
             if any(re.fullmatch(p, plain) for p in patterns)}
    return found.pop() if len(found) == 1 else None


def take_parts(text: str) -> Parts:
    """The check-in question and holiday policy out of `text` (the first clause, title and
    rhythm, is never read as one), and what remains."""
    rest, question, problem, detail = _question(text)
    if problem:  # the rest is read up to the question, to say what was understood
        return Parts(rest.strip(" ,;."), problem=problem, detail=detail)
    bounds = [0, *(m.end() for m in _SEP.finditer(rest))]
    clauses = [(a, (bounds[i + 1] - 1) if i + 1 < len(bounds) else len(rest)) for i, a in enumerate(bounds)]
    keep: list[str] = []
    said: list[tuple[str | None, str]] = []  # (policy or None, clause)
    followups: list[str] = []
    for number, (a, b) in enumerate(clauses):
        clause = rest[a:b]
        if number and is_followup(clause):
            followups.append(clause)
        elif number == 0 or not _HOLIDAY_MARK.search(_squeeze(clause)):
            keep.append(clause)
        else:
            said.append((holiday_of(clause), clause.strip(" .")))
    rest = ",".join(keep).strip(" ,;.")
    followup, problem, detail = followup_of(followups)
    if problem:
        return Parts(rest, question=question, problem=problem, detail=detail)
    unread = [clause for policy, clause in said if policy is None]
    if unread:
        return Parts(rest, question=question, problem=HOLIDAY_UNCLEAR, detail=unread[0])
    policies = {policy for policy, _ in said}
    if len(policies) > 1:
        return Parts(rest, question=question, problem=TWO_HOLIDAYS, detail=", ".join(c for _, c in said))
    return Parts(rest, question, policies.pop() if policies else None, followup)

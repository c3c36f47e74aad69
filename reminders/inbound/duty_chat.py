"""Duties from a chat message: /newduty (and "tạo việc mới: …" on Zalo), /editduty,
/pauseduty, /resumeduty, /deleteduty, and the ✅ Lưu / ✏️ Sửa / ✖ Hủy that follow.

An admin describes a duty in one sentence; the bot answers with what it understood (title,
rhythm in words, reminder times, check-in question and its answer type, what public holidays do, the follow-up when nobody answers), the next five occurrences with dates, and whom it will
remind, and saves it only on ✅ Lưu (or the reply "lưu" where there are no buttons). A
sentence not fully understood is refused with what was understood and two examples.
Duties from the files (pushed by the province) are listed but read-only ("từ tỉnh").

Everything is written in the inbound event's transaction, through the definitions-level
service (reminders.definitions.authored), which checks the admin's authority for the
duty's commune and the version edited (a second save of an older version is refused:
"đã có người sửa trước"). Every change is audited there and announced once to the
commune's officials (`Outcome.notices`). Hot reload brings it to every process.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from reminders.adapters.base import Button, Inbound, Outcome
from reminders.definitions import authored
from reminders.definitions.authored import Listed, NotAllowed, StaleVersion, UidTaken
from reminders.definitions.model import Duty
from reminders.definitions.phrase import PhraseError, holiday_words, question_words
from reminders.definitions.phrase_followup import followup_words
from reminders.definitions.roster import Person
from reminders.errors import InvalidInput
from reminders.i18n import N_, format_when, t
from reminders.inbound.admin import upcoming
from reminders.runtime import Runtime
from reminders.store import drafts
from reminders.text import fold, fold_with_index
from reminders.views.duty_words import alarm_words, audience_words, next_occurrences, rhythm_words

COMMANDS = ("/newduty", "/editduty", "/pauseduty", "/resumeduty", "/deleteduty")
DRAFT_ACTIONS = ("dsave", "dedit", "dcancel")
# "tạo việc mới: …" / "việc mới: …" / "new duty: …", accents optional
NEW_WORDS = re.compile(r"^\s*(?:tao\s+viec\s+moi|viec\s+moi|new\s+duty)\s*[:：]\s*", re.IGNORECASE)
# Never a check-in's yes or no (inbound.acks YES/NO): an admin answering "không" to a yes/no
# question while a draft is open must not cancel the draft and lose the answer.
SAVE_WORDS = {"luu", "luu lai", "dong y", "xoa", "save", "ok luu"}
CANCEL_WORDS = {"huy", "huy bo", "bo", "cancel"}
STALE = N_("Not saved: đã có người sửa trước (someone changed this duty in the meantime). "
           "Send /duties to see it now.")
FROM_PROVINCE = N_("from the province, read-only")


def new_duty_text(text: str) -> str | None:
    """The sentence after "tạo việc mới:" in a plain message, or None."""
    folded, index = fold_with_index(text)
    match = NEW_WORDS.match(folded)
    if match is None:
        return None
    return text[index[match.end()]:] if match.end() < len(index) else ""


def is_admin(person: Person) -> bool:
    return person.role == "admin" and bool(person.commune_id)


def _refuse(person: Person, command: str) -> Outcome:
    return Outcome(reply=t(person.language, "Sorry, {command} is only for admins.", command=command))


def _zone(rt: Runtime, person: Person) -> ZoneInfo:
    commune = rt.roster.communes.get(person.commune_id or "")
    return ZoneInfo(commune.timezone if commune else rt.roster.timezone)


def listed(rt: Runtime, conn: Connection, person: Person) -> list[Listed]:
    return authored.listing(conn, rt.duties, person.commune_id)


def duties_lines(rt: Runtime, conn: Connection, person: Person, now: datetime) -> list[str]:
    """The numbered list /duties shows: every duty, marked when from the province or paused."""
    lang, zone = person.language, _zone(rt, person)
    items = listed(rt, conn, person)
    lines = [t(lang, "Duties ({count}), with their next occurrence:", count=len(items))]
    for number, item in enumerate(items, start=1):
        if item.paused:
            when = t(lang, "⏸ paused")
        elif item.duty is None:
            when = t(lang, "saved; in use within a minute")
        else:
            found = upcoming(item.duty, now)  # the one going on now, or the next
            when = (format_when(found[0].start, lang, zone, all_day=found[0].all_day) if found
                    else t(lang, "no more occurrences"))
        mark = "" if item.authored else f" · {t(lang, FROM_PROVINCE)}"
        lines.append(f"{number}. {item.summary} ({item.uid.split('@')[0]}) — {when}{mark}")
    return lines


def duties_reply(rt: Runtime, conn: Connection, person: Person, now: datetime) -> Outcome:
    if not is_admin(person):
        return _refuse(person, "/duties")
    lines = duties_lines(rt, conn, person, now)
    lines.append(t(person.language, "/preview <number>: the next reminder. /remindnow <number> <team>: send it now."))
    lines.append(t(person.language, "/newduty <the duty in words>; /editduty, /pauseduty, /resumeduty, "
                                    "/deleteduty <number>."))
    return Outcome(reply="\n".join(lines))


def numbers_to_uids(rt: Runtime, conn: Connection, person: Person, argument: str) -> str:
    """"3 thon-dong" -> "<uid of duty 3 in /duties> thon-dong", for /preview and /remindnow."""
    token, space, rest = argument.partition(" ")
    if not token.isdecimal() or not is_admin(person):
        return argument
    items = listed(rt, conn, person)
    if not 1 <= int(token) <= len(items):
        return argument  # no such number in /duties: it matches no duty (admin.find_duty takes UIDs only)
    return items[int(token) - 1].uid + space + rest


def _pick(rt: Runtime, conn: Connection, person: Person, token: str) -> Listed | str:
    """The duty numbered `token` in /duties, if it is one this admin may change; else the reply."""
    lang = person.language
    items = listed(rt, conn, person)
    item = None
    if token.isdecimal() and 1 <= int(token) <= len(items):
        item = items[int(token) - 1]
    else:
        item = next((i for i in items if token in (i.uid, i.uid.split("@")[0])), None)
    if item is None:
        return t(lang, "No duty '{duty}'. Send /duties for the list.", duty=token)
    if not item.authored or item.row is None:
        return t(lang, "\"{duty}\" comes from the province's files: it is read-only here.", duty=item.summary)
    return item


def _preview(rt: Runtime, person: Person, duty: Duty, event: Inbound, now: datetime, draft_id: int,
             heading: str) -> Outcome:
    lang, zone = person.language, _zone(rt, person)
    teams = [tm for tm in rt.roster.teams.values() if duty.applies_to(tm.id, tm.commune_id)]
    lines = [heading, t(lang, "Duty: {title}", title=duty.summary),
             t(lang, "Rhythm: {words}", words=rhythm_words(duty, lang)),
             "⏰ " + "; ".join(alarm_words(a, duty, lang) for a in duty.alarms)]
    if duty.checkin is not None:
        lines.append("❓ " + question_words(duty.checkin.question(lang), duty.checkin.answer_type, lang))
    lines.append("📅 " + holiday_words(duty.holiday, lang))
    lines.append("🔁 " + t(lang, "If nobody answers: {steps}", steps=followup_words(duty.followup, lang)))
    lines += [t(lang, "Who is reminded: {who} ({count} teams)", who=audience_words(duty, rt.roster, lang),
                count=len(teams)),
              t(lang, "Next five occurrences:")]
    for number, occurrence in enumerate(next_occurrences(duty, now), 1):
        lines.append(f"{number}. {format_when(occurrence.start, lang, zone, all_day=occurrence.all_day)}")
    adapter = rt.adapters.get(event.adapter)
    if adapter is not None and adapter.capabilities.buttons:
        code = str(draft_id)
        buttons = (Button(t(lang, "✅ Save"), "dsave", code), Button(t(lang, "✏️ Edit"), "dedit", code),
                   Button(t(lang, "✖ Cancel"), "dcancel", code))
        return Outcome(reply="\n".join(lines), buttons=buttons, recorded=True)
    lines.append(t(lang, "Reply \"lưu\" to save it or \"hủy\" to cancel; to change it, send "
                         "\"tạo việc mới: …\" again."))
    return Outcome(reply="\n".join(lines), recorded=True)


def _draft(rt: Runtime, conn: Connection, event: Inbound, person: Person, sentence: str, now: datetime,
           *, row: Listed | None = None) -> Outcome:
    lang = person.language
    commune = person.commune_id or ""
    zone = _zone(rt, person)
    if not sentence.strip():
        return Outcome(reply=PhraseError("").explain(lang))
    try:
        draft = authored.draft_from_words(rt.engine, rt.calendars, rt.roster, rt.duties, commune, sentence,
                                          now.astimezone(zone).date(), now,
                                          uid=row.uid if row is not None else None, language=lang)
    except PhraseError as exc:
        return Outcome(reply=exc.explain(lang))
    except InvalidInput as exc:
        return Outcome(reply=t(lang, "Not saved: {problems}", problems="; ".join(p.text(lambda m: t(lang, m)) for p in exc.problems)))
    action = "edit" if row is not None else "create"
    draft_id = drafts.open_draft(conn, commune_id=commune, person_id=person.id, adapter=event.adapter,
                                 chat=event.chat, action=action, uid=draft.spec.uid, ics_text=draft.ics_text,
                                 base_version=row.row.version if row is not None and row.row else None, now=now)
    heading = (t(lang, "📝 Changed duty (not saved yet):") if row is not None
               else t(lang, "📝 New duty (not saved yet):"))
    return _preview(rt, person, draft.duty, event, now, draft_id, heading)


def command(rt: Runtime, conn: Connection, event: Inbound, person: Person, name: str, argument: str,
            now: datetime) -> Outcome:
    """/newduty, /editduty N, /pauseduty N, /resumeduty N, /deleteduty N."""
    lang = person.language
    if not is_admin(person):
        return _refuse(person, name)
    if name == "/newduty":
        return _draft(rt, conn, event, person, argument, now)
    token, _, rest = argument.partition(" ")
    if not token:
        return Outcome(reply=t(lang, "Usage: {command} <number> (see /duties).", command=name))
    picked = _pick(rt, conn, person, token)
    if isinstance(picked, str):
        return Outcome(reply=picked)
    assert picked.row is not None
    if name == "/editduty":
        if not rest.strip():
            return Outcome(reply=t(lang, "Usage: /editduty <number> <the duty in words>."))
        return _draft(rt, conn, event, person, rest, now, row=picked)
    if name == "/deleteduty":
        draft_id = drafts.open_draft(conn, commune_id=picked.row.commune_id, person_id=person.id,
                                     adapter=event.adapter, chat=event.chat, action="delete", uid=picked.uid,
                                     ics_text=None, base_version=picked.row.version, now=now)
        question = t(lang, "Delete \"{duty}\"? Its pending reminders will be cancelled; its history is kept.",
                     duty=picked.summary)
        adapter = rt.adapters.get(event.adapter)
        if adapter is not None and adapter.capabilities.buttons:
            return Outcome(reply=question, recorded=True, buttons=(
                Button(t(lang, "🗑 Delete"), "dsave", str(draft_id)), Button(t(lang, "✖ Cancel"), "dcancel",
                                                                              str(draft_id))))
        return Outcome(reply=question + "\n" + t(lang, "Reply \"xóa\" to delete it or \"hủy\" to keep it."),
                       recorded=True)
    pausing = name == "/pauseduty"
    if picked.paused == pausing:
        return Outcome(reply=t(lang, "\"{duty}\" is already paused.", duty=picked.summary) if pausing
                       else t(lang, "\"{duty}\" is not paused.", duty=picked.summary))
    change = authored.pause if pausing else authored.resume
    try:
        change(rt.engine, picked.uid, picked.row.version, person.id, now, authority=rt.roster, bind=conn)
    except StaleVersion:
        return Outcome(reply=t(lang, STALE))
    except NotAllowed:
        return _refuse(person, name)
    what = N_("paused") if pausing else N_("resumed")
    return _done(rt, person, picked.row.commune_id, picked.summary, what)


def _done(rt: Runtime, person: Person, commune_id: str, summary: str, what: str) -> Outcome:
    """The admin's confirmation, and one notice to each of the commune's officials."""
    reply = t(person.language, "OK: \"{duty}\" {what}. Reminders follow within a minute, in every process.",
              duty=summary, what=t(person.language, what))
    commune = rt.roster.communes.get(commune_id)
    notices = tuple(
        (pid, t(rt.roster.people[pid].language, "ℹ {name} {what} the duty \"{duty}\".", name=person.name,
                what=t(rt.roster.people[pid].language, what), duty=summary))
        for pid in (commune.official_ids if commune else ()) if pid != person.id and pid in rt.roster.people)
    return Outcome(reply=reply, recorded=True, notices=notices)


def answer(rt: Runtime, conn: Connection, event: Inbound, person: Person, action: str, draft_id: int | None,
           now: datetime) -> Outcome:
    """✅ Lưu / ✏️ Sửa / ✖ Hủy on a draft (a button, or "lưu" / "hủy" typed)."""
    lang = person.language
    if not is_admin(person):
        return Outcome(reply=t(lang, "Sorry, {command} is only for admins.", command="/newduty"),
                       alert=event.action is not None)
    draft = drafts.find_open(conn, person.id, now, draft_id=draft_id,
                             adapter=None if draft_id is not None else event.adapter,
                             chat=None if draft_id is not None else event.chat)
    if draft is None:
        return Outcome(reply=t(lang, "Nothing is waiting to be saved (it was saved, cancelled or replaced)."),
                       alert=event.action is not None)
    if action == "dedit":
        return Outcome(reply=t(lang, "Send the duty again in words (/newduty …, or /editduty N … for a saved "
                                     "one); the new version replaces this one."), alert=True)
    if action == "dcancel":
        drafts.close(conn, draft.id, "cancelled")
        return Outcome(reply=t(lang, "Cancelled; nothing was saved."), recorded=True)
    try:
        if draft.action == "create":
            assert draft.ics_text is not None
            row = authored.create(rt.engine, rt.calendars, rt.roster, draft.ics_text, draft.commune_id, person.id,
                                  now, authority=rt.roster, bind=conn)
            what = N_("created")
        elif draft.action == "edit":
            assert draft.ics_text is not None and draft.base_version is not None
            row = authored.edit(rt.engine, rt.calendars, rt.roster, draft.uid, draft.base_version, draft.ics_text,
                                person.id, now, authority=rt.roster, bind=conn)
            what = N_("changed")
        else:
            assert draft.base_version is not None
            row = authored.delete(rt.engine, draft.uid, draft.base_version, person.id, now, authority=rt.roster,
                                  bind=conn)
            what = N_("deleted")
    except StaleVersion:
        drafts.close(conn, draft.id, "stale")
        return Outcome(reply=t(lang, STALE), alert=event.action is not None, recorded=True)
    except UidTaken:
        return Outcome(reply=t(lang, "Not saved: a duty with this UID already exists."), alert=True)
    except NotAllowed:
        return Outcome(reply=t(lang, "Sorry, {command} is only for admins.", command="/newduty"), alert=True)
    except InvalidInput as exc:
        return Outcome(reply=t(lang, "Not saved: {problems}", problems="; ".join(p.text(lambda m: t(lang, m)) for p in exc.problems)),
                       alert=event.action is not None)
    drafts.close(conn, draft.id, "saved")
    return _done(rt, person, row.commune_id, authored.summary_of(row), what)


def typed_answer(text: str) -> str | None:
    """"lưu" -> dsave, "hủy" -> dcancel (a reply to a draft where there are no buttons)."""
    folded = " ".join(fold(text).strip(" .!").split())
    if folded in SAVE_WORDS:
        return "dsave"
    if folded in CANCEL_WORDS:
        return "dcancel"
    return None


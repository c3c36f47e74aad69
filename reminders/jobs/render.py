"""Rendering a reminder or check-in into a short message, in the reader's language.

The form follows the adapter's capabilities: buttons where there are buttons, a reply
instruction with the delivery's short code where there are not; text cut to fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from reminders.adapters.base import Button, Capabilities, OutgoingMessage
from reminders.definitions.model import Duty
from reminders.i18n import N_, format_when, t
from reminders.kinds import is_checkin

MAX_DETAIL = 280  # keep messages short on low-end phones; the feed has the full text

ANSWER_HINTS = {
    "number": N_("Reply with a number (code {code})."),
    "yesno": N_("Reply yes or no (code {code})."),
    "text": N_("Reply with a short answer (code {code})."),
}


@dataclass(frozen=True)
class OccurrenceView:
    """What rendering needs to know about an occurrence."""

    summary: str
    start: datetime
    end: datetime
    all_day: bool


def render_message(duty: Duty, occurrence: OccurrenceView, kind: str, code: str, language: str,
                   capabilities: Capabilities, zone: ZoneInfo | None = None) -> OutgoingMessage:
    """The message for one delivery. `kind` is a delivery kind such as 'reminder-0'."""
    zone = zone or duty.zone
    when = format_when(occurrence.start, language, zone, all_day=occurrence.all_day)
    lines: list[str] = []
    buttons: tuple[Button, ...] = ()
    if is_checkin(kind) and duty.checkin:
        lines.append(f"❓ {duty.checkin.question(language)}")
        day = format_when(occurrence.start, language, zone, all_day=True)
        lines.append(f"{occurrence.summary} · {day}")
        lines.append(t(language, ANSWER_HINTS[duty.checkin.answer_type], code=code))
        return OutgoingMessage(text="\n".join(lines)[: capabilities.max_text], code=code)
    else:
        lines.append("🔔 " + t(language, "Reminder: {summary}", summary=occurrence.summary))
        lines.append("🗓 " + when)
        if duty.ack:
            if capabilities.buttons:
                lines.append(t(language, "Press ✅ when it is done."))
                buttons = (Button(t(language, "✅ Done"), "done", code),
                           Button(t(language, "⏰ Remind me later"), "snooze", code))
            else:
                lines.append(t(language, "Reply \"done\" when it is done (code {code}).", code=code))
    detail = duty.description.strip()
    text = "\n".join(lines)
    room = min(MAX_DETAIL, capabilities.max_text - len(text) - 2)
    if detail and room > 20:
        if len(detail) > room:
            detail = detail[: room - 1].rstrip() + "…"
        head, tail = lines[:2], lines[2:]
        text = "\n".join([*head, detail, *tail])
    return OutgoingMessage(text=text[: capabilities.max_text], buttons=buttons, code=code)


class RenderMemo:
    """render_message for many deliveries of one occurrence (a batch of a burst): each message
    is rendered once per duty, occurrence, kind, language, adapter and zone, and each
    delivery's own code put in. Lives as long as one batch (it keys duties by identity)."""

    def __init__(self) -> None:
        self._made: dict[tuple[object, ...], OutgoingMessage | None] = {}

    def render(self, duty: Duty, occurrence: OccurrenceView, kind: str, code: str, language: str,
               capabilities: Capabilities, zone: ZoneInfo | None = None) -> OutgoingMessage:
        key = (id(duty), occurrence, kind, len(code), language, id(capabilities), zone)
        if key not in self._made:
            self._made[key] = _template(duty, occurrence, kind, len(code), language, capabilities, zone)
        made = self._made[key]
        if made is not None:
            text = made.text.replace(_STAND_IN * len(code), code)
            if _STAND_IN not in text:  # else the cut fell inside the code: this one in full
                return OutgoingMessage(text=text, code=code,
                                       buttons=tuple(Button(b.label, b.action, code) for b in made.buttons))
        return render_message(duty, occurrence, kind, code, language, capabilities, zone)


_STAND_IN, _OTHER = "\ue000", "\ue001"  # private-use characters, standing in for a code


def _template(duty: Duty, occurrence: OccurrenceView, kind: str, length: int, language: str,
              capabilities: Capabilities, zone: ZoneInfo | None) -> OutgoingMessage | None:
    """The message with a stand-in code of the given length (the text is cut at the same
    place), or None where a stand-in is not safe to replace: the duty's own text holds one,
    which the two stand-ins, put back to the same code, reveal."""
    made = render_message(duty, occurrence, kind, _STAND_IN * length, language, capabilities, zone)
    other = render_message(duty, occurrence, kind, _OTHER * length, language, capabilities, zone)
    same = "\x00" * length
    if made.text.replace(_STAND_IN * length, same) != other.text.replace(_OTHER * length, same):
        return None
    return made

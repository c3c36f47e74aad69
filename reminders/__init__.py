"""reminders: recurring team duties from iCalendar files, reminded through chat adapters.

The public API, small on purpose::

    from reminders import load_duties, load_roster, plan, record_acknowledgement, render_message

    roster = load_roster("calendars/roster.yaml")
    duties = load_duties("calendars", roster)
    plan(engine, duties, roster, now)            # idempotent upserts into the schedule
    record_acknowledgement(engine, roster, duties, code="2S7", person_id="an", channel="telegram", now=now)
"""

from .acks import parse_answer, record_acknowledgement, snooze
from .adapters.base import Adapter, Address, Button, Capabilities, OutgoingMessage, SendResult
from .db import make_engine
from .duties import Duty, Occurrence, load_duties
from .errors import AnswerError, InvalidInput, NotOnRoster, Problem, RemindersError, UnknownDelivery
from .expand import occurrences
from .planner import Planner, plan
from .render import render_message
from .roster import Roster, load_roster

__all__ = [
    "Adapter", "Address", "AnswerError", "Button", "Capabilities", "Duty", "InvalidInput", "NotOnRoster",
    "Occurrence", "OutgoingMessage", "Planner", "Problem", "RemindersError", "Roster", "SendResult",
    "UnknownDelivery", "load_duties", "load_roster", "make_engine", "occurrences", "parse_answer", "plan",
    "record_acknowledgement", "render_message", "snooze",
]

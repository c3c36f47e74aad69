"""reminders: recurring team duties from iCalendar files, reminded through chat adapters.

The public API, small on purpose::

    from reminders import load_duties, load_roster, plan, record_acknowledgement, render_message

    roster = load_roster("calendars/roster.yaml")
    duties = load_duties("calendars", roster)
    plan(engine, duties, roster, now)            # idempotent upserts into the schedule
    record_acknowledgement(engine, roster, duties, code="2S7", person_id="an", channel="telegram", now=now)
"""

from reminders.adapters.base import (
    Adapter,
    Address,
    Button,
    Capabilities,
    OutgoingMessage,
    SendResult,
)
from reminders.definitions.duties import load_duties
from reminders.definitions.expand import occurrences
from reminders.definitions.model import Duty, Occurrence
from reminders.definitions.roster import Roster, load_roster
from reminders.errors import (
    AnswerError,
    InvalidInput,
    NotOnRoster,
    Problem,
    RemindersError,
    UnknownDelivery,
)
from reminders.inbound.acks import parse_answer, record_acknowledgement, snooze
from reminders.jobs.render import render_message
from reminders.schedule.planner import Planner, plan
from reminders.store.engine import make_engine

__all__ = [
    "Adapter", "Address", "AnswerError", "Button", "Capabilities", "Duty", "InvalidInput", "NotOnRoster",
    "Occurrence", "OutgoingMessage", "Planner", "Problem", "RemindersError", "Roster", "SendResult",
    "UnknownDelivery", "load_duties", "load_roster", "make_engine", "occurrences", "parse_answer", "plan",
    "record_acknowledgement", "render_message", "snooze",
]

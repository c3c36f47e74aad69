"""A batch renders each message once per occurrence and puts each delivery's code in
(jobs.render.RenderMemo): what it gives must be exactly what render_message gives, for every
duty in calendars/, reminders and check-ins, both languages, with and without buttons, and
texts cut by a small limit -- also where the cut falls inside the code, and titles that hold
the stand-in characters the memo uses for the code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from reminders import load_duties, load_roster, render_message
from reminders.adapters.base import Capabilities
from reminders.jobs.render import OccurrenceView, RenderMemo

CALENDARS = Path(__file__).resolve().parents[2] / "calendars"


def test_the_memo_renders_what_render_message_renders() -> None:
    roster = load_roster(CALENDARS / "roster.yaml")
    duties = load_duties(CALENDARS, roster)
    assert any(duty.checkin for duty in duties.values()) and any(duty.ack for duty in duties.values())
    start = datetime(2026, 10, 1, 0, 30, tzinfo=UTC)
    views = [OccurrenceView("Họp tổ", start, start + timedelta(hours=2), False),
             OccurrenceView("Ngày Chuyển đổi số", start, start + timedelta(days=1), True),
             # a title that holds the memo's own stand-in characters must not be changed by it
             OccurrenceView("Họp \ue000\ue000\ue000 \ue001\ue001\ue001\ue001\ue001\ue001\ue001 \ue000", start,
                            start + timedelta(hours=1), False)]
    base = Capabilities(buttons=True, max_text=4096)
    plain = Capabilities(buttons=False, max_text=4096)
    limits = [4096, 300, 90, 60, 45]
    memo = RenderMemo()
    compared = cut_in_code = 0
    for duty in duties.values():
        for view in views:
            for kind in ("reminder-0", "reminder-1@2", "checkin-0"):
                for language in ("vi", "en"):
                    for capabilities in (*(replace(base, max_text=n) for n in limits),
                                         *(replace(plain, max_text=n) for n in limits)):
                        for code in ("7", "2S7", "ZZZZZZ", "1000000"):
                            for zone in (None, ZoneInfo("Asia/Ho_Chi_Minh")):
                                expected = render_message(duty, view, kind, code, language, capabilities, zone)
                                assert memo.render(duty, view, kind, code, language, capabilities, zone) == expected
                                compared += 1
                                full = render_message(duty, view, kind, code, language, replace(capabilities,
                                                      max_text=10_000), zone).text
                                index = full.find(code, max(0, capabilities.max_text - len(code)))
                                cut_in_code += index != -1 and index < capabilities.max_text < index + len(code)
    assert compared > 1000
    assert cut_in_code > 0  # the fallback was exercised: a cut inside the code

"""Calendar feeds: what commune officials subscribe to, read back by icalendar,
recurring-ical-events and Mozilla's ical.js (Thunderbird's parser, under node)."""

from __future__ import annotations

import gzip
import io
import subprocess
import time
from datetime import UTC, datetime

import httpx
import icalendar
import pytest
import recurring_ical_events
from helpers import ical_js, serve, vn

from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.definitions.expand import occurrences
from reminders.definitions.roster import load_roster
from reminders.inbound.acks import record_acknowledgement
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.feed_tokens import create_token, revoke
from reminders.timeutil import VirtualClock
from reminders.views.feeds import Scope, duties_in
from reminders.web.app import create_app

WINDOW = (vn(2024, 9, 1), vn(2024, 12, 1))
BERLIN = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VEVENT
UID:berlin-sync@test
SUMMARY:Họp trực tuyến với đối tác Đức
DTSTART;TZID=Europe/Berlin:20240915T090000
DURATION:PT1H
RRULE:FREQ=WEEKLY;BYDAY=SU;COUNT=10
X-REMINDER-FOR:commune:xa-tan-lap
X-REMINDER-TO:leader
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def served(calendars, tmp_path):
    """The web app on loopback over a database where October's first days were sent and
    partly acknowledged; yields (runtime, base url, token of the commune feed)."""
    (calendars / "berlin.ics").write_text(BERLIN, encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                       database_url=f"sqlite:///{tmp_path / 'r.db'}")
    clock = VirtualClock(vn(2024, 10, 1, 7, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    with EmbeddedWorker(runtime, settings) as worker:
        worker.scheduler.tick()
        worker.drain()
    from sqlalchemy import select

    from reminders.store.models import DeliveryRow
    with runtime.engine.connect() as conn:
        group = conn.execute(select(DeliveryRow.id).where(DeliveryRow.recipient == "team:thon-dong",
                                                          DeliveryRow.status == "sent")).scalar()
        bac = conn.execute(select(DeliveryRow.id).where(DeliveryRow.recipient == "person:do-van-hai",
                                                        DeliveryRow.status == "sent")).scalar()
    for person in ("nguyen-van-an", "tran-thi-binh", "le-van-cuong"):
        record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=delivery_code(group),
                               person_id=person, channel="console", now=clock())
    record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=delivery_code(bac),
                           person_id="do-van-hai", channel="console", now=clock())
    clock.set(vn(2024, 10, 2, 12, 0))
    _, token = create_token(runtime.engine, "commune:xa-tan-lap", clock(), "cán bộ văn hóa")
    with serve(create_app(runtime)) as url:
        yield runtime, url, token
    runtime.engine.dispose()


def _get(url: str, **headers) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


def _planned(runtime, scope: Scope) -> dict[str, set]:
    found = {}
    for duty in duties_in(scope, dict(runtime.duties), runtime.roster):
        starts = {o.start.astimezone(duty.zone).date() if o.all_day else o.start
                  for o in occurrences(duty, *WINDOW) if not o.cancelled and WINDOW[0] <= o.start < WINDOW[1]}
        if starts:
            found[duty.uid] = starts
    return found


def test_feed_expands_to_the_planners_occurrences(served):
    runtime, url, token = served
    response = _get(f"{url}/feeds/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.content)
    assert str(cal["X-WR-CALNAME"]) == "Nhiệm vụ · Xã Tân Lập"
    assert str(cal["X-PUBLISHED-TTL"]) == "PT1H" and "REFRESH-INTERVAL" in cal
    assert {str(z["TZID"]) for z in cal.walk("VTIMEZONE")} == {"Asia/Ho_Chi_Minh", "Europe/Berlin"}
    masters = [c for c in cal.walk() if c.name in ("VEVENT", "VTODO") and "RECURRENCE-ID" not in c]
    assert all("RRULE" in c or c["UID"] == "bao-cao-ket-qua-chien-dich@reminders" or "DTSTART" in c
               for c in masters)
    assert all("DTSTAMP" in c and "SEQUENCE" in c for c in masters)
    assert any(c.walk("VALARM") for c in masters), "VALARMs are carried over"
    expanded: dict[str, set] = {}
    for item in recurring_ical_events.of(cal, components=["VEVENT", "VTODO"]).between(*WINDOW):
        start = item["DTSTART"].dt
        value = start if not isinstance(start, datetime) else start.astimezone(UTC)
        if str(item.get("STATUS", "")).upper() != "CANCELLED":
            expanded.setdefault(str(item["UID"]), set()).add(value)
    assert expanded == _planned(runtime, Scope("commune", "xa-tan-lap"))


def test_completion_is_shown_on_past_occurrences(served):
    runtime, url, token = served
    cal = icalendar.Calendar.from_ical(_get(f"{url}/feeds/{token}.ics").content)
    overrides = [c for c in cal.walk("VEVENT") if c.get("UID") == "chien-dich-di-tung-ngo@reminders"
                 and "RECURRENCE-ID" in c]
    [first_day] = [c for c in overrides if c["RECURRENCE-ID"].dt == datetime(2024, 10, 1, 0, 30, tzinfo=UTC)]
    # thôn Đông: 3/3; thôn Bắc: Hải of Hải and Lan; thôn Tây: nobody -> 4 of 8 expected.
    assert str(first_day["SUMMARY"]).startswith("⚠ 4/8 Chiến dịch")
    description = str(first_day["DESCRIPTION"])
    assert "Đã xác nhận:" in description and "Nguyễn Văn An (Tổ CNSCĐ thôn Đông)" in description


def test_ical_js_sees_the_same_instants_across_dst(served):
    runtime, url, token = served
    seen = ical_js(_get(f"{url}/feeds/{token}.ics").content, WINDOW)
    as_python = {}
    for uid, items in seen.items():
        values = {datetime.fromisoformat(i["start"].replace("Z", "+00:00")) if "start" in i
                  else datetime.fromisoformat(i["date"]).date() for i in items}
        if values:
            as_python[uid] = values
    assert as_python == _planned(runtime, Scope("commune", "xa-tan-lap"))
    berlin = sorted(as_python["berlin-sync@test"])
    assert datetime(2024, 10, 20, 7, 0, tzinfo=UTC) in berlin  # 09:00 CEST
    assert datetime(2024, 10, 27, 8, 0, tzinfo=UTC) in berlin  # 09:00 CET, after the change


def test_http_caching_gzip_wrong_and_revoked_tokens(served, monkeypatch):
    from reminders.web.feeds import FeedCache

    monkeypatch.setattr(FeedCache, "VERSION_TTL", 0.3)
    runtime, url, token = served
    first = _get(f"{url}/feeds/{token}.ics", **{"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers.get("content-encoding") == "gzip"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert _get(f"{url}/feeds/{token}.ics", **{"If-None-Match": etag}).status_code == 304
    assert _get(f"{url}/feeds/{token}.ics", **{"If-Modified-Since": modified}).status_code == 304
    assert _get(f"{url}/feeds/not-a-real-token-at-all.ics").status_code == 404
    # A new acknowledgement changes the feed: new ETag at the next refresh.
    from sqlalchemy import select

    from reminders.store.models import DeliveryRow
    with runtime.engine.connect() as conn:
        tay = conn.execute(select(DeliveryRow.id).where(DeliveryRow.recipient == "team:thon-tay",
                                                        DeliveryRow.status == "sent")).scalar()
    record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=delivery_code(tay),
                           person_id="pham-van-dung", channel="console", now=runtime.clock())
    time.sleep(0.5)  # past the version TTL: the next refresh sees the change
    changed = _get(f"{url}/feeds/{token}.ics", **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "⚠ 5/8" in changed.text
    token_id = next(t.id for t in __import__("reminders.store.feed_tokens", fromlist=["x"]).list_tokens(runtime.engine))
    assert revoke(runtime.engine, token_id, runtime.clock())
    gone = _get(f"{url}/feeds/{token}.ics", **{"If-None-Match": changed.headers["etag"]})
    assert gone.status_code == 404 and gone.text == "Not Found"


def test_a_rename_made_while_the_app_was_down_is_a_new_etag(served, calendars):
    """Feeds show names (who confirmed): a subscriber holding the old ETag must not get a 304
    from the restarted app and keep the old name."""
    runtime, url, token = served
    old = _get(f"{url}/feeds/{token}.ics").headers["etag"]
    roster = calendars / "roster.yaml"
    roster.write_text(roster.read_text(encoding="utf-8").replace("Nguyễn Văn An", "Nguyễn Văn Ân"), encoding="utf-8")
    runtime.definitions.swap(runtime.duties, load_roster(roster))  # as a restart would load it
    with serve(create_app(runtime)) as restarted:
        response = httpx.get(f"{restarted}/feeds/{token}.ics", headers={"If-None-Match": old}, timeout=30)
    assert response.status_code == 200
    descriptions = [str(e.get("DESCRIPTION", "")) for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")]
    assert any("Nguyễn Văn Ân (Tổ CNSCĐ thôn Đông)" in d for d in descriptions)


def test_a_commune_without_duties_gets_a_valid_empty_calendar(served, tmp_path):
    runtime, url, _ = served
    _, token = create_token(runtime.engine, "category:không-có", runtime.clock())
    response = _get(f"{url}/feeds/{token}.ics")
    cal = icalendar.Calendar.from_ical(response.content)
    assert response.status_code == 200 and not cal.walk("VEVENT") and cal["VERSION"] == "2.0"
    assert gzip.decompress(gzip.compress(response.content)) == response.content


def test_feed_export_cli_writes_the_same_calendar(calendars, tmp_path):
    import os
    import sys

    target = tmp_path / "xa.ics"
    env = {**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "feed", "export", "--commune", "xa-tan-lap",
                             "-o", str(target), "--calendars", str(calendars)], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    cal = icalendar.Calendar.from_ical(target.read_bytes())
    assert len([c for c in cal.walk("VEVENT") if "RRULE" in c]) >= 5
    created = subprocess.run([sys.executable, "-m", "reminders.cli", "feed", "create", "--team", "thon-dong",
                              "--base-url", "https://nhacviec.example.vn", "--calendars", str(calendars)],
                             capture_output=True, text=True, env=env, timeout=60)
    assert created.returncode == 0, created.stderr
    assert "https://nhacviec.example.vn/feeds/" in created.stdout and "webcal://nhacviec.example.vn/feeds/" in created.stdout

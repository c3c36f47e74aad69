"""The board page (/board/{token}): this week's duties and each team's confirmations,
served from the real web app on loopback, read as HTML and in headless Chromium at phone size."""

from __future__ import annotations

import html
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from conftest import REQUIRE_SERVICES
from helpers import serve, vn
from sqlalchemy import select

from reminders.codes import delivery_code
from reminders.definitions.reload import DefinitionWatcher
from reminders.inbound.acks import record_acknowledgement
from reminders.runtime import open_runtime
from reminders.schedule.planner import plan
from reminders.settings import load_settings
from reminders.store.feed_tokens import create_token, revoke
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import VirtualClock
from reminders.web.app import create_app

CAMPAIGN = "chien-dich-di-tung-ngo@reminders"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LONG_NAME = "Tổ_công_nghệ_số_cộng_đồng_thôn_Tây_xã_Tân_Lập_nhiệm_kỳ_2024"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _code(engine, recipient: str, kind: str, day: int) -> str:
    with engine.connect() as conn:
        return delivery_code(conn.execute(select(DeliveryRow.id).join(OccurrenceRow).where(
            OccurrenceRow.duty_uid == CAMPAIGN, DeliveryRow.recipient == recipient, DeliveryRow.kind == kind,
            OccurrenceRow.recurrence_id == f"2024-10-{day:02d}T00:30:00Z")).scalar())


def _week_with_answers(calendars, database_url, *, tay_name: str | None = None):
    """The shipped duties, planned; on 1 October thôn Đông all confirmed (one with a check-in
    answer), thôn Tây one of three, thôn Bắc nobody. The clock stands on Thursday 3 October."""
    if tay_name:
        roster = calendars / "roster.yaml"
        roster.write_text(roster.read_text(encoding="utf-8").replace(
            "name: Tổ CNSCĐ thôn Tây", f"name: '{tay_name}'"), encoding="utf-8")
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                       database_url=database_url)
    clock = VirtualClock(vn(2024, 10, 1, 6, 0))
    rt = open_runtime(settings, clock=clock, adapters={})
    plan(rt.engine, rt.duties, rt.roster, clock())
    clock.set(vn(2024, 10, 1, 20, 0))
    for person in ("nguyen-van-an", "tran-thi-binh"):
        record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt.engine, "team:thon-dong", "reminder-0", 1),
                               person_id=person, channel="console", now=clock())
    record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt.engine, "team:thon-dong", "checkin-1", 1),
                           person_id="le-van-cuong", channel="console", now=clock(), answer="25 hộ")
    record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt.engine, "team:thon-tay", "reminder-0", 1),
                           person_id="hoang-thi-em", channel="console", now=clock())
    clock.set(vn(2024, 10, 3, 9, 0))
    return rt, clock


def _rows(page: str) -> list[dict[str, str]]:
    """Each team row of the page: state, team (as the browser reads it) and text without tags."""
    found = []
    for state, team, body in re.findall(r'<li class="team (\w+)" data-team="([^"]*)">(.*?)</li>', page, re.S):
        text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip()
        found.append({"state": state, "team": html.unescape(team), "text": text})
    return found


def test_board_shows_the_week_per_team(calendars, database_url):
    rt, clock = _week_with_answers(calendars, database_url, tay_name='Tổ "Tây" <b>&</b>')
    _, token = create_token(rt.engine, "commune:xa-tan-lap", clock())
    team_id, team_token = create_token(rt.engine, "team:thon-bac", clock())
    with serve(create_app(rt)) as base, httpx.Client(base_url=base) as client:
        response = client.get(f"/board/{token}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "private, max-age=60"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none': no script
        page = response.text
        assert '<html lang="vi">' in page and "Nhiệm vụ · Xã Tân Lập" in page
        assert "Tuần 30/09 – 06/10/2024" in page
        assert page.count("<section>") == 7  # the campaign 1-6 October and the radio segment on Friday
        rows = _rows(page)
        first = rows[:3]  # 1 October, teams in roster order
        assert [r["state"] for r in first] == ["done", "partial", "waiting"]
        assert first[0]["text"] == ("Tổ CNSCĐ thôn Đông Đã xong 3/3 "
                                    "Đã xác nhận: Nguyễn Văn An, Trần Thị Bình, Lê Văn Cường (25)")
        assert first[1]["text"] == ('Tổ "Tây" <b>&</b> Còn thiếu 1/3 Đã xác nhận: Hoàng Thị Em '
                                    "Chưa xác nhận: Phạm Văn Dũng, Vũ Minh Giang")
        assert first[2]["text"] == "Tổ CNSCĐ thôn Bắc Chưa ai 0/2 Chưa xác nhận: Đỗ Văn Hải, Bùi Thị Lan"
        assert "Câu hỏi: Hôm nay tổ đã hướng dẫn được bao nhiêu hộ?" in html.unescape(re.sub(r"<[^>]+>", "", page))
        # The team name was escaped wherever it appears, never taken as markup.
        assert "<b>&</b>" not in page and "Tổ &#34;Tây&#34; &lt;b&gt;&amp;&lt;/b&gt;" in page
        # Friday's radio segment (leaders only) is still to come.
        radio = [r for r in rows if r["state"] == "upcoming"]
        assert any(r["text"].startswith("Tổ CNSCĐ thôn Đông Chưa đến hạn 0/1 Chưa xác nhận: Nguyễn Văn An")
                   for r in radio)

        # Cached by ETag until something changes; a new confirmation changes it.
        etag = response.headers["etag"]
        assert client.get(f"/board/{token}", headers={"If-None-Match": etag}).status_code == 304
        record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt.engine, "person:do-van-hai", "reminder-0", 1),
                               person_id="do-van-hai", channel="console", now=clock())
        again = client.get(f"/board/{token}", headers={"If-None-Match": etag})
        assert again.status_code == 200 and again.headers["etag"] != etag
        assert _rows(again.text)[2]["text"].startswith("Tổ CNSCĐ thôn Bắc Còn thiếu 1/2 Đã xác nhận: Đỗ Văn Hải")

        english = client.get(f"/board/{token}?lang=en").text
        assert "Done 3/3" in english and "Confirmed: </b>" not in english and "Not yet:" in english

        # A team's token shows that team only.
        team_rows = _rows(client.get(f"/board/{team_token}").text)
        assert team_rows and {r["team"] for r in team_rows} == {"Tổ CNSCĐ thôn Bắc"}

        # Unknown, malformed and revoked tokens all look the same.
        assert revoke(rt.engine, team_id, clock())
        for bad in (team_token, "x" * 27, token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 300):
            missing = client.get(f"/board/{bad}")
            assert missing.status_code == 404 and "thôn" not in missing.text
    rt.engine.dispose()


def test_board_follows_roster_edits_while_serving(calendars, sqlite_url):
    """The web app reloads edited files on its own thread; board and feed both follow."""
    rt, clock = _week_with_answers(calendars, sqlite_url)
    _, token = create_token(rt.engine, "commune:xa-tan-lap", clock())
    watcher = DefinitionWatcher(rt.engine, rt.definitions, calendars, calendars / "roster.yaml", interval=0.05, settle=0)
    with serve(create_app(rt, watcher=watcher)) as base, httpx.Client(base_url=base) as client:
        feed_etag = client.get(f"/feeds/{token}.ics").headers["etag"]
        roster = calendars / "roster.yaml"
        roster.write_text(roster.read_text(encoding="utf-8").replace("Tổ CNSCĐ thôn Bắc", "Tổ CNSCĐ thôn Bắc Mới"),
                          encoding="utf-8")
        deadline = time.monotonic() + 10
        while "thôn Bắc Mới" not in (page := client.get(f"/board/{token}").text) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Tổ CNSCĐ thôn Bắc Mới" in page
        assert client.get(f"/feeds/{token}.ics").headers["etag"] != feed_etag  # at once, not after its TTL
    rt.engine.dispose()


def _chromium():
    if CHROMIUM:
        return CHROMIUM
    if REQUIRE_SERVICES:
        pytest.fail("chromium is not installed, and REMINDERS_REQUIRE_SERVICES=1 forbids skipping "
                    "(.ci/run installs it: apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium): the board is not checked in a browser")


def test_board_on_a_phone_in_chromium(calendars, sqlite_url, tmp_path):
    executable = _chromium()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    rt, clock = _week_with_answers(calendars, sqlite_url, tay_name=LONG_NAME)  # must wrap, not overflow
    _, token = create_token(rt.engine, "commune:xa-tan-lap", clock())
    shot = Path(os.environ.get("REMINDERS_BOARD_SCREENSHOT", tmp_path / "board.png"))
    with serve(create_app(rt)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
            response = page.goto(f"{base}/board/{token}")
            assert response is not None and response.status == 200
            first = page.locator("section").first
            assert first.locator("h2").inner_text().startswith("Chiến dịch")

            def team(name: str):
                return first.locator(f'li.team[data-team="{name}"]')

            dong, tay, bac = team("Tổ CNSCĐ thôn Đông"), team(LONG_NAME), team("Tổ CNSCĐ thôn Bắc")
            assert dong.locator(".badge").inner_text() == "Đã xong 3/3"
            assert dong.locator(".confirmed").inner_text() == (
                "Đã xác nhận: Nguyễn Văn An, Trần Thị Bình, Lê Văn Cường (25)")
            assert tay.locator(".badge").inner_text() == "Còn thiếu 1/3"
            assert tay.locator(".missing").inner_text() == "Chưa xác nhận: Phạm Văn Dũng, Vũ Minh Giang"
            assert bac.locator(".badge").inner_text() == "Chưa ai 0/2"
            assert bac.locator(".confirmed").count() == 0
            # Colours tell the states apart at a glance (and the words say it without them).
            colours = {state: page.locator(f"li.{state} .badge").first.evaluate(
                "e => getComputedStyle(e).backgroundColor") for state in ("done", "partial", "waiting")}
            assert len(set(colours.values())) == 3
            # Fits a phone: nothing wider than the screen, text large enough to read.
            width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert width <= inner == 390
            assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.who')).fontSize)") >= 14
            page.screenshot(path=str(shot))
            missing = page.goto(f"{base}/board/not-a-token-{token[:5]}")
            assert missing is not None and missing.status == 404
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (390, 844)
        # The header band is the board's blue, so the page really rendered with its styles.
        assert image.convert("RGB").getpixel((5, 5)) == (11, 83, 148)
    rt.engine.dispose()


BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows it is shown backwards


def test_names_and_answers_cannot_reorder_what_is_shown(calendars, database_url):
    """Issue 13.10: a U+202E in a name or an answer reversed the board's lines. Stripped when
    the roster is loaded and when an answer is recorded -- and, for an answer already in the
    database, wherever it is shown: the board, the feed, the chat's /status."""
    from sqlalchemy import update

    from reminders.adapters.base import Inbound
    from reminders.inbound.router import handle
    from reminders.store.models import AcknowledgementRow

    roster = calendars / "roster.yaml"
    roster.write_text(roster.read_text(encoding="utf-8").replace(
        "name: Trần Thị Bình", f'name: "Trần Thị {BIDI}Bình"'), encoding="utf-8")
    rt, clock = _week_with_answers(calendars, database_url)
    # thôn Tây's leader answers the campaign's check-in of 2 October, the answer wrapped in bidi marks
    record_acknowledgement(rt.engine, rt.roster, rt.duties, code=_code(rt.engine, "team:thon-tay", "checkin-1", 2),
                           person_id="pham-van-dung", channel="console", now=clock(), answer=f"{BIDI}30 hộ\u2066")
    with rt.engine.connect() as conn:
        assert conn.execute(select(AcknowledgementRow.answer).where(
            AcknowledgementRow.person_id == "pham-van-dung")).scalar() == "30"  # a number, read through the marks
    with rt.engine.begin() as conn:  # as recorded before this was fixed
        conn.execute(update(AcknowledgementRow).where(AcknowledgementRow.person_id == "le-van-cuong")
                     .values(answer=f"25{BIDI} hộ"))
    _, token = create_token(rt.engine, "commune:xa-tan-lap", clock())
    with serve(create_app(rt)) as base, httpx.Client(base_url=base) as client:
        page = client.get(f"/board/{token}").text
        feed = client.get(f"/feeds/{token}.ics").text
    status = handle(rt, Inbound("telegram", "s1", "100001", False, "100001", text="/status"), now=clock()).reply
    for shown in (page, feed, status):
        assert BIDI not in shown and "\u2066" not in shown
    assert "Trần Thị Bình" in page and "(25 hộ)" in page
    assert "Bình" in status

"""The web console (/admin): signed in by a one-time link the bot sends in reply to /login
(through the fake Telegram Bot API server and the web app's own webhook), every page used
in headless Chromium at phone size, and the rules of links, sessions, CSRF and communes.

With REMINDERS_CONSOLE_SCREENSHOTS=docs the Chromium test writes the README's screenshots."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from conftest import REQUIRE_SERVICES
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloBot
from helpers import serve, vn
from sqlalchemy import select, update

from reminders import logs
from reminders.adapters.telegram import TelegramAdapter
from reminders.adapters.zalo.bot import ZaloBotAdapter
from reminders.codes import delivery_code
from reminders.definitions.load import load_definitions
from reminders.runtime import open_runtime
from reminders.schedule.planner import plan
from reminders.settings import load_settings
from reminders.store.authored import list_rows
from reminders.store.models import AUDIT_EVENT, DELIVERY, FEED_TOKEN, DeliveryRow
from reminders.timeutil import VirtualClock
from reminders.web.app import create_app
from reminders.web.console import COOKIE, ConsoleConfig

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECRET = "webhook-secret-0123456789"
ADMIN, OTHER_ADMIN, MEMBER = "900101", "900201", "100002"  # quan-tri-xa, quan-tri-binh-minh, tran-thi-binh
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/admin/login/[A-Za-z0-9_-]+)")
SECOND_COMMUNE = """  - id: xa-binh-minh
    name: Xã Bình Minh
    officials:
      - id: quan-tri-binh-minh
        name: Đặng Thu Trang
        role: admin
        chats: {telegram: "900201"}
teams:
"""
SECOND_TEAM = """  - id: thon-moi
    name: Tổ CNSCĐ thôn Mới
    commune: xa-binh-minh
    members:
      - id: ly-van-khoa
        name: Lý Văn Khoa
        role: leader
        chats: {telegram: "200001"}
"""


class Console:
    """The web app with the console, Telegram on the fake server, on a virtual clock."""

    def __init__(self, calendars: Path, database_url: str):
        roster = calendars / "roster.yaml"
        text = roster.read_text(encoding="utf-8").replace("teams:\n", SECOND_COMMUNE, 1).replace(
            'chats: {telegram: "900101"}', 'chats: {telegram: "900101", zalo_bot: "z-viet"}')
        roster.write_text(text.rstrip("\n") + "\n" + SECOND_TEAM, encoding="utf-8")
        self.roster = roster
        self.fake = FakeTelegram(limits=False).start()
        self.zalo = FakeZaloBot().start()
        settings = load_settings({"REMINDERS_CALENDARS": str(calendars), "REMINDERS_ROSTER": str(roster),
                                  "REMINDERS_DATABASE_URL": database_url, "REMINDERS_ADAPTERS": "telegram,zalo_bot",
                                  "REMINDERS_SECRET_KEY": "k" * 40})
        self.clock = VirtualClock(vn(2024, 10, 2, 10, 0))
        self.rt = open_runtime(settings, clock=self.clock, adapters={
            "telegram": TelegramAdapter(self.fake.token, self.fake.base_url, webhook_secret=SECRET),
            "zalo_bot": ZaloBotAdapter(self.zalo.token, self.zalo.base_url, webhook_secret=SECRET)})
        plan(self.rt.engine, self.rt.duties, self.rt.roster, self.clock())
        with self.rt.engine.begin() as conn:  # one of thon-dong's messages today failed for good
            self.failed = conn.execute(select(DELIVERY.c.id).where(
                DELIVERY.c.team_id == "thon-dong", DELIVERY.c.due_at >= vn(2024, 10, 2, 0, 0),
                DELIVERY.c.due_at < vn(2024, 10, 3, 0, 0)).order_by(DELIVERY.c.due_at).limit(1)).scalar_one()
            conn.execute(update(DELIVERY).where(DELIVERY.c.id == self.failed).values(
                status="failed", error="Forbidden: bot was blocked by the user", attempts=5))
        self.app = create_app(self.rt, console=ConsoleConfig(calendars, roster))
        self._serving = serve(self.app)
        self.base = self._serving.__enter__()
        self.rt.public_url = self.base

    def say(self, sender: str, text: str, *, group: bool = False) -> str:
        """A message to the bot through the web app's webhook; the bot's reply as the fake server got it."""
        before = len(self.fake.sent)
        chat = -1001000000001 if group else int(sender)
        update_id = int(time.time() * 1000) % 10**9 + len(self.fake.sent)
        answer = httpx.post(f"{self.base}/webhooks/telegram", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                            json={"update_id": update_id, "message": {
                                "message_id": update_id, "date": int(time.time()), "text": text,
                                "chat": {"id": chat, "type": "supergroup" if group else "private"},
                                "from": {"id": int(sender), "is_bot": False, "first_name": "A"}}}, timeout=30)
        assert answer.status_code == 200
        deadline = time.monotonic() + 30  # the answer goes out on the process's reply sender
        while not (replies := [m for m in self.fake.sent[before:] if m["chat"]["id"] == chat]) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        assert replies, f"no reply to {text!r}"
        return replies[-1]["text"]

    def link(self, sender: str = ADMIN) -> str:
        reply = self.say(sender, "/login")
        found = LINK.search(reply)
        assert found, reply
        return found.group(1)

    def close(self) -> None:
        self._serving.__exit__(None, None, None)
        self.fake.stop()
        self.zalo.stop()
        self.rt.engine.dispose()


@pytest.fixture
def console(calendars, database_url):
    """On SQLite and on PostgreSQL."""
    stack = Console(calendars, database_url)
    yield stack
    stack.close()


@pytest.fixture
def console_sqlite(calendars, sqlite_url):
    stack = Console(calendars, sqlite_url)
    yield stack
    stack.close()


def test_the_link_also_comes_through_zalo(console):
    before = len(console.zalo.sent)
    update = console.zalo.update("z-viet", "z-viet", "/login", group=False)
    answer = httpx.post(f"{console.base}/webhooks/zalo_bot", json=update, timeout=30,
                        headers={"X-Bot-Api-Secret-Token": SECRET})
    assert answer.status_code == 200
    deadline = time.monotonic() + 30
    while not (replies := console.zalo.messages_to("z-viet")[before:]) and time.monotonic() < deadline:
        time.sleep(0.02)
    link = LINK.search(replies[-1]["text"]).group(1)
    with httpx.Client(timeout=30) as browser:
        assert _sign_in(browser, link).headers["location"] == "/admin/duties"
        assert "Trần Quốc Việt · Xã Tân Lập" in browser.get(f"{console.base}/admin/duties").text


def test_a_session_ends_with_the_admin_role_and_no_key_means_no_console(console):
    with httpx.Client(timeout=30) as browser:
        _sign_in(browser, console.link())
        assert browser.get(f"{console.base}/admin/teams").status_code == 200
        text = console.roster.read_text(encoding="utf-8")
        console.roster.write_text(text.replace("        role: admin\n        language: en",
                                               "        role: official\n        language: en"), encoding="utf-8")
        duties, roster = load_definitions(str(console.roster.parent), str(console.roster))
        console.rt.definitions.swap(duties, roster)  # as hot reload does
        assert browser.get(f"{console.base}/admin/teams").status_code == 303
    console.rt.sealer = None
    assert "REMINDERS_SECRET_KEY" in console.say(OTHER_ADMIN, "/login")
    assert LINK.search(console.say(OTHER_ADMIN, "/login")) is None


def _sign_in(client: httpx.Client, link: str) -> httpx.Response:
    client.get(link)
    return client.post(link)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _events(console: Console, event: str) -> list:
    with console.rt.engine.connect() as conn:
        return conn.execute(select(AUDIT_EVENT).where(AUDIT_EVENT.c.event == event)).all()


def test_a_link_works_once_within_ten_minutes_for_its_admin_only(console):
    reply = console.say(ADMIN, "/login")
    assert "works once, for 10 minutes" in reply  # the admin reads English
    link = LINK.search(reply).group(1)
    with httpx.Client(timeout=30) as browser:
        shown = browser.get(link)  # a chat app's link preview: shown, not spent
        assert shown.status_code == 200 and "Đăng nhập với tên Trần Quốc Việt" in shown.text
        signed = browser.post(link)
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/duties"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
        assert "Max-Age=43200" in cookie and "Secure" not in cookie  # http://127.0.0.1: no Secure
        assert browser.get(f"{console.base}/admin/duties").status_code == 200
    with httpx.Client(timeout=30) as other:
        again = other.post(link)
        assert again.status_code == 403 and "đã được dùng" in again.text
        assert COOKIE not in again.headers.get("set-cookie", "")
    # Ten minutes later the link no longer works.
    late = console.link()
    console.clock.set(console.clock() + timedelta(minutes=10, seconds=1))
    with httpx.Client(timeout=30) as browser:
        expired = browser.post(late)
        assert expired.status_code == 403 and "quá 10 phút" in expired.text
    # Members, and anyone in a group chat, get no link.
    assert LINK.search(console.say(MEMBER, "/login")) is None
    assert "quản trị" in console.say(MEMBER, "/login")
    in_group = console.say(ADMIN, "/login", group=True)
    assert LINK.search(in_group) is None and "private chat" in in_group
    assert len(_events(console, "console-login")) == 1
    # Behind https the cookie is Secure; the link's token never reaches a log line.
    secure_link = console.link()
    console.rt.public_url = "https://xa.example.vn"
    with httpx.Client(timeout=30) as browser:
        assert "; Secure" in browser.post(secure_link).headers["set-cookie"]
    token = secure_link.rsplit("/", 1)[1]
    assert token not in logs.redact(f'"POST /admin/login/{token} HTTP/1.1" 303')


def test_another_communes_admin_cannot_use_the_link_nor_reach_the_commune(console):
    roster_before = console.roster.read_text(encoding="utf-8")
    with httpx.Client(timeout=30) as other:
        assert _sign_in(other, console.link(OTHER_ADMIN)).status_code == 303
        own_link = console.link(ADMIN)
        refused = other.post(own_link)  # signed in as someone else: the link is not for this browser
        assert refused.status_code == 403 and "quản trị viên khác" in refused.text
        teams = other.get(f"{console.base}/admin/teams").text
        assert "thôn Mới" in teams and "thôn Đông" not in teams
        deliveries = other.get(f"{console.base}/admin/deliveries").text
        code = delivery_code(console.failed)
        assert f'data-code="{code}"' not in deliveries
        csrf = _csrf(deliveries)
        retry = other.post(f"{console.base}/admin/deliveries/retry", data={"csrf": csrf, "code": code})
        assert retry.status_code == 403 and "Không có quyền" in retry.text
        with console.rt.engine.begin() as conn:
            feed = conn.execute(FEED_TOKEN.insert().values(token_hash="h" * 64, scope="commune:xa-tan-lap", label="x",
                                                           created_at=console.clock())).inserted_primary_key[0]
        assert other.post(f"{console.base}/admin/feeds/revoke", data={"csrf": csrf, "id": str(feed)}).status_code == 403
        assert other.post(f"{console.base}/admin/teams/leader", data={
            "csrf": csrf, "team": "thon-dong", "person": "tran-thi-binh"}).status_code == 422
    with console.rt.engine.connect() as conn:
        assert conn.execute(select(DeliveryRow.status).where(DeliveryRow.id == console.failed)).scalar() == "failed"
        assert conn.execute(select(FEED_TOKEN.c.revoked_at).where(FEED_TOKEN.c.id == feed)).scalar() is None
    assert console.roster.read_text(encoding="utf-8") == roster_before
    with httpx.Client(timeout=30) as browser:  # the link was not spent by the refusal
        assert _sign_in(browser, own_link).status_code == 303


def test_forms_need_the_sessions_csrf_token_and_sessions_end(console):
    with httpx.Client(timeout=30) as browser:
        signed_in = _sign_in(browser, console.link())
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/duties", signed_in.text
        shown_page = browser.get(f"{console.base}/admin/deliveries")
        assert shown_page.status_code == 200, (shown_page.status_code, shown_page.headers.get("location"))
        page = shown_page.text
        spoof = browser.get(f"{console.base}/admin/deliveries", params={"ok": "Gửi mật khẩu cho số 0912"}).text
        assert "mật khẩu" not in spoof, "a link cannot make the console say anything"
        code = delivery_code(console.failed)
        real = _csrf(page)
        wrong = ("y" if real[0] == "x" else "x") + real[1:]  # "x" + real[1:] was the real one 1 time in 64
        for data in ({"code": code}, {"code": code, "csrf": wrong}):
            forged = browser.post(f"{console.base}/admin/deliveries/retry", data=data)
            assert forged.status_code == 403 and "chống giả mạo" in forged.text, \
                (data, forged.status_code, forged.headers.get("location"), browser.cookies.get(COOKIE))
        with console.rt.engine.connect() as conn:
            assert conn.execute(select(DeliveryRow.status).where(DeliveryRow.id == console.failed)).scalar() == "failed"
        # A tampered cookie is no session.
        value = browser.cookies[COOKIE]
        tampered = value[:-2] + ("BB" if value.endswith("AA") else "AA")
        with httpx.Client(timeout=30, cookies={COOKIE: tampered}) as forger:
            assert forger.get(f"{console.base}/admin/duties").status_code == 303
        # Signing out revokes the session: the same cookie no longer works.
        assert browser.post(f"{console.base}/admin/logout", data={"csrf": _csrf(page)}).status_code == 303
        with httpx.Client(timeout=30, cookies={COOKIE: value}) as replay:
            gone = replay.get(f"{console.base}/admin/duties")
            assert gone.status_code == 303 and gone.headers["location"] == "/admin/signin"
    # Sessions expire.
    with httpx.Client(timeout=30) as browser:
        _sign_in(browser, console.link())
        console.clock.set(console.clock() + timedelta(hours=12, seconds=1))
        assert browser.get(f"{console.base}/admin/duties").status_code == 303


def _chromium() -> str:
    """Debian's chromium, as the board's browser test uses it (no browser download)."""
    if CHROMIUM:
        return CHROMIUM
    if REQUIRE_SERVICES:
        pytest.fail("chromium is not installed, and REMINDERS_REQUIRE_SERVICES=1 forbids skipping "
                    "(.ci/run installs it: apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium): the console is not checked in a browser")


def _shot(page, directory: Path, name: str) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner == 390, f"{name} is wider than the phone"
    page.screenshot(path=str(directory / f"console-{name}.png"), full_page=True)


def test_every_page_on_a_phone_in_chromium(console_sqlite, tmp_path):
    console = console_sqlite
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("REMINDERS_CONSOLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    base = console.base
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            phone = {"viewport": {"width": 390, "height": 844}, "locale": "vi-VN"}
            # Without a session: the page that says how to sign in.
            page = browser.new_context(**phone).new_page()
            page.goto(f"{base}/admin")
            assert page.url == f"{base}/admin/signin"
            assert "Gửi /login." in page.locator("main").inner_text()
            _shot(page, shots, "signin")

            # /login to the bot, the link from its reply opened in Chromium.
            page.goto(console.link())
            assert page.locator("h2").inner_text() == "Đăng nhập với tên Trần Quốc Việt"
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_url(f"{base}/admin/duties")
            cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

            # Duties: the loaded ones, read-only and marked as the province's; create -> preview -> save.
            campaign = page.locator('li.duty[data-uid="chien-dich-di-tung-ngo@reminders"]')
            assert "từ tỉnh" in campaign.inner_text()
            page.fill("#title", "Họp giao ban")
            page.fill("#rhythm", "khi nào trời mưa")
            page.get_by_role("button", name="Xem trước").click()
            problem = page.locator(".problem").first.inner_text()
            assert "Không dùng được nhịp lặp «khi nào trời mưa»" in problem and "Ví dụ:" in problem
            page.fill("#rhythm", "hằng tuần vào thứ Hai lúc 8:00")
            page.fill("#remind", "1 ngày trước; 30 phút trước")
            page.select_option("#teams", ["thon-dong", "thon-tay"])
            page.get_by_role("button", name="Xem trước").click()
            preview = page.locator("#preview")
            assert "hằng tuần vào Thứ Hai, lúc 08:00" in preview.inner_text()
            assert preview.locator("ol.occurrences li").count() == 5
            assert preview.locator("ol.occurrences li").first.inner_text().startswith("Thứ Hai, 7 tháng 10, 2024 lúc 08:00")
            _shot(page, shots, "duty-preview")
            page.get_by_role("button", name="Lưu nhiệm vụ").click()
            page.wait_for_url(re.compile(r".*/admin/duties\?ok=.*"))
            assert page.locator(".ok").inner_text() == "Đã lưu."
            assert page.locator('li.duty[data-uid="hop-giao-ban@reminders"]').count() == 1
            assert "hop-giao-ban@reminders" in console.rt.duties  # in use in this process at once
            # kept as an authored duty of the admin's commune, in the database, not a file
            assert not (console.roster.parent / "hop-giao-ban.ics").exists()
            with console.rt.engine.connect() as conn:
                saved = {row.uid: row for row in list_rows(conn)}
            assert saved["hop-giao-ban@reminders"].commune_id == "xa-tan-lap"
            assert page.locator('li.duty[data-uid="hop-giao-ban@reminders"] .tag.file').count() == 0

            # Teams and people: add a member, make her the leader; the file keeps its comments.
            page.goto(f"{base}/admin/teams")
            assert page.locator("section.team").count() == 3  # the commune's teams only
            page.select_option("#team", "thon-bac")
            page.fill("#name", "Ngô Thị Mai")
            page.fill("#person_id", "ngo thi mai")
            page.get_by_role("button", name="Thêm", exact=True).click()
            assert "person_id: 'ngo thi mai' không phải mã hợp lệ" in page.locator(".problem").first.inner_text()
            page.select_option("#team", "thon-bac")
            page.fill("#name", "Ngô Thị Mai")
            page.fill("#person_id", "ngo-thi-mai")
            page.fill("#phone", "0912 345 678")
            page.get_by_role("button", name="Thêm", exact=True).click()
            page.wait_for_url(re.compile(r".*/admin/teams\?ok=.*"))
            bac = page.locator('section.team[data-team="thon-bac"]')
            assert "Ngô Thị Mai" in bac.inner_text()
            bac.locator("select").select_option("ngo-thi-mai")
            bac.get_by_role("button", name="Đổi tổ trưởng").click()
            page.wait_for_url(re.compile(r".*/admin/teams\?ok=.*"))
            text = console.roster.read_text(encoding="utf-8")
            assert text.startswith("# Danh sách Tổ công nghệ số cộng đồng (roster).")
            assert '- id: ngo-thi-mai\n        name: Ngô Thị Mai\n        role: leader\n        phone: "0912345678"' in text
            assert console.rt.roster.leaders(console.rt.roster.teams["thon-bac"])[0].id == "ngo-thi-mai"
            _shot(page, shots, "teams")

            # Invites: the printable QR sheet for a team.
            page.goto(f"{base}/admin/invites")
            _shot(page, shots, "invites")
            page.select_option("#team", "thon-tay")
            page.get_by_role("button", name="Tạo phiếu mời").click()
            assert page.locator("section.card").count() == 3
            assert page.locator("section.card img").count() == 3  # a QR code on each card (t.me deep links)

            # Deliveries: today's and the failed one, retried.
            page.goto(f"{base}/admin/deliveries")
            code = delivery_code(console.failed)
            failed = page.locator(f'li.failed[data-code="{code}"]')
            assert "bot was blocked" in failed.inner_text()
            assert page.locator("li.today").count() >= 1
            _shot(page, shots, "deliveries")
            failed.get_by_role("button", name="Gửi lại").click()
            page.wait_for_url(re.compile(r".*/admin/deliveries\?ok=.*"))
            assert page.locator(f'li.failed[data-code="{code}"]').count() == 0
            with console.rt.engine.connect() as conn:
                assert conn.execute(select(DeliveryRow.status).where(DeliveryRow.id == console.failed)).scalar() == "pending"

            # Feeds: create, rotate, revoke; the link works, then stops.
            page.goto(f"{base}/admin/feeds")
            page.fill("#label", "Cán bộ văn hóa xã")
            page.get_by_role("button", name="Tạo liên kết").click()
            first = page.locator("#new-link pre").first.inner_text()
            assert httpx.get(first, timeout=30).status_code == 200
            page.locator("li.feed").first.get_by_role("button", name="Đổi liên kết").click()
            second = page.locator("#new-link pre").first.inner_text()
            assert httpx.get(first, timeout=30).status_code == 404 and httpx.get(second, timeout=30).status_code == 200
            _shot(page, shots, "feeds")
            page.locator("li.feed").first.get_by_role("button", name="Thu hồi").click()
            assert page.locator("li.feed").count() == 0
            assert httpx.get(second, timeout=30).status_code == 404

            # The audit trail: every change, by whom.
            page.goto(f"{base}/admin/audit")
            events = page.locator("li.event").evaluate_all("els => els.map(e => e.dataset.event)")
            for event in ("console-login", "duty-create", "roster-member-added", "roster-leader-changed", "invites",
                          "retry", "feed-created", "feed-rotated", "feed-revoked"):
                assert event in events, event
            assert "Trần Quốc Việt" in page.locator("li.event").first.inner_text()
            _shot(page, shots, "audit")
            page.goto(f"{base}/admin/duties")
            _shot(page, shots, "duties")

            # A refused cross-commune access, in the other commune's admin's browser.
            other = browser.new_context(**phone).new_page()
            other.goto(console.link(OTHER_ADMIN))
            other.get_by_role("button", name="Đăng nhập").click()
            other.wait_for_url(f"{base}/admin/duties")
            other.goto(f"{base}/admin/deliveries")
            csrf = other.locator('input[name="csrf"]').first.get_attribute("value")
            response = other.request.post(f"{base}/admin/feeds/create", form={"csrf": csrf, "scope": "team:thon-dong",
                                                                              "label": "x"})
            assert response.status == 403 and "Không có quyền" in response.text()
        finally:
            browser.close()


def test_a_hand_made_form_cannot_add_an_admin(console):
    """The page offers leader or member; a POST written by hand with role=admin is refused
    where the roster is changed, so nobody makes themselves a way in through /login."""
    roster_before = console.roster.read_text(encoding="utf-8")
    with httpx.Client(timeout=30) as browser:
        assert _sign_in(browser, console.link()).status_code == 303
        csrf = _csrf(browser.get(f"{console.base}/admin/teams").text)
        refused = browser.post(f"{console.base}/admin/teams/add", data={
            "csrf": csrf, "team": "thon-dong", "person_id": "ke-la", "name": "Kẻ Lạ", "role": "admin",
            "telegram": "424242"})
    assert refused.status_code == 422 and "tổ trưởng hoặc tổ viên" in refused.text
    assert console.roster.read_text(encoding="utf-8") == roster_before

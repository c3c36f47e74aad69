"""Zalo end to end: the OA and Bot adapters over real HTTP to fake Zalo servers on loopback,
a real SQLite database, the dramatiq worker, and the web app receiving webhooks."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloBot, FakeZaloOA
from helpers import VN, eventually, vn
from sqlalchemy import func, select

from reminders.adapters.base import AdapterServices
from reminders.adapters.telegram import TelegramAdapter
from reminders.adapters.zalo.bot import ZaloBotAdapter
from reminders.adapters.zalo.oa import ZaloOAAdapter
from reminders.codes import parse_delivery_code
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import AcknowledgementRow, DeliveryRow, InboundEventRow, OccurrenceRow
from reminders.store.models import PlatformTokenRow as ZaloTokenRow
from reminders.store.sealing import Sealer
from reminders.store.tokens import TokenTable
from reminders.timeutil import VirtualClock
from reminders.web.app import create_app

BOT_SECRET = "zalo-bot-webhook-secret-0123456789"
SECRET_KEY = "test-secret-key-for-sealing-0123456789"  # REMINDERS_SECRET_KEY: the OA's tokens are stored sealed
SEALER = Sealer(SECRET_KEY)
ROSTER = """\
timezone: Asia/Ho_Chi_Minh
quiet_hours: off  # one test runs on the real clock, whatever the hour in Vietnam
communes:
  - {id: xa, name: Xã Tân Lập}
teams:
  - id: thon-dong
    name: Tổ CNSCĐ thôn Đông
    commune: xa
    chats: {zalo_oa: grp-dong, zalo_bot: g-bot-dong}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {zalo_oa: u-an, zalo_bot: b-an, telegram: '100001'}}
      - {id: binh, name: Trần Thị Bình, chats: {zalo_oa: u-binh, zalo_bot: b-binh}}
      - {id: cuong, name: Lê Văn Cường, chats: {zalo_oa: u-cuong, zalo_bot: b-cuong}}
"""


def _event(uid: str, summary: str, start: datetime, duration: str, to: str, trigger: str, extra: str = "") -> str:
    return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:{summary}\n"
            f"DTSTART;TZID=Asia/Ho_Chi_Minh:{start.astimezone(VN):%Y%m%dT%H%M%S}\nDURATION:{duration}\n"
            f"X-REMINDER-TO:{to}\n{extra}BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:{summary}\n"
            f"TRIGGER:{trigger}\nEND:VALARM\nEND:VEVENT\n")


DAY = vn(2024, 10, 1, 0, 0)


def _calendars(tmp_path: Path, day: datetime = DAY) -> Path:
    """On `day`: two group duties (one with an evening check-in) and one for every member,
    all reminded at 07:00."""
    checkin = ("X-REMINDER-CHECKIN;ANSWER=number:Hôm nay tổ đã hướng dẫn được bao nhiêu hộ?\n"
               "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:Báo số hộ\nTRIGGER;RELATED=END:PT0M\n"
               "X-REMINDER-KIND:CHECKIN\nEND:VALARM\n")
    events = [
        _event("di-tung-ngo@test", "Đi từng ngõ hướng dẫn VNeID", day + timedelta(hours=7, minutes=30), "PT12H",
               "group", "-PT30M", checkin),
        _event("hop-to@test", "Họp tổ đầu tuần", day + timedelta(hours=8), "PT1H", "group", "-PT1H"),
        _event("truc-mot-cua@test", "Trực bộ phận một cửa", day + timedelta(hours=9), "PT4H", "members", "-PT2H"),
    ]
    directory = tmp_path / "calendars"
    directory.mkdir(exist_ok=True)
    (directory / "duties.ics").write_text("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:test\n" + "".join(events)
                                          + "END:VCALENDAR\n", encoding="utf-8")
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    return directory


def _oa_adapter(fake: FakeZaloOA) -> ZaloOAAdapter:
    """Configured as from the environment: ZALO_APP_ID, ZALO_APP_SECRET, ZALO_OA_SECRET_KEY,
    the first ZALO_OA_ACCESS_TOKEN / ZALO_OA_REFRESH_TOKEN, ZALO_OA_API_URL, ZALO_OA_OAUTH_URL."""
    return ZaloOAAdapter.from_settings(load_settings({
        "ZALO_APP_ID": fake.app_id, "ZALO_APP_SECRET": fake.app_secret, "ZALO_OA_SECRET_KEY": fake.oa_secret_key,
        "REMINDERS_SECRET_KEY": SECRET_KEY,
        "ZALO_OA_ACCESS_TOKEN": "ACCESS-1", "ZALO_OA_REFRESH_TOKEN": "REFRESH-1",
        "ZALO_OA_API_URL": fake.base_url, "ZALO_OA_OAUTH_URL": fake.oauth_url}))


def _bot_adapter(fake: FakeZaloBot) -> ZaloBotAdapter:
    return ZaloBotAdapter(fake.token, fake.base_url, webhook_secret=BOT_SECRET)


def _stack(calendars: Path, tmp_path: Path, start: datetime, adapters: dict, **worker_options):
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                       database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=tuple(adapters),
                       secret_key=SECRET_KEY)
    clock = VirtualClock(start)
    runtime = open_runtime(settings, clock=clock, adapters=adapters)
    return runtime, clock, EmbeddedWorker(runtime, settings, **worker_options)


@contextlib.contextmanager
def _web(runtime, adapters: dict):
    """The web app on uvicorn on loopback: its own adapters (its own process in production),
    the same database, definitions and clock."""
    services = AdapterServices(tokens=TokenTable(runtime.engine, SECRET_KEY))
    for adapter in adapters.values():
        adapter.attach(services)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(replace(runtime, adapters=adapters)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(5)


def _post_oa(client: httpx.Client, oa: FakeZaloOA, sender: str, text: str, **options) -> int:
    body, headers = oa.event(sender, text, **options)
    return client.post("/webhooks/zalo_oa", content=body, headers=headers).status_code


UIDS = {"Họp tổ đầu tuần": "hop-to", "Đi từng ngõ hướng dẫn VNeID": "di-tung-ngo"}


def _summary(message: dict) -> str:
    return next(summary for summary in UIDS if summary in message["text"])


def _code(message: dict) -> str:
    return re.search(r"\(mã (\w+)\)", message["text"]).group(1)


def _acks(engine) -> dict[tuple[str, str], float | None | str]:
    """(person, duty) -> answer, for every acknowledgement."""
    with engine.connect() as conn:
        rows = conn.execute(select(AcknowledgementRow.person_id, OccurrenceRow.duty_uid, AcknowledgementRow.answer)
                            .join(OccurrenceRow, OccurrenceRow.id == AcknowledgementRow.occurrence_id)).all()
    return {(r.person_id, r.duty_uid.partition("@")[0]): r.answer for r in rows}


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_oa_member_and_group_reminders_acknowledged_by_replies(oa, tmp_path):
    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 7, 0), {"zalo_oa": _oa_adapter(oa)})
    with worker, _web(runtime, {"zalo_oa": _oa_adapter(oa)}) as client:
        worker.scheduler.tick()
        worker.drain()
        group = oa.messages_to("grp-dong")
        [private] = oa.messages_to("u-binh")
        assert len(group) == 2 and {m["endpoint"] for m in group} == {"group"} and private["endpoint"] == "cs"
        for message in [*group, private]:  # no buttons: the message says how to answer
            assert 'Làm xong, trả lời "xong" (mã ' in message["text"] and len(message["text"]) <= 2000
        assert "Trực bộ phận một cửa" in private["text"]
        latest, earlier = sorted(group, key=lambda m: parse_delivery_code(_code(m)), reverse=True)
        latest_summary, earlier_summary = _summary(latest), _summary(earlier)

        assert _post_oa(client, oa, "u-binh", "xong") == 200  # 1:1, the only open reminder there
        assert _post_oa(client, oa, "u-an", "Đã xong!", group="grp-dong") == 200
        assert _post_oa(client, oa, "u-cuong", "xong roi", group="grp-dong") == 200
        # Several open in the group: the short code picks the earlier one.
        assert _post_oa(client, oa, "u-binh", f"xong (mã {_code(earlier)})", group="grp-dong") == 200
        assert _post_oa(client, oa, "stranger", "ok", group="grp-dong") == 200  # not on the roster: silence

        latest_uid, earlier_uid = UIDS[latest_summary], UIDS[earlier_summary]
        assert _acks(runtime.engine) == {("binh", "truc-mot-cua"): None, ("an", latest_uid): None,
                                         ("cuong", latest_uid): None, ("binh", earlier_uid): None}
        # Binh's answer waits for the platform's one message a second in his chat (jobs.replies).
        [to_binh] = eventually(lambda: [m for m in oa.messages_to("u-binh") if m is not private])
        assert to_binh["endpoint"] == "cs" and "Trực bộ phận một cửa" in to_binh["text"]
        confirmations = eventually(lambda: oa.messages_to("grp-dong")[2:])
        assert len(confirmations) == 3, "one answer per recorded reply; none for the stranger"
        to_an, to_cuong, to_binh_group = confirmations
        assert "Nguyễn Văn An" in to_an["text"] and latest_summary in to_an["text"]
        assert "mã của việc đó" in to_an["text"], "a guess among several open reminders says how to pick another"
        assert latest_summary in to_cuong["text"]
        assert earlier_summary in to_binh_group["text"] and "mã của việc đó" not in to_binh_group["text"]

        # The evening check-in: a plain "25 hộ" answers it, without quoting.
        clock.set(vn(2024, 10, 1, 19, 30))
        worker.scheduler.tick()
        worker.drain()
        [question] = [m for m in oa.messages_to("grp-dong") if "❓" in m["text"]]
        assert "bao nhiêu hộ" in question["text"] and "(mã " in question["text"]
        assert _post_oa(client, oa, "u-binh", "25 hộ", group="grp-dong") == 200
        with runtime.engine.connect() as conn:
            answer = conn.execute(select(AcknowledgementRow.answer_number).where(
                AcknowledgementRow.person_id == "binh", AcknowledgementRow.answer.is_not(None))).scalar()
        assert answer == 25.0
        assert "Trả lời: 25." in oa.messages_to("grp-dong")[-1]["text"]
    runtime.engine.dispose()


def test_oa_token_expiry_refresh_retry_with_rotated_token_persisted_first(oa, tmp_path):
    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 7, 0), {"zalo_oa": _oa_adapter(oa)})
    seen: list[tuple[str, str | None]] = []  # (access token of a send, refresh token stored at that moment)

    def stored_refresh_token() -> str | None:
        with runtime.engine.connect() as conn:
            return SEALER.open(conn.execute(select(ZaloTokenRow.refresh_token)).scalar())

    oa.observe = lambda access, body: seen.append((access, stored_refresh_token()))
    oa.expire("ACCESS-1")  # the token the environment gave is over its 25 hours
    with worker:
        worker.scheduler.tick()
        worker.drain()
        with runtime.engine.connect() as conn:
            statuses = conn.execute(select(DeliveryRow.status, DeliveryRow.attempts)
                                    .where(DeliveryRow.due_at <= clock())).all()
    assert len(statuses) == 5 and {tuple(s) for s in statuses} == {("sent", 1)}, "refreshed and retried at once"
    assert len(oa.sent) == 5 and {m["access_token"] for m in oa.sent} == {"ACCESS-2"}
    [refresh] = oa.oauth_calls  # five sends failed at once; one refresh for all of them
    assert refresh == {"refresh_token": "REFRESH-1", "app_id": oa.app_id, "grant_type": "refresh_token",
                       "secret_key": oa.app_secret}
    assert ("ACCESS-1", "REFRESH-1") in seen
    retried = [stored for access, stored in seen if access == "ACCESS-2"]
    assert retried and set(retried) == {"REFRESH-2"}, "the rotated pair was in the database before its first use"
    with runtime.engine.connect() as conn:
        row = conn.execute(select(ZaloTokenRow.__table__)).one()
    assert (SEALER.open(row.access_token), SEALER.open(row.refresh_token)) == ("ACCESS-2", "REFRESH-2")
    expires = row.access_expires_at.replace(tzinfo=UTC)
    assert timedelta(hours=24) < expires - datetime.now(UTC) <= timedelta(hours=25)
    runtime.engine.dispose()

    # A restart, with the environment still holding the first pair (REFRESH-1 is spent):
    # the stored pair is used, and the next refresh spends REFRESH-2.
    oa.expire("ACCESS-2")
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 19, 30), {"zalo_oa": _oa_adapter(oa)})
    with worker:
        worker.scheduler.tick()
        worker.drain()
    assert [c["refresh_token"] for c in oa.oauth_calls] == ["REFRESH-1", "REFRESH-2"]
    [question] = [m for m in oa.sent if "❓" in m["text"]]
    assert question["access_token"] == "ACCESS-3"
    with runtime.engine.connect() as conn:
        assert tuple(map(SEALER.open, conn.execute(select(ZaloTokenRow.access_token, ZaloTokenRow.refresh_token)).one())) == \
            ("ACCESS-3", "REFRESH-3")
    runtime.engine.dispose()


def test_forged_webhooks_refused_and_replays_recorded_once(oa, zbot, tmp_path):
    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 7, 0),
                                    {"zalo_oa": _oa_adapter(oa), "zalo_bot": _bot_adapter(zbot)})
    web_adapters = {"zalo_oa": _oa_adapter(oa), "zalo_bot": _bot_adapter(zbot)}
    with worker, _web(runtime, web_adapters) as client:
        worker.scheduler.tick()
        worker.drain()
        body, good = oa.event("u-binh", "xong", msg_id="m-1")
        forged = [
            {},  # no signature
            {"X-ZEvent-Signature": "mac=" + "0" * 64},
            oa.event("u-binh", "xong", msg_id="m-1", key="not-the-oa-secret-key")[1],  # signed with another key
            {"X-ZEvent-Signature": good["X-ZEvent-Signature"].upper()[:20]},  # truncated
        ]
        for headers in forged:
            assert client.post("/webhooks/zalo_oa", content=body, headers=headers).status_code == 403
        tampered = body.replace(b'"xong"', b'"ok"')
        assert client.post("/webhooks/zalo_oa", content=tampered, headers=good).status_code == 403
        update = zbot.update("b-an", "b-an", "/status", group=False, message_id="b-1")
        for secret in ("", "wrong-secret-wrong-secret"):
            assert client.post("/webhooks/zalo_bot", json=update,
                               headers={"X-Bot-Api-Secret-Token": secret}).status_code == 403
        assert _count(runtime.engine, AcknowledgementRow) == 0 and _count(runtime.engine, InboundEventRow) == 0
        replies_before = len(oa.sent)

        for _ in range(3):  # Zalo retries a webhook it thinks was not answered: same msg_id
            assert client.post("/webhooks/zalo_oa", content=body, headers=good).status_code == 200
            assert client.post("/webhooks/zalo_bot", json=update,
                               headers={"X-Bot-Api-Secret-Token": BOT_SECRET}).status_code == 200
        # The answers wait for the platform's one message a second in chats just reminded.
        eventually(lambda: len(oa.sent) > replies_before and zbot.messages_to("b-an"))
    assert _acks(runtime.engine) == {("binh", "truc-mot-cua"): None}
    assert _count(runtime.engine, InboundEventRow) == 2
    assert len(oa.sent) == replies_before + 1, "one confirmation, not three"
    [status] = zbot.messages_to("b-an")
    assert "Tuần này" in status["text"]
    runtime.engine.dispose()


def test_outside_window_fails_delivery_and_tells_leader_elsewhere(oa, tmp_path):
    telegram = FakeTelegram().start()
    oa.refuse.update({"u-cuong": -230, "u-binh": -213})  # outside the window; not a follower
    calendars = _calendars(tmp_path)
    adapters = {"zalo_oa": _oa_adapter(oa), "telegram": TelegramAdapter(telegram.token, telegram.base_url)}
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 7, 0), adapters)
    try:
        with worker:
            worker.scheduler.tick()
            worker.drain()
            worker.scheduler.tick()  # the notices to the leader are outbox rows too
            worker.drain()
            with runtime.engine.connect() as conn:
                rows = {r.recipient: r for r in conn.execute(
                    select(DeliveryRow.recipient, DeliveryRow.status, DeliveryRow.error, DeliveryRow.attempts,
                           DeliveryRow.channel).where(DeliveryRow.kind == "reminder-0"))}
        assert rows["person:cuong"].status == "failed" and "-230" in rows["person:cuong"].error
        assert rows["person:binh"].status == "failed" and "-213" in rows["person:binh"].error
        assert rows["person:cuong"].attempts == rows["person:binh"].attempts == 1, "not retried"
        assert rows["person:an"].status == "sent" and rows["person:an"].channel == "zalo_oa"
        assert rows["team:thon-dong"].status == "sent"
        notices = telegram.messages_to("100001")
        assert len(notices) == 2
        assert all("Zalo OA" in n["text"] and "Trực bộ phận một cửa" in n["text"] for n in notices)
        assert {name for n in notices for name in ("Lê Văn Cường", "Trần Thị Bình") if name in n["text"]} == \
            {"Lê Văn Cường", "Trần Thị Bình"}
        assert not any("⚠" in m["text"] for m in oa.sent), "the leader hears of it on another channel"
    finally:
        telegram.stop()
        runtime.engine.dispose()


def test_zalo_bot_group_reminder_acknowledged_through_polling(zbot, tmp_path):
    """`reminders bot` with ZALO_BOT_* in the environment: getUpdates, one update at a time."""
    import os
    import signal
    import subprocess
    import sys

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The duties' 07:00 reminders fall due now: the bot process runs on the real clock.
    calendars = _calendars(tmp_path, day=now - timedelta(hours=7))
    runtime, clock, worker = _stack(calendars, tmp_path, now + timedelta(seconds=30), {"zalo_bot": _bot_adapter(zbot)})
    with worker:
        worker.scheduler.tick()
        worker.drain()
    group = zbot.messages_to("g-bot-dong")
    assert len(group) == 2 and all('trả lời "xong"' in m["text"] for m in group)
    zbot.push_update(zbot.update("g-bot-dong", "b-cuong", "Đã xong!", group=True, name="Cường"))
    env = {**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "REMINDERS_ADAPTERS": "zalo_bot", "ZALO_BOT_TOKEN": zbot.token, "ZALO_BOT_API_URL": zbot.base_url,
           "REMINDERS_LOG_LEVEL": "DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "bot", "--calendars", str(calendars)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any("Cảm ơn" in m["text"] for m in zbot.messages_to("g-bot-dong")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert [k[0] for k in _acks(runtime.engine)] == ["cuong"], err[-2000:]
    [confirmation] = [m for m in zbot.messages_to("g-bot-dong") if "Cảm ơn" in m["text"]]
    assert "Lê Văn Cường" in confirmation["text"]
    assert "getUpdates" in zbot.calls
    assert "ZaloBotTESTtoken" not in out + err, "the bot token (in every API URL) never appears in logs"
    runtime.engine.dispose()


def test_oa_events_dated_far_from_now_are_refused(oa, tmp_path):
    """Issue 13.8: a signed Zalo OA event with a timestamp from 2001 or 2286 was accepted;
    only its msg_id stopped a replay."""
    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 7, 0), {"zalo_oa": _oa_adapter(oa)})
    with worker, _web(runtime, {"zalo_oa": _oa_adapter(oa)}) as client:
        worker.scheduler.tick()
        worker.drain()
        hour = 3600 * 1000
        now = int(time.time() * 1000)
        for stamp in (1_000_000_000_000, 9_999_999_999_000, now - 2 * hour, now + 2 * hour, "yesterday"):
            assert _post_oa(client, oa, "u-binh", "xong", timestamp=str(stamp)) == 200  # no retry wanted
        assert _acks(runtime.engine) == {} and _count(runtime.engine, InboundEventRow) == 0
        assert _post_oa(client, oa, "u-binh", "xong", timestamp=str(now - hour // 2)) == 200
        assert _acks(runtime.engine) == {("binh", "truc-mot-cua"): None}
    runtime.engine.dispose()


def test_number_words_answer_a_checkin_plainly_or_in_reply(oa, tmp_path):
    """Issue 14.9: "hai mươi" sent plainly got no answer at all; in reply to the question it
    was asked again. Numbers in Vietnamese words are numbers, either way."""
    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 19, 30), {"zalo_oa": _oa_adapter(oa)})
    with worker, _web(runtime, {"zalo_oa": _oa_adapter(oa)}) as client:
        worker.scheduler.tick()
        worker.drain()
        [question] = [m for m in oa.messages_to("grp-dong") if "❓" in m["text"]]
        quote = {"msg_id": question["message_id"], "text": question["text"]}
        assert _post_oa(client, oa, "u-binh", "hai mươi", group="grp-dong") == 200
        assert _post_oa(client, oa, "u-an", "ba mươi lăm hộ", group="grp-dong", quote=quote) == 200
        assert _post_oa(client, oa, "u-cuong", "Mười lăm ạ", group="grp-dong") == 200
    with runtime.engine.connect() as conn:
        answers = dict(conn.execute(select(AcknowledgementRow.person_id, AcknowledgementRow.answer_number)).all())
    assert answers == {"binh": 20.0, "an": 35.0, "cuong": 15.0}
    replies = [m["text"] for m in oa.messages_to("grp-dong") if "Cảm ơn" in m["text"]]
    assert [r.rsplit("Trả lời: ", 1)[1] for r in replies] == ["20.", "35.", "15."]
    runtime.engine.dispose()


def test_zalo_welcome_and_help_say_how_to_answer_without_buttons(oa, tmp_path):
    """Issue 14.10: after /start on Zalo the welcome said "bấm ✅" -- Zalo has no buttons."""
    from reminders.store.invites import create_invite

    calendars = _calendars(tmp_path)
    runtime, clock, worker = _stack(calendars, tmp_path, vn(2024, 10, 1, 6, 0), {"zalo_oa": _oa_adapter(oa)})
    with worker, _web(runtime, {"zalo_oa": _oa_adapter(oa)}) as client:
        code = create_invite(runtime.engine, "cuong", clock())
        assert _post_oa(client, oa, "u-new-phone", f"/start {code}") == 200
        assert _post_oa(client, oa, "u-new-phone", "/help") == 200
        assert _post_oa(client, oa, "u-new-phone", "chào bot") == 200  # not understood: the same help
        # Three answers to one chat keep its limit (one a second): wait for them while the app runs.
        eventually(lambda: len(oa.messages_to("u-new-phone")) >= 3, what="the three answers")
    welcome, help_text, not_understood = [m["text"] for m in oa.messages_to("u-new-phone")]
    assert welcome.startswith("Chào Lê Văn Cường!")
    for text in (welcome, help_text, not_understood):
        assert "bấm" not in text.lower() and "✅" not in text
        assert 'trả lời "xong"' in text
    runtime.engine.dispose()

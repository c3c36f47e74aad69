"""Telegram end to end: python-telegram-bot over real HTTP to a fake Bot API on loopback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from dramatiq.asyncio import get_event_loop_thread
from fake_telegram import FakeTelegram
from helpers import serve, vn
from sqlalchemy import func, select

from reminders.adapters.telegram import TelegramAdapter
from reminders.codes import delivery_code
from reminders.inbound.updates import process
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import (
    AcknowledgementRow,
    AuditEventRow,
    ChatBindingRow,
    DeliveryRow,
    InboundEventRow,
)
from reminders.timeutil import VirtualClock
from reminders.web.app import create_app

GROUP = "-1001000000001"  # thôn Đông's group in the shipped roster
AN, BINH, CUONG, STRANGER = 100001, 100002, 100003, 555000
SECRET = "s3cret-webhook-token-0123456789"


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


def _stack(fake, calendars: Path, tmp_path: Path, start, **worker_options):
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                       database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=("telegram",))
    clock = VirtualClock(start)
    adapter = TelegramAdapter(fake.token, fake.base_url, webhook_secret=SECRET)
    runtime = open_runtime(settings, clock=clock, adapters={"telegram": adapter})
    return runtime, clock, EmbeddedWorker(runtime, settings, **worker_options)


def _on_worker_loop(coro):
    """Inbound processing on the worker's event loop, where the adapter's Bot lives."""
    return get_event_loop_thread().run_coroutine(coro)


def _user(uid: int, name: str) -> dict:
    return {"id": uid, "is_bot": False, "first_name": name}


def _press(fake, runtime, message: dict, user: dict, action: str = "done"):
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].partition(":")[2]
    update = fake.push_update({"callback_query": {
        "id": f"cb{time.monotonic_ns()}", "from": user, "chat_instance": "ci", "message": message,
        "data": f"{action}:{code}"}})
    return update, _on_worker_loop(process(runtime, runtime.adapters["telegram"], update))


def _reply(fake, runtime, to: dict, user: dict, text: str, message_id: int):
    update = fake.push_update({"message": {
        "message_id": message_id, "date": int(time.time()), "chat": to["chat"], "from": user, "text": text,
        **({"reply_to_message": to} if to.get("message_id") else {})}})
    return _on_worker_loop(process(runtime, runtime.adapters["telegram"], update))


def _morning_reminder(fake, calendars: Path, tmp_path: Path):
    """Send 1 October's 07:00 reminders; return the runtime and thôn Đông's group message."""
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
    [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
    return runtime, message


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_group_buttons_acknowledge_and_edit_progress(fake, calendars, tmp_path):
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
        assert "Nhắc việc" in message["text"]
        buttons = message["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["✅ Đã xong", "⏰ Nhắc lại sau"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
        assert {"getMe", "sendMessage"} <= set(fake.calls)

        _press(fake, runtime, message, _user(AN, "An"))
        _press(fake, runtime, message, _user(BINH, "Bình"))
        _, stranger = _press(fake, runtime, message, _user(STRANGER, "Khách"))

        assert _count(runtime.engine, AcknowledgementRow) == 2
        assert len(fake.callback_answers) == 3, "every press is answered: no spinner stays"
        assert fake.callback_answers[-1]["show_alert"] in (True, "true", "True")
        assert "chưa có trong danh sách" in fake.callback_answers[-1]["text"]
        assert not stranger.recorded
        assert "2/3 đã xác nhận: An, Bình" in fake.edits[-1]["text"]
        assert str(fake.edits[-1]["message_id"]) == str(message["message_id"])
    runtime.engine.dispose()


def test_checkin_reply_recorded_and_wrong_type_reasked(fake, calendars, tmp_path):
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 19, 30))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [checkin] = [m for m in fake.messages_to(GROUP) if "❓" in m["text"]]
        assert "bao nhiêu hộ" in checkin["text"] and "reply_markup" not in checkin

        before = len(fake.sent)
        outcome = _reply(fake, runtime, checkin, _user(BINH, "Bình"), "nhiều lắm", 900)
        assert not outcome.recorded
        reask = fake.sent[before]
        assert "con số" in reask["text"] and str(reask["chat"]["id"]) == GROUP
        assert _count(runtime.engine, AcknowledgementRow) == 0

        assert _reply(fake, runtime, checkin, _user(BINH, "Bình"), "25 hộ", 901).recorded
        # /done <answer> without quoting picks the latest open reminder in this chat.
        assert _reply(fake, runtime, {"chat": checkin["chat"]}, _user(AN, "An"), "/done 30", 902).recorded
        with runtime.engine.connect() as conn:
            answers = dict(conn.execute(select(AcknowledgementRow.person_id, AcknowledgementRow.answer_number)).all())
        assert answers == {"tran-thi-binh": 25.0, "nguyen-van-an": 30.0}
    runtime.engine.dispose()


def test_blocked_group_fails_flags_binding_and_tells_leader(fake, calendars, tmp_path):
    fake.blocked.add(GROUP)
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        worker.scheduler.tick()  # the notice to the leader is itself an outbox row
        worker.drain()
        with runtime.engine.connect() as conn:
            failed = conn.execute(select(DeliveryRow.error).where(DeliveryRow.recipient == "team:thon-dong",
                                                                  DeliveryRow.status == "failed")).scalars().all()
            binding = conn.execute(select(ChatBindingRow.status, ChatBindingRow.address)
                                   .where(ChatBindingRow.recipient == "team:thon-dong")).one()
            attempts = conn.execute(select(DeliveryRow.attempts).where(
                DeliveryRow.recipient == "team:thon-dong")).scalar()
        assert failed and "blocked" in failed[0] and attempts == 1
        assert tuple(binding) == ("broken", GROUP)
        [notice] = fake.messages_to(AN)
        assert "Không gửi được" in notice["text"] and "Telegram" in notice["text"]
    runtime.engine.dispose()


def test_group_migrated_to_supergroup_is_followed(fake, calendars, tmp_path):
    fake.migrated[GROUP] = -1009999999999
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        assert fake.messages_to("-1009999999999")
        clock.set(vn(2024, 10, 2, 7, 0))
        worker.scheduler.tick()
        worker.drain()
        mornings = [m for m in fake.messages_to("-1009999999999") if "Nhắc việc: Chiến dịch" in m["text"]]
        assert len(mornings) == 2 and not fake.messages_to(GROUP)
        with runtime.engine.connect() as conn:
            assert conn.execute(select(ChatBindingRow.address).where(
                ChatBindingRow.recipient == "team:thon-dong")).scalar() == "-1009999999999"
    runtime.engine.dispose()


def test_retry_after_is_honoured_without_spending_retries(fake, calendars, tmp_path):
    """Our own limiter off: the fake answers 429 with retry_after; every message still arrives once."""
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 11, 8, 0), rate_limits=False)
    with worker:
        worker.scheduler.tick()  # several reminders for the leaders' private chats at once
        worker.drain()
        with runtime.engine.connect() as conn:
            rows = conn.execute(select(DeliveryRow.status, DeliveryRow.attempts, DeliveryRow.error)
                                .where(DeliveryRow.due_at <= clock())).all()
    assert fake.too_many > 0, "the test needs the fake to have refused something"
    sent = [r for r in rows if r.status == "sent"]
    # People with no Telegram address in the sample roster fail at once, without a send.
    assert all(r.status == "sent" or "no working chat address" in r.error for r in rows)
    assert {r.attempts for r in sent} == {1}, "a 429 does not spend the retry budget"
    assert len(fake.sent) == len(sent) >= 5
    runtime.engine.dispose()


def _burst_calendars(tmp_path: Path, chats: int) -> Path:
    directory = tmp_path / "burst"
    directory.mkdir()
    alarms = "".join(f"BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:n{n}\nTRIGGER:-PT{n}S\nEND:VALARM\n"
                     for n in range(3))
    (directory / "burst.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:burst@test\nSUMMARY:Họp tổ\n"
        "DTSTART;TZID=Asia/Ho_Chi_Minh:20241001T080000\nDURATION:PT1H\nX-REMINDER-TO:leader\n"
        f"{alarms}END:VEVENT\nEND:VCALENDAR\n", encoding="utf-8")
    lines = ["communes:", "  - {id: xa, name: Xã}", "teams:"]
    for n in range(chats):
        lines += [f"  - id: t{n}", f"    name: Tổ {n}", "    commune: xa", "    members:",
                  f"      - {{id: l{n}, name: Trưởng {n}, role: leader, chats: {{telegram: '{7000 + n}'}}}}"]
    (directory / "roster.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_burst_of_120_to_40_chats_within_limits(fake, tmp_path):
    """Three reminders to each of 40 chats at once: four times Telegram's 30 messages a second
    for the bot, three times its one a second for each chat. Both limits are kept (no 429)."""
    calendars = _burst_calendars(tmp_path, 40)
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 8, 0), worker_threads=4)
    with worker:
        worker.scheduler.tick()
        worker.drain()
    with runtime.engine.connect() as conn:
        reminders = DeliveryRow.kind.startswith("reminder-")  # not the follow-ups planned after them
        statuses = dict(conn.execute(select(DeliveryRow.status, func.count()).where(reminders)
                                     .group_by(DeliveryRow.status)).all())
        ids = conn.execute(select(DeliveryRow.id).where(reminders)).scalars().all()
    assert statuses == {"sent": 120}
    assert fake.too_many == 0, f"no limit exceeded: {fake.refused}"
    codes = [m["reply_markup"]["inline_keyboard"][0][0]["callback_data"] for m in fake.sent]
    assert len(fake.sent) == 120 and len(set(codes)) == 120, "nothing lost, nothing duplicated"
    assert {c.partition(":")[2] for c in codes} == {delivery_code(i) for i in ids}
    runtime.engine.dispose()


@pytest.fixture
def web(fake, calendars, tmp_path):
    """The web app on uvicorn, on loopback, with the same database as the worker, and its own
    Telegram adapter (its own process in production: one Bot per event loop)."""
    from dataclasses import replace

    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    own = {"telegram": TelegramAdapter(fake.token, fake.base_url, webhook_secret=SECRET)}
    with worker:
        worker.scheduler.tick()
        worker.drain()
        with serve(create_app(replace(runtime, adapters=own))) as url:
            yield runtime, url
    runtime.engine.dispose()


def test_webhook_refuses_forgeries_and_records_replays_once(fake, web):
    runtime, url = web
    [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    update = {"update_id": 77, "callback_query": {"id": "q1", "from": _user(AN, "An"), "chat_instance": "c",
                                                  "message": message, "data": code}}
    with httpx.Client(base_url=url) as client:
        assert client.post("/webhooks/telegram", json=update).status_code == 403
        forged = {"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-wrong-secret"}
        assert client.post("/webhooks/telegram", json=update, headers=forged).status_code == 403
        assert _count(runtime.engine, AcknowledgementRow) == 0
        assert _count(runtime.engine, InboundEventRow) == 0
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(3):  # Telegram retries: the same update_id three times
            assert client.post("/webhooks/telegram", json=update, headers=good).status_code == 200
        assert client.get("/healthz").json() == {"ok": True}
    assert _count(runtime.engine, AcknowledgementRow) == 1
    assert _count(runtime.engine, InboundEventRow) == 1
    assert len(fake.callback_answers) == 1


def test_invite_code_links_account_and_leader_binds_group(fake, calendars, tmp_path):
    from reminders.store.invites import create_invite

    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 6, 0))
    with worker:
        code = create_invite(runtime.engine, "le-van-cuong", clock())
        newcomer = {"chat": {"id": 123456, "type": "private"}}
        assert _reply(fake, runtime, newcomer, _user(123456, "Cường"), f"/start {code}", 1).recorded
        assert "Chào Lê Văn Cường" in fake.messages_to(123456)[-1]["text"]
        assert not _reply(fake, runtime, newcomer, _user(999, "X"), f"/start {code}", 2).recorded  # used once
        new_group = {"chat": {"id": -100555, "type": "supergroup"}}
        assert not _reply(fake, runtime, new_group, _user(123456, "Cường"), "/bind", 3).recorded  # not a leader
        assert _reply(fake, runtime, new_group, _user(AN, "An"), "/bind", 4).recorded
        clock.set(vn(2024, 10, 1, 7, 0))
        worker.scheduler.tick()
        worker.drain()
        assert any("Chiến dịch" in m["text"] for m in fake.messages_to(-100555))
        assert not fake.messages_to(GROUP)
    runtime.engine.dispose()


def test_polling_process_records_a_press_and_never_logs_the_token(fake, calendars, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    runtime, message = _morning_reminder(fake, calendars, tmp_path)
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.push_update({"callback_query": {"id": "p1", "from": _user(BINH, "Bình"), "chat_instance": "c",
                                         "message": message, "data": code}})
    env = {**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url,
           "REMINDERS_LOG_LEVEL": "DEBUG"}
    proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "bot", "--calendars", str(calendars)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not fake.callback_answers and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert _count(runtime.engine, AcknowledgementRow) == 1, err[-2000:]
    assert "getUpdates" in fake.calls and fake.callback_answers
    assert "TEST-token" not in out + err, "the bot token must never appear in logs"
    assert "***" in err  # python-telegram-bot's debug log of the API URL, redacted
    runtime.engine.dispose()


def test_server_errors_are_retried_with_backoff(fake, calendars, tmp_path):
    fake.fail_next = 1
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0), worker_threads=1)
    with worker:
        worker.scheduler.tick()
        worker.drain()
        with runtime.engine.connect() as conn:
            rows = conn.execute(select(DeliveryRow.recipient, DeliveryRow.status, DeliveryRow.attempts)
                                .where(DeliveryRow.recipient.like("team:%"), DeliveryRow.due_at <= clock())).all()
    assert {r.status for r in rows} == {"sent"}
    assert sorted(r.attempts for r in rows) == [1, 2], "one message needed a second attempt"
    assert len([m for m in fake.sent if "Chiến dịch" in m["text"]]) == 2
    runtime.engine.dispose()


def test_embedding_in_a_python_telegram_bot_application(fake, calendars, tmp_path):
    """The README's example: an existing Application routes updates to reminders."""
    import asyncio

    from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

    runtime, message = _morning_reminder(fake, calendars, tmp_path)
    reminders_adapter = TelegramAdapter(fake.token, fake.base_url)  # this application's own loop

    async def on_update(update, context):
        await process(runtime, reminders_adapter, update.to_dict(), polled=True)

    async def post_init(app):
        await reminders_adapter.start()

    async def main() -> None:
        app = Application.builder().token(fake.token).base_url(f"{fake.base_url}/bot").post_init(post_init).build()
        app.add_handler(CallbackQueryHandler(on_update, pattern=r"^(done|snooze):"))
        app.add_handler(MessageHandler(filters.REPLY | filters.Regex(r"^/(done|status|bind|start)"), on_update))
        async with app:
            await post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.01, timeout=1)
            fake.push_update({"callback_query": {"id": "e1", "from": _user(AN, "An"), "chat_instance": "c",
                                                 "message": message,
                                                 "data": message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]}})
            fake.push_update({"message": {"message_id": 5, "date": int(time.time()), "chat": {"id": AN, "type": "private"},
                                          "from": _user(AN, "An"), "text": "/status"}})
            for _ in range(300):
                if len(fake.messages_to(AN)) >= 1 and fake.callback_answers:
                    break
                await asyncio.sleep(0.02)
            await app.updater.stop()
            await app.stop()
        await reminders_adapter.close()

    asyncio.run(main())
    assert _count(runtime.engine, AcknowledgementRow) == 1
    assert "Tuần này" in fake.messages_to(AN)[-1]["text"] and "1/3" in fake.messages_to(AN)[-1]["text"]
    runtime.engine.dispose()


def test_metrics_and_health_on_the_web_app(fake, web):
    runtime, url = web
    with httpx.Client(base_url=url) as client:
        body = client.get("/metrics").text
        assert client.get("/healthz").status_code == 200
    sent = re.search(r'^reminders_deliveries_total\{status="sent"\} (\S+)$', body, re.M)
    assert sent and float(sent.group(1)) == 2.0  # the two group reminders of 07:00
    assert re.search(r"^reminders_queue_depth \S+$", body, re.M)
    assert 'reminders_send_lateness_seconds_bucket{le="+Inf"}' in body


def test_calendar_command_gives_a_private_feed_link(fake, calendars, tmp_path):
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 6, 0))
    with worker:
        group = {"chat": {"id": int(GROUP), "type": "supergroup"}}
        _reply(fake, runtime, group, _user(AN, "An"), "/calendar", 1)
        assert "riêng" in fake.messages_to(GROUP)[-1]["text"] and "/feeds/" not in fake.messages_to(GROUP)[-1]["text"]
        private = {"chat": {"id": AN, "type": "private"}}
        assert _reply(fake, runtime, private, _user(AN, "An"), "/calendar", 2).recorded
        text = fake.messages_to(AN)[-1]["text"]
        token = re.search(r"/feeds/([A-Za-z0-9_-]+)\.ics", text).group(1)
        from reminders.store.feed_tokens import scope_for
        assert scope_for(runtime.engine, token) == "team:thon-dong" and "webcal://" in text
    runtime.engine.dispose()


def _callback(message: dict, user: dict, data: str, query_id: str) -> dict:
    return {"callback_query": {"id": query_id, "from": user, "chat_instance": "c", "message": message, "data": data}}


def _run_bot(fake, calendars, tmp_path, until, *, timeout: float = 30):
    """`reminders bot` polling the fake until `until()` (or `timeout`); (still running?, stdout, stderr)."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
           "REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url}
    proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "bot", "--calendars", str(calendars)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not until() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        running = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    return running, out, err


def test_a_forged_update_never_stops_the_polling_bot(fake, calendars, tmp_path):
    """Issue 13.6: forged callback data ("done:ZZZZZZZZZZZZZ", too large for SQLite's INTEGER)
    stopped `reminders bot` with "Lỗi nội bộ (OverflowError…)", and the next updates went
    unanswered. Forged and malformed updates are answered or left behind; the next is handled."""
    runtime, message = _morning_reminder(fake, calendars, tmp_path)
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.push_update(_callback(message, _user(AN, "An"), "done:ZZZZZZZZZZZZZ", "forged-code"))
    fake.push_update(_callback(message, _user(AN, "An"), "done:" + "9" * 40, "forged-long"))
    malformed = _callback(message, _user(AN, "An"), code, "no-sender")
    del malformed["callback_query"]["from"]  # no one pressed it
    fake.push_update(malformed)
    fake.push_update({"message": {"message_id": 70, "date": "yesterday", "chat": message["chat"],
                                  "from": _user(AN, "An"), "text": "xong"}})
    fake.push_update(_callback(message, _user(BINH, "Bình"), code, "good"))

    def answered() -> dict:
        return {a["callback_query_id"]: a for a in fake.callback_answers}

    running, out, err = _run_bot(fake, calendars, tmp_path, lambda: "good" in answered())
    assert running, "the bot is still polling after the forged updates:\n" + err[-2000:]
    assert "good" in answered() and "Cảm ơn Trần Thị Bình" in answered()["good"]["text"]
    for forged in ("forged-code", "forged-long"):  # answered: no spinner left on the button
        assert answered()[forged]["text"] == "Lời nhắc này đã đóng."
        assert answered()[forged]["show_alert"] in (True, "true", "True")
    with runtime.engine.connect() as conn:
        acks = conn.execute(select(AcknowledgementRow.person_id)).scalars().all()
    assert acks == ["tran-thi-binh"]
    assert "Lỗi nội bộ" not in out + err and "Traceback" not in err
    runtime.engine.dispose()


def test_forged_and_malformed_updates_by_webhook_are_answered_not_a_500(fake, web):
    runtime, url = web
    [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    forged = {"update_id": 501, **_callback(message, _user(AN, "An"), "done:ZZZZZZZZZZZZZ", "w1")}
    malformed = {"update_id": 502, **_callback(message, _user(AN, "An"), "done:1", "w2")}
    del malformed["callback_query"]["from"]
    with httpx.Client(base_url=url) as client:
        assert client.post("/webhooks/telegram", json=forged, headers=good).status_code == 200
        assert client.post("/webhooks/telegram", json=malformed, headers=good).status_code == 200
    assert [a["callback_query_id"] for a in fake.callback_answers] == ["w1"]
    assert fake.callback_answers[0]["text"] == "Lời nhắc này đã đóng."
    assert _count(runtime.engine, AcknowledgementRow) == 0


def test_a_press_counts_only_for_a_reminder_sent_into_that_chat(fake, calendars, tmp_path):
    """Issue 13.7: a forged callback for a reminder due in two days was recorded as done.
    A press must come from the chat the reminder was sent to, after it was sent; a typed
    code must be one sent to the person or their team."""
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
        with runtime.engine.connect() as conn:
            future = conn.execute(select(DeliveryRow.id).where(
                DeliveryRow.recipient == "team:thon-dong", DeliveryRow.status == "pending",
                DeliveryRow.due_at >= vn(2024, 10, 3, 7, 0)).order_by(DeliveryRow.due_at)).scalars().first()
        refused = "Mã này không phải của lời nhắc đã gửi cho bạn hoặc tổ của bạn."
        # A forged press, in the group, for the reminder of 3 October (not sent yet).
        _, outcome = _press(fake, runtime, {**message, "reply_markup": {"inline_keyboard": [[
            {"text": "✅", "callback_data": f"done:{delivery_code(future)}"}]]}}, _user(AN, "An"))
        assert not outcome.recorded and outcome.reply == refused and outcome.alert
        # Today's reminder of the group, pressed in An's private chat (a forged message).
        private = {**message, "chat": {"id": AN, "type": "private"}}
        _, outcome = _press(fake, runtime, private, _user(AN, "An"))
        assert not outcome.recorded and outcome.reply == refused
        # ⏰ for the future reminder: no early reminder either.
        _, outcome = _press(fake, runtime, {**message, "reply_markup": {"inline_keyboard": [[
            {"text": "⏰", "callback_data": f"snooze:{delivery_code(future)}"}]]}}, _user(AN, "An"), "snooze")
        assert not outcome.recorded and outcome.reply == refused
        # Typed in the group: the future code.
        outcome = _reply(fake, runtime, {"chat": message["chat"]}, _user(BINH, "Bình"),
                         f"xong mã {delivery_code(future)}", 950)
        assert not outcome.recorded and outcome.reply == refused
        assert _count(runtime.engine, AcknowledgementRow) == 0
        with runtime.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(DeliveryRow).where(
                DeliveryRow.kind.contains("@"))).scalar() == 0, "no snoozed copy"
        # The real press, where it was sent, still counts.
        _, outcome = _press(fake, runtime, message, _user(AN, "An"))
        assert outcome.recorded
    runtime.engine.dispose()


def test_a_webhook_message_dated_far_from_now_is_refused(fake, web):
    """Issue 13.8: only the update id stopped a replay; a message dated 2001 or 2286 was taken."""
    runtime, url = web
    good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    chat = {"id": BINH, "type": "private"}

    def status(update_id: int, date: int) -> int:
        update = {"update_id": update_id, "message": {"message_id": update_id, "date": date, "chat": chat,
                                                      "from": _user(BINH, "Bình"), "text": "/status"}}
        with httpx.Client(base_url=url) as client:
            return client.post("/webhooks/telegram", json=update, headers=good).status_code

    for n, date in enumerate((1_000_000_000, 9_999_999_999, int(time.time()) - 2 * 3600, int(time.time()) + 7200)):
        assert status(600 + n, date) == 200  # refused quietly: the platform must not retry it
    assert not fake.messages_to(BINH) and _count(runtime.engine, InboundEventRow) == 0
    assert status(700, int(time.time()) - 30) == 200
    assert "Tuần này" in fake.messages_to(BINH)[-1]["text"]
    assert _count(runtime.engine, InboundEventRow) == 1


def test_done_after_snooze_cancels_the_snoozed_reminder(fake, calendars, tmp_path):
    """Issue 14.6: Bình pressed ⏰, then ✅: the snoozed reminder still came an hour later."""
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [message] = [m for m in fake.messages_to(GROUP) if "Chiến dịch" in m["text"]]
        _, snoozed = _press(fake, runtime, message, _user(BINH, "Bình"), "snooze")
        assert "nhắc lại" in snoozed.reply
        _, done = _press(fake, runtime, message, _user(BINH, "Bình"))
        assert done.recorded
        clock.set(vn(2024, 10, 1, 9, 0))
        worker.scheduler.tick()
        worker.drain()
        with runtime.engine.connect() as conn:
            copy = conn.execute(select(DeliveryRow.status, DeliveryRow.error).where(
                DeliveryRow.recipient == "person:tran-thi-binh", DeliveryRow.kind.contains("@"))).one()
            events = conn.execute(select(AuditEventRow.event).where(
                AuditEventRow.recipient == "person:tran-thi-binh").order_by(AuditEventRow.id)).scalars().all()
    assert not [m for m in fake.messages_to(BINH) if "Chiến dịch" in m["text"]], "no snoozed reminder after done"
    assert copy.status == "cancelled"
    assert events == ["snooze", "ack", "cancelled"]
    runtime.engine.dispose()


def _calendar_links(fake, runtime, times: int) -> list[str]:
    private = {"chat": {"id": AN, "type": "private"}}
    tokens = []
    for n in range(times):  # the replies themselves: Telegram allows one message a second to a chat
        reply = _reply(fake, runtime, private, _user(AN, "An"), "/calendar", 800 + n).reply
        tokens.append(re.search(r"/feeds/([A-Za-z0-9_-]+)\.ics", reply).group(1))
    return tokens, reply


def test_calendar_command_gives_the_same_link_again_with_a_secret_key(fake, calendars, tmp_path):
    """Issue 13.9: 20 × /calendar made 20 links that never expire. With REMINDERS_SECRET_KEY,
    the same link every time (kept sealed); the database alone does not reveal it."""
    from reminders.store.feed_tokens import scope_for
    from reminders.store.models import FeedTokenRow

    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=("telegram",),
                                         secret_key="k" * 40)
    runtime = open_runtime(settings, clock=VirtualClock(vn(2024, 10, 1, 6, 0)),
                           adapters={"telegram": TelegramAdapter(fake.token, fake.base_url)})
    with EmbeddedWorker(runtime, settings):
        tokens, reply = _calendar_links(fake, runtime, 20)
    assert "link gần nhất" not in reply
    assert len(set(tokens)) == 1 and scope_for(runtime.engine, tokens[0]) == "team:thon-dong"
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(FeedTokenRow.owner, FeedTokenRow.sealed, FeedTokenRow.revoked_at)).all()
    assert len(rows) == 1 and rows[0].owner == "nguyen-van-an" and rows[0].revoked_at is None
    assert rows[0].sealed.startswith("sealed:v1:") and tokens[0] not in rows[0].sealed
    runtime.engine.dispose()


def test_calendar_command_without_a_key_keeps_three_links(fake, calendars, tmp_path):
    """Without a key a link cannot be given again: a new one each time, the oldest revoked
    beyond three, as the reply says."""
    from reminders.store.feed_tokens import scope_for

    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 6, 0))
    with worker:
        tokens, reply = _calendar_links(fake, runtime, 20)
    assert len(set(tokens)) == 20
    assert [scope_for(runtime.engine, token) for token in tokens] == [None] * 17 + ["team:thon-dong"] * 3
    assert "chỉ 3 link gần nhất của bạn còn dùng được" in reply
    assert "Link cũ nhất của bạn không còn dùng được nữa." in reply
    runtime.engine.dispose()


def test_look_alike_done_words_are_understood_and_other_words_get_help(fake, calendars, tmp_path):
    """Issue 13.11: "xong" with a Cyrillic х, in fullwidth letters, or with a zero-width joiner
    got silence. They are acknowledgements; in a private chat, what the bot cannot understand
    gets a short help (the group is left to its talk)."""
    west = "-1001000000002"  # thôn Tây: Dũng, Em, Giang
    runtime, clock, worker = _stack(fake, calendars, tmp_path, vn(2024, 10, 1, 7, 0))
    with worker:
        worker.scheduler.tick()
        worker.drain()
        [message] = [m for m in fake.messages_to(west) if "Chiến dịch" in m["text"]]
        for n, (uid, name, text) in enumerate([(100011, "Dũng", "\u0445ong"), (100012, "Em", "ｘｏｎｇ"),
                                               (100013, "Giang", "x\u200dong ạ")]):
            assert _reply(fake, runtime, {"chat": message["chat"]}, _user(uid, name), text, 960 + n).recorded, text
        assert _count(runtime.engine, AcknowledgementRow) == 3
        before = len(fake.sent)
        assert not _reply(fake, runtime, {"chat": message["chat"]}, _user(100011, "Dũng"), "mai họp nhé", 970).reply
        assert len(fake.sent) == before, "the group's own talk gets no answer"
        private = {"chat": {"id": BINH, "type": "private"}}
        outcome = _reply(fake, runtime, private, _user(BINH, "Bình"), "hôm nay thế nào?", 971)
        assert outcome.reply.startswith("Xin lỗi, tôi chưa hiểu tin nhắn này.")
        assert "bấm ✅" in outcome.reply  # Telegram has buttons
        outcome = _reply(fake, runtime, private, _user(BINH, "Bình"), "/foo", 972)
        assert outcome.reply.startswith("Xin lỗi, tôi chưa hiểu")
    runtime.engine.dispose()


def test_paid_broadcast_sends_each_message_as_one(fake, tmp_path):
    """TELEGRAM_PAID_BROADCAST: every send carries allow_paid_broadcast, the bot-wide limit is
    what was paid for, a chat's own limit still holds; nothing refused, lost or sent twice."""
    calendars = _burst_calendars(tmp_path, 100)
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=f"sqlite:///{tmp_path / 'r.db'}", adapters=("telegram",),
                                         telegram_bot_token=fake.token, telegram_api_url=fake.base_url,
                                         telegram_paid_broadcast=1000)
    adapter = TelegramAdapter.from_settings(settings)
    assert {(lim.scope, lim.limit) for lim in adapter.capabilities.rate_limits} >= {("bot", 1000), ("chat", 1)}
    assert TelegramAdapter.capabilities.rate_limits[0].limit == 30, "the free adapter keeps Telegram's 30/s"
    runtime = open_runtime(settings, clock=VirtualClock(vn(2024, 10, 1, 8, 0)), adapters={"telegram": adapter})
    with EmbeddedWorker(runtime, settings, worker_threads=4) as worker:
        worker.scheduler.tick()
        worker.drain()
    codes = [m["reply_markup"]["inline_keyboard"][0][0]["callback_data"] for m in fake.sent]
    assert len(fake.sent) == 300 and len(set(codes)) == 300, "nothing lost, nothing duplicated"
    assert fake.paid_broadcasts == 300
    assert fake.too_many == 0, f"no limit exceeded: {fake.refused}"
    runtime.engine.dispose()

"""`reminders run` alone does everything: it sends, and it receives presses and replies by
polling when no webhook is set -- a real `reminders run` process against the fake Telegram
Bot API, with no `reminders bot` and no web app running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloOA
from sqlalchemy import select

from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow

GROUP = "-1003000000001"
BINH = 300002

ROSTER = """\
timezone: Asia/Ho_Chi_Minh
quiet_hours: off
communes:
  - {id: xa-thu, name: Xã Thử}
teams:
  - id: thon-nam
    name: Tổ CNSCĐ thôn Nam
    commune: xa-thu
    chats: {telegram: "-1003000000001"}
    members:
      - {id: an, name: Nguyễn Văn An, role: leader, chats: {telegram: "300001"}}
      - {id: binh, name: Trần Thị Bình, chats: {telegram: "300002"}}
      - {id: cuong, name: Lê Văn Cường, chats: {telegram: "300003"}}
"""


def _definitions(tmp_path: Path) -> Path:
    """A meeting in 20 minutes, reminded 20 minutes before: due as the process starts."""
    directory = tmp_path / "cal"
    directory.mkdir()
    start = (datetime.now(UTC) + timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    (directory / "roster.yaml").write_text(ROSTER, encoding="utf-8")
    (directory / "hop.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:hop@test\nSUMMARY:Họp tổ\n"
        f"DTSTART:{start}\nDURATION:PT1H\nX-REMINDER-TO:group\nBEGIN:VALARM\nACTION:DISPLAY\n"
        "DESCRIPTION:n\nTRIGGER:-PT20M\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n", encoding="utf-8")
    return directory


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def run(tmp_path, fake):
    procs: list[subprocess.Popen] = []

    def start(**more: str) -> tuple[subprocess.Popen, Path]:
        env = {**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
               "REMINDERS_CALENDARS": str(_definitions(tmp_path)), "REMINDERS_ADAPTERS": "telegram",
               "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.base_url,
               "REMINDERS_TICK_SECONDS": "1", "REMINDERS_LANGUAGE": "vi", **more}
        out = tmp_path / "run.out"
        with out.open("w") as stdout, (tmp_path / "run.err").open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "run"], env=env, cwd=tmp_path,
                                    stdout=stdout, stderr=stderr, start_new_session=True)
        procs.append(proc)
        return proc, out

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait(predicate, what: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"reminders run exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_a_press_is_recorded_with_only_reminders_run(run, fake, tmp_path):
    proc, out = run()
    _wait(lambda: "Đang chạy" in out.read_text(encoding="utf-8"), "the process to start", proc)
    _wait(lambda: any("Họp tổ" in m["text"] for m in fake.messages_to(GROUP)), "the reminder in the group", proc)
    assert "Telegram: đang nhận các lần bấm nút và câu trả lời tại đây" in out.read_text(encoding="utf-8")
    [message] = [m for m in fake.messages_to(GROUP) if "Họp tổ" in m["text"]]
    code = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].partition(":")[2]
    fake.push_update({"callback_query": {
        "id": "cb-1", "from": {"id": BINH, "is_bot": False, "first_name": "Bình"}, "chat_instance": "ci",
        "message": message, "data": f"done:{code}"}})

    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}", create=False)

    def recorded() -> list[str]:
        with engine.connect() as conn:
            return conn.execute(select(AcknowledgementRow.person_id)).scalars().all()
    _wait(lambda: recorded() == ["binh"], "Bình's acknowledgement", proc)
    _wait(lambda: bool(fake.callback_answers) and bool(fake.edits), "the popup and the progress line", proc)
    assert "Cảm ơn" in fake.callback_answers[0]["text"]
    assert "1/3 đã xác nhận: Bình" in fake.edits[-1]["text"]
    _stop(proc)
    engine.dispose()


def test_with_a_webhook_set_it_says_what_to_run_and_does_not_poll(run, fake):
    """Telegram with a webhook set, and the Zalo OA, which has no polling at all."""
    fake.webhook = {"url": "https://nhacviec.example.vn/webhooks/telegram", "secret_token": "x" * 20}
    oa = FakeZaloOA().start()
    try:
        proc, out = run(REMINDERS_ADAPTERS="telegram,zalo_oa", REMINDERS_PUBLIC_URL="https://nhacviec.example.vn", REMINDERS_SECRET_KEY="k" * 40,
                        ZALO_APP_ID=oa.app_id, ZALO_APP_SECRET=oa.app_secret, ZALO_OA_ACCESS_TOKEN=oa.access_token,
                        ZALO_OA_REFRESH_TOKEN=oa.refresh_token, ZALO_OA_API_URL=oa.base_url,
                        ZALO_OA_OAUTH_URL=oa.oauth_url)
        _wait(lambda: "Đang chạy" in out.read_text(encoding="utf-8"), "the process to start", proc)
    finally:
        oa.stop()
    said = out.read_text(encoding="utf-8")
    assert "Telegram: đã đặt webhook (https://nhacviec.example.vn/webhooks/telegram)" in said
    assert "uvicorn --factory reminders.web.app:create_app_from_env" in said
    assert "reminders webhook delete telegram" in said
    assert ("Zalo OA: câu trả lời chỉ đến qua webhook: hãy chạy ứng dụng web (uvicorn --factory "
            "reminders.web.app:create_app_from_env) và khai báo với nền tảng địa chỉ "
            "https://nhacviec.example.vn/webhooks/zalo_oa.") in said.replace("\n", " ")
    _wait(lambda: any("Họp tổ" in m["text"] for m in fake.messages_to(GROUP)), "the reminder in the group", proc)
    _stop(proc)
    assert "getWebhookInfo" in fake.calls and "getUpdates" not in fake.calls

"""`reminders webhook set|info|delete` against the fake Telegram and Zalo Bot APIs: the address
is REMINDERS_PUBLIC_URL plus the web app's own route, the secret the web app checks goes with
it, and a missing secret or a plain-http address is refused before any platform is asked."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloBot
from helpers import serve

from reminders.adapters.telegram import TelegramAdapter
from reminders.cli import main
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.web.app import create_app

SECRET = "tg-webhook-secret-0123456789"
ZALO_SECRET = "zalo-webhook-secret"
PUBLIC = "https://nhacviec.example.vn"


@pytest.fixture
def fakes():
    telegram, zalo = FakeTelegram().start(), FakeZaloBot().start()
    yield telegram, zalo
    telegram.stop()
    zalo.stop()


def _env(telegram, zalo, tmp_path, **changes) -> dict[str, str]:
    env = {"REMINDERS_ADAPTERS": "telegram,zalo_bot", "REMINDERS_PUBLIC_URL": PUBLIC,
           "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.base_url,
           "TELEGRAM_WEBHOOK_SECRET": SECRET, "ZALO_BOT_TOKEN": zalo.token, "ZALO_BOT_API_URL": zalo.base_url,
           "ZALO_BOT_WEBHOOK_SECRET": ZALO_SECRET, "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    env.update(changes)
    return env


def _webhook(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, ["webhook", *args], env=env, catch_exceptions=False)


def test_set_info_delete(fakes, tmp_path, calendars):
    telegram, zalo = fakes
    env = _env(telegram, zalo, tmp_path)

    result = _webhook(env, "set")
    assert result.exit_code == 0, result.output
    assert telegram.webhook == {"url": f"{PUBLIC}/webhooks/telegram", "secret_token": SECRET,
                                "allowed_updates": ["message", "callback_query"]}
    assert zalo.webhook == {"url": f"{PUBLIC}/webhooks/zalo_bot", "secret_token": ZALO_SECRET}
    assert f"Telegram: đã đặt webhook là {PUBLIC}/webhooks/telegram" in result.output
    assert "uvicorn --factory reminders.web.app:create_app_from_env" in result.output

    info = _webhook(env, "info")
    assert info.exit_code == 0, info.output
    assert f"Telegram: webhook {PUBLIC}/webhooks/telegram" in info.output
    assert f"Zalo: webhook {PUBLIC}/webhooks/zalo_bot" in info.output
    assert "không phải địa chỉ" not in info.output
    moved = _webhook({**env, "REMINDERS_PUBLIC_URL": "https://moi.example.vn"}, "info", "telegram")
    assert "không phải địa chỉ của hệ thống này (https://moi.example.vn/webhooks/telegram)" in moved.output

    # What `set` registered is the web app's route, and the secret it sent is the one the app checks.
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=f"sqlite:///{tmp_path / 'web.db'}", adapters=("telegram",))
    runtime = open_runtime(settings, adapters={"telegram": TelegramAdapter(telegram.token, telegram.base_url,
                                                                           webhook_secret=SECRET)})
    update = {"update_id": 1, "message": {"message_id": 5, "date": int(time.time()), "text": "/help",
                                          "chat": {"id": 100001, "type": "private"},
                                          "from": {"id": 100001, "is_bot": False, "first_name": "An"}}}
    path = urlsplit(telegram.webhook["url"]).path
    with serve(create_app(runtime)) as base, httpx.Client(base_url=base) as client:
        ok = client.post(path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": telegram.webhook["secret_token"]})
        assert ok.status_code == 200
        assert client.post(path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}).status_code == 403
    assert any("/status" in m["text"] for m in telegram.messages_to(100001)), "the app answered /help"
    runtime.engine.dispose()

    result = _webhook(env, "delete", "telegram")
    assert result.exit_code == 0 and telegram.webhook == {} and zalo.webhook, result.output
    assert "Telegram: không có webhook" in _webhook(env, "info", "telegram").output


@pytest.mark.parametrize("changes, named", [
    ({"TELEGRAM_WEBHOOK_SECRET": ""}, "TELEGRAM_WEBHOOK_SECRET"),
    ({"ZALO_BOT_WEBHOOK_SECRET": ""}, "ZALO_BOT_WEBHOOK_SECRET"),
    ({"REMINDERS_PUBLIC_URL": "http://nhacviec.example.vn"}, "REMINDERS_PUBLIC_URL"),
    ({"REMINDERS_PUBLIC_URL": ""}, "REMINDERS_PUBLIC_URL"),  # unset: http://localhost:8000
])
def test_set_is_refused_before_any_platform_is_asked(fakes, tmp_path, changes, named):
    telegram, zalo = fakes
    result = _webhook(_env(telegram, zalo, tmp_path, **changes), "set")
    assert result.exit_code == 1 and named in result.output
    assert "Traceback" not in result.output
    assert telegram.webhook == {} and zalo.webhook == {}, "nothing half-done"
    assert "setWebhook" not in telegram.calls + zalo.calls


def test_an_adapter_that_is_not_enabled_is_named(fakes, tmp_path):
    telegram, zalo = fakes
    result = _webhook(_env(telegram, zalo, tmp_path, REMINDERS_ADAPTERS="telegram"), "set", "zalo_bot")
    assert result.exit_code == 1 and "zalo_bot" in result.output and "REMINDERS_ADAPTERS=telegram" in result.output
    console = _webhook(_env(telegram, zalo, tmp_path, REMINDERS_ADAPTERS="console"), "info")
    assert console.exit_code == 1 and "REMINDERS_ADAPTERS=console" in console.output

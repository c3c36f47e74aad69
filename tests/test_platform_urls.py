"""One URL convention for every platform: the platform's base URL (https://api.telegram.org,
https://openapi.zalo.me, https://oauth.zaloapp.com, https://bot-api.zaloplatforms.com); the
adapters add their own paths. The forms of earlier versions are refused at start, naming the
variable and saying what to write instead."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from fake_telegram import FakeTelegram
from fake_zalo import FakeZaloBot

from reminders.adapters.telegram import TelegramAdapter
from reminders.adapters.zalo.bot import ZaloBotAdapter
from reminders.errors import ConfigurationError
from reminders.settings import load_settings


@pytest.mark.parametrize("variable, old, instead", [
    ("TELEGRAM_API_URL", "https://api.telegram.org/bot", "https://api.telegram.org"),
    ("TELEGRAM_API_URL", "http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081"),
    ("ZALO_BOT_API_URL", "https://bot-api.zaloplatforms.com/bot", "https://bot-api.zaloplatforms.com"),
    ("ZALO_OA_OAUTH_URL", "https://oauth.zaloapp.com/v4/oa/access_token", "https://oauth.zaloapp.com"),
    ("ZALO_OA_API_URL", "https://openapi.zalo.me/v3.0", "https://openapi.zalo.me"),
])
def test_an_old_style_url_is_refused_with_what_to_write(variable, old, instead):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: old})
    said = str(caught.value)
    assert said.startswith(f"{variable}: ") and f"write {instead}," in said


@pytest.mark.parametrize("variable", ["TELEGRAM_API_URL", "ZALO_OA_API_URL", "ZALO_OA_OAUTH_URL",
                                      "ZALO_BOT_API_URL", "REMINDERS_PUBLIC_URL"])
@pytest.mark.parametrize("value", ["api.telegram.org", "ftp://example.org", "https://example.org/?x=1"])
def test_a_url_that_is_no_base_url_is_refused(variable, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    assert str(caught.value).startswith(f"{variable}: ")


def test_the_defaults_are_the_platforms_base_urls_and_a_trailing_slash_is_dropped():
    settings = load_settings({"ZALO_BOT_API_URL": "https://bot-api.zaloplatforms.com/"})
    assert (settings.telegram_api_url, settings.zalo_oa_api_url, settings.zalo_oa_oauth_url,
            settings.zalo_bot_api_url) == ("https://api.telegram.org", "https://openapi.zalo.me",
                                           "https://oauth.zaloapp.com", "https://bot-api.zaloplatforms.com")
    # A path prefix is allowed (a self-hosted server behind a proxy), and kept.
    assert load_settings({"TELEGRAM_API_URL": "https://proxy.example.vn/telegram/"}).telegram_api_url == \
        "https://proxy.example.vn/telegram"


def test_adapters_built_from_the_settings_reach_the_platform_at_its_base_url():
    telegram, zalo = FakeTelegram().start(), FakeZaloBot().start()

    async def ask() -> tuple[str, str]:
        bot = TelegramAdapter.from_settings(settings)
        await bot.start()
        name = (await bot.bot.get_me()).username
        await bot.close()
        zbot = ZaloBotAdapter.from_settings(settings)
        account = (await zbot.call("getMe"))["account_name"]
        await zbot.close()
        return name, account

    try:
        settings = load_settings({"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.base_url,
                                  "ZALO_BOT_TOKEN": zalo.token, "ZALO_BOT_API_URL": zalo.base_url + "/"})
        assert asyncio.run(ask()) == ("nhacviec_test_bot", "bot.nhacviec")
    finally:
        telegram.stop()
        zalo.stop()


def test_reminders_run_refuses_an_old_style_url_naming_the_variable(tmp_path):
    env = {**os.environ, "REMINDERS_LANGUAGE": "en", "REMINDERS_ADAPTERS": "telegram",
           "TELEGRAM_BOT_TOKEN": "4242:TEST-token", "TELEGRAM_API_URL": "https://api.telegram.org/bot",
           "REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}"}
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "run"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "TELEGRAM_API_URL" in result.stderr and "write https://api.telegram.org" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "r.db").exists(), "nothing written"

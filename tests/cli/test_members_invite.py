"""`reminders members invite` on a Zalo-only deployment: no Telegram variable, the bot's or
OA's name from the platform, and a code that really links the account when sent as
`/start <code>` -- against the fake Zalo servers. A platform that cannot be reached stops the
command before any code is made (an earlier card keeps working)."""

from __future__ import annotations

import asyncio
import io
import re
import socket

import zxingcpp
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import func, select

from reminders.adapters.zalo.bot import ZaloBotAdapter
from reminders.cli import main
from reminders.inbound.updates import process
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.engine import make_engine
from reminders.store.invites import create_invite, redeem
from reminders.store.models import ChatBindingRow, InviteRow
from reminders.timeutil import utcnow


def _invite(env: dict[str, str], calendars, *args: str):
    return CliRunner().invoke(main, ["members", "invite", *args, "--calendars", str(calendars)], env=env,
                              catch_exceptions=False)


def test_a_zalo_bot_only_deployment_invites_without_telegram(zbot, calendars, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    env = {"REMINDERS_DATABASE_URL": url, "REMINDERS_ADAPTERS": "zalo_bot", "ZALO_BOT_TOKEN": zbot.token,
           "ZALO_BOT_API_URL": zbot.base_url}
    result = _invite(env, calendars, "--team", "thon-bac")
    assert result.exit_code == 0, result.output
    assert "Mã mời · Zalo" in result.output
    [code] = re.findall(r'gửi "/start ([A-Za-z0-9_-]+)" cho bot\.nhacviec trên Zalo', result.output.split("Bùi")[0])
    assert "getMe" in zbot.calls, "the bot's name comes from the platform"

    # Hải sends "/start <code>" to the bot on Zalo: his account is linked, and the bot says so.
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=url, adapters=("zalo_bot",))
    adapter = ZaloBotAdapter(zbot.token, zbot.base_url)
    runtime = open_runtime(settings, adapters={"zalo_bot": adapter})

    async def hai_writes():
        outcome = await process(runtime, adapter, zbot.update("z-hai-new", "z-hai-new", f"/start {code}",
                                                               group=False))
        await adapter.close()
        return outcome
    assert asyncio.run(hai_writes()).recorded
    with runtime.engine.connect() as conn:
        bound = conn.execute(select(ChatBindingRow.recipient, ChatBindingRow.adapter, ChatBindingRow.address)).all()
    assert [tuple(b) for b in bound] == [("person:do-van-hai", "zalo_bot", "z-hai-new")]
    assert zbot.messages_to("z-hai-new")[0]["text"].startswith("Chào Đỗ Văn Hải!")
    runtime.engine.dispose()

    # The printed cards: no QR code (nothing to open), the bot to find and what to send.
    sheet = tmp_path / "the"
    assert _invite(env, calendars, "do-van-hai", "--sheet", str(sheet)).exit_code == 0
    page = (sheet / "index.html").read_text(encoding="utf-8")
    assert "Mở Zalo và tìm bot.nhacviec." in page and re.search(r"Gửi tin nhắn này: /start [A-Za-z0-9_-]+", page)
    assert not list(sheet.glob("*.png")) and "<img" not in page


def test_a_zalo_oa_card_opens_the_oa_chat(oa, calendars, tmp_path):
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REMINDERS_ADAPTERS": "zalo_oa",
           "REMINDERS_SECRET_KEY": "k" * 40, "ZALO_APP_ID": oa.app_id, "ZALO_APP_SECRET": oa.app_secret, "ZALO_OA_ACCESS_TOKEN": oa.access_token,
           "ZALO_OA_REFRESH_TOKEN": oa.refresh_token, "ZALO_OA_API_URL": oa.base_url,
           "ZALO_OA_OAUTH_URL": oa.oauth_url}
    sheet = tmp_path / "the"
    result = _invite(env, calendars, "le-van-cuong", "--sheet", str(sheet))
    assert result.exit_code == 0, result.output
    image = Image.open(io.BytesIO((sheet / "le-van-cuong.png").read_bytes()))
    [barcode] = zxingcpp.read_barcodes(image)
    assert barcode.text == f"https://zalo.me/{oa.oa_id}"
    page = (sheet / "index.html").read_text(encoding="utf-8")
    assert f"Zalo OA sẽ mở cuộc trò chuyện với {oa.oa_name}." in page
    [code] = re.findall(r"Gửi tin nhắn này: /start ([A-Za-z0-9_-]+)", page)
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    assert redeem(engine, code, utcnow()) == "le-van-cuong"
    engine.dispose()


def test_a_platform_that_cannot_be_reached_makes_no_code(calendars, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    earlier = create_invite(engine, "do-van-hai", utcnow())
    env = {"REMINDERS_DATABASE_URL": url, "REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": "4242:TEST-token",
           "TELEGRAM_API_URL": f"http://127.0.0.1:{closed}"}
    result = _invite(env, calendars, "do-van-hai")
    assert result.exit_code == 1 and "Không hỏi được Telegram" in result.output
    assert "Traceback" not in result.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(InviteRow)).scalar() == 1
    assert redeem(engine, earlier, utcnow()) == "do-van-hai", "the earlier card still works"
    engine.dispose()


def test_the_console_takes_no_invites(calendars, tmp_path):
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REMINDERS_ADAPTERS": "console"}
    result = _invite(env, calendars, "do-van-hai")
    assert result.exit_code == 1 and "REMINDERS_ADAPTERS=console" in result.output

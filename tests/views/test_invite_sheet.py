"""`reminders members invite --sheet`: printable invite cards whose QR codes really scan, the
bot's name asked from the platform (the fake Telegram's getMe), no Telegram needed for Zalo."""

from __future__ import annotations

import base64
import io
import re

import pytest
import zxingcpp
from click.testing import CliRunner
from fake_telegram import BOT_USER, FakeTelegram
from PIL import Image
from sqlalchemy import select

from reminders.cli import main
from reminders.definitions.roster import load_roster
from reminders.store.engine import make_engine
from reminders.store.invites import redeem
from reminders.store.models import InviteRow
from reminders.timeutil import utcnow

BOT = BOT_USER["username"]  # what getMe says: nobody types the bot's name any more


@pytest.fixture(scope="module")
def telegram():
    server = FakeTelegram().start()
    yield server
    server.stop()


def _invite(database_url, calendars, *args, env=None, telegram=None):
    if env is None:
        env = {"REMINDERS_ADAPTERS": "telegram", "TELEGRAM_BOT_TOKEN": telegram.token,
               "TELEGRAM_API_URL": telegram.base_url}
    return CliRunner().invoke(main, ["members", "invite", *args, "--calendars", str(calendars)],
                              env={"REMINDERS_DATABASE_URL": database_url, **env}, catch_exceptions=False)


def _decode(png: bytes) -> str:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    [barcode] = zxingcpp.read_barcodes(image)
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return barcode.text


def test_sheet_for_a_team_scans_to_working_deep_links(database_url, calendars, tmp_path, telegram):
    sheet = tmp_path / "hop-thon-dong"
    result = _invite(database_url, calendars, "--team", "thon-dong", "vu-minh-giang", "--sheet", str(sheet),
                     telegram=telegram)
    assert result.exit_code == 0, result.output
    roster = load_roster(calendars / "roster.yaml")
    people = ["vu-minh-giang", "nguyen-van-an", "tran-thi-binh", "le-van-cuong"]
    page = (sheet / "index.html").read_text(encoding="utf-8")
    assert "@page { size: A4" in page and page.count('<section class="card"') == 4
    engine = make_engine(database_url)
    links = {}
    for pid in people:
        png = (sheet / f"{pid}.png").read_bytes()
        link = _decode(png)
        code = re.fullmatch(rf"https://t\.me/{BOT}\?start=([A-Za-z0-9_-]+)", link).group(1)
        links[pid] = (link, code)
        card = page.split(f"<h2>{roster.people[pid].name}</h2>")[0].rsplit('<section class="card"', 1)[1]
        embedded = re.search(r'src="data:image/png;base64,([^"]+)"', card).group(1)
        assert base64.b64decode(embedded) == png, "the page shows the same QR as the PNG file"
        assert link in page.split(f"<h2>{roster.people[pid].name}</h2>")[1].split("</section>")[0]
    assert "Mở camera điện thoại" in page and "Open the phone camera" in page  # Giang reads English
    assert "Tổ CNSCĐ thôn Đông" in page and "Trần Thị Bình" in page
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(InviteRow.code_hash, InviteRow.person_id))]
    assert sorted(p for _, p in stored) == sorted(people)
    assert not any(code in h for h, _ in stored for _, code in links.values()), "only hashes are stored"
    assert redeem(engine, links["tran-thi-binh"][1], utcnow()) == "tran-thi-binh"
    assert redeem(engine, links["tran-thi-binh"][1], utcnow()) is None
    engine.dispose()


def test_commune_sheet_and_plain_table(database_url, calendars, tmp_path, telegram):
    result = _invite(database_url, calendars, "--commune", "xa-tan-lap", "--sheet", str(tmp_path / "s"),
                     telegram=telegram)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").glob("*.png"))) == 8  # every team member; officials only by name
    table = _invite(database_url, calendars, "do-van-hai", telegram=telegram)
    assert table.exit_code == 0 and f"https://t.me/{BOT}?start=" in table.output
    assert "Đỗ Văn Hải" in table.output


def test_unknown_team_or_nobody(database_url, calendars, tmp_path, telegram):
    result = _invite(database_url, calendars, "--team", "thon-khong-co", "--sheet", str(tmp_path / "s"),
                     telegram=telegram)
    assert result.exit_code == 1 and "thon-khong-co" in result.output
    assert not (tmp_path / "s").exists()
    assert _invite(database_url, calendars, telegram=telegram).exit_code == 2


def test_a_reprinted_card_makes_the_old_code_stop_working(database_url, calendars, tmp_path):
    """A code links whoever redeems it to that person (an admin's card gives admin commands):
    after a new card, a lost or old one must not still work."""
    from reminders.store.invites import create_invite

    engine = make_engine(database_url)
    lost = create_invite(engine, "quan-tri-xa", utcnow())
    other = create_invite(engine, "do-van-hai", utcnow())
    reprinted = create_invite(engine, "quan-tri-xa", utcnow())
    assert redeem(engine, lost, utcnow()) is None
    assert redeem(engine, reprinted, utcnow()) == "quan-tri-xa"
    assert redeem(engine, other, utcnow()) == "do-van-hai", "other people's codes are untouched"
    engine.dispose()

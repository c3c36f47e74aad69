"""Every message has a Vietnamese translation, and the template is up to date."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

from reminders.i18n import format_when, t

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "reminders" / "locale"


def test_every_message_is_translated_to_vietnamese():
    with (LOCALE / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    missing = [m.id for m in catalog if m.id and not m.string]
    assert missing == []


def test_template_matches_the_code(tmp_path):
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "t:2", "-k", "N_", "--no-location", "--omit-header", "-o", str(out), str(ROOT)],
                   check=True, capture_output=True, cwd=ROOT)
    with out.open("rb") as fresh, (LOCALE / "messages.pot").open("rb") as shipped:
        assert sorted(m.id for m in read_po(fresh) if m.id) == sorted(m.id for m in read_po(shipped) if m.id)
    with (LOCALE / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        translated = {m.id for m in read_po(handle) if m.id}
    with out.open("rb") as fresh:
        assert {m.id for m in read_po(fresh) if m.id} <= translated


def test_dates_in_vietnamese_and_english():
    when = datetime(2024, 10, 4, 10, 0, tzinfo=ZoneInfo("UTC"))
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert format_when(when, "vi", zone) == "Thứ Sáu, 4 tháng 10, 2024 lúc 17:00"
    assert format_when(when, "en", zone) == "Friday, October 4, 2024 at 17:00"
    assert t("vi", "✅ Done") == "✅ Đã xong" and t("en", "✅ Done") == "✅ Done"

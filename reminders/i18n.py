"""Message catalogs (Babel/gettext) and dates in the reader's language and time zone.

Vietnamese is the default. Catalogs are compiled to .mo at install; a source checkout
without them falls back to reading the .po files directly.
"""

from __future__ import annotations

import gettext as _gettext
from datetime import date, datetime, tzinfo
from functools import cache, lru_cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
DOMAIN = "messages"


class _PoTranslations(_gettext.NullTranslations):
    def __init__(self, po_path: Path, language: str):
        super().__init__()
        from babel.messages.pofile import read_po

        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        # Singular messages only: a plural's id and string are tuples, never looked up by gettext().
        self._messages: dict[str, str] = {m.id: m.string for m in catalog if isinstance(m.id, str) and m.id
                                          and isinstance(m.string, str) and m.string and not m.fuzzy}

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)


@cache
def translations(language: str) -> _gettext.NullTranslations:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    mo_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    po_path = mo_path.with_suffix(".po")
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        return Translations.load(str(LOCALE_DIR), [language], DOMAIN)
    if po_path.exists():
        return _PoTranslations(po_path, language)
    return _gettext.NullTranslations()


def t(language: str, message: str, **values: object) -> str:
    """Translate `message` into `language` and fill its {placeholders}."""
    text = translations(language).gettext(message)
    return text.format(**values) if values else text


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def format_when(value: date | datetime, language: str, zone: tzinfo, *, all_day: bool = False) -> str:
    """'Thứ Sáu, 4 tháng 10, 2024 lúc 17:00' / 'Friday, October 4, 2024 at 17:00'."""
    return _format_when(value, language, zone, all_day)


@lru_cache(maxsize=4096)  # a burst renders the same occurrence's time for thousands of readers
def _format_when(value: date | datetime, language: str, zone: tzinfo, all_day: bool) -> str:
    locale = language if language in LANGUAGES else DEFAULT_LANGUAGE
    if all_day or not isinstance(value, datetime):
        day = value.astimezone(zone).date() if isinstance(value, datetime) else value
        return format_date(day, "full", locale=locale)
    local = value.astimezone(zone)
    return t(language, "{date} at {time}", date=format_date(local.date(), "full", locale=locale),
             time=format_time(local, "HH:mm", locale=locale))


def format_day(day: date, language: str) -> str:
    """A day without its weekday, spelled out: '30 tháng 9, 2023' / 'September 30, 2023'
    (Babel's medium form abbreviates the Vietnamese month to 'thg 9', which reads badly)."""
    return format_date(day, "long", locale=language if language in LANGUAGES else DEFAULT_LANGUAGE)


def format_short(value: datetime, language: str, zone: tzinfo) -> str:
    """A compact local time for tables: '04/10 17:00'."""
    return value.astimezone(zone).strftime("%d/%m %H:%M")

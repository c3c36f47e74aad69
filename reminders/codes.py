"""Delivery codes: the short code people quote, type or press ("2S7"), one per outbox row.

A code is the row's id in base 36. Codes arrive from outside (button data, typed text,
forged callbacks), so parsing refuses anything that is not a plausible code before it
gets near the database: at most 12 characters of 0-9/A-Z, a value a 64-bit column holds.
"""

from __future__ import annotations

import re

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_CODE_LENGTH = 12
MAX_ID = 2**63 - 1  # PostgreSQL BIGINT and SQLite INTEGER
_CODE = re.compile(rf"[0-9A-Za-z]{{1,{MAX_CODE_LENGTH}}}")


def delivery_code(delivery_id: int) -> str:
    """The short code people quote or type: base-36 of the delivery id, e.g. '2S7'."""
    value, out = delivery_id, ""
    while True:
        value, rest = divmod(value, 36)
        out = DIGITS[rest] + out
        if not value:
            return out


def parse_delivery_code(code: str) -> int | None:
    """The delivery id a code names, or None if it cannot be one of ours."""
    text = code.strip().lstrip("#")
    if not _CODE.fullmatch(text):
        return None
    value = int(text, 36)
    return value if 0 < value <= MAX_ID else None

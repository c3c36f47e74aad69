"""Folding Vietnamese text for matching replies: 'Đã xong!' and 'da xong' are the same."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower case, no diacritics (đ -> d), punctuation to spaces, single spaces."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(text.split())

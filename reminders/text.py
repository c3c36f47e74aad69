"""Text as people type it, made comparable; and text from people, made safe to show.

`fold` is the one folding of the project: 'Đã xong!', 'da xong', 'ĐÃ XONG' and 'xоng' with a
Cyrillic о all become 'da xong'. `shown` strips what would reorder or hide text when it is
displayed (bidirectional controls, zero-width characters).
"""

from __future__ import annotations

import unicodedata

DASHES = "–—−‐‑‒"
# Characters that hide or reorder what is around them when shown: bidirectional embeddings,
# overrides and isolates, direction marks, and zero-width spaces and joiners.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = dict.fromkeys(map(ord, BIDI_CONTROLS + ZERO_WIDTH))
# Letters of other scripts that look like Latin ones in the words people answer with
# ("xong", "ok", "done", "có", "không"): NFKC does not map them.
CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ո": "n", "ց": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "ο": "o", "α": "a", "ν": "v", "κ": "k", "ρ": "p", "τ": "t", "χ": "x", "ι": "i",
    "Ο": "O", "Α": "A", "Κ": "K", "Ρ": "P", "Τ": "T", "Χ": "X", "Ι": "I", "Ν": "N", "Ε": "E",
})


def shown(text: str) -> str:
    """`text` without bidirectional controls and zero-width characters: what a name or an
    answer looks like is what it is."""
    return text.translate(_INVISIBLE)


def _fold_char(char: str, keep: str) -> str:
    if char in DASHES:
        return "-" if "-" in keep else " "
    if char in "đĐ":
        return "d"
    folded = "".join(c for c in unicodedata.normalize("NFD", char.lower()) if unicodedata.category(c) != "Mn")
    return "".join(c if c.isalnum() or c in keep else " " for c in folded)


def fold_with_index(text: str, keep: str = ":/-") -> tuple[str, list[int]]:
    """Lower case, no diacritics (đ -> d), look-alike letters of other scripts as Latin,
    invisible characters dropped, punctuation as spaces -- except the characters in `keep`.

    Returns the folded text and, for each of its characters, the position in `text` it came
    from, so that recognised pieces can be quoted back in the writer's own spelling."""
    chars: list[str] = []
    index: list[int] = []
    for position, char in enumerate(text):
        if char in BIDI_CONTROLS or char in ZERO_WIDTH:
            continue
        for piece in _fold_char(unicodedata.normalize("NFKC", char).translate(CONFUSABLES), keep):
            chars.append(piece)
            index.append(position)
    return "".join(chars), index


def fold(text: str) -> str:
    """Lower case, no diacritics, look-alikes as Latin, punctuation to spaces, single spaces."""
    return " ".join(fold_with_index(text, keep="_")[0].split())

"""Text as people type it, made comparable; and text from people, made safe to show.

`fold` is the one folding of the project: 'Đã xong!', 'da xong', 'ĐÃ XONG' and 'xоng' with a
Cyrillic о all become 'da xong'. `shown` strips what would reorder or hide text when it is
displayed (bidirectional controls, zero-width and control characters).
"""

from __future__ import annotations

import unicodedata

DASHES = "–—−‐‑‒"
# Characters that hide or reorder what is around them when shown: bidirectional embeddings,
# overrides and isolates, direction marks, and zero-width spaces and joiners.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"
# Control characters too (a NUL, which PostgreSQL refuses in text), but new lines and tabs.
CONTROLS = "".join(chr(c) for c in [*range(0x00, 0x20), *range(0x7f, 0xa0)] if chr(c) not in "\n\t")
_INVISIBLE = dict.fromkeys(map(ord, BIDI_CONTROLS + ZERO_WIDTH + CONTROLS))
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
    """`text` without bidirectional controls, zero-width and control characters: what a name
    or an answer looks like is what it is."""
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


# Vietnamese numbers in words, folded ("hai mươi lăm" -> "hai muoi lam" -> 25). "mốt", "tư",
# "lăm" are 1, 4, 5 after a ten; "mươi"/"mười" fold alike, and so do "tám" (8) and "tầm" (about).
# "không" is left out: alone it says "no".
_DIGIT_WORDS = {"mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "lam": 5, "sau": 6,
                "bay": 7, "tam": 8, "chin": 9}
_SCALES = {"nghin": 1000, "ngan": 1000, "trieu": 1_000_000}
# Around a number said in words, only what people say with a count ("khoảng hai mươi hộ ạ"):
# anything else ("năm nay", "bà con") is not a number, so ordinary chat is never an answer.
_BEFORE_NUMBER = frozenset({"khoang", "tam", "duoc", "co", "la", "tong", "cong", "chung", "gan", "hon"})
_AFTER_NUMBER = frozenset({"ho", "nguoi", "gia", "dinh", "tai", "khoan", "luot", "lan", "buoi", "ca",
                           "a", "nhe", "nha", "roi", "thoi"})


def _words_value(words: list[str]) -> int | None:
    """The value of number words ("hai", "muoi", "lam"), or None if they are not one number."""
    total, group, digit = 0, 0, None
    for word in words:
        if word in _DIGIT_WORDS:
            if digit is not None:  # "hai ba": two numbers, not one
                return None
            digit = _DIGIT_WORDS[word]
        elif word in ("muoi", "chuc"):  # "hai mươi" 20, "mười" 10, "hai chục" 20
            group += (1 if digit is None else digit) * 10
            digit = None
        elif word == "tram":
            group += (1 if digit is None else digit) * 100
            digit = None
        elif word in ("linh", "le"):  # "một trăm linh năm": 105
            if digit is not None or not group:
                return None
        elif word in _SCALES:
            total += ((group + (digit or 0)) or 1) * _SCALES[word]
            group, digit = 0, None
        else:
            return None
    if digit is None and not group and not total:
        return None
    return total + group + (digit or 0)


def spoken_number(text: str) -> int | None:
    """A number written in Vietnamese words, alone or with a count's usual words around it:
    "hai mươi" 20, "ba mươi lăm hộ" 35, "mười lăm" 15, "một trăm" 100, "khoảng hai mươi hộ ạ"
    20. None for anything else ("năm nay", "bà con đông lắm")."""
    words = fold(text).split()
    start = 0
    while True:
        for end in range(len(words), start, -1):
            if all(w in _AFTER_NUMBER for w in words[end:]):
                value = _words_value(words[start:end])
                if value is not None:
                    return value
        if start < len(words) and words[start] in _BEFORE_NUMBER:
            start += 1
            continue
        return None

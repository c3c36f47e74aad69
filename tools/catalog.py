"""Keep the message catalogs in step with the code, safely from several shells at once.

    python tools/catalog.py add translations.json   # {"English msgid {x}": "Tiếng Việt {x}", ...}
    python tools/catalog.py sync                    # re-extract the template, merge into vi/en
    python tools/catalog.py missing                 # msgids in the code without a Vietnamese string

`add` and `sync` re-extract messages.pot from the code, add new msgids to every .po
(Vietnamese filled from the JSON file; English stays empty, so the msgid shows), and
drop msgids the code no longer uses. An exclusive lock serialises concurrent runs.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "reminders" / "locale"
POT = LOCALE / "messages.pot"
LANGUAGES = ("vi", "en")


def _extract() -> Catalog:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "t:2", "-k", "N_", "--no-location", "--omit-header", "-o", str(POT), "."],
                   check=True, capture_output=True, cwd=ROOT)
    with POT.open("rb") as handle:
        return read_po(handle)


def _po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "messages.po"


def _merge(template: Catalog, translations: dict[str, str]) -> list[str]:
    untranslated: list[str] = []
    for language in LANGUAGES:
        path = _po_path(language)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        wanted = {m.id for m in template if m.id}
        for message in list(catalog):
            if message.id and message.id not in wanted:
                catalog.delete(message.id)
        for message in template:
            if not message.id:
                continue
            existing = catalog.get(message.id)
            string = translations.get(message.id, "") if language == "vi" else ""
            if existing is None:
                catalog.add(message.id, string, flags=message.flags)
            elif string and language == "vi":
                existing.string = string
            if language == "vi" and not (catalog.get(message.id).string):
                untranslated.append(message.id)
        with path.open("wb") as handle:
            write_po(handle, catalog, omit_header=False, no_location=True, width=0)
    return untranslated


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"add", "sync", "missing"}:
        print(__doc__)
        return 2
    translations: dict[str, str] = {}
    if argv[0] == "add":
        translations = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    with (LOCALE / ".catalog.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        template = _extract()
        if argv[0] == "missing":
            with _po_path("vi").open("rb") as handle:
                done = {m.id for m in read_po(handle) if m.id and m.string}
            untranslated = [m.id for m in template if m.id and m.id not in done]
        else:
            untranslated = _merge(template, translations)
    for msgid in untranslated:
        print(f"untranslated (vi): {msgid!r}")
    return 1 if untranslated else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

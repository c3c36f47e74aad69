"""The `reminders` console script: a module outside the `reminders` package, so that Ctrl-C
while the package is still being imported (over a second on a slow machine: `import
reminders` loads the whole public API, the command line imports every command) ends with
exit 130 and no traceback. Python runs this before anything of ours is imported."""

from __future__ import annotations

import importlib
import sys

INTERRUPTED = 130  # 128 + SIGINT, as shells report a command ended by Ctrl-C


def main() -> None:
    """Import the command line and run it; Ctrl-C during the import ends quietly."""
    try:
        # importlib, not an import statement: this module must import nothing of ours at its top
        cli = importlib.import_module("reminders.cli")
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    cli.main()

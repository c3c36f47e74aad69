"""The README stays true: its test command is what .ci/run runs, and every `from reminders…
import …` in its Python examples imports."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_test_command_is_the_one_ci_runs():
    command = re.search(r"Install and run the test suite.*?```sh\n(.*?)\n```", README, re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert command == ci


IMPORTS = sorted({(m.group(1), name.strip()) for block in re.findall(r"```python\n(.*?)```", README, re.S)
                  for m in re.finditer(r"^from (reminders[\w.]*) import ([^\n]+)", block, re.M)
                  for name in m.group(2).split(",")})


@pytest.mark.parametrize("module, name", IMPORTS)
def test_every_import_in_the_readme_examples_works(module, name):
    assert hasattr(importlib.import_module(module), name.split(" as ")[0])

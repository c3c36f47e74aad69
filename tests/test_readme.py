"""The README stays true: its test command is what .ci/run runs (and stops at once, with the
install command, when it cannot install what the suite needs), and every `from reminders…
import …` in its Python examples imports."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_test_command_is_the_one_ci_runs():
    command = re.search(r"Install and run the test suite.*?```sh\n(.*?)\n```", README, re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert command == ci


def test_the_test_command_runs_the_static_checks_then_the_suite():
    script = (ROOT / "tools" / "test").read_text(encoding="utf-8")
    steps = [".venv/bin/pip install -q -e '.[test]'", ".venv/bin/ruff check .", ".venv/bin/mypy",
             ".venv/bin/lint-imports", ".venv/bin/python tools/imports.py", ".venv/bin/pytest -n 3"]
    assert [script.index(step) for step in steps] == sorted(script.index(step) for step in steps)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "export REMINDERS_REQUIRE_SERVICES=1" in ci and "REMINDERS_TEST_POSTGRES_URL" in ci


def test_the_test_command_names_the_install_command_at_once_when_it_cannot_install(tmp_path):
    """No chromium, not root, no sudo: it stops before installing anything, with the command."""
    (tmp_path / "tools").mkdir()
    script = tmp_path / "tools" / "test"
    script.write_text((ROOT / "tools" / "test").read_text(encoding="utf-8"), encoding="utf-8")
    bin_dir = tmp_path / "bin"  # a PATH with the shell's basics only: no chromium, apt-get or services
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "env", "ls"):
        os.symlink(subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True,
                                  check=True).stdout.strip(), bin_dir / tool)
    for stub, body in (("id", "echo 1000"), ("sudo", "exit 1")):
        (bin_dir / stub).write_text(f"#!{bin_dir / 'bash'}\n{body}\n")
        (bin_dir / stub).chmod(0o755)
    result = subprocess.run([str(bin_dir / "bash"), str(script)], capture_output=True, text=True, timeout=60,
                            env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert "run: sudo apt-get install -y chromium" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "tools"]  # no .venv: nothing half-done


IMPORTS = sorted({(m.group(1), name.strip()) for block in re.findall(r"```python\n(.*?)```", README, re.S)
                  for m in re.finditer(r"^from (reminders[\w.]*) import ([^\n]+)", block, re.M)
                  for name in m.group(2).split(",")})


@pytest.mark.parametrize("module, name", IMPORTS)
def test_every_import_in_the_readme_examples_works(module, name):
    assert hasattr(importlib.import_module(module), name.split(" as ")[0])


TIMED = re.compile(r"assert\b[^#\n]*(?:(?:monotonic|perf_counter|time)\(\)\s*-|\belapsed\b|\btook\b|\bduration_s\b)")


def test_no_test_asserts_wall_clock_time():
    """Speed belongs in bench/ (README, "Tests"): an assertion on elapsed time fails on a busy
    machine. Deadlines that only catch a hang (`time.monotonic() < deadline`) are fine."""
    timed = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in sorted((ROOT / "tests").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if TIMED.search(line) and "samples = " not in line]
    assert timed == []
    samples = ("    assert time.monotonic() - started < 1.5", "assert elapsed < 1.0")  # what it catches
    assert all(TIMED.search(sample) for sample in samples)

"""How long `reminders check` makes the admin wait, on big inputs (issue 15, item 8).

Why: validation runs at `run` start and on every reload. It generates 20 FREQ=HOURLY duties,
1,000 daily duties and one file of 50,000 VEVENTs (each beside a copy of the shipped roster),
and takes the shipped calendars as the floor; runs `reminders check` on each in a subprocess
`--runs` times (at least 3) and reports min/median/max wall time. Goals: 20 hourly duties
within 2x the shipped calendars' median; 50,000 VEVENTs under 30 s. Exit 1 if a check fails
or a goal is missed. The machine's load average is printed with the figures.

    python bench/check_speed.py [--runs 3] [--only hourly,daily,many,shipped] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "calendars"
CLI = [sys.executable, "-m", "reminders.cli", "check"]
TIMEOUT = 600  # seconds a single check may take before it counts as failed (and is killed)
GOALS = {"hourly": ("x shipped", 2.0), "many": ("seconds", 30.0)}


def _calendar(events: str) -> str:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//check//EN\r\n{events}END:VCALENDAR\r\n"


def _recurring(prefix: str, count: int, rule: str) -> str:
    return _calendar("".join(
        f"BEGIN:VEVENT\r\nUID:{prefix}-{i}@bench\r\nSUMMARY:Nhiệm vụ {i}\r\n"
        f"DTSTART;TZID=Asia/Ho_Chi_Minh:20240105T080000\r\nDURATION:PT30M\r\nRRULE:{rule}\r\nEND:VEVENT\r\n"
        for i in range(count)))


def _many(count: int) -> str:
    return _calendar("".join(
        f"BEGIN:VEVENT\r\nUID:e{i}@bench\r\nSUMMARY:Việc {i}\r\n"
        f"DTSTART:2024{1 + i % 12:02d}{1 + i % 28:02d}T010000Z\r\nEND:VEVENT\r\n" for i in range(count)))


def make_inputs(base: Path) -> dict[str, Path]:
    """name -> calendars folder (with roster.yaml)."""
    generated = {"hourly": _recurring("hourly", 20, "FREQ=HOURLY"),
                 "daily": _recurring("daily", 1000, "FREQ=DAILY"),
                 "many": _many(50_000)}
    folders = {"shipped": base / "shipped"}
    shutil.copytree(SHIPPED, folders["shipped"])
    for name, text in generated.items():
        folder = folders[name] = base / name
        folder.mkdir()
        (folder / "duties.ics").write_text(text, encoding="utf-8")
        shutil.copy(SHIPPED / "roster.yaml", folder / "roster.yaml")
    return folders


def time_check(folder: Path, work: Path) -> float:
    """One `reminders check` in its own process group, killed with its children if it hangs."""
    started = time.perf_counter()
    process = subprocess.Popen([*CLI, "--calendars", str(folder), "--roster", str(folder / "roster.yaml")],
                               cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "REMINDERS_DATABASE_URL": f"sqlite:///{work / 'b.db'}"},
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise SystemExit(f"FAILED: check of {folder.name} took over {TIMEOUT} s") from None
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"FAILED: check of {folder.name} exited {process.returncode}:\n{out}{err}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="shipped,hourly,daily,many")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    runs = max(3, args.runs)
    names = [n for n in ("shipped", "hourly", "daily", "many") if n in args.only.split(",")]
    if "hourly" in names and "shipped" not in names:
        names.insert(0, "shipped")  # the hourly goal is relative to it
    load_before = os.getloadavg()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="check-bench-") as temp:
        base = Path(temp)
        folders = make_inputs(base)
        for name in names:
            times = [time_check(folders[name], base) for _ in range(runs)]
            results[name] = {"min": min(times), "median": statistics.median(times), "max": max(times)}
            print(f"{name:8} min {results[name]['min']:6.2f} s  median {results[name]['median']:6.2f} s  "
                  f"max {results[name]['max']:6.2f} s", flush=True)
    load_after = os.getloadavg()
    missed = []
    if "hourly" in results:
        ratio = results["hourly"]["median"] / results["shipped"]["median"]
        results["hourly"]["x_shipped"] = ratio
        if ratio > GOALS["hourly"][1]:
            missed.append(f"20 hourly duties: {ratio:.2f}x the shipped calendars (goal <= 2x)")
    if "many" in results and results["many"]["median"] > GOALS["many"][1]:
        missed.append(f"50,000 VEVENTs: median {results['many']['median']:.1f} s (goal < 30 s)")
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}; "
          f"{os.cpu_count()} CPUs", flush=True)
    for line in missed:
        print(f"GOAL MISSED: {line}", flush=True)
    if args.json:
        print(json.dumps({"runs": runs, "results": results, "load_before": load_before,
                          "load_after": load_after, "cpus": os.cpu_count(), "missed": missed}))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

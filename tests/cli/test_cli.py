"""The CLI as an admin uses it: simulate, check, run, status, ack."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def reminders(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reminders.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=timeout)


def test_simulate_october_campaign_in_vietnamese():
    result = reminders("simulate", "--from", "2024-10-01", "--to", "2024-10-11")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    headers = re.findall(r"^── (\S+ \S+) → (.+)$", out, re.M)
    times = [h[0] for h in headers]
    assert times == sorted(times), "messages are printed in time order"
    campaign_mornings = [h for h in headers if h[0].endswith("07:00") and "thôn Đông" in h[1]]
    assert len(campaign_mornings) == 10 + 1  # ten campaign mornings + the 10 October day
    assert out.count("❓ Hôm nay tổ đã hướng dẫn được bao nhiêu hộ?") == 10 * 4
    assert "Nhắc việc: Ngày Chuyển đổi số quốc gia (10/10)" in out
    assert "── 2024-10-09 17:00" in out  # the eve of the national day (all-day, TRIGGER -PT7H)
    assert "Thứ Năm, 10 tháng 10, 2024" in out
    assert "Nhắc việc: Báo cáo kết quả chiến dịch" in out  # 11 October, to the leaders
    # An English-speaking member gets English.
    assert "Did you attend" not in out  # training is on 12 October, outside this window
    assert re.search(r"Sẽ gửi \d+ tin nhắn", out)


def test_simulate_english_member_gets_english():
    result = reminders("simulate", "--from", "2024-10-11", "--to", "2024-10-12")
    assert result.returncode == 0, result.stderr
    block = result.stdout.split("→ Vũ Minh Giang")[1].split("──")[0]
    assert "Reminder: Tập huấn 05 kỹ năng số" in block
    assert "Friday, October 11, 2024" in block or "Saturday, October 12, 2024" in block


def test_check_ok_and_bad_date():
    ok = reminders("check")
    assert ok.returncode == 0 and "Hợp lệ: 7 nhiệm vụ" in ok.stdout
    bad = reminders("simulate", "--from", "1/10/2024", "--to", "2024-10-11")
    assert bad.returncode != 0 and "2024-10-01" in bad.stderr and "Traceback" not in bad.stderr


def test_run_status_ack_console_loop(tmp_path):
    """`reminders run` in the background sends what is due; `status` and `ack` complete the loop."""
    env = {"REMINDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "REMINDERS_TICK_SECONDS": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "reminders.cli", "run"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any("Đã nạp 7 nhiệm vụ và 3 tổ" in line for line in lines), "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

    status = reminders("status", env=env)
    assert status.returncode == 0 and "Traceback" not in status.stderr
    wrong = reminders("ack", "ZZZZZZ", "--member", "nguyen-van-an", env=env)
    assert wrong.returncode == 1 and "ZZZZZZ" in wrong.stderr and "Traceback" not in wrong.stderr

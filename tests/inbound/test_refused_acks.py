"""`ack --snooze` on a reminder already acknowledged, and `ack --answer` on a duty that asks
no question, are refused with a reason -- where they are recorded, whatever the channel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import radio_reminder_sent, vn
from sqlalchemy import func, select

from reminders.errors import AlreadyDone, AnswerError
from reminders.inbound.acks import record_acknowledgement, snooze
from reminders.store.models import AcknowledgementRow, DeliveryRow

ROOT = Path(__file__).resolve().parents[2]
RADIO = "radio-chuyen-doi-so@reminders"  # a weekly duty with no check-in question
MEMBER = "nguyen-van-an"


@pytest.fixture
def sent(tmp_path: Path):
    """A database where the radio duty's reminder of 5 January 2024 was sent to An: (runtime, code, db)."""
    db = tmp_path / "r.db"
    runtime, code = radio_reminder_sent(db, MEMBER)
    yield runtime, code, db
    runtime.engine.dispose()


def _pending(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(DeliveryRow)
                            .where(DeliveryRow.status == "pending", DeliveryRow.kind.contains("@"))).scalar_one()


def test_snooze_after_acknowledging_is_refused(sent) -> None:
    runtime, code, _ = sent
    now = vn(2024, 1, 5, 15, 5)
    record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=code, person_id=MEMBER,
                           channel="console", now=now)
    with pytest.raises(AlreadyDone, match="đã được ghi nhận là xong"):
        snooze(runtime.engine, runtime.roster, code=code, person_id=MEMBER, now=now)
    assert _pending(runtime.engine) == 0


def test_an_answer_to_a_duty_without_a_question_is_refused(sent) -> None:
    runtime, code, _ = sent
    with pytest.raises(AnswerError, match="không có câu hỏi"):
        record_acknowledgement(runtime.engine, runtime.roster, runtime.duties, code=code, person_id=MEMBER,
                               channel="console", now=vn(2024, 1, 5, 15, 5), answer="25 hộ")
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar_one() == 0


def test_the_cli_refuses_both(sent) -> None:
    runtime, code, db = sent
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")},
           "REMINDERS_DATABASE_URL": f"sqlite:///{db}"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reminders.cli", "ack", code, "--member", MEMBER, *args],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)

    answered = cli("--answer", "có")
    assert answered.returncode == 1 and "không có câu hỏi" in answered.stderr, answered
    assert "Traceback" not in answered.stderr
    done = cli()
    assert done.returncode == 0, done.stderr
    again = cli("--snooze")
    assert again.returncode == 1 and "đã được ghi nhận là xong" in again.stderr, again
    assert _pending(runtime.engine) == 0

"""The whole reminder loop -- plan, dispatch, send, acknowledge, answer -- on the embedded
default (SQLite + StubBroker) and on PostgreSQL + Redis: the same test, parametrised."""

from __future__ import annotations

import io
import uuid

import pytest
from conftest import REDIS_URL, need_service
from helpers import vn
from sqlalchemy import select

from reminders.adapters.console import ConsoleAdapter
from reminders.codes import delivery_code
from reminders.errors import AnswerError, NotOnRoster
from reminders.inbound.acks import record_acknowledgement
from reminders.jobs.broker import make_broker
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import AcknowledgementRow, DeliveryRow
from reminders.timeutil import VirtualClock
from reminders.views.status import occurrence_status

CAMPAIGN = "chien-dich-di-tung-ngo@reminders"


@pytest.fixture(params=["embedded", "production"])
def stack(request, tmp_path, calendars):
    """(settings, broker): SQLite + StubBroker, or PostgreSQL + Redis."""
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"))
    if request.param == "embedded":
        yield settings.replace(database_url=f"sqlite:///{tmp_path / 'r.db'}"), make_broker(None)
        return
    from conftest import _postgres_database

    redis_url = need_service(REDIS_URL, "REMINDERS_TEST_REDIS_URL")
    url, drop = _postgres_database()
    broker = make_broker(redis_url, namespace=f"reminders-test-{uuid.uuid4().hex[:8]}")
    try:
        yield settings.replace(database_url=url, redis_url=redis_url), broker
    finally:
        broker.close()
        drop()


def _delivery(engine, recipient: str, kind: str, day: int) -> DeliveryRow:
    from sqlmodel import Session

    from reminders.store.models import OccurrenceRow

    with Session(engine) as session:
        return session.exec(select(DeliveryRow).join(OccurrenceRow).where(
            OccurrenceRow.duty_uid == CAMPAIGN, DeliveryRow.recipient == recipient,
            DeliveryRow.kind == kind, OccurrenceRow.recurrence_id == f"2024-10-{day:02d}T00:30:00Z")).one()[0]


def test_remind_acknowledge_answer(stack):
    settings, broker = stack
    out = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 1, 6, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    engine, roster, duties = runtime.engine, runtime.roster, runtime.duties
    with EmbeddedWorker(runtime, settings, broker=broker) as worker:
        worker.scheduler.tick()
        worker.drain()
        assert out.getvalue() == "", "nothing is due at 06:00"

        clock.set(vn(2024, 10, 1, 7, 0))
        report = worker.scheduler.tick()
        worker.drain()
        assert report.dispatched == 4
        text = out.getvalue()
        assert "Tổ CNSCĐ thôn Đông [nhóm" in text
        assert "🔔 Nhắc việc: Chiến dịch" in text
        assert "Thứ Ba, 1 tháng 10, 2024 lúc 07:30" in text
        morning = _delivery(engine, "team:thon-dong", "reminder-0", 1)
        assert morning.status == "sent" and morning.channel == "console"
        code = delivery_code(morning.id)
        assert f"reminders ack {code} " in text

        for member in ("tran-thi-binh", "nguyen-van-an"):
            result = record_acknowledgement(engine, roster, duties, code=code, person_id=member,
                                            channel="console", now=clock())
            assert result.first
        again = record_acknowledgement(engine, roster, duties, code=code, person_id="nguyen-van-an",
                                       channel="console", now=clock())
        assert not again.first
        with pytest.raises(NotOnRoster):  # a member of another team
            record_acknowledgement(engine, roster, duties, code=code, person_id="pham-van-dung",
                                   channel="console", now=clock())
        progress = [p for p in occurrence_status(engine, roster, vn(2024, 10, 1), vn(2024, 10, 2))
                    if p.team_id == "thon-dong"][0]
        assert progress.progress == "2/3: An, Bình"

        clock.set(vn(2024, 10, 1, 19, 30))
        worker.scheduler.tick()
        worker.drain()
        assert "❓ Hôm nay tổ đã hướng dẫn được bao nhiêu hộ?" in out.getvalue()
        checkin = _delivery(engine, "team:thon-dong", "checkin-1", 1)
        assert checkin.status == "sent"
        with pytest.raises(AnswerError, match="con số"):
            record_acknowledgement(engine, roster, duties, code=delivery_code(checkin.id),
                                   person_id="le-van-cuong", channel="console", now=clock(), answer="nhiều lắm")
        record_acknowledgement(engine, roster, duties, code=delivery_code(checkin.id),
                               person_id="le-van-cuong", channel="console", now=clock(), answer="25 hộ")
        with engine.connect() as conn:
            answers = conn.execute(select(AcknowledgementRow.person_id, AcknowledgementRow.answer,
                                          AcknowledgementRow.answer_number)).all()
        assert ("le-van-cuong", "25", 25.0) in [tuple(a) for a in answers]
        assert len(answers) == 3
        with engine.connect() as conn:
            statuses = set(conn.execute(select(DeliveryRow.status).where(
                DeliveryRow.due_at <= clock())).scalars())
        assert statuses == {"sent"}
    engine.dispose()


def test_restart_sends_overdue_and_marks_missed(stack):
    """Down from 06:00 to 09:00: the 07:00 reminder still goes (the day's work is on);
    down until 20:00 the next day: that morning's reminder is over, so it is marked missed."""
    settings, broker = stack
    out = io.StringIO()
    clock = VirtualClock(vn(2024, 10, 1, 6, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    with EmbeddedWorker(runtime, settings, broker=broker) as worker:
        worker.scheduler.tick()
        worker.drain()
        clock.set(vn(2024, 10, 1, 9, 0))
        worker.scheduler.tick()
        worker.drain()
        assert _delivery(runtime.engine, "team:thon-dong", "reminder-0", 1).status == "sent"
        clock.set(vn(2024, 10, 2, 20, 0))
        report = worker.scheduler.tick()
        worker.drain()
        assert report.missed >= 4
        assert _delivery(runtime.engine, "team:thon-dong", "reminder-0", 2).status == "missed"
        # The evening check-in (19:30) is still inside its grace period: sent, late.
        assert _delivery(runtime.engine, "team:thon-dong", "checkin-1", 2).status == "sent"
    runtime.engine.dispose()

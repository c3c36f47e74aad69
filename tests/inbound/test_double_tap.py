"""Two presses of ✅ by the same person at the same moment (a double tap: two callback
queries, two event ids) are one acknowledgement with one `ack` audit event -- also on
PostgreSQL, where the second transaction runs while the first is still open."""

from __future__ import annotations

import threading
import time

from fake_telegram import FakeTelegram
from helpers import vn
from sqlalchemy import event, select

from reminders.adapters.base import Inbound
from reminders.adapters.telegram import TelegramAdapter
from reminders.codes import delivery_code
from reminders.inbound.router import handle
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.settings import load_settings
from reminders.store.models import AcknowledgementRow, AuditEventRow, DeliveryRow
from reminders.timeutil import VirtualClock

GROUP = "-1001000000001"  # thôn Đông's group in the shipped roster
AN = "100001"


def test_a_double_tap_is_one_acknowledgement_and_one_event(calendars, database_url):
    fake = FakeTelegram().start()
    settings = load_settings({}).replace(calendars=str(calendars), roster_file=str(calendars / "roster.yaml"),
                                         database_url=database_url, adapters=("telegram",))
    runtime = open_runtime(settings, clock=VirtualClock(vn(2024, 10, 1, 7, 0)),
                           adapters={"telegram": TelegramAdapter(fake.token, fake.base_url)})
    try:
        with EmbeddedWorker(runtime, settings) as worker:
            worker.scheduler.tick()
            worker.drain()
        with runtime.engine.connect() as conn:
            code = delivery_code(conn.execute(select(DeliveryRow.id).where(
                DeliveryRow.recipient == "team:thon-dong", DeliveryRow.status == "sent")).scalars().first())
        first_inserted = threading.Event()

        def slow_first(conn, cursor, statement, parameters, context, executemany):
            if threading.current_thread().name == "tap-1" and statement.lstrip().upper().startswith(
                    "INSERT INTO ACKNOWLEDGEMENT"):
                first_inserted.set()
                time.sleep(1.0)  # the first tap's transaction still open

        outcomes = {}

        def tap(name: str) -> None:
            outcomes[name] = handle(runtime, Inbound("telegram", name, GROUP, True, AN, action="done", code=code))

        event.listen(runtime.engine, "after_cursor_execute", slow_first)
        try:
            first = threading.Thread(target=tap, name="tap-1", args=("tap-1",))
            first.start()
            assert first_inserted.wait(10)
            second = threading.Thread(target=tap, name="tap-2", args=("tap-2",))
            second.start()
            first.join(20)
            second.join(20)
        finally:
            event.remove(runtime.engine, "after_cursor_execute", slow_first)
        assert outcomes["tap-1"].recorded and outcomes["tap-2"].recorded  # both told "thank you"
        with runtime.engine.connect() as conn:
            acks = conn.execute(select(AcknowledgementRow.person_id)).scalars().all()
            events = conn.execute(select(AuditEventRow.event).where(AuditEventRow.event.in_(("ack", "answer")))
                                  ).scalars().all()
        assert acks == ["nguyen-van-an"] and events == ["ack"]
    finally:
        runtime.engine.dispose()
        fake.stop()

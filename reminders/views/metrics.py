"""Prometheus metrics for the web app, read from the database at scrape time.

The database is the source of truth and every process writes to it, so one scrape of the
web app sees the whole deployment, however many workers there are."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reminders.kinds import DeliveryStatus
from reminders.store.models import DELIVERY
from reminders.timeutil import as_utc, from_naive_utc, utcnow

LATENESS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
LATE_AFTER = timedelta(minutes=1)
WINDOW = timedelta(hours=1)
MAX_SAMPLE = 100_000


class DeliveryCollector(Collector):
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now: datetime = self.clock()
        with self.engine.connect() as conn:
            by_status: dict[str, int] = dict(conn.execute(select(DELIVERY.c.status, func.count())
                                          .group_by(DELIVERY.c.status)).all())
            depth = conn.execute(select(func.count()).select_from(DELIVERY).where(
                DELIVERY.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)), DELIVERY.c.due_at <= as_utc(now))).scalar()
            recent = conn.execute(select(DELIVERY.c.due_at, DELIVERY.c.sent_at).where(
                DELIVERY.c.status == DeliveryStatus.SENT, DELIVERY.c.sent_at >= as_utc(now - WINDOW)).limit(MAX_SAMPLE)).all()
        totals = CounterMetricFamily("reminders_deliveries", "Deliveries by final or current status",
                                     labels=["status"])
        for status in (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.MISSED, DeliveryStatus.CANCELLED):
            totals.add_metric([status], by_status.get(status, 0))
        yield totals
        yield GaugeMetricFamily("reminders_queue_depth", "Deliveries due now and not yet sent", value=depth)
        lateness = sorted(max(0.0, (from_naive_utc(r.sent_at) - from_naive_utc(r.due_at)).total_seconds())
                          for r in recent)
        buckets: list[tuple[str, float]] = []
        for bound in LATENESS_BUCKETS:
            buckets.append((str(bound), sum(1 for v in lateness if v <= bound)))
        buckets.append(("+Inf", len(lateness)))
        total = sum(lateness)
        yield HistogramMetricFamily("reminders_send_lateness_seconds",
                                    "Time from due to sent, for deliveries sent in the last hour",
                                    buckets=buckets, sum_value=total)
        yield GaugeMetricFamily("reminders_late_deliveries",
                                "Deliveries sent more than a minute late in the last hour",
                                value=sum(1 for v in lateness if v > LATE_AFTER.total_seconds()))

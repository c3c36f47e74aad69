"""`/status` and `reminders status`: progress counts the team's members, not the officials
and admins who were told about the team (escalations, summaries)."""

from __future__ import annotations

from datetime import timedelta

from helpers import vn
from sqlalchemy import insert, select

from reminders import load_duties, load_roster, make_engine, plan
from reminders.store.models import DELIVERY, OCCURRENCE
from reminders.views.status import occurrence_status


def test_progress_counts_members_not_the_officials_told(calendars, sqlite_url):
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    engine = make_engine(sqlite_url)
    plan(engine, duties, roster, vn(2024, 10, 1, 6, 0), horizon=timedelta(days=1))
    team = roster.teams["thon-dong"]
    official = next(p for p in roster.people.values() if p.role == "official")
    with engine.begin() as conn:
        occurrence_id, due = conn.execute(
            select(DELIVERY.c.occurrence_id, DELIVERY.c.due_at).where(DELIVERY.c.team_id == team.id)
            .order_by(DELIVERY.c.due_at).limit(1)).one()
        conn.execute(DELIVERY.update().where(DELIVERY.c.occurrence_id == occurrence_id,
                                             DELIVERY.c.team_id == team.id).values(status="sent", sent_at=due))
        conn.execute(insert(DELIVERY).values(occurrence_id=occurrence_id, recipient=f"person:{official.id}",
                                             team_id=team.id, kind="escalate-commune", due_at=due,
                                             expires_at=due + timedelta(days=1), status="sent", sent_at=due,
                                             attempts=1))
        start = conn.execute(select(OCCURRENCE.c.start_at).where(OCCURRENCE.c.id == occurrence_id)).scalar_one()
    rows = [r for r in occurrence_status(engine, roster, start - timedelta(hours=1), start + timedelta(hours=1),
                                         team_id=team.id) if r.occurrence_id == occurrence_id]
    assert len(rows) == 1 and set(rows[0].expected) == set(team.member_ids)
    assert official.id not in rows[0].expected
    engine.dispose()

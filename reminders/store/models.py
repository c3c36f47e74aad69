"""The durable schedule: occurrences, deliveries (the outbox), acknowledgements.

All times are aware UTC (sqlmodel's UTCDateTime; SQLite keeps them as UTC text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import JSON, Index, Table, UniqueConstraint, text
from sqlalchemy.engine import Row
from sqlmodel import Field, SQLModel

from reminders.kinds import BindingStatus, DeliveryStatus, OccurrenceStatus


class OccurrenceRow(SQLModel, table=True):
    __tablename__ = "occurrence"
    __table_args__ = (UniqueConstraint("duty_uid", "recurrence_id", name="uq_occurrence_key"),)

    id: int | None = Field(default=None, primary_key=True)
    duty_uid: str = Field(index=True, max_length=255)
    recurrence_id: str = Field(max_length=32)
    start_at: datetime
    end_at: datetime
    all_day: bool = False
    summary: str = ""
    status: str = Field(default=OccurrenceStatus.SCHEDULED, max_length=16)  # scheduled | cancelled | removed


class DeliveryRow(SQLModel, table=True):
    """One message to one recipient for one alarm of one occurrence: the outbox row."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "recipient", "kind", name="uq_delivery_key"),
        Index("ix_delivery_status_due", "status", "due_at"),
        # Rows of no occurrence (a weekly digest): one per recipient and kind ("digest:2024-W41").
        Index("uq_delivery_standalone", "recipient", "kind", unique=True,
              sqlite_where=text("occurrence_id IS NULL"), postgresql_where=text("occurrence_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    # None only for messages about no single occurrence (weekly digests, kind "digest:<week>").
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id", index=True)
    recipient: str = Field(max_length=128)  # "team:<id>" (group chat) or "person:<id>"
    team_id: str = Field(index=True, max_length=128)
    kind: str = Field(max_length=32)  # "reminder-<n>" | "checkin-<n>"
    due_at: datetime
    expires_at: datetime
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    # pending -> claimed -> sent | failed | missed ; pending -> cancelled
    attempts: int = 0
    lease_until: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=128)
    message_id: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = None
    error: str | None = None


class AcknowledgementRow(SQLModel, table=True):
    """A person's confirmation (and optional check-in answer) for one occurrence."""

    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("occurrence_id", "person_id", name="uq_ack_key"),)

    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    person_id: str = Field(max_length=128)
    team_id: str = Field(index=True, max_length=128)
    at: datetime
    channel: str = Field(max_length=32)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id")
    answer: str | None = None
    answer_number: float | None = None
    recorded_by: str | None = Field(default=None, max_length=128)
    changed_at: datetime | None = None  # last insert or corrected answer: feeds' version marker


class PlanStateRow(SQLModel, table=True):
    """What the planner last did for a duty, so a tick with no change costs nothing."""

    __tablename__ = "plan_state"

    duty_uid: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    planned_until: datetime
    active: bool = True


class ChatBindingRow(SQLModel, table=True):
    """Addresses learned at run time, over the roster's: a Telegram account linked with an
    invite code, a group bound by its leader, a group that moved, a chat that blocked us."""

    __tablename__ = "chat_binding"
    __table_args__ = (UniqueConstraint("recipient", "adapter", name="uq_binding_key"),)

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=128)  # "team:<id>" or "person:<id>"
    adapter: str = Field(max_length=32)
    address: str = Field(max_length=128)
    status: str = Field(default=BindingStatus.ACTIVE, max_length=16)  # active | broken
    reason: str | None = None
    updated_at: datetime


class InboundEventRow(SQLModel, table=True):
    """Each inbound update once: platforms retry webhooks, and polling can replay."""

    __tablename__ = "inbound_event"
    __table_args__ = (UniqueConstraint("adapter", "event_id", name="uq_inbound_event"),)

    id: int | None = Field(default=None, primary_key=True)
    adapter: str = Field(max_length=32)
    event_id: str = Field(max_length=128)
    received_at: datetime = Field(index=True)  # processed-event rows older than the replay window are pruned


class InviteRow(SQLModel, table=True):
    """A one-time code linking a chat account to a roster member; only its hash is stored."""

    __tablename__ = "invite"

    code_hash: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(max_length=128)
    created_at: datetime
    used_at: datetime | None = None


class LeaseRow(SQLModel, table=True):
    """Which scheduler replica is active: a lease renewed every tick, taken over when it lapses."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime


class FeedTokenRow(SQLModel, table=True):
    """A private calendar feed link. Only the token's SHA-256 is stored; revoking is immediate."""

    __tablename__ = "feed_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=160)  # commune:<id> | team:<id> | category:<name>
    label: str = ""
    owner: str | None = Field(default=None, max_length=128, index=True)  # person id, for /calendar links
    sealed: str | None = None  # the token encrypted with REMINDERS_SECRET_KEY: the same link can be given again
    created_at: datetime
    revoked_at: datetime | None = None


class AuditEventRow(SQLModel, table=True):
    """What happened, when and by whom: sends, failures, retries, acknowledgements (own or on
    someone's behalf), snoozes, escalations. Append-only; `reminders audit` lists it."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_occurrence_at", "occurrence_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    event: str = Field(max_length=32)  # sent | failed | retry | ack | on-behalf | snooze | escalation | ...
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id")
    delivery_id: int | None = Field(default=None)  # no foreign key: the trail outlives the outbox
    team_id: str | None = Field(default=None, max_length=128, index=True)
    actor: str | None = Field(default=None, max_length=128)  # who did it: person id, "system"
    recipient: str | None = Field(default=None, max_length=128)  # whom it concerned
    detail: str | None = None


class DefinitionsSnapshotRow(SQLModel, table=True):
    """The last good duty files and roster (reminders.snapshot): a process that starts while
    the files on disk are invalid runs on these instead of stopping. It also remembers the
    last bad version the admins were told about, so a restart or failover does not tell them
    again."""

    __tablename__ = "definitions_snapshot"

    name: str = Field(primary_key=True, max_length=64)  # one row per deployment
    version: str = Field(max_length=64)  # content hash of the roster and duty files
    roster_text: str
    files: list[list[str]] = Field(sa_type=JSON)  # [[relative path under calendars/, text], ...] in path order
    saved_at: datetime
    told_version: str | None = Field(default=None, max_length=64)  # last bad version admins were told of
    told_at: datetime | None = None


class PlatformTokenRow(SQLModel, table=True):
    """The current token pair of one platform account (a Zalo app / OA): reminders.store.tokens."""

    __tablename__ = "zalo_oa_token"

    app_id: str = Field(primary_key=True, max_length=64)
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None = None
    seed_hash: str = Field(max_length=64)  # sha256 of the environment's refresh token it came from
    refreshing_by: str | None = Field(default=None, max_length=64)
    refreshing_until: datetime | None = None
    updated_at: datetime



class WorkerRow(SQLModel, table=True):
    """A process that claims deliveries (a scheduler, a send worker, `reminders run`), and when
    it was last seen. The claims of a process not seen for a while are released at once,
    instead of waiting out their lease."""

    __tablename__ = "worker"

    worker_id: str = Field(primary_key=True, max_length=128)
    role: str = Field(max_length=32)  # run | scheduler | worker | web | bot
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime
    seen_at: datetime = Field(index=True)

class AuthoredDutyRow(SQLModel, table=True):
    """A duty written in chat or in the console (reminders.store.authored): one iCalendar
    VCALENDAR with one duty component, read by the same loader as the files in calendars/.
    `version` is bumped by every change and checked by the next (optimistic locking: two
    admins editing at once, the second is refused, never a lost update)."""

    __tablename__ = "authored_duty"

    uid: str = Field(primary_key=True, max_length=255)
    commune_id: str = Field(index=True, max_length=128)
    ics_text: str
    sequence: int = 0  # the component's SEQUENCE, bumped on each change
    paused: bool = False  # kept, but not planned: no new reminders
    version: int = 1
    created_by: str = Field(max_length=128)
    created_at: datetime
    updated_by: str = Field(max_length=128)
    updated_at: datetime


class AuthoredDutyChangeRow(SQLModel, table=True):
    """Every change of an authored duty, with the text before and after it (the audit
    trail's detail is short; this keeps the whole of both)."""

    __tablename__ = "authored_duty_change"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(index=True, max_length=255)
    commune_id: str = Field(max_length=128)
    at: datetime
    actor: str = Field(max_length=128)
    action: str = Field(max_length=16)  # create | edit | pause | resume | delete | import
    before_text: str | None = None
    after_text: str | None = None


class DutyDraftRow(SQLModel, table=True):
    """A duty an admin described in chat, shown to them and waiting for ✅ Lưu / ✖ Hủy."""

    __tablename__ = "duty_draft"

    id: int | None = Field(default=None, primary_key=True)
    commune_id: str = Field(max_length=128)
    person_id: str = Field(index=True, max_length=128)
    adapter: str = Field(max_length=32)
    chat: str = Field(max_length=128)
    action: str = Field(max_length=16)  # create | edit | delete
    uid: str = Field(max_length=255)
    ics_text: str | None = None
    base_version: int | None = None  # the authored row's version the draft was made from
    created_at: datetime
    state: str = Field(default="open", max_length=16)  # open | saved | cancelled

class AdminLoginRow(SQLModel, table=True):
    """A one-time sign-in link for the web console, sent by the bot to an admin who asked with
    /login: only its SHA-256 is kept; it works once, for that person, within minutes."""

    __tablename__ = "admin_login"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: str = Field(max_length=128)
    commune_id: str = Field(max_length=128)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class AdminSessionRow(SQLModel, table=True):
    """A signed-in console session (the cookie holds its id, signed; only the id's hash is
    kept): bound to one admin and their commune, expiring, revocable."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True)
    person_id: str = Field(max_length=128, index=True)
    commune_id: str = Field(max_length=128)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


# -- typed handles for queries ------------------------------------------------------------
# The classes above declare the schema (sqlmodel); queries use their tables through SQLAlchemy
# Core, where a column is a Column (with .in_, .desc, ...) to the type checker too, not the
# Python value a sqlmodel attribute is declared as.
def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # set by sqlmodel, untyped


# A result row of any query on them, read by column name (row.kind, row.team_id). SQLAlchemy
# 2.1's Row is variadic, one type per column: Row[Any] is a row of exactly one column.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

OCCURRENCE = _table(OccurrenceRow)
DELIVERY = _table(DeliveryRow)
ACKNOWLEDGEMENT = _table(AcknowledgementRow)
PLAN_STATE = _table(PlanStateRow)
CHAT_BINDING = _table(ChatBindingRow)
INBOUND_EVENT = _table(InboundEventRow)
INVITE = _table(InviteRow)
SCHEDULER_LEASE = _table(LeaseRow)
FEED_TOKEN = _table(FeedTokenRow)
AUDIT_EVENT = _table(AuditEventRow)
DEFINITIONS_SNAPSHOT = _table(DefinitionsSnapshotRow)
PLATFORM_TOKEN = _table(PlatformTokenRow)
WORKER = _table(WorkerRow)
AUTHORED_DUTY = _table(AuthoredDutyRow)
AUTHORED_DUTY_CHANGE = _table(AuthoredDutyChangeRow)
DUTY_DRAFT = _table(DutyDraftRow)

ADMIN_LOGIN = _table(AdminLoginRow)
ADMIN_SESSION = _table(AdminSessionRow)

"""The database schema, in SQLAlchemy 2.0 declarative style.

The command path (runtime, timers) uses these tables through Core statements for speed; admin
screens may use the ORM classes. Alembic migrations under `engine/core/migrations` create the schema;
a test checks that they match this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.base import NAMING, Base  # noqa: F401  (re-exported: code imports Base from models)
from engine.core.column_types import Json, UTCDateTime  # noqa: F401  (migrations name models.UTCDateTime)


class Group(Base):
    """A role; BPMN lanes resolve to groups by code or display name."""

    __tablename__ = "group"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    __tablename__ = "user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    session_gen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 at sign-out: older sessions end


class Membership(Base):
    __tablename__ = "membership"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    group_code: Mapped[str] = mapped_column(ForeignKey("group.code"), primary_key=True)


class ProcessDefinition(Base):
    """One immutable version of one executable process, with everything needed to run it."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_process_definition_key_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    checksum: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(String(255))
    sources: Mapped[dict[str, Any]]
    forms: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]]
    spec: Mapped[bytes] = mapped_column(LargeBinary)
    deployed_at: Mapped[dt.datetime]
    deployed_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    business_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    milestone: Mapped[str | None] = mapped_column(String(100))
    business_type: Mapped[str | None] = mapped_column(String(20), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(100), index=True)
    customer_mobile: Mapped[str | None] = mapped_column(String(20), index=True)
    channel: Mapped[str | None] = mapped_column(String(20))
    error: Mapped[dict[str, Any] | None]
    started_at: Mapped[dt.datetime]
    started_by: Mapped[str] = mapped_column(String(80))
    ended_at: Mapped[dt.datetime | None]


OPEN_ITEM = text("status = 'open'")
OPEN_DUE_ITEM = text("status = 'open' AND due_at IS NOT NULL")


class WorkItem(Base):
    """One READY human task: the row behind every work list."""

    __tablename__ = "work_item"
    __table_args__ = (
        Index("ix_work_item_group_status", "candidate_group", "status"),
        Index("ix_work_item_assignee_status", "assignee", "status"),
        Index("ix_work_item_instance_status", "instance_id", "status"),
        # the open work list: partial, so a million finished items cost the lists nothing
        Index("ix_work_item_open_group_due", "candidate_group", "due_at", postgresql_where=OPEN_ITEM,
              sqlite_where=OPEN_ITEM),
        Index("ix_work_item_open_assignee_due", "assignee", "due_at", postgresql_where=OPEN_ITEM,
              sqlite_where=OPEN_ITEM),
        Index("ix_work_item_open_due", "due_at", postgresql_where=OPEN_DUE_ITEM, sqlite_where=OPEN_DUE_ITEM),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(200))
    task_spec: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(100))
    candidate_group: Mapped[str | None] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[int] = mapped_column(Integer, default=50)
    form_schema: Mapped[str | None] = mapped_column(String(255))
    form_ui_schema: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]
    # the due time was counted Monday–Friday over a year with no official calendar: an estimate
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    claimed_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(80))
    # 跟进日期: the day its holder means to come back to it (set on the task page, a work-list filter)
    follow_up_on: Mapped[dt.date | None]


class SavedFilter(Base):
    """A work-list filter a user named to pick again later; only its owner sees it."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_filter_username_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


class Timer(Base):
    """Something that must happen at `due_at`, exactly once: BPMN timers now, SLA thresholds later."""

    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id", "purpose", "due_at", name="uq_timer_identity"),
        Index("ix_timer_due_open", "due_at", postgresql_where=text("fired_at IS NULL"),
              sqlite_where=text("fired_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    purpose: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[dt.datetime]
    payload: Mapped[dict[str, Any] | None]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[dt.datetime | None]
    fired_at: Mapped[dt.datetime | None]


class Event(Base):
    """Append-only history, chained per instance by SHA-256 (see engine.core.history)."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("instance_id", "seq", name="uq_event_instance_seq"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=False)
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime]
    actor: Mapped[str | None] = mapped_column(String(80))
    task_id: Mapped[str | None] = mapped_column(String(36))
    task_spec: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Outbox(Base):
    """Everything that leaves the system (SMS, staff notices, webhooks), written in the same
    transaction as the step that caused it and delivered afterwards, at least once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(120))
    template: Mapped[str | None] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # the receiver's delivery receipt (the SMS platform's): delivered, failed, unknown, given_up
    delivery_state: Mapped[str | None] = mapped_column(String(12))
    delivery_at: Mapped[dt.datetime | None]
    delivery_error: Mapped[str | None] = mapped_column(Text)
    resend_of: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)


class Counter(Base):
    """Named counters, e.g. the daily application-number sequence."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class SchedulerBeat(Base):
    """When each scheduler process last ran a pass: `/healthz` tells whether one has run recently."""

    __tablename__ = "scheduler_beat"
    worker: Mapped[str] = mapped_column(String(120), primary_key=True)
    beat_at: Mapped[dt.datetime]


class RuleSet(Base):
    """A named set of time limits (the State Grid default, the regulator's ceiling, a province's)."""

    __tablename__ = "rule_set"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text, default="")
    thresholds: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    active_version: Mapped[int | None]
    loaded_at: Mapped[dt.datetime]
    loaded_by: Mapped[str] = mapped_column(String(80))


class RuleSetVersion(Base):
    """One version of a rule set: its whole content (limits, warnings, escalation chain), immutable."""

    __tablename__ = "rule_set_version"
    __table_args__ = (UniqueConstraint("rule_set", "version", name="uq_rule_set_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_set: Mapped[str] = mapped_column(ForeignKey("rule_set.name", ondelete="CASCADE"))
    version: Mapped[int]
    content: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")


class RuleAudit(Base):
    """The hash chain of rule-set changes (versions saved, activations), verified like a case's."""

    __tablename__ = "rule_audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime]
    actor: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SlaClock(Base):
    """The clock of one assessed step (or the whole process) of one instance, utility time only."""

    __tablename__ = "sla_clock"
    __table_args__ = (Index("ix_sla_clock_instance_status", "instance_id", "status"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    work_item_id: Mapped[str | None] = mapped_column(String(36), index=True)
    scope: Mapped[str] = mapped_column(String(10))
    sla_key: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(200), default="")
    rule_set: Mapped[str] = mapped_column(String(60))
    rule_version: Mapped[int | None]
    business_type: Mapped[str] = mapped_column(String(20))
    limit_workdays: Mapped[int]
    limit_hours: Mapped[int | None]
    assessed: Mapped[bool] = mapped_column(Boolean, default=True)
    started_at: Mapped[dt.datetime]
    deadline_at: Mapped[dt.datetime]
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12))
    paused_at: Mapped[dt.datetime | None]
    paused_workdays: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[dt.datetime | None]


class SlaPause(Base):
    """A customer-caused wait (documents missing, customer works, customer design)."""

    __tablename__ = "sla_pause"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[dt.datetime]
    paused_by: Mapped[str] = mapped_column(String(80))
    resumed_at: Mapped[dt.datetime | None]
    resumed_by: Mapped[str | None] = mapped_column(String(80))


class Notice(Base):
    """An in-app notification: pre-warning, overdue, supervision (督办, must be acknowledged), reminder."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_group_open", "recipient_group", "acknowledged_at"),
                      Index("ix_notice_user_open", "recipient_user", "acknowledged_at"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    work_item_id: Mapped[str | None] = mapped_column(String(36))
    clock_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    kind: Mapped[str] = mapped_column(String(20))
    recipient_user: Mapped[str | None] = mapped_column(String(80))
    recipient_group: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    requires_ack: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    # notices raised at most once per key (the daily missing-calendar notice), even under races
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)


class CalendarDay(Base):
    """One day of the official working-day calendar (engine.deadlines.calendar); a year is all there or absent."""

    __tablename__ = "calendar_day"
    date: Mapped[dt.date] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    is_workday: Mapped[bool]
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[dt.datetime]
    imported_by: Mapped[str] = mapped_column(String(80))


class Application(Base):
    """A customer's application received through a channel (O2O intake), with its idempotency key."""

    __tablename__ = "application"
    __table_args__ = (UniqueConstraint("client", "idempotency_key", name="uq_application_client_key"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    application_no: Mapped[str] = mapped_column(String(64), unique=True)
    instance_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(80), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime]


class Document(Base):
    """An uploaded file: stored once by content hash outside the web root, referenced per upload."""

    __tablename__ = "document"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    content_type: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(80), index=True)
    uploaded_at: Mapped[dt.datetime]
    #: the case a staff member uploaded it for, or the case its application started (None until then)
    instance_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)



group_t = Group.__table__
user_t = User.__table__
membership_t = Membership.__table__
definition_t = ProcessDefinition.__table__
instance_t = ProcessInstance.__table__
work_item_t = WorkItem.__table__
saved_filter_t = SavedFilter.__table__
timer_t = Timer.__table__
event_t = Event.__table__
counter_t = Counter.__table__
scheduler_beat_t = SchedulerBeat.__table__
outbox_t = Outbox.__table__
rule_set_t = RuleSet.__table__
rule_set_version_t = RuleSetVersion.__table__
rule_audit_t = RuleAudit.__table__
sla_clock_t = SlaClock.__table__
sla_pause_t = SlaPause.__table__
notice_t = Notice.__table__
calendar_day_t = CalendarDay.__table__
application_t = Application.__table__
document_t = Document.__table__

from engine.core.models_centre import (  # noqa: E402,F401  (same metadata)
    area_size_t,
    case_message_t,
    dispatch_mode_event_t,
    dispatch_mode_t,
)
from engine.core.models_dispatch import (  # noqa: E402,F401  (same metadata)
    ACTIVE_APPOINTMENT,
    appointment_log_t,
    appointment_t,
    callback_record_t,
    capacity_report_t,
    capacity_usage_t,
    dispatch_entry_t,
    dispatch_list_t,
    team_member_t,
    team_t,
    works_entry_t,
    works_log_t,
)
from engine.core.models_exchange import (  # noqa: E402,F401  (same metadata)
    call_task_t,
    case_reference_t,
    inbound_message_t,
    meter_verification_t,
)

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
    loaded_at: Mapped[dt.datetime]
    loaded_by: Mapped[str] = mapped_column(String(80))


class TimeLimit(Base):
    """One limit in working days for a business type (or `*`) and a step's SLA key."""

    __tablename__ = "time_limit"
    __table_args__ = (UniqueConstraint("rule_set", "business_type", "sla_key", name="uq_time_limit_rule"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_set: Mapped[str] = mapped_column(ForeignKey("rule_set.name", ondelete="CASCADE"))
    business_type: Mapped[str] = mapped_column(String(20))
    sla_key: Mapped[str] = mapped_column(String(60))
    workdays: Mapped[int]
    assessed: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(200), default="")


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
    business_type: Mapped[str] = mapped_column(String(20))
    limit_workdays: Mapped[int]
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


# ---------------------------------------------------------------------------------------------
# the dispatch centre (engine.dispatch.teams, capacity, booking, dispatch, field, works)

_BIG = BigInteger().with_variant(Integer, "sqlite")
#: Appointment statuses that hold capacity; a case has at most one such appointment per job type.
ACTIVE_APPOINTMENT = "status IN ('booked', 'dispatched', 'arrived')"


class Team(Base):
    """A field team (班所) with its area (urban / rural); members in `team_member`."""

    __tablename__ = "team"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    area: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(80))


class TeamMember(Base):
    """A lead or worker of a team; `username` links a system user (the lead who dispatches)."""

    __tablename__ = "team_member"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_team_member_team_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    mobile: Mapped[str] = mapped_column(String(20))
    username: Mapped[str | None] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[dt.datetime]


class CapacityReport(Base):
    """One version of a team's capacity (承载力) for a job type: a week (7 daily numbers from its
    Monday, `kind` week) or one adjusted day (`kind` day). The highest version counts; the rows are
    the history of who reported what, when."""

    __tablename__ = "capacity_report"
    __table_args__ = (UniqueConstraint("team_id", "job_type", "kind", "day", "version",
                                       name="uq_capacity_report_version"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    job_type: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(6))
    day: Mapped[dt.date]
    days: Mapped[list[Any]]
    version: Mapped[int]
    reported_at: Mapped[dt.datetime]
    reported_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")


class CapacityUsage(Base):
    """How many jobs are booked on a team's day for a job type: the row the guarded UPDATE of a
    booking increments only while it stays below the day's capacity."""

    __tablename__ = "capacity_usage"
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    job_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    booked: Mapped[int] = mapped_column(Integer, default=0)


class Appointment(Base):
    """A booked field job (预约): mode, team, day and window, then dispatch, arrival, completion."""

    __tablename__ = "appointment"
    __table_args__ = (
        Index("uq_appointment_active_job", "job_key", unique=True, postgresql_where=text(ACTIVE_APPOINTMENT),
              sqlite_where=text(ACTIVE_APPOINTMENT)),
        Index("ix_appointment_team_day", "team_id", "day", "slot"),
    )
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    job_no: Mapped[str] = mapped_column(String(32), unique=True)
    job_key: Mapped[str] = mapped_column(String(80))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    job_type: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10))
    request: Mapped[dict[str, Any]]
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    area: Mapped[str] = mapped_column(String(10))
    day: Mapped[dt.date]
    slot: Mapped[str] = mapped_column(String(2))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(12), index=True)
    application_no: Mapped[str | None] = mapped_column(String(64))
    customer_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    mobile: Mapped[str | None] = mapped_column(String(20))
    worker_name: Mapped[str | None] = mapped_column(String(40))
    worker_mobile: Mapped[str | None] = mapped_column(String(20))
    planned_at: Mapped[dt.datetime | None]
    route_seq: Mapped[int | None]
    arrived_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    booked_at: Mapped[dt.datetime]
    booked_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(Text, default="")


class AppointmentLog(Base):
    """Everything that happened to an appointment: booked, rescheduled, cancelled, dispatched…"""

    __tablename__ = "appointment_log"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]]


class DispatchList(Base):
    """A team's dispatch list (派工单) for a day's morning or afternoon: made once per team/day/slot."""

    __tablename__ = "dispatch_list"
    __table_args__ = (UniqueConstraint("team_id", "day", "slot", name="uq_dispatch_list_team_day_slot"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"))
    day: Mapped[dt.date]
    slot: Mapped[str] = mapped_column(String(2))
    generated_at: Mapped[dt.datetime]
    generated_by: Mapped[str] = mapped_column(String(80))


class DispatchEntry(Base):
    """One job on a dispatch list, at its place in the route; `late` if booked after the list was made."""

    __tablename__ = "dispatch_entry"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("dispatch_list.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"), unique=True)
    seq: Mapped[int]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[dt.datetime]


class CallbackRecord(Base):
    """A call-back (回访) after a field job: reached or not, satisfaction 1–5, problems and their follow-up."""

    __tablename__ = "callback_record"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    job_no: Mapped[str] = mapped_column(String(32), unique=True)
    job_type: Mapped[str] = mapped_column(String(10))
    called_at: Mapped[dt.datetime]
    reachable: Mapped[bool]
    satisfaction: Mapped[int | None]
    problems: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_status: Mapped[str | None] = mapped_column(String(10), index=True)
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    recorded_at: Mapped[dt.datetime]
    recorded_by: Mapped[str] = mapped_column(String(80))


class WorksEntry(Base):
    """A case on the works tracking list (清册): the customer's internal works or the external (grid) works."""

    __tablename__ = "works_entry"
    __table_args__ = (UniqueConstraint("instance_id", "kind", name="uq_works_entry_instance_kind"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    application_no: Mapped[str | None] = mapped_column(String(64))
    customer_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), index=True)
    next_follow_up: Mapped[dt.date | None]
    interval_days: Mapped[int]
    work_item_id: Mapped[str | None] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]


class WorksLog(Base):
    """One follow-up of a works entry: who, when, the status found, the note, the next date."""

    __tablename__ = "works_log"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("works_entry.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")
    next_follow_up: Mapped[dt.date | None]


group_t = Group.__table__
user_t = User.__table__
membership_t = Membership.__table__
definition_t = ProcessDefinition.__table__
instance_t = ProcessInstance.__table__
work_item_t = WorkItem.__table__
timer_t = Timer.__table__
event_t = Event.__table__
counter_t = Counter.__table__
scheduler_beat_t = SchedulerBeat.__table__
outbox_t = Outbox.__table__
rule_set_t = RuleSet.__table__
time_limit_t = TimeLimit.__table__
sla_clock_t = SlaClock.__table__
sla_pause_t = SlaPause.__table__
notice_t = Notice.__table__
calendar_day_t = CalendarDay.__table__
application_t = Application.__table__
document_t = Document.__table__
team_t = Team.__table__
team_member_t = TeamMember.__table__
capacity_report_t = CapacityReport.__table__
capacity_usage_t = CapacityUsage.__table__
appointment_t = Appointment.__table__
appointment_log_t = AppointmentLog.__table__
dispatch_list_t = DispatchList.__table__
dispatch_entry_t = DispatchEntry.__table__
callback_record_t = CallbackRecord.__table__
works_entry_t = WorksEntry.__table__
works_log_t = WorksLog.__table__

from engine.core.models_centre import (  # noqa: E402,F401  (same metadata)
    area_size_t,
    case_message_t,
    dispatch_mode_event_t,
    dispatch_mode_t,
)
from engine.core.models_exchange import (  # noqa: E402,F401  (same metadata)
    call_task_t,
    case_reference_t,
    inbound_message_t,
    meter_verification_t,
)

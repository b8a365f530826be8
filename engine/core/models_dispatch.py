"""Tables of the dispatch centre: field teams and members, weekly capacity and its use, appointments
and their log, dispatch lists, call-backs and the works list. Kept beside `models.py`, which imports
this module last (same `Base.metadata`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.base import Base
from engine.core.column_types import Json, UTCDateTime  # noqa: F401  (the mapped types of `dt.datetime` columns)

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

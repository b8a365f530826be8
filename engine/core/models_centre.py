"""Tables of the connected service centre (issue #15): the customer's message thread per case, the
dispatch mode per area and job type with its hash-chained switch log, and the areas' sizes for load
density. Kept beside `models.py`, which imports this module last (same `Base.metadata`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.base import Base

_BIG = BigInteger().with_variant(Integer, "sqlite")


class CaseMessage(Base):
    """One entry of a case's thread: the customer's message (through a channel) or the staff's answer
    or logged offline contact (phone, visit). A customer message that opens a question carries the
    first-response deadline frozen when it arrived; the first staff entry after it answers it."""

    __tablename__ = "case_message"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    instance_id: Mapped[int] = mapped_column(_BIG, index=True)
    author_kind: Mapped[str] = mapped_column(String(10))  # customer, staff
    kind: Mapped[str] = mapped_column(String(10))  # message, phone, visit
    author: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    limit_hours: Mapped[float | None] = mapped_column(Float)
    respond_by: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(80))


class DispatchMode(Base):
    """Who books the field jobs of an area and job type: the centre (`central`, the default when no
    row exists) or the team itself (`self`)."""

    __tablename__ = "dispatch_mode"
    area: Mapped[str] = mapped_column(String(10), primary_key=True)
    job_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[dt.datetime]
    changed_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)


class DispatchModeEvent(Base):
    """Every switch of a dispatch mode, hash-chained like a case's history (its own chain)."""

    __tablename__ = "dispatch_mode_event"
    __table_args__ = (UniqueConstraint("seq", name="uq_dispatch_mode_event_seq"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[dt.datetime]
    actor: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AreaSize(Base):
    """An area's size in km², which load density divides by."""

    __tablename__ = "area_size"
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    size_km2: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(80))


case_message_t = CaseMessage.__table__
dispatch_mode_t = DispatchMode.__table__
dispatch_mode_event_t = DispatchModeEvent.__table__
area_size_t = AreaSize.__table__

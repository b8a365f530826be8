"""Tables of the data exchange with other systems (engine.connectors), kept beside `models.py`
(which imports this module last, so `Base.metadata` and the migrations see them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.base import Base

_BIG = BigInteger().with_variant(Integer, "sqlite")


class InboundMessage(Base):
    """Every signed call another system made, once per (system, message id): a repeat is answered
    with the stored result and applies nothing."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("system", "message_id", name="uq_inbound_message_system_id"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    system: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # processing, done
    http_status: Mapped[int | None]
    result: Mapped[dict[str, Any] | None]
    instance_id: Mapped[int | None] = mapped_column(_BIG, index=True)
    received_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]


class CaseReference(Base):
    """What another system assigned to a case (the marketing system's account number 户号); the
    newest by the peer's own time wins, so a late older delivery changes nothing."""

    __tablename__ = "case_reference"
    __table_args__ = (Index("uq_case_reference_identity", "instance_id", "system", "kind", unique=True),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    instance_id: Mapped[int] = mapped_column(_BIG)
    system: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(120))
    issued_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]


class CallTask(Base):
    """One outbound call the call centre (话务平台) is asked to make — a call-back (回访) of a case or a
    field job, or an urging (催办) — and what came back: answered or not, satisfaction 1–5, duration,
    recording. An unreached call is followed by the next attempt (a new row) per the retry rule."""

    __tablename__ = "call_task"
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    task_no: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # callback, urging
    instance_id: Mapped[int | None] = mapped_column(_BIG, index=True)
    work_item_id: Mapped[str | None] = mapped_column(String(36), index=True)
    notice_id: Mapped[int | None] = mapped_column(_BIG)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), index=True)  # open, answered, unreached, closed
    satisfaction: Mapped[int | None]
    duration_s: Mapped[int | None]
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    called_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    result_at: Mapped[dt.datetime | None]


class MeterVerification(Base):
    """A customer's request for on-site meter verification (现场申校) and the 鉴定平台's result: the
    verification field job it opened, error %, pass or fail, certificate reference."""

    __tablename__ = "meter_verification"
    __table_args__ = (UniqueConstraint("source", "request_key", name="uq_meter_verification_source_key"),)
    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    source: Mapped[str] = mapped_column(String(80))  # system:95598, or the channel client
    request_key: Mapped[str] = mapped_column(String(120))  # the 95598 ticket or the client's Idempotency-Key
    verification_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    instance_id: Mapped[int | None] = mapped_column(_BIG, index=True)
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12))  # opening, open, passed, failed
    error_pct: Mapped[float | None] = mapped_column(Numeric(7, 3, asdecimal=False))
    passed: Mapped[bool | None]
    certificate_ref: Mapped[str | None] = mapped_column(String(120))
    verified_at: Mapped[dt.datetime | None]
    result_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


inbound_message_t = InboundMessage.__table__
case_reference_t = CaseReference.__table__
call_task_t = CallTask.__table__
meter_verification_t = MeterVerification.__table__

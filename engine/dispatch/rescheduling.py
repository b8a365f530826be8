"""Moving and ending appointments: reschedule, cancel, and releasing what an ended case held.

Each releases the capacity unit the appointment held in the same transaction that moves or closes
it, drops its arrival timer and dispatch-list entry, tells the customer, and records the change on
the case's history chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from engine.core import clock, history
from engine.core.db import Database
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import appointment_log_t, appointment_t, dispatch_entry_t, instance_t, team_t, timer_t
from engine.dispatch.appointments import (
    ACTIVE,
    ARRIVAL_PURPOSE,
    AppointmentView,
    Request,
    append_history,
    fetch,
    get,
    notify_cancel,
    notify_change,
)
from engine.dispatch.booking import book_in, deadlock_is_conflict, event_payload, plan_booking, release_unit


def reschedule(db: Database, job_no: str, changes: dict[str, Any], *, actor: str, reason: str = "") -> AppointmentView:
    """Move an appointment (another mode, date, period or team); the old day's capacity is released
    in the same transaction, the customer gets an SMS, the case's history an event."""
    current = get(db, job_no)
    if current.status not in ACTIVE:
        raise InvalidState(f"appointment {job_no} is {current.status}; book a new one instead")
    merged = {**current.request, "area": current.area, **{k: v for k, v in changes.items() if v is not None}}
    if "mode" in changes and changes["mode"] != current.mode:
        for stale in ("date", "period", "within_hours"):
            if stale not in changes:
                merged.pop(stale, None)
    req = Request.parse(merged)
    now = clock.now()
    plan = plan_booking(db, req, now)
    with deadlock_is_conflict(), db.write() as conn:
        booked = book_in(conn, plan, instance_id=current.instance_id, case={}, actor=actor, now=now)
        if booked.action == "unchanged":
            return booked.view
        for log in booked.logs:
            log["details"]["reason"] = reason
        conn.execute(insert(appointment_log_t), booked.logs)
        payload = {**event_payload(booked), "reason": reason}
        append_history(conn, current.instance_id, [history.NewEvent("field_rescheduled", now, actor=actor,
                                                                    payload=payload)])
        notify_change(conn, booked.view, now)
    return booked.view


def cancel(db: Database, job_no: str, *, actor: str, reason: str) -> AppointmentView:
    """Cancel a booked (not yet dispatched) appointment and release its capacity. The field job
    then goes back to booking when the lead completes dispatch (the model checks)."""
    if not reason.strip():
        raise InvalidData("a cancellation needs a reason", details={"reason": ["请填写取消原因"]})
    now = clock.now()
    with db.write() as conn:
        view = fetch(conn, job_no=job_no, for_update=True)
        case_status = conn.execute(select(instance_t.c.status).where(instance_t.c.id == view.instance_id)).scalar()
        if view.status not in ACTIVE:
            raise InvalidState(f"appointment {job_no} is already {view.status}")
        if view.status != "booked" and case_status not in ("completed", "cancelled"):
            raise InvalidState(f"job {job_no} is already {view.status} ({view.worker_name}); reschedule it instead")
        _close(conn, view, "cancelled", reason, actor, now)
        append_history(conn, view.instance_id, [history.NewEvent("field_cancelled", now, actor=actor, payload={
            "job_no": job_no, "team": view.team, "day": view.day.isoformat(), "reason": reason})])
        if case_status not in ("completed", "cancelled"):
            notify_cancel(conn, view, now)
        return fetch(conn, job_no=job_no)


def _close(conn: Connection, view: AppointmentView, status: str, reason: str, actor: str, now: dt.datetime) -> None:
    team_id = conn.execute(select(team_t.c.id).where(team_t.c.code == view.team)).scalar_one()
    release_unit(conn, team_id, view.day, view.job_type)
    conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(
        status=status, note=reason, updated_at=now))
    conn.execute(delete(dispatch_entry_t).where(dispatch_entry_t.c.appointment_id == view.id))
    conn.execute(delete(timer_t).where(timer_t.c.purpose == ARRIVAL_PURPOSE, timer_t.c.fired_at.is_(None),
                                       timer_t.c.task_id == f"appt:{view.id}"))
    conn.execute(insert(appointment_log_t).values(appointment_id=view.id, at=now, actor=actor, action=status,
                                                  details={"reason": reason}))


def release_for_case(conn: Connection, instance_id: int, now: dt.datetime) -> list[history.NewEvent]:
    """Runtime hook, in the transaction of the command that ends a case (withdrawn, cancelled):
    its active appointments are cancelled and their capacity and arrival timers released."""
    rows = conn.execute(select(appointment_t.c.id).where(appointment_t.c.instance_id == instance_id,
                                                         appointment_t.c.status.in_(ACTIVE))).scalars().all()
    released = []
    for aid in rows:
        view = fetch(conn, appointment_id=aid, for_update=True)
        _close(conn, view, "cancelled", "case ended", "system", now)
        released.append(view.job_no)
    if not released:
        return []
    return [history.NewEvent("field_released", now, actor="system", payload={"jobs": released,
                                                                             "reason": "case ended"})]


def release_ended(db: Database, *, actor: str = "scheduler") -> int:
    """Release the capacity of active appointments whose case has ended (a safety net for cases
    that ended before the dispatch centre's hook was loaded; normally `release_for_case` did it)."""
    now = clock.now()
    with db.read() as conn:
        rows = conn.execute(select(appointment_t.c.job_no).join(
            instance_t, instance_t.c.id == appointment_t.c.instance_id).where(
            appointment_t.c.status.in_(ACTIVE), instance_t.c.status.in_(("completed", "cancelled")))).scalars().all()
    for job_no in rows:
        with db.write() as conn:
            view = fetch(conn, job_no=job_no, for_update=True)
            if view.status in ACTIVE:
                _close(conn, view, "cancelled", "case ended", actor, now)
    return len(rows)

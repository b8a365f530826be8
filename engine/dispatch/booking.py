"""Booking field jobs against the teams' remaining capacity, in the three appointment modes.

A booking takes one unit of a team's day for the job type with a guarded UPDATE of its
`capacity_usage` row (`booked = booked + 1 WHERE booked < capacity`): on PostgreSQL the row lock
serialises concurrent bookings and the guard is re-checked on the row as the winner left it; on
SQLite writes queue behind `BEGIN IMMEDIATE`. So N free slots give exactly N appointments however
many dispatchers book at once. A day with nothing left is refused with `CapacityFull`, which
carries the next free days as `details["offers"]`.

A case has at most one active appointment per job type (a partial unique index on `job_key`):
booking again for the same job is idempotent when nothing changed and a reschedule otherwise.
Everything is logged in `appointment_log`; direct calls (the dispatch board, the CLI) also append a
history event to the case's chain. Inside a running process the `yekuo/field_appointment` service
books (`engine.dispatch.handlers`), and its recorded result is the history event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.core import clock, counters, history
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, InvalidState, NotFound
from engine.core.models import (
    appointment_log_t,
    appointment_t,
    capacity_usage_t,
    dispatch_entry_t,
    dispatch_list_t,
    instance_t,
    team_t,
    timer_t,
)
from engine.dispatch import capacity
from engine.dispatch.appointments import (
    ACTIVE,
    APPOINTMENTS,
    ARRIVAL_PURPOSE,
    AppointmentView,
    Request,
    Window,
    append_history,
    fetch,
    local_iso,
    notify_change,
    process_result,
    view_of,
    window,
    worker_options,
)

OFFER_COUNT = 5
OFFER_DAYS = 14


class CapacityFull(Conflict):
    """No team of the area has capacity left in the requested days; `details["offers"]` lists the
    next free days (date, team, remaining)."""

    code = "capacity_full"


@dataclass
class Plan:
    """What a booking read before its write transaction (`plan_booking`)."""

    request: Request
    window: Window
    teams: list[Any]  # team rows that may take the job
    workdays: dict[dt.date, bool]
    offer_days: list[dt.date]


def plan_booking(db: Database, request: Request, now: dt.datetime) -> Plan:
    """Everything a booking reads outside its write transaction: window, candidate teams, calendar."""
    win = window(request, now)
    q = select(team_t).where(team_t.c.active)
    q = q.where(team_t.c.code == request.team) if request.team else q.where(team_t.c.area == request.area)
    with db.read() as conn:
        teams = conn.execute(q.order_by(team_t.c.code)).all()
    if request.team and not teams:
        raise NotFound(f"no active team with code {request.team!r}")
    if not teams:
        raise InvalidState(f"no active {request.area} team is set up; add teams and their capacity first "
                           f"(yekuo teams add / yekuo capacity report)")
    local_today = now.astimezone(CHINA).date()
    after = max(win.days[-1] if win.days else local_today, local_today)
    offer_days = [after + dt.timedelta(days=i) for i in range(1, OFFER_DAYS + 1)]
    workdays = {d: capacity.is_workday(db, d) for d in (*win.days, *offer_days)}
    if win.days:
        _ensure_usage(db, [t.id for t in teams], list(win.days), request.job_type)
    return Plan(request, win, teams, workdays, offer_days)


_CHUNK = 200  # days per statement: IN lists and multi-row inserts stay far below any bind limit


def _ensure_usage(db: Database, team_ids: list[int], days: list[dt.date], job_type: str) -> None:
    """Create missing usage rows in a short transaction of their own, so the booking transaction
    never holds a lock on a row it does not take (no deadlock between concurrent bookings)."""
    for at in range(0, len(days), _CHUNK):
        _ensure_usage_of(db, team_ids, days[at:at + _CHUNK], job_type)


def _ensure_usage_of(db: Database, team_ids: list[int], days: list[dt.date], job_type: str) -> None:
    have: set[tuple[int, dt.date]] = set()
    with db.read() as conn:
        for t_at in range(0, len(team_ids), _CHUNK):
            have |= {(r.team_id, r.day) for r in conn.execute(
                select(capacity_usage_t.c.team_id, capacity_usage_t.c.day)
                .where(capacity_usage_t.c.team_id.in_(team_ids[t_at:t_at + _CHUNK]), capacity_usage_t.c.day.in_(days),
                       capacity_usage_t.c.job_type == job_type))}
    missing = [{"team_id": t, "day": d, "job_type": job_type, "booked": 0}
               for t in team_ids for d in days if (t, d) not in have]
    for at in range(0, len(missing), _CHUNK):
        with db.write() as conn:
            conn.execute(counters.upsert(conn, capacity_usage_t).values(missing[at:at + _CHUNK])
                         .on_conflict_do_nothing())


def _take(conn: Connection, team_id: int, day: dt.date, job_type: str, cap: int) -> bool:
    res = conn.execute(update(capacity_usage_t).where(
        capacity_usage_t.c.team_id == team_id, capacity_usage_t.c.day == day,
        capacity_usage_t.c.job_type == job_type, capacity_usage_t.c.booked < cap)
        .values(booked=capacity_usage_t.c.booked + 1))
    return res.rowcount == 1


def release_unit(conn: Connection, team_id: int, day: dt.date, job_type: str) -> None:
    """Give back the unit of a team's day that an appointment held."""
    conn.execute(update(capacity_usage_t).where(
        capacity_usage_t.c.team_id == team_id, capacity_usage_t.c.day == day,
        capacity_usage_t.c.job_type == job_type, capacity_usage_t.c.booked > 0)
        .values(booked=capacity_usage_t.c.booked - 1))


def _remaining(conn: Connection, plan: Plan, team: Any, day: dt.date,
               own: tuple[int, dt.date] | None = None) -> tuple[int, int]:
    """(capacity, left) of a team's day; `own` is the (team, day) the job being moved holds now,
    whose unit counts as free for it (it is released once the job has its new place)."""
    cap = capacity.capacity_on(conn, team.id, day, plan.request.job_type, plan.workdays[day])
    if own == (team.id, day):
        cap += 1
    return cap, cap - capacity.booked_on(conn, team.id, day, plan.request.job_type)


def _offers(conn: Connection, plan: Plan) -> list[dict[str, Any]]:
    offers = []
    for day in plan.offer_days:
        for team in plan.teams:
            _cap, left = _remaining(conn, plan, team, day)
            if left > 0:
                offers.append({"date": day.isoformat(), "team": team.code, "team_name": team.name, "remaining": left})
                if len(offers) >= OFFER_COUNT:
                    return offers
    return offers


def _next_number(conn: Connection, now: dt.datetime) -> str:
    """ZY + local date + daily sequence (the field-job counter), in the booking's transaction."""
    day = now.astimezone(CHINA).strftime("%Y%m%d")
    name = f"field_job:{day}"
    value = counters.increment(conn, name)
    return f"ZY{day}-{value:04d}"


def _active(conn: Connection, job_key: str) -> AppointmentView | None:
    """The job's active appointment, locked on PostgreSQL (a reschedule and a cancel take turns)."""
    q = APPOINTMENTS.where(appointment_t.c.job_key == job_key, appointment_t.c.status.in_(ACTIVE))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(of=appointment_t)
    row = conn.execute(q).first()
    return view_of(row) if row is not None else None


def _place(conn: Connection, plan: Plan, own: tuple[int, dt.date] | None) -> tuple[Any, dt.date] | None:
    """Take one unit of the first day (and, that day, the team with most left) that has room."""
    for day in plan.window.days:
        ranked = []
        for team in plan.teams:
            cap, left = _remaining(conn, plan, team, day, own)
            if left > 0:
                ranked.append((-left, team.code, team, cap))
        for _neg, _code, team, cap in sorted(ranked, key=lambda r: r[:2]):
            if _take(conn, team.id, day, plan.request.job_type, cap):
                return team, day
    return None


def _refuse(conn: Connection, plan: Plan) -> CapacityFull:
    req, win = plan.request, plan.window
    offers = _offers(conn, plan)
    what = capacity.JOB_TYPES[req.job_type]
    if win.days:
        span = win.days[0].isoformat() if len(win.days) == 1 else f"{win.days[0]} – {win.days[-1]}"
    else:
        span = "the window"
    where = req.team or {"urban": "城区", "rural": "农村"}[req.area]
    message = f"no capacity left for {req.job_type} ({what}) on {span} ({where})"
    return CapacityFull(message, details={"job_type": req.job_type, "area": req.area, "team": req.team,
                                          "requested": [d.isoformat() for d in win.days], "offers": offers})


@contextlib.contextmanager
def deadlock_is_conflict() -> Iterator[None]:
    """Two reschedules swapping days can lock the same two usage rows in opposite order; PostgreSQL
    then aborts one of them, which is a conflict to retry, not a failure."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "40P01":
            raise Conflict("another booking moved the same days at the same time; try again") from None
        raise


@dataclass
class Booked:
    """What `book_in` did, with the log rows the caller writes."""

    view: AppointmentView
    action: str  # booked | rescheduled | unchanged
    previous: dict[str, Any] | None
    logs: list[dict[str, Any]]


def book_in(conn: Connection, plan: Plan, *, instance_id: int, case: dict[str, Any], actor: str,
          now: dt.datetime) -> Booked:
    """Book (or move) the case's appointment for the job type inside `conn`'s transaction."""
    req = plan.request
    job_key = f"{instance_id}:{req.job_type}"
    current = _active(conn, job_key)
    if current is not None and current.request == req.to_dict():
        return Booked(current, "unchanged", None, [])
    if current is not None and current.status == "arrived":
        raise InvalidState(f"job {current.job_no} is already on site; it can no longer be rescheduled")
    own = None
    if current is not None:
        own = (conn.execute(select(team_t.c.id).where(team_t.c.code == current.team)).scalar_one(), current.day)
    placed = _place(conn, plan, own)
    if placed is None:
        raise _refuse(conn, plan)
    team, day = placed
    slot = plan.window.slot_for(day, now, req)
    values = {"job_type": req.job_type, "mode": req.mode, "request": req.to_dict(), "team_id": team.id,
              "area": team.area, "day": day, "slot": slot, "window_start": plan.window.start,
              "window_end": plan.window.end, "updated_at": now}
    if current is None:
        values.update(job_no=_next_number(conn, now), job_key=job_key, instance_id=instance_id, status="booked",
                      booked_at=now, booked_by=actor, note="", **{k: case.get(k) for k in
                                                                  ("application_no", "customer_name", "address",
                                                                   "mobile")})
        try:
            with conn.begin_nested():
                aid = conn.execute(insert(appointment_t).values(**values).returning(appointment_t.c.id)).scalar_one()
        except IntegrityError:
            raise Conflict(f"the case already has a {req.job_type} appointment being booked; try again") from None
        action, previous = "booked", None
    else:
        aid = current.id
        release_unit(conn, own[0], current.day, current.job_type)
        previous = {"team": current.team, "day": current.day.isoformat(), "slot": current.slot,
                    "due_at": local_iso(current.window_end), "request": current.request}
        conn.execute(update(appointment_t).where(appointment_t.c.id == aid).values(
            status="booked" if current.status == "booked" else current.status, planned_at=None, **values))
        conn.execute(delete(dispatch_entry_t).where(dispatch_entry_t.c.appointment_id == aid))
        conn.execute(delete(timer_t).where(timer_t.c.purpose == ARRIVAL_PURPOSE, timer_t.c.fired_at.is_(None),
                                           timer_t.c.task_id == f"appt:{aid}"))
        action = "rescheduled"
    conn.execute(insert(timer_t).values(instance_id=instance_id, task_id=f"appt:{aid}", purpose=ARRIVAL_PURPOSE,
                                        due_at=plan.window.end, payload={"appointment_id": aid}))
    view = fetch(conn, appointment_id=aid)
    add_to_existing_list(conn, view, now)
    details = {"team": view.team, "day": view.day.isoformat(), "slot": view.slot, "mode": view.mode,
               "due_at": local_iso(view.window_end), "request": view.request}
    if previous:
        details["previous"] = previous
    logs = [{"appointment_id": aid, "at": now, "actor": actor, "action": action, "details": details}]
    return Booked(view, action, previous, logs)


def add_to_existing_list(conn: Connection, view: AppointmentView, now: dt.datetime) -> None:
    """A job booked for a list already made joins it at the end of the route, marked late."""
    list_id = conn.execute(select(dispatch_list_t.c.id).join(team_t, team_t.c.id == dispatch_list_t.c.team_id).where(
        team_t.c.code == view.team, dispatch_list_t.c.day == view.day, dispatch_list_t.c.slot == view.slot)).scalar()
    if list_id is None:
        return
    seq = conn.execute(select(func.max(dispatch_entry_t.c.seq)).where(dispatch_entry_t.c.list_id == list_id)).scalar()
    conn.execute(insert(dispatch_entry_t).values(list_id=list_id, appointment_id=view.id, seq=(seq or 0) + 1,
                                                 late=True, added_at=now))


def _case_fields(conn: Connection, instance_id: int, given: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(select(instance_t.c.business_key, instance_t.c.customer_name, instance_t.c.customer_mobile,
                              instance_t.c.status).where(instance_t.c.id == instance_id)).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    if row.status in ("completed", "cancelled"):
        raise InvalidState(f"case {instance_id} has ended ({row.status})")
    return {"application_no": given.get("application_no") or row.business_key,
            "customer_name": given.get("customer_name") or row.customer_name,
            "mobile": given.get("mobile") or row.customer_mobile, "address": given.get("address")}


def event_payload(b: Booked) -> dict[str, Any]:
    """The history event's payload for a booking or a move."""
    v = b.view
    payload = {"job_no": v.job_no, "job_type": v.job_type, "mode": v.mode, "team": v.team, "day": v.day.isoformat(),
               "slot": v.slot, "due_at": local_iso(v.window_end)}
    if b.previous:
        payload["previous"] = b.previous
    return payload


def book(db: Database, instance_id: int, request: dict[str, Any] | Request, *, actor: str,
         case: dict[str, Any] | None = None) -> AppointmentView:
    """Book the case's field job (the dispatch board, the CLI, tests): atomic against capacity,
    logged, and recorded on the case's history chain. Raises `CapacityFull` with offers."""
    req = request if isinstance(request, Request) else Request.parse(request)
    now = clock.now()
    plan = plan_booking(db, req, now)
    with deadlock_is_conflict(), db.write() as conn:
        fields = _case_fields(conn, instance_id, case or {})
        booked = book_in(conn, plan, instance_id=instance_id, case=fields, actor=actor, now=now)
        if booked.action != "unchanged":
            conn.execute(insert(appointment_log_t), booked.logs)
            append_history(conn, instance_id, [history.NewEvent(f"field_{booked.action}", now, actor=actor,
                                                                payload=event_payload(booked))])
            if booked.action == "rescheduled":
                notify_change(conn, booked.view, now)
    return booked.view


#: Request field -> the 预约上门 form's field, where a refusal is shown.
FORM_FIELDS = {"job_type": "job_kind", "mode": "appointment_mode", "date": "appointment_date",
               "period": "appointment_period", "within_hours": "within_hours", "area": "area", "team": "team"}


def offers_text(offers: list[dict[str, Any]]) -> str:
    """The next free days as a dispatcher reads them: 2027-03-02 城区勘查一班（余3）；…"""
    return "；".join(f"{o['date']} {o['team_name']}（余{o['remaining']}）" for o in offers) or "两周内均无空余"


def _on_form(exc: InvalidData | InvalidState | NotFound | Conflict) -> dict[str, list[str]]:
    """An engine refusal as errors on the form's fields, in Chinese."""
    details = exc.details if isinstance(exc.details, dict) else {}
    out = {FORM_FIELDS.get(k, "_form"): list(v) for k, v in details.items()
           if k in FORM_FIELDS and isinstance(v, list)}
    if not out and isinstance(exc, NotFound):
        out = {"team": ["没有这个班所编码，或该班所已停用"]}
    return out or {"_form": ["无法预约，请调整预约方式或日期后重试"]}


def check_form(db: Database, instance_id: int, data: dict[str, Any], now: dt.datetime) -> dict[str, list[str]]:
    """The 预约上门 form's check before the task completes: a closed window, an unknown team or a
    window with no room left is an error on the form (with the next free days), so the task stays
    open instead of completing and coming straight back. Reads only; the booking itself still
    re-checks in its own transaction (two dispatchers may race for the last unit)."""
    try:
        req = Request.parse(data)
        plan = plan_booking(db, req, now)
    except (InvalidData, InvalidState, NotFound) as exc:
        return _on_form(exc)
    with db.read() as conn:
        if _active(conn, f"{instance_id}:{req.job_type}") is not None:
            return {}  # a reschedule: its own unit counts as free, book_in decides
        if any(_remaining(conn, plan, team, day)[1] > 0 for day in plan.window.days for team in plan.teams):
            return {}
        offers = _offers(conn, plan)
    field = "within_hours" if req.mode == "within" else "appointment_date"
    return {field: [f"所选时间{capacity.JOB_TYPES[req.job_type]}已约满，可预约：{offers_text(offers)}"]}


def book_in_command(db: Database, instance_id: int, data: dict[str, Any], *, now: dt.datetime,
                    actor: str = "dispatcher") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `yekuo/field_appointment` service: book from the case data in a short transaction of its
    own; returns the process result and the log rows for the command's own transaction. A full day
    is not an error of the case: the result says `booked: false` with the offers, and the model
    goes back to the booking task."""
    try:
        req = Request.parse(data)
        plan = plan_booking(db, req, now)
        with deadlock_is_conflict(), db.write() as conn:
            case = {k: data.get(k) for k in ("application_no", "customer_name", "address", "mobile")}
            booked = book_in(conn, plan, instance_id=instance_id, case=case, actor=actor, now=now)
    except CapacityFull as full:
        offers = full.details["offers"]
        return {"booked": False, "reason": full.message, "offers": offers,
                "note": f"所选时间{capacity.JOB_TYPES[req.job_type]}已约满，可预约：{offers_text(offers)}"}, []
    except (InvalidData, InvalidState, NotFound, Conflict) as exc:  # a closed window, an unknown team, a race
        said = "；".join(m for ms in _on_form(exc).values() for m in ms)
        return {"booked": False, "reason": exc.message, "offers": [], "note": f"无法预约：{said}"}, []
    result = process_result(booked.view)
    result["workers"] = worker_options(db, booked.view)  # the 派工 form's choices (`worker_options`)
    return result, booked.logs

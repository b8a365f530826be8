"""Appointments (预约) for field jobs, booked against the teams' remaining capacity.

Three modes (DOMAIN §5): 约时 `fixed` — a date and a half-day window agreed with the customer;
限时 `within` — within N hours from now; 限期 `by_date` — by 18:00 of a date. The window's end is
the promise: it becomes the field job's `job_due_at` (the overdue timer of the on-site work), the
customer's SMS, and the instant after which a missing arrival report raises a 催办.

A booking takes one unit of a team's day for the job type with a guarded UPDATE of its
`capacity_usage` row (`booked = booked + 1 WHERE booked < capacity`): on PostgreSQL the row lock
serialises concurrent bookings and the guard is re-checked on the row as the winner left it; on
SQLite writes queue behind `BEGIN IMMEDIATE`. So N free slots give exactly N appointments however
many dispatchers book at once. A day with nothing left is refused with `CapacityFull`, which
carries the next free days as `details["offers"]`.

A case has at most one active appointment per job type (a partial unique index on `job_key`):
booking again for the same job is idempotent when nothing changed and a reschedule otherwise.
Rescheduling and cancelling release the capacity they held. Everything is logged in
`appointment_log`; direct calls (the dispatch board, the CLI) also append a history event to the
case's chain. Inside a running process the `yekuo/field_appointment` service books (engine.handlers),
and its recorded result is the history event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.dispatch import capacity
from engine.core import clock, history, runtime
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, InvalidState, NotFound
from engine.core.models import (
    appointment_log_t,
    appointment_t,
    capacity_usage_t,
    counter_t,
    dispatch_entry_t,
    dispatch_list_t,
    instance_t,
    outbox_t,
    team_t,
    timer_t,
)

CHINA = dt.timezone(dt.timedelta(hours=8))
MODES = {"fixed": "约时", "within": "限时", "by_date": "限期"}
PERIODS = {"am": (dt.time(8, 30), dt.time(12, 0)), "pm": (dt.time(14, 0), dt.time(18, 0))}
BY_DATE_CLOSE = dt.time(18, 0)
#: After this local time today's working time is over: 限时/限期 jobs go to the next days.
DAY_OVER = dt.time(17, 0)
ACTIVE = ("booked", "dispatched", "arrived")
ARRIVAL_PURPOSE = "field_arrival"
OFFER_COUNT = 5
OFFER_DAYS = 14


def local_iso(instant: dt.datetime) -> str:
    """China time with its offset, as the process data and history show instants."""
    return instant.astimezone(CHINA).isoformat()


class CapacityFull(Conflict):
    """No team of the area has capacity left in the requested days; `details["offers"]` lists the
    next free days (date, team, remaining)."""

    code = "capacity_full"


# ---------------------------------------------------------------------------------------------
# requests and windows


@dataclass(frozen=True)
class Request:
    """What the dispatcher asks for: job type, mode and its parameters, area or a named team."""

    job_type: str
    mode: str
    date: str | None = None
    period: str | None = None
    within_hours: int | None = None
    area: str = "urban"
    team: str | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Request:
        """From an API dict (`job_type`, `mode`, …) or the case data (`job_kind`, `appointment_*`)."""
        job_type = data.get("job_type") or data.get("job_kind")
        mode = data.get("mode") or data.get("appointment_mode")
        date = data.get("date") or data.get("appointment_date")
        period = data.get("period") or data.get("appointment_period")
        hours = data.get("within_hours")
        area = data.get("area") or "urban"
        team = data.get("team") or None
        problems: dict[str, list[str]] = {}
        if job_type not in capacity.JOB_TYPES:
            problems["job_type"] = ["作业类型须为 survey、install 或 verify"]
        if mode not in MODES:
            problems["mode"] = [f"unknown appointment_mode {mode!r}: use fixed (约时), within (限时) or by_date (限期)"]
        if area not in ("urban", "rural"):
            problems["area"] = ["区域须为 urban 或 rural"]
        if mode in ("fixed", "by_date"):
            try:
                date = dt.date.fromisoformat(str(date)).isoformat()
            except ValueError:
                problems["date"] = [f"appointment_date {date!r} is not a date (YYYY-MM-DD)"]
        else:
            date = None
        if mode == "fixed" and period not in PERIODS:
            problems["period"] = [f"a 约时 appointment needs appointment_period am or pm, not {period!r}"]
        if mode != "fixed":
            period = None
        if mode == "within":
            if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 72:
                problems["within_hours"] = ["a 限时 appointment needs within_hours between 1 and 72"]
        else:
            hours = None
        if problems:
            raise InvalidData("; ".join(m for ms in problems.values() for m in ms), details=problems)
        return cls(job_type, mode, date, period, hours, area, team)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime  # the promise: job_due_at
    days: tuple[dt.date, ...]  # the days the job may be booked on, in order of preference

    def slot_for(self, day: dt.date, now: dt.datetime, request: Request) -> str:
        if request.mode == "fixed":
            return request.period or "am"
        local = now.astimezone(CHINA)
        return "pm" if day == local.date() and local.time() >= PERIODS["am"][1] else "am"


def window(request: Request, now: dt.datetime) -> Window:
    """The appointment window of a request made at `now`; refuses one that has already closed."""
    local = now.astimezone(CHINA)
    if request.mode == "fixed":
        day = dt.date.fromisoformat(request.date or "")
        start, end = (dt.datetime.combine(day, t, CHINA) for t in PERIODS[request.period or "am"])
        days: tuple[dt.date, ...] = (day,)
    else:
        start = local
        if request.mode == "within":
            end = local + dt.timedelta(hours=request.within_hours or 0)
        else:
            end = dt.datetime.combine(dt.date.fromisoformat(request.date or ""), BY_DATE_CLOSE, CHINA)
        first = local.date() + dt.timedelta(days=1 if local.time() >= DAY_OVER else 0)
        days = tuple(first + dt.timedelta(days=i) for i in range(max((end.date() - first).days + 1, 0)))
    if end <= now:
        raise InvalidData(f"the appointment window closes {end.isoformat()}, which has already passed",
                          details={"date": ["预约时间已过，请选择以后的时间"]})
    return Window(start, end, days)


def texts(request: dict[str, Any] | Request, end: dt.datetime) -> tuple[str, str]:
    """(date text, window text) for the customer: 2027年03月03日 / 08:30-12:00, 24小时内（09:00前）, 18:00前."""
    req = request if isinstance(request, Request) else Request(**request)
    due = end.astimezone(CHINA)
    if req.mode == "fixed":
        a, b = PERIODS[req.period or "am"]
        return f"{due:%Y年%m月%d日}", f"{a:%H:%M}-{b:%H:%M}"
    if req.mode == "within":
        return f"{due:%Y年%m月%d日}", f"{req.within_hours}小时内（{due:%H:%M}前）"
    return f"{due:%Y年%m月%d日}", f"{BY_DATE_CLOSE:%H:%M}前"


# ---------------------------------------------------------------------------------------------
# views


@dataclass
class AppointmentView:
    id: int
    job_no: str
    instance_id: int
    job_type: str
    mode: str
    request: dict[str, Any]
    team: str
    team_name: str
    area: str
    day: dt.date
    slot: str
    window_start: dt.datetime
    window_end: dt.datetime
    status: str
    application_no: str | None
    customer_name: str | None
    address: str | None
    mobile: str | None
    worker_name: str | None
    worker_mobile: str | None
    planned_at: dt.datetime | None
    route_seq: int | None
    arrived_at: dt.datetime | None
    completed_at: dt.datetime | None
    booked_at: dt.datetime
    booked_by: str
    note: str

    @property
    def texts(self) -> tuple[str, str]:
        return texts(self.request, self.window_end)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["date_text"], out["time_window"] = self.texts
        return out


APPOINTMENTS = (select(appointment_t, team_t.c.code.label("team_code"), team_t.c.name.label("team_name"))
         .join(team_t, team_t.c.id == appointment_t.c.team_id))


def view_of(r: Any) -> AppointmentView:
    return AppointmentView(r.id, r.job_no, r.instance_id, r.job_type, r.mode, dict(r.request), r.team_code,
                           r.team_name, r.area, r.day, r.slot, r.window_start, r.window_end, r.status,
                           r.application_no, r.customer_name, r.address, r.mobile, r.worker_name, r.worker_mobile,
                           r.planned_at, r.route_seq, r.arrived_at, r.completed_at, r.booked_at, r.booked_by, r.note)


def fetch(conn: Connection, *, job_no: str | None = None, appointment_id: int | None = None,
          for_update: bool = False) -> AppointmentView:
    key = appointment_t.c.job_no == job_no if job_no else appointment_t.c.id == appointment_id
    q = APPOINTMENTS.where(key)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update(of=appointment_t)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no appointment {job_no or appointment_id}")
    return view_of(row)


def get(db: Database, job_no: str) -> AppointmentView:
    with db.read() as conn:
        return fetch(conn, job_no=job_no)


def list_appointments(db: Database, *, day: dt.date | None = None, team: str | None = None,
                      status: str | tuple[str, ...] | None = None, instance_id: int | None = None,
                      area: str | None = None, limit: int = 500) -> list[AppointmentView]:
    q = APPOINTMENTS
    if day is not None:
        q = q.where(appointment_t.c.day == day)
    if team:
        q = q.where(team_t.c.code == team)
    if status:
        q = q.where(appointment_t.c.status.in_((status,) if isinstance(status, str) else status))
    if instance_id is not None:
        q = q.where(appointment_t.c.instance_id == instance_id)
    if area:
        q = q.where(appointment_t.c.area == area)
    with db.read() as conn:
        rows = conn.execute(q.order_by(appointment_t.c.day, appointment_t.c.window_start, appointment_t.c.id)
                            .limit(limit)).all()
    return [view_of(r) for r in rows]


def process_result(view: AppointmentView, note: str = "") -> dict[str, Any]:
    """What the field job keeps in its data as `booking` (and the SMS reads)."""
    date_text, window_text = view.texts
    return {"booked": True, "appointment_id": view.id, "job_no": view.job_no, "job_kind": view.job_type,
            "mode": view.mode, "team": view.team, "team_name": view.team_name, "day": view.day.isoformat(),
            "slot": view.slot, "window_start": local_iso(view.window_start), "due_at": local_iso(view.window_end),
            "date": date_text, "time_window": window_text,
            "status": view.status,
            "note": note or f"已预约：{date_text} {window_text}，{view.team_name}（作业单号{view.job_no}）"}


# ---------------------------------------------------------------------------------------------
# booking


@dataclass
class _Plan:
    request: Request
    window: Window
    teams: list[Any]  # team rows that may take the job
    workdays: dict[dt.date, bool]
    offer_days: list[dt.date]


def _plan(db: Database, request: Request, now: dt.datetime) -> _Plan:
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
    return _Plan(request, win, teams, workdays, offer_days)


def _ensure_usage(db: Database, team_ids: list[int], days: list[dt.date], job_type: str) -> None:
    """Create missing usage rows in a short transaction of their own, so the booking transaction
    never holds a lock on a row it does not take (no deadlock between concurrent bookings)."""
    with db.read() as conn:
        have = {(r.team_id, r.day) for r in conn.execute(select(capacity_usage_t.c.team_id, capacity_usage_t.c.day)
                                                          .where(capacity_usage_t.c.team_id.in_(team_ids),
                                                                 capacity_usage_t.c.day.in_(days),
                                                                 capacity_usage_t.c.job_type == job_type))}
    missing = [{"team_id": t, "day": d, "job_type": job_type, "booked": 0}
               for t in team_ids for d in days if (t, d) not in have]
    if not missing:
        return
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        conn.execute(upsert(capacity_usage_t).values(missing).on_conflict_do_nothing())


def _take(conn: Connection, team_id: int, day: dt.date, job_type: str, cap: int) -> bool:
    res = conn.execute(update(capacity_usage_t).where(
        capacity_usage_t.c.team_id == team_id, capacity_usage_t.c.day == day,
        capacity_usage_t.c.job_type == job_type, capacity_usage_t.c.booked < cap)
        .values(booked=capacity_usage_t.c.booked + 1))
    return res.rowcount == 1


def _release(conn: Connection, team_id: int, day: dt.date, job_type: str) -> None:
    conn.execute(update(capacity_usage_t).where(
        capacity_usage_t.c.team_id == team_id, capacity_usage_t.c.day == day,
        capacity_usage_t.c.job_type == job_type, capacity_usage_t.c.booked > 0)
        .values(booked=capacity_usage_t.c.booked - 1))


def _remaining(conn: Connection, plan: _Plan, team: Any, day: dt.date,
               own: tuple[int, dt.date] | None = None) -> tuple[int, int]:
    """(capacity, left) of a team's day; `own` is the (team, day) the job being moved holds now,
    whose unit counts as free for it (it is released once the job has its new place)."""
    cap = capacity.capacity_on(conn, team.id, day, plan.request.job_type, plan.workdays[day])
    if own == (team.id, day):
        cap += 1
    return cap, cap - capacity.booked_on(conn, team.id, day, plan.request.job_type)


def _offers(conn: Connection, plan: _Plan) -> list[dict[str, Any]]:
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
    value = conn.execute(update(counter_t).where(counter_t.c.name == name).values(value=counter_t.c.value + 1)
                         .returning(counter_t.c.value)).scalar()
    if value is None:
        conn.execute(insert(counter_t).values(name=name, value=1))
        value = 1
    return f"ZY{day}-{value:04d}"


def _active(conn: Connection, job_key: str) -> AppointmentView | None:
    """The job's active appointment, locked on PostgreSQL (a reschedule and a cancel take turns)."""
    q = APPOINTMENTS.where(appointment_t.c.job_key == job_key, appointment_t.c.status.in_(ACTIVE))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(of=appointment_t)
    row = conn.execute(q).first()
    return view_of(row) if row is not None else None


def _place(conn: Connection, plan: _Plan, own: tuple[int, dt.date] | None) -> tuple[Any, dt.date] | None:
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


def _refuse(conn: Connection, plan: _Plan) -> CapacityFull:
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
def _deadlock_is_conflict() -> Iterator[None]:
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
    view: AppointmentView
    action: str  # booked | rescheduled | unchanged
    previous: dict[str, Any] | None
    logs: list[dict[str, Any]]


def _book(conn: Connection, plan: _Plan, *, instance_id: int, case: dict[str, Any], actor: str,
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
        _release(conn, own[0], current.day, current.job_type)
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


def _event_payload(b: Booked) -> dict[str, Any]:
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
    plan = _plan(db, req, now)
    with _deadlock_is_conflict(), db.write() as conn:
        fields = _case_fields(conn, instance_id, case or {})
        booked = _book(conn, plan, instance_id=instance_id, case=fields, actor=actor, now=now)
        if booked.action != "unchanged":
            conn.execute(insert(appointment_log_t), booked.logs)
            append_history(conn, instance_id, [history.NewEvent(f"field_{booked.action}", now, actor=actor,
                                                                payload=_event_payload(booked))])
            if booked.action == "rescheduled":
                _notify_change(conn, booked.view, now)
    return booked.view


def book_in_command(db: Database, instance_id: int, data: dict[str, Any], *, now: dt.datetime,
                    actor: str = "dispatcher") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `yekuo/field_appointment` service: book from the case data in a short transaction of its
    own; returns the process result and the log rows for the command's own transaction. A full day
    is not an error of the case: the result says `booked: false` with the offers, and the model
    goes back to the booking task."""
    try:
        req = Request.parse(data)
        plan = _plan(db, req, now)
        with _deadlock_is_conflict(), db.write() as conn:
            case = {k: data.get(k) for k in ("application_no", "customer_name", "address", "mobile")}
            booked = _book(conn, plan, instance_id=instance_id, case=case, actor=actor, now=now)
    except CapacityFull as full:
        offers = full.details["offers"]
        listed = "；".join(f"{o['date']} {o['team_name']}（余{o['remaining']}）" for o in offers) or "两周内均无空余"
        return {"booked": False, "reason": full.message, "offers": offers,
                "note": f"所选时间{capacity.JOB_TYPES[req.job_type]}已约满，可预约：{listed}"}, []
    except (InvalidData, InvalidState, NotFound, Conflict) as exc:  # a closed window, an unknown team, a race
        return {"booked": False, "reason": exc.message, "offers": [], "note": f"无法预约：{exc.message}"}, []
    return process_result(booked.view), booked.logs


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
    plan = _plan(db, req, now)
    with _deadlock_is_conflict(), db.write() as conn:
        booked = _book(conn, plan, instance_id=current.instance_id, case={}, actor=actor, now=now)
        if booked.action == "unchanged":
            return booked.view
        for log in booked.logs:
            log["details"]["reason"] = reason
        conn.execute(insert(appointment_log_t), booked.logs)
        payload = {**_event_payload(booked), "reason": reason}
        append_history(conn, current.instance_id, [history.NewEvent("field_rescheduled", now, actor=actor,
                                                                    payload=payload)])
        _notify_change(conn, booked.view, now)
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
            _notify_cancel(conn, view, now)
        return fetch(conn, job_no=job_no)


def _close(conn: Connection, view: AppointmentView, status: str, reason: str, actor: str, now: dt.datetime) -> None:
    team_id = conn.execute(select(team_t.c.id).where(team_t.c.code == view.team)).scalar_one()
    _release(conn, team_id, view.day, view.job_type)
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


def _notify_change(conn: Connection, view: AppointmentView, now: dt.datetime) -> None:
    """Tell the customer the new time (once per change: the key carries the change's count)."""
    n = conn.execute(select(func.count()).select_from(appointment_log_t).where(
        appointment_log_t.c.appointment_id == view.id, appointment_log_t.c.action == "rescheduled")).scalar()
    _queue_sms(conn, view, "appointment_changed", f"changed-{n}", now)


def _notify_cancel(conn: Connection, view: AppointmentView, now: dt.datetime) -> None:
    """Tell the customer the visit is off (once per appointment: it can be cancelled only once)."""
    _queue_sms(conn, view, "appointment_cancelled", "cancelled", now)


def _queue_sms(conn: Connection, view: AppointmentView, template: str, event: str, now: dt.datetime) -> None:
    """One outbox row per appointment event, in the caller's transaction (the key makes a retry a no-op)."""
    from engine.core import formats
    from engine import handlers

    if not view.mobile or not formats.is_mobile(view.mobile):
        return
    date_text, window_text = view.texts
    body = handlers.render_sms(template, {
        "customer_name": view.customer_name, "application_no": view.application_no, "job_kind": view.job_type,
        "booking": {"date": date_text, "time_window": window_text}})
    key = f"sms:{view.instance_id}:appointment:{view.job_no}:{event}"
    if conn.execute(select(outbox_t.c.id).where(outbox_t.c.idempotency_key == key)).first() is None:
        conn.execute(insert(outbox_t).values(idempotency_key=key, channel="sms", recipient=view.mobile,
                                             template=template, body=body, instance_id=view.instance_id,
                                             status="pending", attempts=0, created_at=now, next_attempt_at=now))


def overbooked(db: Database, *, start: dt.date | None = None, days: int = 14, area: str | None = None,
               team: str | None = None) -> list[dict[str, Any]]:
    """Bookings that no longer fit because a team lowered a day's capacity below what was booked.

    A capacity report states a fact (the team is at training, two workers are ill), so it is
    accepted; the jobs booked last on such a day are the ones flagged for the dispatcher to
    reschedule, as many as the day is over. Each item: the appointment and its day's numbers."""
    start = start or clock.now().astimezone(CHINA).date()
    out = []
    for day in capacity.board(db, start, days, area=area, team=team):
        if day.booked <= day.capacity:
            continue
        booked = [a for a in list_appointments(db, day=day.day, team=day.team, status=("booked", "dispatched"))
                  if a.job_type == day.job_type]
        excess = day.booked - day.capacity
        for a in sorted(booked, key=lambda a: (a.booked_at, a.id))[-excess:]:
            out.append({"appointment": a, "team": day.team, "job_type": day.job_type, "day": day.day,
                        "capacity": day.capacity, "booked": day.booked})
    return out


def availability(db: Database, job_type: str, *, area: str = "urban", start: dt.date | None = None, days: int = 7,
                 team: str | None = None) -> list[dict[str, Any]]:
    """Remaining capacity per day and team for a job type: what the booking page offers."""
    start = start or clock.now().astimezone(CHINA).date()
    return [c.to_dict() for c in capacity.board(db, start, days, area=None if team else area, team=team,
                                                 job_type=job_type)]


# ---------------------------------------------------------------------------------------------
# history on the case's chain (the pattern of engine.deadlines.sla)


def append_history(conn: Connection, instance_id: int, events: list[history.NewEvent]) -> None:
    """Append events to the case's chain under its version guard, in `conn`'s transaction."""
    head = conn.execute(select(instance_t.c.id, instance_t.c.version, instance_t.c.event_seq, instance_t.c.last_hash)
                        .where(instance_t.c.id == instance_id)).first()
    if head is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    rows, seq, last = history.chain_rows(instance_id, head.event_seq, head.last_hash, events)
    res = conn.execute(update(instance_t).where(and_(instance_t.c.id == instance_id,
                                                     instance_t.c.version == head.version))
                       .values(version=head.version + 1, event_seq=seq, last_hash=last))
    if res.rowcount != 1:
        raise Conflict("the case was changed by someone else at the same time; try again")
    history.append(conn, rows)


if release_for_case not in runtime.CASE_END_HOOKS:
    runtime.CASE_END_HOOKS.append(release_for_case)

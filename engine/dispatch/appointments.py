"""Appointments (预约) as records: what a booking asks for, its window, the views every page reads.

Three modes (README, "Dispatch centre"): 约时 `fixed` — a date and a half-day window agreed with the
customer; 限时 `within` — within N hours from now; 限期 `by_date` — by 18:00 of a date. The window's
end is the promise: it becomes the field job's `job_due_at` (the overdue timer of the on-site work),
the customer's SMS, and the instant after which a missing arrival report raises a 催办.

Booking itself is `booking`; moving, cancelling and releasing are `rescheduling`. Both tell the
customer through `notify_change`/`notify_cancel` here and record history with `append_history`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from engine.core import clock, formats, history, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidData, NotFound
from engine.core.models import appointment_log_t, appointment_t, outbox_t, team_t
from engine.dispatch import capacity, teams
from engine.messages import sms

MODES = {"fixed": "约时", "within": "限时", "by_date": "限期"}
PERIODS = {"am": (dt.time(8, 30), dt.time(12, 0)), "pm": (dt.time(14, 0), dt.time(18, 0))}
BY_DATE_CLOSE = dt.time(18, 0)
#: After this local time today's working time is over: 限时/限期 jobs go to the next days.
DAY_OVER = dt.time(17, 0)
ACTIVE = ("booked", "dispatched", "arrived")
ARRIVAL_PURPOSE = "field_arrival"


def local_iso(instant: dt.datetime) -> str:
    """China time with its offset, as the process data and history show instants."""
    return instant.astimezone(CHINA).isoformat()


#: how far ahead an appointment may be booked: a window is a list of days (capacity rows, calendar
#: look-ups), so a date years ahead would mean thousands of them
HORIZON = dt.timedelta(days=731)  # two years: the forms' examples book a year ahead


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
        problems: dict[str, tuple[str, str]] = {}  # field -> (English for the API and CLI, Chinese for the form)
        if job_type not in capacity.JOB_TYPES:
            problems["job_type"] = (f"unknown job_type {job_type!r}: use survey, install or verify",
                                    "作业类型须为 survey、install 或 verify")
        if mode not in MODES:
            problems["mode"] = (f"unknown appointment_mode {mode!r}: use fixed (约时), within (限时) or by_date (限期)",
                                "请选择预约方式：约时、限时或限期")
        if area not in ("urban", "rural"):
            problems["area"] = (f"unknown area {area!r}: use urban or rural", "区域须为 urban 或 rural")
        if mode in ("fixed", "by_date"):
            try:
                date = dt.date.fromisoformat(str(date)).isoformat()
            except ValueError:
                problems["date"] = (f"appointment_date {date!r} is not a date (YYYY-MM-DD)", "请选择预约日期")
        else:
            date = None
        if mode == "fixed" and period not in PERIODS:
            problems["period"] = (f"a 约时 appointment needs appointment_period am or pm, not {period!r}",
                                  "约时预约请选择上午或下午")
        if mode != "fixed":
            period = None
        if mode == "within":
            if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 72:
                problems["within_hours"] = ("a 限时 appointment needs within_hours between 1 and 72",
                                            "限时预约请填写 1 到 72 小时")
        else:
            hours = None
        if problems:
            raise InvalidData("; ".join(en for en, _zh in problems.values()),
                              details={k: [zh] for k, (_en, zh) in problems.items()})
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
    if request.date is not None and dt.date.fromisoformat(request.date) > local.date() + HORIZON:
        last = local.date() + HORIZON
        raise InvalidData(f"the appointment date is more than {HORIZON.days} days ahead (the last bookable day is "
                          f"{last.isoformat()})", details={"date": [f"预约日期最晚为 {last:%Y年%m月%d日}（两年以内）"]})
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
        if not days and request.mode == "within":
            # within N hours, late in the day, ending before tomorrow: today is the only day it can
            # be kept on, so today's capacity takes it (an empty window used to read as "full")
            days = (local.date(),)
    if end <= now:
        field = "within_hours" if request.mode == "within" else "date"
        raise InvalidData(f"the appointment window closes {end.isoformat()}, which has already passed",
                          details={field: [f"所选时间段已于 {end.astimezone(CHINA):%m月%d日 %H:%M} 结束，请选择以后的时间"]})
    if not days:
        raise InvalidData(f"the working day is over (after {DAY_OVER:%H:%M}); the window closes {end.isoformat()}",
                          details={"date": [f"今天 {DAY_OVER:%H:%M} 以后不再派当天的作业，请选择明天或以后的日期"]})
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


def worker_choices(db: Database, view: AppointmentView) -> list[teams.MemberView]:
    """Who may take this job: the active members of its team, when that team does the job's type
    (has capacity for it in the job's week). The 派工 form, the dispatch lists and `lists.assign`
    all read this one list."""
    week = capacity.board(db, capacity.week_of(view.day), 7, team=view.team, job_type=view.job_type)
    if not any(c.capacity > 0 for c in week):
        return []
    return [m for m in teams.get_team(db, view.team).members if m.active]


def worker_options(db: Database, view: AppointmentView) -> list[dict[str, str]]:
    """`worker_choices` as form options (`options_from_task_data_var:worker_options`)."""
    return [{"value": m.name, "label": f"{m.name}（{view.team_name}·{teams.ROLES.get(m.role, m.role)}）"}
            for m in worker_choices(db, view)]


def process_result(view: AppointmentView, note: str = "") -> dict[str, Any]:
    """What the field job keeps in its data as `booking` (and the SMS reads)."""
    date_text, window_text = view.texts
    return {"booked": True, "appointment_id": view.id, "job_no": view.job_no, "job_kind": view.job_type,
            "mode": view.mode, "team": view.team, "team_name": view.team_name, "day": view.day.isoformat(),
            "slot": view.slot, "window_start": local_iso(view.window_start), "due_at": local_iso(view.window_end),
            "date": date_text, "time_window": window_text,
            "status": view.status,
            "note": note or f"已预约：{date_text} {window_text}，{view.team_name}（作业单号{view.job_no}）"}


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
# telling the customer, recording on the case


def notify_change(conn: Connection, view: AppointmentView, now: dt.datetime) -> None:
    """Tell the customer the new time (once per change: the key carries the change's count)."""
    n = conn.execute(select(func.count()).select_from(appointment_log_t).where(
        appointment_log_t.c.appointment_id == view.id, appointment_log_t.c.action == "rescheduled")).scalar()
    _queue_sms(conn, view, "appointment_changed", f"changed-{n}", now)


def notify_cancel(conn: Connection, view: AppointmentView, now: dt.datetime) -> None:
    """Tell the customer the visit is off (once per appointment: it can be cancelled only once)."""
    _queue_sms(conn, view, "appointment_cancelled", "cancelled", now)


def _queue_sms(conn: Connection, view: AppointmentView, template: str, event: str, now: dt.datetime) -> None:
    """One outbox row per appointment event, in the caller's transaction (the key makes a retry a no-op)."""
    if not view.mobile or not formats.is_mobile(view.mobile):
        return
    date_text, window_text = view.texts
    body = sms.render_sms(template, {
        "customer_name": view.customer_name, "application_no": view.application_no, "job_kind": view.job_type,
        "booking": {"date": date_text, "time_window": window_text}})
    key = f"sms:{view.instance_id}:appointment:{view.job_no}:{event}"
    if conn.execute(select(outbox_t.c.id).where(outbox_t.c.idempotency_key == key)).first() is None:
        conn.execute(insert(outbox_t).values(idempotency_key=key, channel="sms", recipient=view.mobile,
                                             template=template, body=body, instance_id=view.instance_id,
                                             status="pending", attempts=0, created_at=now, next_attempt_at=now))


def append_history(conn: Connection, instance_id: int, events: list[history.NewEvent]) -> None:
    """Append events to the case's chain under its version guard, in `conn`'s transaction."""
    store.append_to_chain(conn, store.case_head(conn, instance_id), events)

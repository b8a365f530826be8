"""Dispatch lists (派工单): twice a day every team gets the list of its booked jobs.

At the morning and afternoon times (`YEKUO_DISPATCH_AM` / `YEKUO_DISPATCH_PM`, China time, default
07:30 and 12:30) the scheduler makes, for every active team, the list of that day's morning or
afternoon jobs, ordered as a route by area and address. Making a list is idempotent: one list per
team, day and half-day (a unique row), each job on at most one list (a unique entry), so running
twice, or in two schedulers, gives the same single list; a run after the list exists only appends
what was booked since (marked late), and so does a booking made after the list.

The team lead assigns each job to a worker and a time (`assign`). While the case waits at the
field job's 派工 task that *is* completing the task (the model's `yekuo/field_dispatch` service then
records it); afterwards it re-assigns directly, with a history event. Lists are viewable as
`ListView`s and exportable as CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from engine.core import actors, clock, history, queries, runtime, worklist
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidData, InvalidState, NotFound
from engine.core.models import (
    appointment_log_t,
    appointment_t,
    dispatch_entry_t,
    dispatch_list_t,
    team_member_t,
    team_t,
)
from engine.dispatch import appointments, capacity, rescheduling, teams

SLOTS = {"am": "上午", "pm": "下午"}
DEFAULT_TIMES = {"am": "07:30", "pm": "12:30"}
STATUS_TEXT = {"booked": "待派工", "dispatched": "已派工", "arrived": "已到达", "completed": "已完工",
               "cancelled": "已取消"}
#: Suggested spacing of visits on a route when the lead gives no time.
VISIT_SPACING = dt.timedelta(minutes=45)
_NUMBER = re.compile(r"\d+")


def route_key(area: str | None, address: str | None) -> tuple[str, str]:
    """A deterministic route order: area, then address with house numbers compared as numbers."""
    text = (address or "").strip()
    return (area or "", _NUMBER.sub(lambda m: m.group(0).zfill(8), text))


@dataclass
class Entry:
    seq: int
    late: bool
    appointment: appointments.AppointmentView


@dataclass
class ListView:
    id: int
    team: str
    team_name: str
    area: str
    day: dt.date
    slot: str
    generated_at: dt.datetime
    generated_by: str
    entries: list[Entry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "team": self.team, "team_name": self.team_name, "area": self.area,
                "day": self.day.isoformat(), "slot": self.slot, "generated_at": self.generated_at,
                "generated_by": self.generated_by,
                "entries": [{"seq": e.seq, "late": e.late, **e.appointment.to_dict()} for e in self.entries]}


# ---------------------------------------------------------------------------------------------
# making lists


def _parse_time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise InvalidData(f"not a time of day: {text!r} (e.g. 07:30)") from None


def due_slots(now: dt.datetime, *, am_at: str = DEFAULT_TIMES["am"],
              pm_at: str = DEFAULT_TIMES["pm"]) -> list[tuple[dt.date, str]]:
    """The (day, slot) lists that should exist at `now`: today's morning list from `am_at` on, the
    afternoon list from `pm_at` on (China time)."""
    local = now.astimezone(CHINA)
    out = []
    if local.time() >= _parse_time(am_at):
        out.append((local.date(), "am"))
    if local.time() >= _parse_time(pm_at):
        out.append((local.date(), "pm"))
    return out


def generate_due(db: Database, now: dt.datetime | None = None, *, am_at: str = DEFAULT_TIMES["am"],
                 pm_at: str = DEFAULT_TIMES["pm"], worker: str = "scheduler") -> list[ListView]:
    """What the scheduler runs at the configured times (and at start-up, to catch up)."""
    now = now or clock.now()
    made = []
    with clock.using(clock.FixedClock(now)):
        for day, slot in due_slots(now, am_at=am_at, pm_at=pm_at):
            made += generate(db, day, slot, worker=worker)
    return made


def generate(db: Database, day: dt.date, slot: str, *, worker: str = "scheduler",
             team: str | None = None) -> list[ListView]:
    """Make (or complete) every active team's list for a day's morning or afternoon."""
    if slot not in SLOTS:
        raise InvalidData(f"slot must be am or pm, not {slot!r}")
    rescheduling.release_ended(db, actor=worker)
    now = clock.now()
    out = []
    for t in teams.list_teams(db):
        if team and t.code != team:
            continue
        with db.write() as conn:
            list_id, created = _list_row(conn, t.id, day, slot, now, worker)
            pending = conn.execute(
                select(appointment_t.c.id, appointment_t.c.area, appointment_t.c.address, appointment_t.c.window_start,
                       appointment_t.c.job_no)
                .outerjoin(dispatch_entry_t, dispatch_entry_t.c.appointment_id == appointment_t.c.id)
                .where(appointment_t.c.team_id == t.id, appointment_t.c.day == day, appointment_t.c.slot == slot,
                       appointment_t.c.status.in_(("booked", "dispatched")), dispatch_entry_t.c.id.is_(None))).all()
            ordered = sorted(pending, key=lambda r: (*route_key(r.area, r.address), r.window_start, r.job_no))
            seq = conn.execute(select(func.max(dispatch_entry_t.c.seq))
                               .where(dispatch_entry_t.c.list_id == list_id)).scalar() or 0
            if ordered:
                conn.execute(insert(dispatch_entry_t), [
                    {"list_id": list_id, "appointment_id": r.id, "seq": seq + i, "late": not created, "added_at": now}
                    for i, r in enumerate(ordered, 1)])
        out.append(get_list(db, t.code, day, slot))
    return out


def _list_row(conn: Connection, team_id: int, day: dt.date, slot: str, now: dt.datetime,
              worker: str) -> tuple[int, bool]:
    """The list's id, creating it if needed; locked on PostgreSQL so two schedulers take turns."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    created = conn.execute(upsert(dispatch_list_t).values(team_id=team_id, day=day, slot=slot, generated_at=now,
                                                          generated_by=worker)
                           .on_conflict_do_nothing().returning(dispatch_list_t.c.id)).scalar()
    q = select(dispatch_list_t.c.id).where(dispatch_list_t.c.team_id == team_id, dispatch_list_t.c.day == day,
                                           dispatch_list_t.c.slot == slot)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).scalar_one(), created is not None


# ---------------------------------------------------------------------------------------------
# reading and exporting


def _list_views(db: Database, where: list[Any]) -> list[ListView]:
    with db.read() as conn:
        heads = conn.execute(select(dispatch_list_t, team_t.c.code, team_t.c.name, team_t.c.area)
                             .join(team_t, team_t.c.id == dispatch_list_t.c.team_id).where(*where)
                             .order_by(dispatch_list_t.c.day, dispatch_list_t.c.slot, team_t.c.code)).all()
        ids = [h.id for h in heads]
        rows = conn.execute(appointments.APPOINTMENTS.add_columns(dispatch_entry_t.c.list_id, dispatch_entry_t.c.seq,
                                                      dispatch_entry_t.c.late)
                            .join(dispatch_entry_t, dispatch_entry_t.c.appointment_id == appointment_t.c.id)
                            .where(dispatch_entry_t.c.list_id.in_(ids))).all() if ids else []
    by_list: dict[int, list[Entry]] = {}
    for r in rows:
        by_list.setdefault(r.list_id, []).append(Entry(r.seq, r.late, appointments.view_of(r)))
    out = []
    for h in heads:
        entries = sorted(by_list.get(h.id, []), key=_entry_order)
        out.append(ListView(h.id, h.code, h.name, h.area, h.day, h.slot, h.generated_at, h.generated_by, entries))
    return out


def _entry_order(e: Entry) -> tuple[Any, ...]:
    """Assigned visits in the lead's order (route number, then time); the rest in list order after."""
    a = e.appointment
    if a.route_seq is not None:
        return (0, a.route_seq, a.planned_at or a.window_start, e.seq)
    return (1, e.seq)


def get_list(db: Database, team: str, day: dt.date, slot: str) -> ListView:
    found = _list_views(db, [team_t.c.code == team, dispatch_list_t.c.day == day, dispatch_list_t.c.slot == slot])
    if not found:
        raise NotFound(f"no dispatch list for {team} on {day} ({slot}) yet")
    return found[0]


def lists(db: Database, day: dt.date, *, slot: str | None = None, team: str | None = None,
          area: str | None = None) -> list[ListView]:
    where = [dispatch_list_t.c.day == day]
    if slot:
        where.append(dispatch_list_t.c.slot == slot)
    if team:
        where.append(team_t.c.code == team)
    if area:
        where.append(team_t.c.area == area)
    return _list_views(db, where)


CSV_HEADER = ["班所", "日期", "时段", "顺序", "补派", "作业单号", "申请编号", "作业类型", "预约方式", "预约时间",
              "客户", "联系电话", "用电地址", "区域", "作业人员", "作业人员电话", "计划到达", "状态"]


def export_csv(db: Database, day: dt.date, *, slot: str | None = None, team: str | None = None,
               bom: bool = False) -> str:
    """The day's lists as CSV (UTF-8; `bom=True` for Excel), one line per job in route order."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_HEADER)
    for lst in lists(db, day, slot=slot, team=team):
        for n, e in enumerate(lst.entries, 1):
            a = e.appointment
            date_text, window_text = a.texts
            planned = a.planned_at.astimezone(CHINA).strftime("%H:%M") if a.planned_at else ""
            out.writerow([lst.team_name, lst.day.isoformat(), SLOTS[lst.slot], a.route_seq or n, "是" if e.late else "",
                          a.job_no, a.application_no or "", capacity.JOB_TYPES[a.job_type], appointments.MODES[a.mode],
                          f"{date_text} {window_text}", a.customer_name or "", a.mobile or "", a.address or "",
                          teams.AREAS.get(a.area, a.area), a.worker_name or "", a.worker_mobile or "", planned,
                          STATUS_TEXT.get(a.status, a.status)])
    return ("\ufeff" if bom else "") + buf.getvalue()


# ---------------------------------------------------------------------------------------------
# assigning


def suggest_time(view: appointments.AppointmentView, seq: int) -> dt.datetime:
    """A visit time for the n-th stop of a route: from the half-day's start (or the window's, if
    later), spaced out, never later than half an hour before the window closes."""
    start_of_slot = dt.datetime.combine(view.day, appointments.PERIODS[view.slot][0], CHINA)
    base = max(start_of_slot, view.window_start.astimezone(CHINA))
    at = base + VISIT_SPACING * max(seq - 1, 0)
    latest = view.window_end.astimezone(CHINA) - dt.timedelta(minutes=30)
    return max(base, min(at, latest)).astimezone(dt.timezone.utc)


def _seq_on_list(conn: Connection, appointment_id: int) -> int | None:
    return conn.execute(select(dispatch_entry_t.c.seq)
                        .where(dispatch_entry_t.c.appointment_id == appointment_id)).scalar()


def record_in_command(db: Database, data: dict[str, Any], *, now: dt.datetime,
                      actor: str = "lead") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `yekuo/field_dispatch` service after the 派工 task: put the lead's choice on the
    appointment. A cancelled appointment is reported as not valid, and the model books again."""
    appointment_id = (data.get("booking") or {}).get("appointment_id")
    if appointment_id is None:
        raise InvalidState("the field job has no booked appointment to dispatch")
    with db.write() as conn:
        view = appointments.fetch(conn, appointment_id=appointment_id, for_update=True)
        if view.status not in appointments.ACTIVE:
            return {"valid": False, "status": view.status,
                    "note": f"预约{view.job_no}已{STATUS_TEXT.get(view.status, view.status)}（{view.note}），请重新预约"}, []
        seq = data.get("route_seq") or _seq_on_list(conn, view.id) or 1
        planned = _instant(data.get("planned_at")) or suggest_time(view, seq)
        mobile = conn.execute(select(team_member_t.c.mobile).join(team_t, team_t.c.id == team_member_t.c.team_id).where(
            team_t.c.code == view.team, team_member_t.c.name == data.get("worker_name"))).scalar()
        values = {"worker_name": data.get("worker_name"), "worker_mobile": mobile or data.get("worker_mobile"),
                  "route_seq": seq, "planned_at": planned, "updated_at": now}
        if view.status == "booked":
            values["status"] = "dispatched"
        conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(**values))
        view = appointments.fetch(conn, appointment_id=view.id)
    log = {"appointment_id": view.id, "at": now, "actor": actor, "action": "dispatched",
           "details": {"worker": view.worker_name, "planned_at": appointments.local_iso(planned), "route_seq": seq}}
    return {"valid": True, "booking": appointments.process_result(view), "worker_name": view.worker_name,
            "worker_mobile": view.worker_mobile, "planned_at": planned.astimezone(CHINA).isoformat(), "route_seq": seq, "note": ""}, [log]


def _instant(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)


def assign(db: Database, job_no: str, worker: str, *, actor: actors.Actor, planned_at: dt.datetime | None = None,
           route_seq: int | None = None) -> appointments.AppointmentView:
    """The lead assigns a job of the list to a team member and a time.

    While the case's 派工 task for this job is open, this completes it (so the process records
    the dispatch and sends the customer's SMS); after that it re-assigns on the appointment with a
    history event on the case.
    """
    view = appointments.get(db, job_no)
    if view.status not in ("booked", "dispatched", "arrived"):
        raise InvalidState(f"job {job_no} is {view.status}; it cannot be assigned")
    member = next((m for m in appointments.worker_choices(db, view) if m.name == worker), None)
    if not worker:
        raise InvalidData("no worker chosen", details={"worker": ["请从名单中选择作业人员"]})
    if member is None:
        raise InvalidData(f"{worker} is not an active member of a team doing {view.job_type} ({view.team})",
                          details={"worker": [f"{worker[:40]}不是承担{capacity.JOB_TYPES.get(view.job_type, view.job_type)}"
                                              f"的{view.team_name}在岗人员，请从名单中选择"]})
    with db.read() as conn:
        seq = route_seq or _seq_on_list(conn, view.id) or 1
    item = open_task(db, view, "dispatch_job")
    if item is not None:
        data: dict[str, Any] = {"worker_name": member.name, "worker_mobile": member.mobile, "route_seq": seq}
        if planned_at is not None:
            data["planned_at"] = planned_at.astimezone(CHINA).isoformat()
        runtime.complete_task(db, item.id, data, actor=actor)
        return appointments.get(db, job_no)
    if view.status == "booked":
        raise InvalidState(f"job {job_no} is booked but its case is not at 派工; it cannot be dispatched now")
    now = clock.now()
    planned = planned_at or view.planned_at or suggest_time(view, seq)  # a new worker keeps the visit time
    with db.write() as conn:
        conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(
            worker_name=member.name, worker_mobile=member.mobile, planned_at=planned, route_seq=seq, updated_at=now))
        details = {"worker": member.name, "planned_at": appointments.local_iso(planned), "route_seq": seq,
                   "previous": view.worker_name}
        conn.execute(insert(appointment_log_t).values(appointment_id=view.id, at=now, actor=actor.name,
                                                      action="reassigned", details=details))
        appointments.append_history(conn, view.instance_id, [history.NewEvent(
            "field_reassigned", now, actor=actor.name, payload={"job_no": job_no, **details})])
    return appointments.get(db, job_no)


def open_task(db: Database, view: appointments.AppointmentView, spec: str) -> worklist.WorkItemView | None:
    """The case's open work item `spec` of this appointment's field job, if the case is there now."""
    for item in worklist.items(db, worklist.TaskFilter(instance_id=view.instance_id)):
        if item.task_spec != spec:
            continue
        data = queries.task_data(db, item.id)
        if (data.get("booking") or {}).get("appointment_id") == view.id:
            return item
    return None

"""Field reports (两个电话), the arrival 催办, and call-backs (回访) with their follow-ups.

The field worker phones twice: on arrival and on completion. Each report is the field job's user
task (到达现场报告 / 完工报告), and the service after it (`yekuo/field_arrival`,
`yekuo/field_completion`) puts it on the appointment. `report_arrival` / `report_completion` let a
phone page or the API report by job number; the assigned worker may report his own job.

At booking a timer row (purpose `field_arrival`) is set for the end of the appointment window.
When it falls due and no arrival has been reported, the dispatcher group gets a 催办 notice and the
case a `field_arrival_overdue` history event — exactly once (the row is marked fired in the same
transaction). An arrival report removes the timer.

After every field job — survey, installation, verification — the dispatch centre calls the
customer (作业回访): reached or not, satisfaction 1–5, problems. Problems — or a satisfaction of 2
or less — open a follow-up task for the customer manager (回访问题处理) in the field job;
`callback_record` keeps every call-back and the follow-up's outcome, keyed by job number. The
case's own 回访 after energizing is keyed `HF-<case id>` (`case_callback_key`), so it never
collides with a job's call-back.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from engine.core import actors, clock, history, runtime, store, worklist
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import Forbidden, InvalidData, InvalidState, NotFound
from engine.core.models import (
    appointment_t,
    callback_record_t,
    instance_t,
    notice_t,
    team_member_t,
    team_t,
    timer_t,
    work_item_t,
)
from engine.dispatch import appointments
from engine.dispatch import lists as dispatch
from engine.messages import templates

ARRIVAL_PURPOSE = appointments.ARRIVAL_PURPOSE
FOLLOW_UP_BELOW = 3  # satisfaction 1 or 2 opens a follow-up even without a stated problem
SATISFACTION = {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}

#: Notice texts; an administrator's template file may carry the same ids to change them.
NOTICE_TEXTS = {
    "arrival_overdue": ("【催办】作业单${job_no}（申请编号${application_no}，${customer_name}，${address}）"
                        "约定${due}前到达，至今未收到到达报告；作业人员${worker}，请联系班组核实。"),
}


def notice_text(template_id: str, fields: dict[str, Any]) -> str:
    if template_id in templates.catalog().templates:
        return templates.render(template_id, fields)
    return string.Template(NOTICE_TEXTS[template_id]).safe_substitute({k: str(v) for k, v in fields.items()})


def _parse_instant(value: Any, default: dt.datetime) -> dt.datetime:
    if not value:
        return default
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)


def _appointment_id(data: dict[str, Any]) -> int:
    found = (data.get("booking") or {}).get("appointment_id")
    if found is None:
        raise InvalidState("the field job has no booked appointment")
    return int(found)


def _log(view: appointments.AppointmentView, now: dt.datetime, actor: str, action: str,
         details: dict[str, Any]) -> dict[str, Any]:
    return {"appointment_id": view.id, "at": now, "actor": actor, "action": action, "details": details}


# ---------------------------------------------------------------------------------------------
# inside the field job (service handlers in engine.handlers call these)


def arrival_in_command(db: Database, data: dict[str, Any], *, now: dt.datetime,
                       actor: str = "dispatcher") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Record the arrival report; answers whether it was within the promised window."""
    arrived = _parse_instant(data.get("arrived_at"), now)
    with db.write() as conn:
        view = appointments.fetch(conn, appointment_id=_appointment_id(data), for_update=True)
        if view.status in ("booked", "dispatched", "arrived"):
            conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(
                status="arrived", arrived_at=arrived, updated_at=now))
            conn.execute(delete(timer_t).where(timer_t.c.purpose == ARRIVAL_PURPOSE, timer_t.c.fired_at.is_(None),
                                               timer_t.c.task_id == f"appt:{view.id}"))
    late = max((arrived - view.window_end).total_seconds() // 60, 0)
    result = {"on_time": arrived <= view.window_end, "arrived_at": arrived.astimezone(CHINA).isoformat(),
              "due_at": view.window_end.astimezone(CHINA).isoformat(), "late_minutes": int(late)}
    return result, [_log(view, now, actor, "arrived", {"arrived_at": appointments.local_iso(arrived),
                                                         "on_time": result["on_time"]})]


def completion_in_command(db: Database, data: dict[str, Any], *, now: dt.datetime,
                          actor: str = "dispatcher") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Record the completion report: the appointment is done and frees nothing (the day was worked)."""
    done = _parse_instant(data.get("completed_at"), now)
    with db.write() as conn:
        view = appointments.fetch(conn, appointment_id=_appointment_id(data), for_update=True)
        if view.status in appointments.ACTIVE:
            conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(
                status="completed", completed_at=done, updated_at=now))
            conn.execute(delete(timer_t).where(timer_t.c.purpose == ARRIVAL_PURPOSE, timer_t.c.fired_at.is_(None),
                                               timer_t.c.task_id == f"appt:{view.id}"))
    on_site = (done - view.arrived_at).total_seconds() // 60 if view.arrived_at else None
    result = {"completed_at": done.astimezone(CHINA).isoformat(),
              "minutes_on_site": int(on_site) if on_site is not None else None}
    return result, [_log(view, now, actor, "completed", {"completed_at": appointments.local_iso(done),
                                                         "signed": bool(data.get("customer_signed"))})]


def callback_in_command(db: Database, instance_id: int, data: dict[str, Any], *, now: dt.datetime,
                        actor: str = "dispatcher") -> dict[str, Any]:
    """Record the job's call-back (idempotent per job); says whether a follow-up is needed."""
    job_no = data.get("job_no") or (data.get("booking") or {}).get("job_no")
    if not job_no:
        raise InvalidState("the call-back belongs to no field job (no job_no in the case)")
    reachable = bool(data.get("reachable"))
    score = data.get("satisfaction") if reachable else None
    if score is not None and (not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5):
        raise InvalidData(f"satisfaction must be 1 to 5, not {score!r}")
    problems = str(data.get("problems") or "").strip() if reachable else ""
    follow_up = reachable and (bool(problems) or (score is not None and score < FOLLOW_UP_BELOW))
    values = {"instance_id": instance_id, "job_type": data.get("job_kind") or "survey",
              "called_at": _parse_instant(data.get("called_at"), now), "reachable": reachable, "satisfaction": score,
              "problems": problems, "follow_up": follow_up, "follow_up_status": "open" if follow_up else None,
              "recorded_at": now, "recorded_by": actor}
    with db.write() as conn:
        rid = conn.execute(select(callback_record_t.c.id).where(callback_record_t.c.job_no == job_no)).scalar()
        if rid is None:
            rid = conn.execute(insert(callback_record_t).values(job_no=job_no, resolution="", **values)
                               .returning(callback_record_t.c.id)).scalar_one()
        else:
            conn.execute(update(callback_record_t).where(callback_record_t.c.id == rid).values(**values))
    return {"record_id": rid, "job_no": job_no, "reachable": reachable, "satisfaction": score,
            "follow_up": follow_up, "problems": problems}


def follow_up_in_command(db: Database, data: dict[str, Any], *, now: dt.datetime,
                         actor: str = "manager") -> dict[str, Any]:
    """Close the call-back's follow-up with what the customer manager did."""
    record = (data.get("field_callback") or {}).get("record_id")
    if record is None:
        raise InvalidState("no call-back to follow up in the case")
    resolved = bool(data.get("resolved"))
    with db.write() as conn:
        res = conn.execute(update(callback_record_t).where(callback_record_t.c.id == record).values(
            follow_up_status="resolved" if resolved else "unresolved", resolution=str(data.get("action_taken") or ""),
            resolved_at=_parse_instant(data.get("handled_at"), now), resolved_by=actor))
        if res.rowcount != 1:
            raise NotFound(f"call-back record {record} does not exist")
    return {"record_id": record, "resolved": resolved}


def overdue_in_command(db: Database, data: dict[str, Any], *, now: dt.datetime,
                       actor: str = "lead") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """After 勘查超期督办: a reassignment moves the appointment to the new worker (the dispatch
    list, the phone page and a later 催办 then name him); urging the same worker changes nothing."""
    reassign = data.get("overdue_action") == "reassign" and bool(str(data.get("reassigned_worker") or "").strip())
    with db.write() as conn:
        view = appointments.fetch(conn, appointment_id=_appointment_id(data), for_update=True)
        if not reassign or view.status not in appointments.ACTIVE:
            return {"reassigned": False, "worker_name": view.worker_name}, []
        name = str(data["reassigned_worker"]).strip()
        mobile = conn.execute(select(team_member_t.c.mobile).join(team_t, team_t.c.id == team_member_t.c.team_id)
                              .where(team_t.c.code == view.team, team_member_t.c.name == name,
                                     team_member_t.c.active)).scalar()
        conn.execute(update(appointment_t).where(appointment_t.c.id == view.id).values(
            worker_name=name, worker_mobile=mobile, updated_at=now))
    details = {"worker": name, "previous": view.worker_name, "reason": data.get("overdue_reason"),
               "new_due_at": data.get("job_due_at")}
    return ({"reassigned": True, "worker_name": name, "worker_mobile": mobile, "previous": view.worker_name},
            [_log(view, now, actor, "reassigned", details)])


#: The case call-back's former answers (forms/callback.schema.json before its 1–5 scale), as scores:
#: cases recorded with them keep counting on the one scale of job and case call-backs.
FORMER_SATISFACTION = {"very_satisfied": 5, "satisfied": 4, "neutral": 3, "dissatisfied": 2, "very_dissatisfied": 1}


def score_of(value: Any) -> int | None:
    """A call-back's satisfaction on the 1–5 scale: scores as they are, the former words mapped."""
    if isinstance(value, str):
        return FORMER_SATISFACTION.get(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    return None


def case_callback_key(instance_id: int) -> str:
    """The call-back register key of a case's own 回访: never a job number, so it cannot collide
    with the call-back of any of the case's field jobs (installation included)."""
    return f"HF-{instance_id}"


def case_callback_in_command(db: Database, instance_id: int, data: dict[str, Any], *, now: dt.datetime,
                             actor: str = "process") -> dict[str, Any]:
    """The case's own 回访 after energizing, written to the call-back register like the field jobs'
    call-backs, so the board and the satisfaction figures see it; keyed by the case (`HF-<id>`)."""
    record = dict(data, job_no=case_callback_key(instance_id), job_kind="case",
                  satisfaction=score_of(data.get("satisfaction")))
    return callback_in_command(db, instance_id, record, now=now, actor=actor)


# ---------------------------------------------------------------------------------------------
# reports by job number (phone page, API): complete the case's open task


def _may_report(db: Database, view: appointments.AppointmentView, actor: actors.Actor, group: str | None) -> actors.Actor:
    """The dispatcher group reports; so may the worker the job is assigned to, for his own job."""
    if actor.may_work_in(group):
        return actor
    with db.read() as conn:
        own = conn.execute(select(team_member_t.c.id).join(team_t, team_t.c.id == team_member_t.c.team_id).where(
            team_t.c.code == view.team, team_member_t.c.username == actor.name,
            team_member_t.c.name == view.worker_name, team_member_t.c.active)).first()
    if own is None:
        raise Forbidden(f"only the dispatcher or the assigned worker may report job {view.job_no}")
    return actors.Actor(actor.name, actor.groups | {group or ""})


def _complete_job_task(db: Database, job_no: str, spec: str, data: dict[str, Any], actor: actors.Actor,
                       what: str) -> store.Outcome:
    view = appointments.get(db, job_no)
    item = dispatch.open_task(db, view, spec)
    if item is None:
        raise InvalidState(f"job {job_no} is not waiting for {what} now")
    return runtime.complete_task(db, item.id, data, actor=_may_report(db, view, actor, item.candidate_group))


def report_arrival(db: Database, job_no: str, *, actor: actors.Actor,
                   arrived_at: dt.datetime | None = None) -> store.Outcome:
    """第一个电话: the worker is on site (default: now)."""
    at = (arrived_at or clock.now()).astimezone(CHINA).isoformat()
    return _complete_job_task(db, job_no, "report_arrival", {"arrived_at": at}, actor, "an arrival report")


def report_completion(db: Database, job_no: str, *, actor: actors.Actor, work_summary: str,
                      customer_signed: bool, completed_at: dt.datetime | None = None) -> store.Outcome:
    """第二个电话: the on-site work is done (the work's own task must be completed first)."""
    at = (completed_at or clock.now()).astimezone(CHINA).isoformat()
    return _complete_job_task(db, job_no, "report_completion", {
        "completed_at": at, "work_summary": work_summary, "customer_signed": customer_signed}, actor,
        "a completion report")


def record_callback(db: Database, job_no: str, *, actor: actors.Actor, reachable: bool,
                    satisfaction: int | None = None, problems: str = "",
                    called_at: dt.datetime | None = None) -> store.Outcome:
    data: dict[str, Any] = {"called_at": (called_at or clock.now()).astimezone(CHINA).isoformat(),
                            "reachable": reachable, "problems": problems}
    if satisfaction is not None:
        data["satisfaction"] = satisfaction
    return _complete_job_task(db, job_no, "job_callback", data, actor, "its call-back")


# ---------------------------------------------------------------------------------------------
# the arrival 催办 (timer purpose `field_arrival`)


def fire_arrival_check(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
                       worker: str) -> bool:
    """The window closed: no arrival report yet means a 催办 to the dispatchers; once only."""
    with db.write() as conn:
        marked = conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                              .values(fired_at=now)).rowcount
        if marked != 1:
            return False
        try:
            view = appointments.fetch(conn, appointment_id=payload["appointment_id"])
        except NotFound:
            return False
        if view.status not in ("booked", "dispatched") or view.arrived_at is not None:
            return False
        case = conn.execute(select(instance_t.c.status).where(instance_t.c.id == instance_id)).scalar()
        if case in ("completed", "cancelled"):
            return False  # the capacity is released by the next list run (rescheduling.release_ended)
        due = view.window_end.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        body = notice_text("arrival_overdue", {
            "job_no": view.job_no, "application_no": view.application_no or f"#{instance_id}",
            "customer_name": view.customer_name or "客户", "address": view.address or "—", "due": due,
            "worker": view.worker_name or "（未派工）"})
        item = conn.execute(select(work_item_t.c.id).where(work_item_t.c.instance_id == instance_id,
                                                           work_item_t.c.status == "open",
                                                           work_item_t.c.task_spec.in_(("report_arrival", "dispatch_job")))
                            ).scalar()
        title = f"催办：{view.job_no}未报到达"
        nid = conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=item, kind="催办", recipient_group="dispatcher",
            title=title, body=body, requires_ack=True, created_at=now).returning(notice_t.c.id)).scalar_one()
        _urged(conn, view, nid, title, body, now)
        appointments.append_history(conn, instance_id, [history.NewEvent(
            "field_arrival_overdue", now, actor="scheduler", task_id=item,
            payload={"job_no": view.job_no, "due_at": appointments.local_iso(view.window_end), "worker": view.worker_name,
                     "to_group": "dispatcher", "timer_worker": worker})])
    return True



#: Called in the transaction of each arrival 催办 as `hook(conn, urging)` (the call centre connector
#: turns it into a call to the worker); filled by `engine.wiring`.
URGING_HOOKS: list[Callable[[Connection, dict[str, Any]], None]] = []


def _urged(conn: Connection, view: appointments.AppointmentView, notice_id: int, title: str, body: str,
           now: dt.datetime) -> None:
    urging = {"notice_id": notice_id, "instance_id": view.instance_id, "application_no": view.application_no,
              "title": title, "body": body, "callee": view.worker_name, "mobile": view.worker_mobile, "at": now}
    for hook in URGING_HOOKS:
        hook(conn, urging)


# ---------------------------------------------------------------------------------------------
# what the dispatch board shows


def overdue_arrivals(db: Database, *, now: dt.datetime | None = None,
                     area: str | None = None) -> list[appointments.AppointmentView]:
    """Jobs whose window has closed without an arrival report."""
    now = now or clock.now()
    late = [a for a in appointments.list_appointments(db, status=("booked", "dispatched"), area=area)
            if a.window_end < now and a.arrived_at is None]
    return sorted(late, key=lambda a: a.window_end)


def urge_arrival(db: Database, job_no: str, *, actor: str) -> int:
    """The dispatcher's 催办 from the board: a notice to the team leads to chase the worker now, and
    a history event on the case. Only for a job whose window has closed without an arrival."""
    now = clock.now()
    with db.write() as conn:
        view = appointments.fetch(conn, job_no=job_no)
        if view.status not in ("booked", "dispatched") or view.arrived_at is not None:
            raise InvalidState(f"job {job_no} is {view.status}; there is no arrival to chase")
        if view.window_end >= now:
            raise InvalidState(f"job {job_no} is still within its window (until "
                               f"{view.window_end.astimezone(CHINA):%H:%M}); nothing to chase yet")
        due = view.window_end.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
        body = notice_text("arrival_overdue", {
            "job_no": view.job_no, "application_no": view.application_no or f"#{view.instance_id}",
            "customer_name": view.customer_name or "客户", "address": view.address or "—", "due": due,
            "worker": view.worker_name or "（未派工）"})
        title = f"催办：{view.job_no}（{view.team_name}）未报到达"
        nid = conn.execute(insert(notice_t).values(
            instance_id=view.instance_id, work_item_id=None, kind="催办", recipient_group="lead",
            title=title, body=body, requires_ack=True, created_at=now).returning(notice_t.c.id)).scalar_one()
        _urged(conn, view, nid, title, body, now)
        appointments.append_history(conn, view.instance_id, [history.NewEvent(
            "field_arrival_urged", now, actor=actor,
            payload={"job_no": view.job_no, "team": view.team, "worker": view.worker_name, "to_group": "lead",
                     "due_at": appointments.local_iso(view.window_end)})])
    return nid


def jobs_of(db: Database, username: str, day: dt.date) -> list[appointments.AppointmentView]:
    """The phone page's list: the day's jobs assigned to the team member(s) signed in as `username`,
    in route order, plus earlier jobs of theirs still on site."""
    with db.read() as conn:
        members = conn.execute(select(team_t.c.code, team_member_t.c.name).join(
            team_t, team_t.c.id == team_member_t.c.team_id).where(team_member_t.c.username == username,
                                                                  team_member_t.c.active)).all()
    out: list[appointments.AppointmentView] = []
    for code, name in members:
        for a in appointments.list_appointments(db, team=code, status=("dispatched", "arrived", "completed")):
            if a.worker_name == name and (a.day == day or (a.day < day and a.status == "arrived")):
                out.append(a)
    return sorted(out, key=lambda a: (a.day, a.route_seq or 999, a.planned_at or a.window_start, a.job_no))


def open_callbacks(db: Database) -> list[worklist.TaskRow]:
    """Call-back tasks waiting for the dispatch centre (作业回访 and the case's 回访)."""
    return worklist.items(db, worklist.TaskFilter(task_specs=("job_callback", "callback")), sort="created")


def callbacks(db: Database, *, follow_up_status: str | None = None, instance_id: int | None = None,
              limit: int = 500) -> list[dict[str, Any]]:
    q = select(callback_record_t)
    if follow_up_status:
        q = q.where(callback_record_t.c.follow_up_status == follow_up_status)
    if instance_id is not None:
        q = q.where(callback_record_t.c.instance_id == instance_id)
    with db.read() as conn:
        rows = conn.execute(q.order_by(callback_record_t.c.called_at.desc(), callback_record_t.c.id.desc())
                            .limit(limit)).all()
    return [dict(r._mapping) for r in rows]

"""The dispatch centre's pages: board, dispatch lists, the field worker's phone page, capacity, works.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
Who sees what is the API's policy (`api.policy`, the `dispatch.*`, `field.*` and `works.*` actions): the centre (dispatchers, supervisors) runs it,
team leads report capacity and assign their own team's jobs, field workers see their own jobs on
the phone page, customer managers follow up the works list, auditors read. Each view calls the
engine and renders; the forms post back and redirect with a flash message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from api import policy
from api.web import CHINA
from api.web.views import bp, friendly, page, page_actor, page_db, page_user
from engine.connectors import service_center
from engine.core import clock, queries, worklist
from engine.core.errors import Forbidden, InvalidData, YekuoError
from engine.dispatch import appointments, capacity, field, teams, works
from engine.dispatch import lists as dispatch

FIELD_TASKS = ("do_survey", "do_install", "do_verify")


def _may(action: str) -> bool:
    return policy.may(page_user().groups, action)


def _today() -> dt.date:
    return clock.now().astimezone(CHINA).date()


def _day_arg(name: str, default: dt.date) -> dt.date:
    text = request.values.get(name) or ""
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidData(f"{name} {text!r} is not a date", details={name: [_("Enter a date as YYYY-MM-DD.")]}) from None


def _area_arg() -> str | None:
    area = request.args.get("area") or None
    return area if area in teams.AREAS else None


def _led_teams() -> set[str]:
    """Teams the signed-in user may act for: all for the centre, his own for a lead."""
    user = page_user()
    all_teams = teams.list_teams(page_db())
    if policy.may(user.groups, "dispatch.centre"):
        return {t.code for t in all_teams}
    return {t.code for t in all_teams if any(m.username == user.username and m.role == "lead" and m.active
                                             for m in t.members)}


def _back(endpoint: str, **args: Any) -> Any:
    return redirect(url_for(endpoint, **{k: v for k, v in args.items() if v}))


def _fail(err: YekuoError) -> None:
    """The refusal in the page's words: the field messages (Chinese) when the engine gave them."""
    said = "；".join(str(m) for ms in (err.details or {}).values() if isinstance(ms, list) for m in ms)
    flash(said or friendly(err), "error")


@bp.context_processor
def _dispatch_context() -> dict[str, Any]:
    """Which dispatch-centre links the header shows, and the free slots beside the booking task."""
    from api import auth

    user = auth.current_user() if request.endpoint != "web.static" else None
    groups = set(user.groups) if user else set()
    reads = policy.may(groups, "dispatch.read")
    return {"dispatch_nav": {"board": reads, "lists": reads, "capacity": reads,
                             "works": policy.may(groups, "works.read"),
                             "field": policy.may(groups, "field.report") and not reads},  # the centre has its board
            "dispatch_slots": _slots_for_task}


def _slots_for_task(item: worklist.WorkItemView) -> dict[str, Any] | None:
    """Remaining capacity for the 预约上门 task's job type and area, for the next week (read only)."""
    if item.task_spec != "book_appointment" or item.status != "open":
        return None
    data = queries.task_data(page_db(), item.id)
    job_type = data.get("job_kind") if data.get("job_kind") in capacity.JOB_TYPES else "survey"
    area = data.get("area") if data.get("area") in teams.AREAS else "urban"
    now = clock.now().astimezone(CHINA)
    start = now.date() + dt.timedelta(days=1 if now.time() >= appointments.DAY_OVER else 0)
    rows = appointments.availability(page_db(), job_type, area=area, start=start, days=7)
    days = sorted({r["day"] for r in rows})
    by_team: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_team.setdefault(r["team"], {"name": r["team_name"], "cells": {}})["cells"][r["day"]] = r
    free = [{"day": d, "remaining": sum(by_team[t]["cells"][d]["remaining"] for t in by_team)} for d in days]
    return {"job_type": job_type, "area": area, "days": days, "teams": by_team, "free": free}


# -- the board ---------------------------------------------------------------------------------------


def _bars(cells: list[capacity.DayCapacity]) -> list[dict[str, Any]]:
    """One row per team and job type that has capacity or bookings in the period."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cells:
        row = rows.setdefault((c.team, c.job_type), {"team": c.team, "team_name": c.team_name, "area": c.area,
                                                     "job_type": c.job_type, "days": [], "capacity": 0, "booked": 0})
        row["days"].append(c)
        row["capacity"] += c.capacity
        row["booked"] += c.booked
    return [r for r in rows.values() if r["capacity"] or r["booked"]]


def board_data(day: dt.date, area: str | None) -> dict[str, Any]:
    """What the board shows; the page test compares it with the engine's own numbers."""
    db = page_db()
    monday = capacity.week_of(day)
    today_rows = _bars(capacity.board(db, day, 1, area=area))
    week_rows = _bars(capacity.board(db, monday, 7, area=area))
    overdue = field.overdue_arrivals(db, area=area)
    callbacks = field.open_callbacks(db)
    register = [r for r in field.callbacks(db, limit=200) if r["satisfaction"] is not None]
    rated = [r["satisfaction"] for r in register]
    return {
        "day": day, "monday": monday, "week_days": [monday + dt.timedelta(days=i) for i in range(7)],
        "area": area, "today": today_rows, "week": week_rows,
        "totals": {"capacity": sum(r["capacity"] for r in today_rows), "booked": sum(r["booked"] for r in today_rows),
                   "overdue": len(overdue), "callbacks": len(callbacks),
                   "satisfaction": round(sum(rated) / len(rated), 1) if rated else None},
        "overdue": overdue, "callbacks": callbacks, "follow_ups": field.callbacks(db, follow_up_status="open"),
        "overbooked": appointments.overbooked(db, start=day, days=14, area=area),
        "contacts": service_center.open_contacts(db),  # 95598 urgings and complaints to acknowledge
    }


@bp.get("/dispatch")
@page("dispatch.read")
def dispatch_board() -> Any:
    day = _day_arg("day", _today())
    return render_template("dispatch_board.html", b=board_data(day, _area_arg()), may_urge=_may("dispatch.centre"),
                           job_types=capacity.JOB_TYPES, areas=teams.AREAS, now=clock.now())


@bp.post("/dispatch/urge/<job_no>")
@page("dispatch.centre")
def dispatch_urge(job_no: str) -> Any:
    try:
        field.urge_arrival(page_db(), job_no, actor=page_user().username)
        flash(_("Chased: the team lead has a 催办 notice for job %(job)s.", job=job_no), "success")
    except YekuoError as err:
        _fail(err)
    return _back("web.dispatch_board", area=request.form.get("area"))


# -- dispatch lists ----------------------------------------------------------------------------------


def _list_args() -> tuple[dt.date, str | None, str | None]:
    slot = request.args.get("slot") or None
    return _day_arg("day", _today()), slot if slot in dispatch.SLOTS else None, request.args.get("team") or None


@bp.get("/dispatch/lists")
@page("dispatch.read")
def dispatch_lists() -> Any:
    day, slot, team = _list_args()
    db = page_db()
    found = dispatch.lists(db, day, slot=slot, team=team, area=_area_arg())
    led = _led_teams() if _may("dispatch.lead") else set()
    # each job offers the same choice as its 派工 form: the members of a team doing its job type
    members = {e.appointment.job_no: appointments.worker_choices(db, e.appointment)
               for lst in found for e in lst.entries if lst.team in led}
    return render_template("dispatch_lists.html", lists=found, day=day, slot=slot, team=team, led=led,
                           members=members, all_teams=teams.list_teams(db), may_generate=_may("dispatch.centre"),
                           slots=dispatch.SLOTS, status_text=dispatch.STATUS_TEXT, job_types=capacity.JOB_TYPES,
                           modes=appointments.MODES)


@bp.get("/dispatch/lists/print")
@page("dispatch.read")
def dispatch_lists_print() -> Any:
    day, slot, team = _list_args()
    found = dispatch.lists(page_db(), day, slot=slot, team=team, area=_area_arg())
    return render_template("dispatch_print.html", lists=found, day=day, slot=slot, slots=dispatch.SLOTS,
                           status_text=dispatch.STATUS_TEXT, job_types=capacity.JOB_TYPES, printed_at=clock.now())


@bp.get("/dispatch/lists.csv")
@page("dispatch.read")
def dispatch_lists_csv() -> Any:
    day, slot, team = _list_args()
    text = dispatch.export_csv(page_db(), day, slot=slot, team=team, bom=True)
    name = f"dispatch-{day.isoformat()}{'-' + slot if slot else ''}.csv"
    return Response(text.encode("utf-8"), headers={"Content-Type": "text/csv; charset=utf-8",
                                                   "Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/dispatch/lists/generate")
@page("dispatch.centre")
def dispatch_generate() -> Any:
    day = _day_arg("day", _today())
    slot = request.form.get("slot") or "am"
    try:
        made = dispatch.generate(page_db(), day, slot, worker=page_user().username)
        flash(_("Dispatch lists made: %(n)s team(s).", n=len(made)), "success")
    except YekuoError as err:
        _fail(err)
    return _back("web.dispatch_lists", day=day.isoformat(), slot=slot)


@bp.post("/dispatch/lists/assign")
@page("dispatch.lead")
def dispatch_assign() -> Any:
    job_no = request.form.get("job_no", "")
    back = {"day": request.form.get("day"), "slot": request.form.get("slot"), "team": request.form.get("team")}
    try:
        view = appointments.get(page_db(), job_no)
        if view.team not in _led_teams():
            raise Forbidden(f"{page_user().username} does not lead team {view.team}")
        planned = None
        if request.form.get("planned_time"):
            try:
                at = dt.time.fromisoformat(request.form["planned_time"])
            except ValueError:
                raise InvalidData("not a time of day", details={"planned_time": [_("Enter a time as HH:MM.")]}) from None
            planned = dt.datetime.combine(view.day, at, CHINA)
        done = dispatch.assign(page_db(), job_no, request.form.get("worker", ""), actor=page_actor(), planned_at=planned)
        flash(_("Job %(job)s assigned to %(worker)s, %(time)s.", job=job_no, worker=done.worker_name,
                time=done.planned_at.astimezone(CHINA).strftime("%H:%M") if done.planned_at else ""), "success")
    except YekuoError as err:
        _fail(err)
    return _back("web.dispatch_lists", **back)


# -- the field worker's phone page -------------------------------------------------------------------


def _next_step(view: appointments.AppointmentView) -> tuple[str, str | None]:
    """What the worker does next on this job: arrive, fill in the on-site record, complete, or nothing."""
    db = page_db()
    if view.status in ("completed", "cancelled"):
        return "done", None
    for spec, step in (("report_arrival", "arrive"), ("report_completion", "complete")):
        if dispatch.open_task(db, view, spec) is not None:
            return step, None
    for spec in FIELD_TASKS:
        item = dispatch.open_task(db, view, spec)
        if item is not None:
            return "work", url_for("web.task", item_id=item.id)
    return "wait", None


@bp.get("/field")
@page("field.report")
def field_page() -> Any:
    user = page_user()
    today = _today()
    try:
        day = _day_arg("day", today)
    except InvalidData as err:
        _fail(err)
        day = today
    jobs = [(j, *_next_step(j)) for j in field.jobs_of(page_db(), user.username, day)]
    return render_template("dispatch_field.html", jobs=jobs, day=day, today=today, job_types=capacity.JOB_TYPES,
                           status_text=dispatch.STATUS_TEXT, prev_day=day - dt.timedelta(days=1),
                           next_day=day + dt.timedelta(days=1))


def _field_back() -> Any:
    """Back to the phone page on the day the worker was looking at."""
    text = request.form.get("day") or ""
    try:
        return _back("web.field_page", day=dt.date.fromisoformat(text).isoformat())
    except ValueError:
        return redirect(url_for("web.field_page"))


@bp.post("/field/<job_no>/arrival")
@page("field.report")
def field_arrival(job_no: str) -> Any:
    try:
        field.report_arrival(page_db(), job_no, actor=page_actor())
        flash(_("Arrival reported for %(job)s at %(time)s.", job=job_no,
                time=clock.now().astimezone(CHINA).strftime("%H:%M")), "success")
    except YekuoError as err:
        _fail(err)
    return _field_back()


@bp.post("/field/<job_no>/completion")
@page("field.report")
def field_completion(job_no: str) -> Any:
    summary = (request.form.get("work_summary") or "").strip()
    if not summary:
        flash(_("Describe the work done before reporting completion."), "error")
        return _field_back()
    try:
        field.report_completion(page_db(), job_no, actor=page_actor(), work_summary=summary,
                                customer_signed=request.form.get("customer_signed") == "on")
        flash(_("Completion reported for %(job)s.", job=job_no), "success")
    except YekuoError as err:
        _fail(err)
    return _field_back()


# -- capacity week grid ------------------------------------------------------------------------------


@bp.get("/dispatch/capacity")
@page("dispatch.read")
def dispatch_capacity() -> Any:
    db = page_db()
    all_teams = teams.list_teams(db)
    if not all_teams:
        return render_template("dispatch_capacity.html", team=None, all_teams=[], grid=[], history=[],
                               week_days=[], monday=None, may_edit=False, job_types=capacity.JOB_TYPES,
                               overbooked=[])
    led = _led_teams() if _may("dispatch.lead") else set()
    code = request.args.get("team") or (sorted(led)[0] if led else all_teams[0].code)
    team = teams.get_team(db, code)
    monday = capacity.week_of(_day_arg("week", _today()))
    cells = capacity.board(db, monday, 7, team=code)
    grid = [{"job_type": jt, "days": [c for c in cells if c.job_type == jt]} for jt in capacity.JOB_TYPES]
    return render_template("dispatch_capacity.html", team=team, all_teams=all_teams, grid=grid, monday=monday,
                           week_days=[monday + dt.timedelta(days=i) for i in range(7)], may_edit=code in led,
                           history=capacity.history(db, code, limit=50), job_types=capacity.JOB_TYPES,
                           overbooked=appointments.overbooked(db, start=monday, days=14, team=code))


def _capacity_changed(code: str, start: dt.date) -> None:
    over = appointments.overbooked(page_db(), start=start, days=14, team=code)
    if over:
        jobs = "、".join(o["appointment"].job_no for o in over)
        flash(_("Saved, but %(n)s booked job(s) no longer fit and must be rescheduled: %(jobs)s.",
                n=len(over), jobs=jobs), "error")
    else:
        flash(_("Capacity saved as a new version."), "success")


@bp.post("/dispatch/capacity/week")
@page("dispatch.lead")
def dispatch_capacity_week() -> Any:
    code = request.form.get("team", "")
    monday = capacity.week_of(_day_arg("week", _today()))
    try:
        if code not in _led_teams():
            raise Forbidden(f"{page_user().username} does not lead team {code}")
        plan = {}
        for jt in capacity.JOB_TYPES:
            values = [request.form.get(f"{jt}-{i}", "").strip() for i in range(7)]
            if not any(values):
                continue
            try:
                plan[jt] = [int(v or 0) for v in values]
            except ValueError:
                raise InvalidData("whole numbers expected", details={jt: [_("Enter whole numbers.")]}) from None
        capacity.report_week(page_db(), code, monday, plan, actor=page_user().username,
                             note=request.form.get("note", "").strip())
        _capacity_changed(code, monday)
    except YekuoError as err:
        _fail(err)
    return _back("web.dispatch_capacity", team=code, week=monday.isoformat())


@bp.post("/dispatch/capacity/day")
@page("dispatch.lead")
def dispatch_capacity_day() -> Any:
    code = request.form.get("team", "")
    week = request.form.get("week")
    try:
        if code not in _led_teams():
            raise Forbidden(f"{page_user().username} does not lead team {code}")
        day = _day_arg("day", _today())
        reason = request.form.get("reason", "").strip()
        if not reason:
            raise InvalidData("a reason is required", details={"reason": [_("Give the reason for the change.")]})
        try:
            value = int(request.form.get("capacity", ""))
        except ValueError:
            raise InvalidData("a whole number expected", details={"capacity": [_("Enter whole numbers.")]}) from None
        capacity.adjust_day(page_db(), code, day, request.form.get("job_type", ""), value,
                            actor=page_user().username, note=reason)
        _capacity_changed(code, day)
    except YekuoError as err:
        _fail(err)
    return _back("web.dispatch_capacity", team=code, week=week)


# -- works list --------------------------------------------------------------------------------------


@bp.get("/dispatch/works")
@page("works.read")
def dispatch_works() -> Any:
    status = request.args.get("status") or "open"
    found = works.entries(page_db(), status=None if status == "all" else status)
    return render_template("dispatch_works.html", entries=found, status=status, kinds=works.KINDS,
                           statuses=works.STATUSES, may_follow=_may("works.follow_up"), today=_today())


@bp.post("/dispatch/works/<int:entry_id>/follow-up")
@page("works.follow_up")
def dispatch_works_follow_up(entry_id: int) -> Any:
    try:
        nxt = request.form.get("next_follow_up") or None
        works.record_follow_up(page_db(), entry_id, status=request.form.get("status", ""),
                               note=request.form.get("note", ""), actor=page_user().username,
                               next_follow_up=_day_arg("next_follow_up", _today()) if nxt else None)
        flash(_("Follow-up recorded."), "success")
    except YekuoError as err:
        _fail(err)
    return redirect(url_for("web.dispatch_works"))

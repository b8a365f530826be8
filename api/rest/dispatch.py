"""The dispatch centre's API: teams, capacity, appointments, dispatch lists, field reports, call-backs, works.

Who does what (README.md, "Dispatch centre"): the dispatchers and supervisors run the centre (teams, bookings,
reschedules, cancellations, lists); a team lead (班组长) reports his own team's capacity and assigns
its jobs; field workers (surveyor, metering) report arrival and completion of the jobs assigned to
them (the engine checks the job is theirs); the dispatchers record call-backs; customer managers
follow up the works list. Auditors and supervisors read everything. Each handler calls the engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from flask_smorest import Blueprint

from api.rest import dispatch_schemas as s
from api.rest.common import actor, allow, db, may, paginate_list, path_param
from api.rest.schemas import page_schema
from engine.core import clock, store
from engine.core.clock import CHINA
from engine.core.errors import Forbidden, InvalidData
from engine.dispatch import appointments, booking, capacity, field, rescheduling, teams, works
from engine.dispatch import lists as dispatch

CODE = path_param("code", "CQ-KC1", "team code")
JOB = path_param("job_no", "ZY20260302-0001", "field job number")


def _today() -> dt.date:
    return clock.now().astimezone(CHINA).date()


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidData(f"{name} {text!r} is not a date (YYYY-MM-DD)", details={name: ["日期格式为 YYYY-MM-DD"]}) from None


def _check_team_lead(team_code: str) -> None:
    """The centre may act for any team; a lead only for a team he leads."""
    if may("dispatch.centre"):
        return
    who = actor().name
    team = teams.get_team(db(), team_code)
    if not any(m.username == who and m.role == "lead" and m.active for m in team.members):
        raise Forbidden(f"{who} is not the lead of team {team_code}")


def _appointment(view: appointments.AppointmentView) -> dict[str, Any]:
    return view.to_dict()


def _overbooked(team: str | None = None, start: dt.date | None = None) -> list[dict[str, Any]]:
    return [{"job_no": o["appointment"].job_no, "team": o["team"], "job_type": o["job_type"],
             "day": o["day"].isoformat(), "capacity": o["capacity"], "booked": o["booked"],
             "customer_name": o["appointment"].customer_name, "status": o["appointment"].status}
            for o in appointments.overbooked(db(), start=start, team=team)]


# -- teams -------------------------------------------------------------------------------------------

teams_blp = Blueprint("teams", __name__, url_prefix="/api/v1/teams",
                      description="Field teams (班所): area and members.")


@teams_blp.route("", methods=["GET"])
@allow(teams_blp, "dispatch.read")
@teams_blp.arguments(s.TeamArgsSchema, location="query")
@teams_blp.response(200, s.TeamSchema(many=True))
def list_teams(args: dict[str, Any]) -> Any:
    return teams.list_teams(db(), area=args.get("area"), active_only=not args["all"])


@teams_blp.route("", methods=["POST"])
@allow(teams_blp, "dispatch.centre")
@teams_blp.arguments(s.TeamCreateSchema, example={"code": "CQ-KC2", "name": "城区勘查二班", "area": "urban"})
@teams_blp.response(201, s.TeamSchema)
def create_team(body: dict[str, Any]) -> Any:
    return teams.create_team(db(), body["code"], body["name"], body["area"], actor=actor().name)


@teams_blp.route("/<code>", methods=["GET"], parameters=[CODE])
@allow(teams_blp, "dispatch.read")
@teams_blp.response(200, s.TeamSchema)
def get_team(code: str) -> Any:
    return teams.get_team(db(), code)


@teams_blp.route("/<code>", methods=["PATCH"], parameters=[CODE])
@allow(teams_blp, "dispatch.centre")
@teams_blp.arguments(s.TeamUpdateSchema, example={"name": "城区勘查一班", "active": True})
@teams_blp.response(200, s.TeamSchema)
def update_team(body: dict[str, Any], code: str) -> Any:
    return teams.update_team(db(), code, **body)


@teams_blp.route("/<code>/members", methods=["POST"], parameters=[CODE])
@allow(teams_blp, "dispatch.centre")
@teams_blp.arguments(s.MemberCreateSchema, example={"name": "赵敏", "mobile": "13700001112", "role": "worker",
                                                            "username": "zhaomin"})
@teams_blp.response(201, s.MemberSchema)
def add_member(body: dict[str, Any], code: str) -> Any:
    return teams.add_member(db(), code, body["name"], body["mobile"], role=body["role"],
                            username=body.get("username"))


@teams_blp.route("/<code>/members/<name>", methods=["DELETE"],
                 parameters=[CODE, path_param("name", "赵敏", "member name")])
@allow(teams_blp, "dispatch.centre")
@teams_blp.doc(summary="Remove a member", description="The member is deactivated; past jobs keep the name.")
@teams_blp.response(200, s.TeamSchema)
def remove_member(code: str, name: str) -> Any:
    teams.remove_member(db(), code, name)
    return teams.get_team(db(), code)


# -- capacity ----------------------------------------------------------------------------------------

capacity_blp = Blueprint("capacity", __name__, url_prefix="/api/v1",
                         description="Capacity (承载力) per team, day and job type; availability for booking.")


@capacity_blp.route("/capacity", methods=["GET"])
@allow(capacity_blp, "dispatch.read")
@capacity_blp.doc(summary="The capacity board", description="Capacity, booked and remaining per team, job type and day.")
@capacity_blp.arguments(s.BoardArgsSchema, location="query")
@capacity_blp.response(200, s.DayCapacitySchema(many=True))
def capacity_board(args: dict[str, Any]) -> Any:
    return [c.to_dict() for c in capacity.board(db(), args.get("start") or _today(), args["days"],
                                                 area=args.get("area"), team=args.get("team"),
                                                 job_type=args.get("job_type"))]


@capacity_blp.route("/capacity/<code>/weeks/<monday>", methods=["PUT"],
                    parameters=[CODE, path_param("monday", "2026-03-09", "the week's Monday (any day of it)")])
@allow(capacity_blp, "dispatch.lead")
@capacity_blp.doc(summary="Report a week", description="A new version per job type; bookings that no longer fit "
                                                       "are accepted and listed in `overbooked` for rescheduling.")
@capacity_blp.arguments(s.WeekReportSchema, example={"plan": {"survey": [8, 8, 8, 8, 8, 2, 0]}, "note": "常规排班"})
@capacity_blp.response(200, s.CapacityChangeSchema)
def report_week(body: dict[str, Any], code: str, monday: str) -> Any:
    week = _date(monday, "monday")
    _check_team_lead(code)
    versions = capacity.report_week(db(), code, week, body["plan"], actor=actor().name, note=body["note"])
    return {"versions": versions, "overbooked": _overbooked(code, capacity.week_of(week))}


@capacity_blp.route("/capacity/<code>/days/<day>", methods=["PUT"],
                    parameters=[CODE, path_param("day", "2026-03-03", "the day")])
@allow(capacity_blp, "dispatch.lead")
@capacity_blp.doc(summary="Adjust one day", description="Sick leave, training, a Saturday shift: one job type's "
                                                        "number for one day, with the reason.")
@capacity_blp.arguments(s.DayAdjustSchema, example={"job_type": "survey", "capacity": 3, "reason": "两人病假"})
@capacity_blp.response(200, s.CapacityChangeSchema)
def adjust_day(body: dict[str, Any], code: str, day: str) -> Any:
    when = _date(day, "day")
    _check_team_lead(code)
    version = capacity.adjust_day(db(), code, when, body["job_type"], body["capacity"], actor=actor().name,
                                  note=body["reason"])
    return {"versions": {body["job_type"]: version}, "overbooked": _overbooked(code, when)}


@capacity_blp.route("/capacity/<code>/history", methods=["GET"], parameters=[CODE])
@allow(capacity_blp, "dispatch.read")
@capacity_blp.arguments(s.HistoryArgsSchema, location="query")
@capacity_blp.response(200, s.CapacityVersionSchema(many=True))
def capacity_history(args: dict[str, Any], code: str) -> Any:
    return capacity.history(db(), code, job_type=args.get("job_type"))


@capacity_blp.route("/availability", methods=["GET"])
@allow(capacity_blp, "dispatch.availability")
@capacity_blp.doc(summary="Free slots", description="Remaining capacity per day and team for one job type.")
@capacity_blp.arguments(s.AvailabilityArgsSchema, location="query")
@capacity_blp.response(200, s.DayCapacitySchema(many=True))
def availability(args: dict[str, Any]) -> Any:
    return appointments.availability(db(), args["job_type"], area=args["area"], start=args.get("start"),
                                days=args["days"], team=args.get("team"))


# -- appointments ------------------------------------------------------------------------------------

appointments_blp = Blueprint("appointments", __name__, url_prefix="/api/v1/appointments",
                             description="Appointments (预约): book, reschedule, cancel, assign.")


@appointments_blp.route("", methods=["GET"])
@allow(appointments_blp, "dispatch.read")
@appointments_blp.arguments(s.AppointmentArgsSchema, location="query")
@appointments_blp.response(200, page_schema(s.AppointmentSchema, "AppointmentPage"))
def list_appointments(args: dict[str, Any]) -> Any:
    found = appointments.list_appointments(db(), day=args.get("day"), team=args.get("team"), status=args.get("status"),
                                      instance_id=args.get("instance_id"), area=args.get("area"), limit=5000)
    return paginate_list([_appointment(a) for a in found], args)


@appointments_blp.route("", methods=["POST"])
@allow(appointments_blp, "dispatch.centre")
@appointments_blp.doc(summary="Book directly", description="Book a case's field job against capacity (the process "
                      "books through its 预约上门 task). A full day is **409 `capacity_full`** with "
                      "`details.offers`: the next free days.")
@appointments_blp.arguments(s.BookSchema, example={"instance_id": 1, "job_type": "survey", "mode": "fixed",
                                                        "date": "2026-03-03", "period": "am"})
@appointments_blp.response(201, s.AppointmentSchema)
def book(body: dict[str, Any]) -> Any:
    request = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in body.items()
               if k in ("job_type", "mode", "date", "period", "within_hours", "area", "team")}
    case = {"address": body["address"]} if body.get("address") else None
    return _appointment(booking.book(db(), body["instance_id"], request, actor=actor().name, case=case))


@appointments_blp.route("/<job_no>", methods=["GET"], parameters=[JOB])
@allow(appointments_blp, "dispatch.read")
@appointments_blp.response(200, s.AppointmentSchema)
def get_appointment(job_no: str) -> Any:
    return _appointment(appointments.get(db(), job_no))


@appointments_blp.route("/<job_no>/reschedule", methods=["POST"], parameters=[JOB])
@allow(appointments_blp, "dispatch.centre")
@appointments_blp.doc(summary="Reschedule", description="Another mode, date, period or team; the old day's capacity "
                      "is released, the customer gets an SMS. 409 `capacity_full` with offers when the new day is full.")
@appointments_blp.arguments(s.RescheduleSchema, example={"date": "2026-03-05", "period": "pm",
                                                              "reason": "客户要求改到周四下午"})
@appointments_blp.response(200, s.AppointmentSchema)
def reschedule(body: dict[str, Any], job_no: str) -> Any:
    changes = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in body.items() if k != "reason"}
    return _appointment(rescheduling.reschedule(db(), job_no, changes, actor=actor().name, reason=body["reason"]))


@appointments_blp.route("/<job_no>/cancel", methods=["POST"], parameters=[JOB])
@allow(appointments_blp, "dispatch.centre")
@appointments_blp.doc(summary="Cancel", description="Only before dispatch; releases the capacity and tells the customer.")
@appointments_blp.arguments(s.CancelSchema, example={"reason": "客户临时出差，改期待定"})
@appointments_blp.response(200, s.AppointmentSchema)
def cancel(body: dict[str, Any], job_no: str) -> Any:
    return _appointment(rescheduling.cancel(db(), job_no, actor=actor().name, reason=body["reason"]))


def _assign(job_no: str, body: dict[str, Any]) -> dict[str, Any]:
    view = appointments.get(db(), job_no)
    _check_team_lead(view.team)
    return _appointment(dispatch.assign(db(), job_no, body["worker"], actor=actor(), planned_at=body.get("planned_at"),
                                        route_seq=body.get("route_seq")))


@appointments_blp.route("/<job_no>/assign", methods=["POST"], parameters=[JOB])
@allow(appointments_blp, "dispatch.lead")
@appointments_blp.doc(summary="Assign a worker and time", description="At the case's 派工 task this completes it "
                      "(the customer's SMS names the worker); afterwards it re-assigns.")
@appointments_blp.arguments(s.AssignSchema, example={"worker": "刘洋", "planned_at": "2026-03-03T09:15:00+08:00"})
@appointments_blp.response(200, s.AppointmentSchema)
def assign(body: dict[str, Any], job_no: str) -> Any:
    return _assign(job_no, body)


# -- dispatch lists ----------------------------------------------------------------------------------

lists_blp = Blueprint("dispatch_lists", __name__, url_prefix="/api/v1",
                      description="Twice-daily dispatch lists (派工单) per team, in route order; CSV export.")


@lists_blp.route("/dispatch-lists", methods=["GET"])
@allow(lists_blp, "dispatch.read")
@lists_blp.arguments(s.ListArgsSchema, location="query")
@lists_blp.response(200, s.DispatchListSchema(many=True))
def get_lists(args: dict[str, Any]) -> Any:
    return [lst.to_dict() for lst in dispatch.lists(db(), args.get("day") or _today(), slot=args.get("slot"),
                                                     team=args.get("team"), area=args.get("area"))]


@lists_blp.route("/dispatch-lists", methods=["POST"])
@allow(lists_blp, "dispatch.centre")
@lists_blp.doc(summary="Make the lists now", description="What the scheduler does at 07:30 / 12:30; idempotent.")
@lists_blp.arguments(s.GenerateSchema, example={"day": "2026-03-03", "slot": "am"})
@lists_blp.response(200, s.DispatchListSchema(many=True))
def generate(body: dict[str, Any]) -> Any:
    return [lst.to_dict() for lst in dispatch.generate(db(), body["day"], body["slot"], worker=actor().name,
                                                        team=body.get("team"))]


@lists_blp.route("/dispatch-lists.csv", methods=["GET"])
@allow(lists_blp, "dispatch.read")
@lists_blp.doc(summary="Export as CSV", description="UTF-8 with a byte-order mark, so Excel shows the Chinese.")
@lists_blp.arguments(s.ListArgsSchema, location="query")
@lists_blp.response(200, content_type="text/csv", description="one line per job in route order",
                    example="\ufeff" + ",".join(dispatch.CSV_HEADER) + "\n")
def export_csv(args: dict[str, Any]) -> Any:
    day = args.get("day") or _today()
    text = dispatch.export_csv(db(), day, slot=args.get("slot"), team=args.get("team"), bom=True)
    name = f"dispatch-{day.isoformat()}{'-' + args['slot'] if args.get('slot') else ''}.csv"
    return Response(text.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "text/csv; charset=utf-8"})


@lists_blp.route("/dispatch-lists/assign", methods=["POST"])
@allow(lists_blp, "dispatch.lead")
@lists_blp.doc(summary="Assign a job of a list", description="The same as `POST /appointments/{job_no}/assign`.")
@lists_blp.arguments(s.AssignListSchema, example={"job_no": "ZY20260302-0001", "worker": "刘洋", "route_seq": 1})
@lists_blp.response(200, s.AppointmentSchema)
def assign_from_list(body: dict[str, Any]) -> Any:
    return _assign(body["job_no"], body)


# -- field reports, call-backs, overdue arrivals -----------------------------------------------------

field_blp = Blueprint("field_jobs", __name__, url_prefix="/api/v1",
                      description="The worker's two phone calls (arrival, completion), call-backs, overdue arrivals.")


def _report(outcome: store.Outcome, job_no: str) -> dict[str, Any]:
    return {"instance_id": outcome.instance_id, "status": outcome.status,
            "new_tasks": [i.name for i in outcome.new_items], "appointment": _appointment(appointments.get(db(), job_no))}


@field_blp.route("/field-jobs/<job_no>/arrival", methods=["POST"], parameters=[JOB])
@allow(field_blp, "field.report")
@field_blp.doc(summary="Report arrival", description="The dispatcher, or the worker the job is assigned to. "
                                                     "409 if the job is not waiting for an arrival report.")
@field_blp.arguments(s.ArrivalSchema, example={"arrived_at": "2026-03-03T09:40:00+08:00"})
@field_blp.response(200, s.ReportSchema)
def report_arrival(body: dict[str, Any], job_no: str) -> Any:
    return _report(field.report_arrival(db(), job_no, actor=actor(), arrived_at=body.get("arrived_at")), job_no)


@field_blp.route("/field-jobs/<job_no>/completion", methods=["POST"], parameters=[JOB])
@allow(field_blp, "field.report")
@field_blp.doc(summary="Report completion", description="After the on-site work's own task; 409 before it.")
@field_blp.arguments(s.CompletionSchema, example={"work_summary": "勘查完成，表箱位置已确认。", "customer_signed": True})
@field_blp.response(200, s.ReportSchema)
def report_completion(body: dict[str, Any], job_no: str) -> Any:
    return _report(field.report_completion(db(), job_no, actor=actor(), work_summary=body["work_summary"],
                                           customer_signed=body["customer_signed"],
                                           completed_at=body.get("completed_at")), job_no)


@field_blp.route("/field-jobs/<job_no>/callback", methods=["POST"], parameters=[JOB])
@allow(field_blp, "field.callback")
@field_blp.doc(summary="Record the call-back", description="Reached or not, satisfaction 1–5, problems; a problem or "
                                                           "a score of 1–2 opens a follow-up for the customer manager.")
@field_blp.arguments(s.CallbackSchema, example={"reachable": True, "satisfaction": 5, "problems": ""})
@field_blp.response(200, s.ReportSchema)
def record_callback(body: dict[str, Any], job_no: str) -> Any:
    return _report(field.record_callback(db(), job_no, actor=actor(), reachable=body["reachable"],
                                         satisfaction=body.get("satisfaction"), problems=body["problems"],
                                         called_at=body.get("called_at")), job_no)


@field_blp.route("/overdue-arrivals", methods=["GET"])
@allow(field_blp, "dispatch.read")
@field_blp.doc(summary="Overdue arrivals", description="Jobs whose window closed without an arrival report (催办).")
@field_blp.arguments(s.OverdueArgsSchema, location="query")
@field_blp.response(200, page_schema(s.AppointmentSchema, "AppointmentPage"))
def overdue_arrivals(args: dict[str, Any]) -> Any:
    found = field.overdue_arrivals(db(), area=args.get("area"))
    return paginate_list([_appointment(a) for a in found], args)


@field_blp.route("/callbacks", methods=["GET"])
@allow(field_blp, "dispatch.read")
@field_blp.doc(summary="The call-back register", description="Field jobs' and cases' call-backs, newest first.")
@field_blp.arguments(s.CallbackArgsSchema, location="query")
@field_blp.response(200, page_schema(s.CallbackRecordSchema, "CallbackRecordPage"))
def list_callbacks(args: dict[str, Any]) -> Any:
    found = field.callbacks(db(), follow_up_status=args.get("follow_up_status"), instance_id=args.get("instance_id"),
                            limit=5000)
    return paginate_list(found, args)


# -- works -------------------------------------------------------------------------------------------

works_blp = Blueprint("works", __name__, url_prefix="/api/v1/works",
                      description="The works tracking list (清册): status and next follow-up per case.")


@works_blp.route("", methods=["GET"])
@allow(works_blp, "works.read")
@works_blp.arguments(s.WorksArgsSchema, location="query")
@works_blp.response(200, page_schema(s.WorksEntrySchema, "WorksEntryPage"))
def list_works(args: dict[str, Any]) -> Any:
    status = None if args["status"] == "all" else args["status"]
    found = works.entries(db(), status=status, kind=args.get("kind"), due_by=args.get("due_by"))
    return paginate_list([e.to_dict() for e in found], args)


@works_blp.route("/<int(min=1, max=2147483647):entry_id>/follow-ups", methods=["POST"],
                 parameters=[path_param("entry_id", 1)])
@allow(works_blp, "works.follow_up")
@works_blp.doc(summary="Record a follow-up", description="The status found and the next follow-up date; `done` takes "
                                                         "the case off the open list. 409 if already done.")
@works_blp.arguments(s.FollowUpSchema, example={"status": "in_progress", "note": "电缆沟已开挖",
                                                     "next_follow_up": "2026-03-09"})
@works_blp.response(200, s.WorksEntrySchema)
def follow_up(body: dict[str, Any], entry_id: int) -> Any:
    return works.record_follow_up(db(), entry_id, status=body["status"], note=body["note"], actor=actor().name,
                                  next_follow_up=body.get("next_follow_up")).to_dict()


#: registered by `api.rest.register`
blueprints: list[Any] = [teams_blp, capacity_blp, appointments_blp, lists_blp, field_blp, works_blp]

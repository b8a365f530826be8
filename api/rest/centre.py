"""The connected service centre (issue #15): the customer's message thread of a case (customers
through their channel, as owners of the application; staff answering), dispatch modes per area and
job type, and the load-growth analysis for grid planning."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint
from marshmallow import fields, validate

from api.rest.common import actor, allow, db, may, path_param
from api.rest.schemas import _nullable_when, _when
from engine.audit import analysis
from engine.core import worklist
from engine.core.errors import NotFound
from engine.dispatch import after_sales, capacity, modes, teams
from engine.intake import applications, threads

threads_blp = Blueprint("threads", __name__, url_prefix="/api/v1/applications",
                        description="The message thread of an application: the customer asks, the customer "
                                    "manager answers.")
modes_blp = Blueprint("dispatch_modes", __name__, url_prefix="/api/v1/dispatch/modes",
                      description="Central or team self-dispatch per area and job type.")
analysis_blp = Blueprint("analysis", __name__, url_prefix="/api/v1/analysis",
                         description="Load growth for grid planning.")
after_sales_blp = Blueprint("after_sales", __name__, url_prefix="/api/v1/after-sales",
                            description="The customer manager's after-sales list: open follow-ups of finished cases.")
blueprints = [threads_blp, modes_blp, analysis_blp, after_sales_blp]
NO = [path_param("application_no", "YK20260302-0001")]


# -- the thread ----------------------------------------------------------------------------------------


class ThreadMessageSchema(ma.Schema):
    id = fields.Integer(required=True)
    author_kind = fields.String(required=True, metadata={"enum": ["customer", "staff"]})
    kind = fields.String(required=True, metadata={"enum": list(threads.STAFF_KINDS)})
    body = fields.String(required=True, metadata={"description": "plain text; never HTML"})
    created_at = _when()
    answered_at = _nullable_when()
    author = fields.String(metadata={"description": "staff only"})
    respond_by = _nullable_when()


class ThreadMessageRequestSchema(ma.Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=threads.MAX_CHARS),
                         metadata={"example": "请问什么时候可以上门勘查？"})
    kind = fields.String(load_default="message", validate=validate.OneOf(threads.STAFF_KINDS), metadata={
        "description": "staff only: `phone` or `visit` logs an offline contact"})


def _case_of(application_no: str) -> tuple[int, str]:
    """The application's case; a channel client reaches only its own (others are 404 to it)."""
    if not may("applications.read_all") and applications.owner(db(), application_no) != actor().name:
        raise NotFound(f"application {application_no} does not exist")
    return applications.instance_of(db(), application_no), applications.status(db(), application_no).channel


def _staff_view(m: threads.Message) -> dict[str, Any]:
    return {**m.customer_view(), "author": m.author, "respond_by": m.respond_by}


@threads_blp.route("/<string:application_no>/messages", methods=["GET"], parameters=NO)
@allow(threads_blp, "applications.read")
@threads_blp.doc(summary="Read the thread", description="The customer sees their messages and the written answers; "
                                                        "staff also see logged calls and visits.")
@threads_blp.response(200, ThreadMessageSchema(many=True))
def list_messages(application_no: str) -> Any:
    iid, _channel = _case_of(application_no)
    if may("applications.read_all"):
        return [_staff_view(m) for m in threads.thread(db(), iid)]
    return threads.customer_thread(db(), iid)


@threads_blp.route("/<string:application_no>/messages", methods=["POST"], parameters=NO)
@allow(threads_blp, "threads.post")
@threads_blp.doc(summary="Write on the thread",
                 description="A channel client writes as the customer (the customer manager is notified; the first "
                             "answer is due within the rule set's `first_response_hours` working hours); staff "
                             "answer or log a call (`phone`) or visit (`visit`). At most 1000 characters of plain "
                             "text.")
@threads_blp.arguments(ThreadMessageRequestSchema, example={"body": "请问什么时候可以上门勘查？"})
@threads_blp.response(201, ThreadMessageSchema)
def post_message(body: dict[str, Any], application_no: str) -> Any:
    iid, channel = _case_of(application_no)
    who = actor()
    if may("threads.answer"):
        return _staff_view(threads.post_staff(db(), iid, body["body"], author=who.name, kind=body["kind"])), 201
    return threads.post_customer(db(), iid, body["body"], author=who.name, channel=channel).customer_view(), 201


# -- dispatch modes ------------------------------------------------------------------------------------


class ModeSchema(ma.Schema):
    area = fields.String(required=True, metadata={"example": "urban"})
    job_type = fields.String(required=True, metadata={"example": "survey"})
    mode = fields.String(required=True, metadata={"enum": list(modes.MODES)})
    changed_at = _nullable_when()
    changed_by = fields.String(allow_none=True)
    reason = fields.String(required=True)


class ModeRequestSchema(ma.Schema):
    mode = fields.String(required=True, validate=validate.OneOf(list(modes.MODES)))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=modes.MAX_REASON),
                           metadata={"example": "城区勘查班组人员充足，试行班组自主派工"})


class ModeChainSchema(ma.Schema):
    ok = fields.Boolean(required=True)
    events = fields.Integer(required=True)
    first_bad_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    switches = fields.List(fields.Dict(), required=True)


@modes_blp.route("", methods=["GET"])
@allow(modes_blp, "dispatch.read")
@modes_blp.response(200, ModeSchema(many=True))
def list_modes() -> Any:
    return modes.list_modes(db())


@modes_blp.route("/<string:area>/<string:job_type>", methods=["PUT"],
                 parameters=[path_param("area", "urban", "urban or rural"),
                             path_param("job_type", "survey", ", ".join(capacity.JOB_TYPES))])
@allow(modes_blp, "dispatch.mode")
@modes_blp.doc(summary="Switch the dispatch mode", description="Requires a reason; recorded on the dispatch-mode "
                                                               "chain. 409 if the mode is already in force.")
@modes_blp.arguments(ModeRequestSchema, example={"mode": "self", "reason": "城区勘查班组人员充足，试行班组自主派工"})
@modes_blp.response(200, ModeSchema)
def switch_mode(body: dict[str, Any], area: str, job_type: str) -> Any:
    return modes.switch(db(), area, job_type, body["mode"], reason=body["reason"], actor=actor().name)


@modes_blp.route("/chain", methods=["GET"])
@allow(modes_blp, "dispatch.read")
@modes_blp.doc(summary="The switches and their chain check")
@modes_blp.response(200, ModeChainSchema)
def mode_chain() -> Any:
    report = modes.verify(db())
    return {"ok": report.ok, "events": report.events, "first_bad_seq": report.first_bad_seq,
            "reason": report.reason, "switches": modes.switches(db())}


# -- load analysis -------------------------------------------------------------------------------------


class AnalysisArgsSchema(ma.Schema):
    area = fields.String(validate=validate.OneOf(list(teams.AREAS)))
    voltage = fields.String(validate=validate.Length(max=20))
    category = fields.String(validate=validate.OneOf(list(analysis.CATEGORIES)))
    industry = fields.String(validate=validate.Length(max=50))
    start_month = fields.String(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"), metadata={"example": "2026-01"})
    end_month = fields.String(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"), metadata={"example": "2026-12"})


class AnalysisSchema(ma.Schema):
    months = fields.List(fields.Dict(), required=True, metadata={
        "description": "per month: applied/energized counts and kW, the same month last year, growth"})
    areas = fields.List(fields.Dict(), required=True, metadata={"description": "kW, km² and kW per km² per area"})
    by = fields.Dict(required=True, metadata={"description": "kW by voltage, category and industry"})
    rows = fields.List(fields.Dict(), required=True)
    choices = fields.Dict(required=True)
    totals = fields.Dict(required=True)


def analysis_filters(args: dict[str, Any]) -> analysis.Filters:
    return analysis.Filters(**{k: args.get(k) or None for k in ("area", "voltage", "category", "industry",
                                                                 "start_month", "end_month")})


@analysis_blp.route("/load", methods=["GET"])
@allow(analysis_blp, "analysis.read")
@analysis_blp.doc(summary="Load growth", description="Applied and energized capacity by month, area, voltage, "
                                                     "category and industry; load density; growth on last year.")
@analysis_blp.arguments(AnalysisArgsSchema, location="query")
@analysis_blp.response(200, AnalysisSchema)
def load_analysis(args: dict[str, Any]) -> Any:
    return analysis.analyse(db(), analysis_filters(args))


@analysis_blp.route("/load.csv", methods=["GET"])
@allow(analysis_blp, "analysis.read")
@analysis_blp.doc(summary="Load growth as CSV (UTF-8 with BOM)")
@analysis_blp.arguments(AnalysisArgsSchema, location="query")
@analysis_blp.response(200, content_type="text/csv")
def load_analysis_csv(args: dict[str, Any]) -> Any:
    text = analysis.to_csv(analysis.analyse(db(), analysis_filters(args)))
    return Response(text.encode("utf-8"), headers={"Content-Type": "text/csv; charset=utf-8",
                                                   "Content-Disposition": 'attachment; filename="load-analysis.csv"'})


# -- the after-sales list ------------------------------------------------------------------------------


class FollowUpSchema(ma.Schema):
    task_id = fields.String(required=True, metadata={"description": "the follow-up task (follow_up_marketing)"})
    instance_id = fields.Integer(required=True, metadata={"description": "the after-sales case"})
    case_id = fields.Integer(allow_none=True, metadata={"description": "the finished case it follows up"})
    case_no = fields.String(allow_none=True, metadata={"description": "that case's application number"})
    customer_name = fields.String(allow_none=True)
    customer_mobile = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)
    finished_at = _nullable_when()
    due_at = _nullable_when()


@after_sales_blp.route("", methods=["GET"])
@allow(after_sales_blp, "staff.read")
@after_sales_blp.doc(summary="Open after-sales follow-ups",
                     description="The follow-ups the caller may work (their groups' and their own), oldest due "
                                 "first: the same work-list query as every task list.")
@after_sales_blp.response(200, FollowUpSchema(many=True))
def follow_ups() -> Any:
    who = actor()
    rows = after_sales.follow_up_list(db(), worklist.TaskFilter(visible_groups=who.groups, visible_user=who.name))
    return [{"task_id": f.task.id, "instance_id": f.task.instance_id, "case_id": f.case_id, "case_no": f.case_no,
             "customer_name": f.task.customer_name, "customer_mobile": f.task.customer_mobile,
             "assignee": f.task.assignee, "finished_at": f.finished_at, "due_at": f.task.due_at} for f in rows]

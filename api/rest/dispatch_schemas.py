"""marshmallow schemas of the dispatch centre's API (api.rest.dispatch): bodies with examples, responses."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from api.rest.schemas import ChangeSchema, Flag, PageArgsSchema, _nullable_str, _nullable_when, _str, _when
from engine.core.clock import CHINA
from engine.dispatch import appointments, capacity, teams, works

JOB_TYPES = list(capacity.JOB_TYPES)
AREAS = list(teams.AREAS)
_CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", error="班所编码为1至40位字母、数字、- 或 _")
_DAY_NUMBERS = fields.List(fields.Integer(strict=True, validate=validate.Range(min=0, max=capacity.MAX_PER_DAY)),
                           validate=validate.Length(equal=7))


# -- teams -------------------------------------------------------------------------------------------


class MemberSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = _str(required=True, metadata={"example": "刘洋"})
    mobile = _str(required=True, metadata={"example": "13700001111"})
    role = _str(required=True, metadata={"example": "worker"})
    username = _nullable_str()
    active = fields.Boolean(required=True)


class TeamSchema(ma.Schema):
    id = fields.Integer(required=True)
    code = _str(required=True, metadata={"example": "CQ-KC1"})
    name = _str(required=True, metadata={"example": "城区勘查一班"})
    area = _str(required=True, metadata={"example": "urban"})
    active = fields.Boolean(required=True)
    members = fields.List(fields.Nested(MemberSchema), required=True)


class TeamArgsSchema(ma.Schema):
    area = _str(validate=validate.OneOf(AREAS))
    all = fields.Boolean(load_default=False, metadata={"description": "include inactive teams"})


class TeamCreateSchema(ma.Schema):
    code = _str(required=True, validate=_CODE, metadata={"example": "CQ-KC2"})
    name = _str(required=True, validate=validate.Length(min=2, max=100), metadata={"example": "城区勘查二班"})
    area = _str(required=True, validate=validate.OneOf(AREAS), metadata={"example": "urban"})


class TeamUpdateSchema(ChangeSchema):
    name = _str(validate=validate.Length(min=2, max=100), metadata={"example": "城区勘查一班"})
    area = _str(validate=validate.OneOf(AREAS))
    active = Flag()


class MemberCreateSchema(ma.Schema):
    name = _str(required=True, validate=validate.Length(min=2, max=40), metadata={"example": "赵敏"})
    mobile = _str(required=True, metadata={"example": "13700001112"})
    role = _str(load_default="worker", validate=validate.OneOf(list(teams.ROLES)))
    username = _str(allow_none=True, validate=validate.Length(max=80),
                    metadata={"description": "the system user who signs in as this member (phone page)"})


# -- capacity ----------------------------------------------------------------------------------------


class DayCapacitySchema(ma.Schema):
    team = _str(required=True, metadata={"example": "CQ-KC1"})
    team_name = _str(required=True)
    area = _str(required=True)
    job_type = _str(required=True, metadata={"example": "survey"})
    day = _str(required=True, metadata={"example": "2026-03-03"})
    capacity = fields.Integer(required=True)
    booked = fields.Integer(required=True)
    remaining = fields.Integer(required=True)


class BoardArgsSchema(ma.Schema):
    start = fields.Date(metadata={"description": "first day (default: today, China time)"})
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=62))
    area = _str(validate=validate.OneOf(AREAS))
    team = _str(validate=_CODE)
    job_type = _str(validate=validate.OneOf(JOB_TYPES))


class WeekReportSchema(ma.Schema):
    plan = fields.Dict(keys=fields.String(validate=validate.OneOf(JOB_TYPES)), values=_DAY_NUMBERS, required=True,
                       validate=validate.Length(min=1),
                       metadata={"description": "per job type, seven daily numbers from Monday",
                                 "example": {"survey": [8, 8, 8, 8, 8, 2, 0], "verify": [4, 4, 4, 4, 4, 0, 0]}})
    note = _str(load_default="", validate=validate.Length(max=500), metadata={"example": "常规排班"})


class DayAdjustSchema(ma.Schema):
    job_type = _str(required=True, validate=validate.OneOf(JOB_TYPES), metadata={"example": "survey"})
    capacity = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=capacity.MAX_PER_DAY),
                              metadata={"example": 3})
    reason = _str(required=True, validate=validate.Length(min=1, max=500), metadata={"example": "两人病假"})


class CapacityChangeSchema(ma.Schema):
    versions = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    overbooked = fields.List(fields.Raw(), required=True, metadata={
        "description": "bookings that no longer fit the lowered capacity: flagged for rescheduling"})


class HistoryArgsSchema(ma.Schema):
    job_type = _str(validate=validate.OneOf(JOB_TYPES))


class CapacityVersionSchema(ma.Schema):
    id = fields.Integer(required=True)
    job_type = _str(required=True)
    kind = _str(required=True, metadata={"example": "week"})
    day = _str(required=True, metadata={"example": "2026-03-02"})
    days = fields.List(fields.Integer(), required=True)
    version = fields.Integer(required=True)
    reported_at = _when()
    reported_by = _str(required=True)
    note = _str(required=True)


class AvailabilityArgsSchema(ma.Schema):
    job_type = _str(required=True, validate=validate.OneOf(JOB_TYPES))
    area = _str(load_default="urban", validate=validate.OneOf(AREAS))
    team = _str(validate=_CODE)
    start = fields.Date()
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=31))


# -- appointments ------------------------------------------------------------------------------------


class AppointmentSchema(ma.Schema):
    id = fields.Integer(required=True)
    job_no = _str(required=True, metadata={"example": "ZY20260302-0001"})
    instance_id = fields.Integer(required=True)
    job_type = _str(required=True)
    mode = _str(required=True, metadata={"example": "fixed"})
    request = fields.Dict(required=True)
    team = _str(required=True)
    team_name = _str(required=True)
    area = _str(required=True)
    day = fields.Date(required=True)
    slot = _str(required=True, metadata={"example": "am"})
    window_start = _when()
    window_end = _when()
    status = _str(required=True, metadata={"example": "booked"})
    application_no = _nullable_str()
    customer_name = _nullable_str()
    address = _nullable_str()
    mobile = _nullable_str()
    worker_name = _nullable_str()
    worker_mobile = _nullable_str()
    planned_at = _nullable_when()
    route_seq = fields.Integer(allow_none=True)
    arrived_at = _nullable_when()
    completed_at = _nullable_when()
    booked_at = _when()
    booked_by = _str(required=True)
    note = _str(required=True)
    date_text = _str(required=True, metadata={"example": "2026年03月03日"})
    time_window = _str(required=True, metadata={"example": "08:30-12:00"})


class AppointmentArgsSchema(PageArgsSchema):
    day = fields.Date()
    team = _str(validate=_CODE)
    area = _str(validate=validate.OneOf(AREAS))
    status = _str(validate=validate.OneOf(["booked", "dispatched", "arrived", "completed", "cancelled"]))
    instance_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class _RequestFields(ma.Schema):
    mode = _str(validate=validate.OneOf(list(appointments.MODES)), metadata={"example": "fixed"})
    date = fields.Date(metadata={"example": "2026-03-03"})
    period = _str(validate=validate.OneOf(list(appointments.PERIODS)), metadata={"example": "am"})
    within_hours = fields.Integer(strict=True, validate=validate.Range(min=1, max=72))
    team = _str(validate=_CODE)


class BookSchema(_RequestFields):
    instance_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**31 - 1), metadata={"example": 1})
    job_type = _str(required=True, validate=validate.OneOf(JOB_TYPES), metadata={"example": "survey"})
    mode = _str(required=True, validate=validate.OneOf(list(appointments.MODES)), metadata={"example": "fixed"})
    area = _str(load_default="urban", validate=validate.OneOf(AREAS))
    address = _str(validate=validate.Length(max=200))


class RescheduleSchema(_RequestFields):
    reason = _str(required=True, validate=validate.Length(min=1, max=500), metadata={"example": "客户要求改到下午"})


class CancelSchema(ma.Schema):
    reason = _str(required=True, validate=validate.Length(min=1, max=500), metadata={"example": "客户临时出差，改期待定"})


class AssignSchema(ma.Schema):
    worker = _str(required=True, validate=validate.Length(min=2, max=40), metadata={"example": "刘洋"})
    planned_at = fields.AwareDateTime(default_timezone=CHINA, metadata={"example": "2026-03-03T09:15:00+08:00"})
    route_seq = fields.Integer(strict=True, validate=validate.Range(min=1, max=999))


class AssignListSchema(AssignSchema):
    job_no = _str(required=True, validate=validate.Length(min=1, max=32), metadata={"example": "ZY20260302-0001"})


# -- dispatch lists ----------------------------------------------------------------------------------


class ListArgsSchema(ma.Schema):
    day = fields.Date(metadata={"description": "default: today (China time)"})
    slot = _str(validate=validate.OneOf(["am", "pm"]))
    team = _str(validate=_CODE)
    area = _str(validate=validate.OneOf(AREAS))


class ListEntrySchema(AppointmentSchema):
    seq = fields.Integer(required=True)
    late = fields.Boolean(required=True)


class DispatchListSchema(ma.Schema):
    id = fields.Integer(required=True)
    team = _str(required=True)
    team_name = _str(required=True)
    area = _str(required=True)
    day = _str(required=True)
    slot = _str(required=True)
    generated_at = _when()
    generated_by = _str(required=True)
    entries = fields.List(fields.Nested(ListEntrySchema), required=True)


class GenerateSchema(ma.Schema):
    day = fields.Date(required=True, metadata={"example": "2026-03-03"})
    slot = _str(required=True, validate=validate.OneOf(["am", "pm"]))
    team = _str(validate=_CODE)


# -- field reports, call-backs -----------------------------------------------------------------------


class ArrivalSchema(ma.Schema):
    arrived_at = fields.AwareDateTime(default_timezone=CHINA,
                                      metadata={"description": "default: now", "example": "2026-03-03T09:40:00+08:00"})


class CompletionSchema(ma.Schema):
    work_summary = _str(required=True, validate=validate.Length(min=1, max=1000), metadata={"example": "勘查完成，表箱位置已确认。"})
    customer_signed = Flag(required=True, metadata={"example": True})
    completed_at = fields.AwareDateTime(default_timezone=CHINA)


class CallbackSchema(ma.Schema):
    reachable = Flag(required=True, metadata={"example": True})
    satisfaction = fields.Integer(strict=True, validate=validate.Range(min=1, max=5), metadata={"example": 5})
    problems = _str(load_default="", validate=validate.Length(max=1000))
    called_at = fields.AwareDateTime(default_timezone=CHINA)

    @ma.validates_schema
    def _rated(self, data: dict, **_kw: object) -> None:
        if data.get("reachable") and data.get("satisfaction") is None:
            raise ma.ValidationError({"satisfaction": ["联系上客户时请填写满意度（1–5）"]})


class ReportSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    status = _str(required=True)
    new_tasks = fields.List(fields.String(), required=True)
    appointment = fields.Nested(AppointmentSchema, required=True)


class CallbackRecordSchema(ma.Schema):
    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    job_no = _str(required=True)
    job_type = _str(required=True)
    called_at = _when()
    reachable = fields.Boolean(required=True)
    satisfaction = fields.Integer(allow_none=True)
    problems = _str(required=True)
    follow_up = fields.Boolean(required=True)
    follow_up_status = _nullable_str()
    resolution = _str(required=True)
    resolved_at = _nullable_when()
    resolved_by = _nullable_str()
    recorded_at = _when()
    recorded_by = _str(required=True)


class CallbackArgsSchema(PageArgsSchema):
    follow_up_status = _str(validate=validate.OneOf(["open", "resolved", "unresolved"]))
    instance_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class OverdueArgsSchema(PageArgsSchema):
    area = _str(validate=validate.OneOf(AREAS))


# -- works -------------------------------------------------------------------------------------------


class WorksLogSchema(ma.Schema):
    at = _when()
    actor = _str(required=True)
    status = _str(required=True)
    note = _str(required=True)
    next_follow_up = fields.Date(allow_none=True)


class WorksEntrySchema(ma.Schema):
    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    kind = _str(required=True, metadata={"example": "internal"})
    title = _str(required=True)
    application_no = _nullable_str()
    customer_name = _nullable_str()
    address = _nullable_str()
    status = _str(required=True, metadata={"example": "in_progress"})
    next_follow_up = fields.Date(allow_none=True)
    interval_days = fields.Integer(required=True)
    source = _str(required=True)
    created_at = _when()
    updated_at = _when()
    done_at = _nullable_when()
    log = fields.List(fields.Nested(WorksLogSchema), required=True)


class WorksArgsSchema(PageArgsSchema):
    status = _str(load_default="open", validate=validate.OneOf(["open", "all", *works.STATUSES]))
    kind = _str(validate=validate.OneOf(list(works.KINDS)))
    due_by = fields.Date()


class FollowUpSchema(ma.Schema):
    status = _str(required=True, validate=validate.OneOf(list(works.STATUSES)), metadata={"example": "in_progress"})
    note = _str(required=True, validate=validate.Length(min=1, max=1000), metadata={"example": "客户称电缆沟已完工，下周敷设电缆"})
    next_follow_up = fields.Date(metadata={"example": "2026-03-09"})

"""marshmallow schemas of the auditor's API (history filters, state as of an event, case file, chains, KPIs)."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from api.rest.schemas import ROLE_CODES, PageArgsSchema

EVENT_TYPE = validate.Regexp(r"^[a-z_]{1,40}$")


class HistoryArgsSchema(PageArgsSchema):
    type = fields.List(fields.String(validate=EVENT_TYPE), metadata={
        "description": "only events of these types (repeat the parameter for several)", "example": ["task_completed"]})
    actor = fields.String(validate=validate.Length(min=1, max=80),
                          metadata={"description": "only events by this user (or worker)", "example": "clerk"})


class OpenTaskSchema(ma.Schema):
    task_spec = fields.String(required=True)
    name = fields.String(required=True)
    process = fields.String(required=True)
    group = fields.String(allow_none=True)
    assignee = fields.String(allow_none=True)


class DiagramPathSchema(ma.Schema):
    process = fields.String(required=True)
    name = fields.String(required=True)
    file = fields.String(required=True)
    xml = fields.String()
    completed = fields.Dict(keys=fields.String(), values=fields.Integer(),
                            metadata={"description": "element id → times it finished up to this event"})
    failed = fields.List(fields.String())
    active = fields.List(fields.String())
    waiting = fields.List(fields.String())
    flows = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "sequence flow id → times taken up to this event"})


class AsOfSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    last_seq = fields.Integer(required=True)
    definition_id = fields.Integer(required=True)
    event = fields.Dict(required=True, metadata={"description": "the event itself (as in the history)"})
    status = fields.String(required=True)
    open_tasks = fields.List(fields.Nested(OpenTaskSchema), required=True)
    data = fields.Dict(required=True, metadata={"description": "case data right after the event, in its scope"})
    data_before = fields.Dict(required=True, metadata={"description": "that data just before the event"})
    changes = fields.Dict(required=True, metadata={"description": "key → {change, before, after}: what the event "
                                                                  "changed in the process scope it happened in"})
    scope = fields.Dict(allow_none=True, metadata={
        "description": "{process, call_activity, task_spec}: the process (a called one, or the main one) the event "
                       "happened in, the call activity that runs it, the element it acted on"})
    diagrams = fields.List(fields.Nested(DiagramPathSchema), required=True)
    replay_ok = fields.Boolean(required=True, metadata={"description": "replay up to here matched the record"})
    divergence = fields.Dict(allow_none=True)


class AsOfArgsSchema(ma.Schema):
    xml = fields.Boolean(load_default=True, metadata={"description": "include each diagram's BPMN XML"})


class ChainArgsSchema(ma.Schema):
    instance = fields.Integer(validate=validate.Range(min=1, max=2147483647))
    failures_only = fields.Boolean(load_default=False)


class ChainSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    events = fields.Integer(required=True)
    ok = fields.Boolean(required=True)
    first_bad_seq = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    message = fields.String(required=True)


class ChainsSchema(ma.Schema):
    checked = fields.Integer(required=True)
    ok = fields.Boolean(required=True)
    failures = fields.Integer(required=True)
    chains = fields.List(fields.Nested(ChainSchema), required=True)
    anchor = fields.Dict(allow_none=True, metadata={"description": "the newest anchor file checked, when a key is set"})


class CaseFileSchema(ma.Schema):
    format = fields.String(required=True)
    generated_at = fields.String(required=True, metadata={"example": "2026-03-02T09:00:00+08:00"})
    instance = fields.Dict(required=True)
    data = fields.Dict(required=True)
    open_tasks = fields.List(fields.Dict(), required=True)
    deadlines = fields.List(fields.Dict(), required=True)
    documents = fields.List(fields.Dict(), required=True)
    history = fields.List(fields.Dict(), required=True)
    replay = fields.Dict(required=True)
    chain = fields.Dict(required=True)
    hashing = fields.Dict(required=True, metadata={"description": "how each event's hash and the digest are made"})
    integrity = fields.Dict(required=True, metadata={"description": "SHA-256 of the canonical document"})


class KpiArgsSchema(ma.Schema):
    start = fields.Date(metadata={"description": "first day (China time), inclusive", "example": "2026-03-01"})
    end = fields.Date(metadata={"description": "last day, exclusive", "example": "2026-04-01"})
    business_type = fields.String(validate=validate.Length(min=1, max=20), metadata={"example": "lv_res"})
    team = fields.String(validate=validate.OneOf(ROLE_CODES),
                         metadata={"description": "the role group that worked the tasks (on-time rate, waiting)"})
    field_team = fields.String(validate=validate.Length(min=1, max=40),
                               metadata={"description": "a field team's code (班所): every figure narrows to the "
                                                        "cases it had a field job in, arrivals to its own jobs",
                                         "example": "CQ-KC1"})

    @ma.validates_schema
    def _order(self, data: dict, **kwargs: object) -> None:
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise ma.ValidationError("must be after start", "end")
        if data.get("start") and data.get("end") and (data["end"] - data["start"]) > dt.timedelta(days=3 * 366):
            raise ma.ValidationError("at most three years", "end")


class KpisSchema(ma.Schema):
    period = fields.List(fields.String(allow_none=True), required=True)
    cases = fields.Integer(required=True)
    avg_connection_workdays = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    on_time_rate = fields.Float(allow_none=True, metadata={
        "description": "share of ended cases whose every assessed step was met (withdrawn cases excluded)"})
    on_time_by_type = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    assessed = fields.Integer(required=True, metadata={"description": "cases with an on-time verdict in the period"})
    overdue_now = fields.Integer(required=True)
    appointment_punctuality = fields.Float(allow_none=True)
    appointments = fields.Integer(required=True)
    satisfaction_rate = fields.Float(allow_none=True)
    callbacks = fields.Integer(required=True)
    after_sales_on_time_rate = fields.Float(allow_none=True, metadata={
        "description": "售后跟进及时率: share of finished cases whose after-sales follow-up was done within its limit"})
    after_sales_cases = fields.Integer(required=True, metadata={"description": "finished cases that rate is over"})
    avg_milestones = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, metadata={
        "description": "customer-visible steps per ended case, per business type"})
    waiting_hours = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    first_response_questions = fields.Integer(required=True, metadata={
        "description": "customer questions (case threads) asked in the period"})
    first_response_on_time_rate = fields.Float(allow_none=True, metadata={
        "description": "share answered within the rule set's first_response_hours working hours (open and "
                       "not yet due excluded)"})
    first_response_avg_hours = fields.Float(allow_none=True, metadata={"description": "working hours to the answer"})
    first_response_overdue_now = fields.Integer(required=True)


class KpiPeriodSchema(KpisSchema):
    label = fields.String(required=True, metadata={"example": "2026-03"})


class KpiReportSchema(ma.Schema):
    filters = fields.Dict(required=True)
    totals = fields.Nested(KpisSchema, required=True)
    months = fields.List(fields.Nested(KpiPeriodSchema), required=True,
                         metadata={"description": "the same figures per calendar month (when start and end are given)"})


class HeatmapArgsSchema(ma.Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "new_connection"})
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "one version only; default: every version, added up by element "
                                                      "id and drawn on the latest diagram"})
    field_team = fields.String(validate=validate.Length(min=1, max=40), metadata={"description": "a field team's code"})
    start = fields.Date()
    end = fields.Date()


class HeatSchema(ma.Schema):
    element = fields.String(required=True)
    name = fields.String(required=True)
    process = fields.String(required=True, metadata={"description": "the process (diagram) the task belongs to"})
    count = fields.Integer(required=True)
    total_hours = fields.Float(required=True)
    avg_hours = fields.Float(required=True)
    max_hours = fields.Float(required=True)


class HeatmapSchema(ma.Schema):
    definition_id = fields.Integer(required=True)
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    all_versions = fields.Boolean(required=True, metadata={"description": "waiting of every version, by element id"})
    xml = fields.String(required=True, metadata={"description": "the main process's BPMN XML"})
    processes = fields.List(fields.Dict(), required=True,
                            metadata={"description": "{process, name, xml} of the main process and each called "
                                                     "process with waiting time"})
    elements = fields.List(fields.Nested(HeatSchema), required=True)

"""marshmallow schemas of the REST API: request bodies (each with a realistic example) and responses."""

from __future__ import annotations

import copy
import json
from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from engine.core import worklist
from engine.core.clock import CHINA
from engine.core.config import PROJECT_ROOT
from engine.deadlines import sla
from engine.intake import applications

ROLE_CODES = ["clerk", "dispatcher", "manager", "surveyor", "metering", "reviewer", "lead", "supervisor",
              "auditor", "analyst", "admin", "channel"]


def _accept_examples() -> list[dict[str, Any]]:
    try:
        doc = json.loads((PROJECT_ROOT / "forms" / "accept.schema.json").read_text(encoding="utf-8"))
        found = [e for e in doc.get("examples", []) if isinstance(e, dict)]
    except (OSError, ValueError):
        found = []
    return found or [{"customer_name": "张伟", "mobile": "13912345678", "address": "北京市东城区安德路12号"}]


ACCEPT_EXAMPLE = _accept_examples()[0]
#: the form's second example is an app (一证受理) application; staff-only fields removed
APPLICATION_EXAMPLE = {k: v for k, v in copy.deepcopy(_accept_examples()[min(1, len(_accept_examples()) - 1)]).items()
                       if k not in applications.STAFF_ONLY}

EXAMPLE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_meter_check" \
targetNamespace="http://yekuo.example/bpmn">
  <bpmn:process id="meter_check" name="电能表现场校验" isExecutable="true">
    <bpmn:laneSet id="LaneSet_meter_check">
      <bpmn:lane id="Lane_metering" name="装表接电班组">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check_meter</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="收到校验申请"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check_meter" name="现场校验电能表"><bpmn:extensionElements><spiffworkflow:properties>\
<spiffworkflow:property name="formJsonSchemaFilename" value="meter-work.schema.json" /></spiffworkflow:properties>\
</bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end" name="校验完成"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check_meter" />
    <bpmn:sequenceFlow id="f2" sourceRef="check_meter" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""

CALENDAR_EXAMPLE = "date,type,name\n2030-01-01,holiday,元旦\n2030-01-02,workday,\n"


_INT_LIMIT = 2**63 - 1
_MAX_DEPTH = 32


def _storable(value: Any, depth: int = 0) -> None:
    """JSON the engine can store: 64-bit integers, finite numbers, bounded nesting."""
    if depth > _MAX_DEPTH:
        raise ma.ValidationError(f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -_INT_LIMIT - 1 <= value <= _INT_LIMIT:
            raise ma.ValidationError("integer out of the 64-bit range")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ma.ValidationError("numbers must be finite")
    elif isinstance(value, dict):
        for v in value.values():
            _storable(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _storable(v, depth + 1)


def Data(**kw: Any) -> fields.Dict:  # noqa: N802 — a field factory, used like a field class
    """A free-form JSON object (form data, message payloads) the engine can store."""
    return fields.Dict(validate=_storable, **kw)


class Flag(fields.Boolean):
    """A JSON body's true/false: only `true` and `false` (marshmallow's Boolean also takes 0, 1, "yes",
    "on" — a query string's flags still do, being text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class ChangeSchema(ma.Schema):
    """A PATCH body: every field optional, but a change must name at least one (422 for no body or `{}`)."""

    @ma.validates_schema
    def _not_empty(self, data: dict[str, Any], **_kw: Any) -> None:
        if not data:
            raise ma.ValidationError("send at least one field to change")


def _str(**kw: Any) -> fields.String:
    return fields.String(**kw)


def _nullable_str() -> fields.String:
    return fields.String(allow_none=True)


def _when() -> fields.DateTime:
    return fields.DateTime(metadata={"example": "2026-03-02T09:00:00+08:00"})


def _nullable_when() -> fields.DateTime:
    return fields.DateTime(allow_none=True)


# -- errors and pages ------------------------------------------------------------------------------


class ErrorDetailSchema(ma.Schema):
    code = _str(required=True, metadata={"example": "invalid_data"})
    message = _str(required=True, metadata={"example": "the form has errors"})
    details = fields.Raw(allow_none=True, metadata={"example": {"mobile": ["请输入11位手机号码（1开头，第二位3-9）"]}})


class ErrorSchema(ma.Schema):
    error = fields.Nested(ErrorDetailSchema, required=True)


class PageArgsSchema(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000),
                          metadata={"description": "1-based page number"})
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100),
                               metadata={"description": "items per page (at most 100)"})


_PAGE_CACHE: dict[str, type[ma.Schema]] = {}


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The list envelope: {items, total, page, page_size}."""
    if name not in _PAGE_CACHE:
        _PAGE_CACHE[name] = type(name, (ma.Schema,), {
            "items": fields.List(fields.Nested(item), required=True),
            "total": fields.Integer(required=True, metadata={"description": "matching items on all pages"}),
            "page": fields.Integer(required=True),
            "page_size": fields.Integer(required=True),
        })
    return _PAGE_CACHE[name]


# -- auth ------------------------------------------------------------------------------------------


class TokenRequestSchema(ma.Schema):
    username = _str(required=True, validate=validate.Length(min=1, max=80), metadata={"example": "clerk"})
    password = _str(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "demo"})


class TokenSchema(ma.Schema):
    access_token = _str(required=True)
    token_type = _str(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"example": 28800})


class MeSchema(ma.Schema):
    username = _str(required=True)
    display_name = _str(required=True)
    groups = fields.List(fields.String(), required=True)


# -- users and groups --------------------------------------------------------------------------------


class GroupSchema(ma.Schema):
    code = _str(required=True)
    name = _str(required=True)


class UserSchema(ma.Schema):
    username = _str(required=True)
    display_name = _str(required=True)
    groups = fields.Method("_groups", required=True, metadata={"type": "array", "items": {"type": "string"}})
    active = fields.Boolean(required=True)

    def _groups(self, obj: Any) -> list[str]:
        return sorted(obj.groups)


class UserArgsSchema(PageArgsSchema):
    group = fields.String(validate=validate.OneOf(ROLE_CODES))
    active = fields.Boolean()


class UserCreateSchema(ma.Schema):
    username = _str(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{2,80}$"),
                    metadata={"example": "zhangwei"})
    password = _str(required=True, validate=validate.Length(min=8, max=200), load_only=True,
                    metadata={"example": "S3cure-pass"})
    display_name = _str(validate=validate.Length(min=1, max=100), metadata={"example": "张伟"})
    groups = fields.List(fields.String(validate=validate.OneOf(ROLE_CODES)), load_default=list,
                         metadata={"example": ["clerk"]})


class UserUpdateSchema(ChangeSchema):
    display_name = _str(validate=validate.Length(min=1, max=100), metadata={"example": "张伟（营业厅）"})
    groups = fields.List(fields.String(validate=validate.OneOf(ROLE_CODES)), metadata={"example": ["clerk", "manager"]})
    active = Flag(metadata={"example": True})
    password = _str(validate=validate.Length(min=8, max=200), load_only=True)


# -- definitions and deployments ---------------------------------------------------------------------


class DefinitionSchema(ma.Schema):
    id = fields.Integer(required=True)
    key = _str(required=True, metadata={"example": "new_connection"})
    version = fields.Integer(required=True)
    name = _str(required=True)
    deployed_at = _when()
    deployed_by = _str(required=True)
    note = _str(required=True)


class DefinitionDetailSchema(DefinitionSchema):
    forms = fields.List(fields.String(), required=True)
    lanes = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)
    user_tasks = fields.List(fields.Dict(), required=True)


class DefinitionArgsSchema(PageArgsSchema):
    key = fields.String(validate=validate.Length(max=200))
    latest = fields.Boolean(load_default=False, metadata={"description": "only the newest version of each key"})


class DeploymentRequestSchema(ma.Schema):
    files = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[^/\\]{1,200}\.(bpmn|dmn)$")),
                        values=fields.String(), required=True, validate=validate.Length(min=1, max=50),
                        metadata={"description": "file name → BPMN/DMN XML text"})
    note = _str(load_default="", validate=validate.Length(max=500), metadata={"example": "电能表现场校验流程首版"})


DEPLOYMENT_EXAMPLE = {"files": {"meter_check.bpmn": EXAMPLE_BPMN}, "note": "电能表现场校验流程首版"}


class DeployResultSchema(ma.Schema):
    key = _str(required=True)
    version = fields.Integer(required=True)
    definition_id = fields.Integer(required=True)
    name = _str(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false when identical content was deployed already"})


class DeploymentSchema(ma.Schema):
    results = fields.List(fields.Nested(DeployResultSchema), required=True)


# -- tasks -------------------------------------------------------------------------------------------


class WorkItemSchema(ma.Schema):
    id = _str(required=True, metadata={"example": "0b7c1d1e-8a4f-4a53-9f4e-2f0c2b8d5a10"})
    instance_id = fields.Integer(required=True)
    task_spec = _str(required=True, metadata={"example": "accept"})
    name = _str(required=True, metadata={"example": "受理申请"})
    process_key = _nullable_str()
    lane = _nullable_str()
    candidate_group = _nullable_str()
    assignee = _nullable_str()
    status = _str(required=True, metadata={"example": "open"})
    priority = fields.Integer(required=True)
    created_at = _when()
    due_at = _nullable_when()
    due_provisional = fields.Boolean(metadata={"description": "the due time crossed a year with no official "
                                                              "working-day calendar: counted Monday–Friday, "
                                                              "recomputed when the year is imported"})
    form_schema = _nullable_str()
    completed_by = _nullable_str()
    completed_at = _nullable_when()


class TaskSchema(WorkItemSchema):
    business_key = _nullable_str()
    business_type = _nullable_str()
    customer_name = _nullable_str()
    follow_up_on = fields.Date(allow_none=True, metadata={"description": "跟进日期 the holder set"})
    overdue = fields.Boolean(required=True)


class TaskDetailSchema(TaskSchema):
    form = fields.Dict(allow_none=True, metadata={"description": "the task's JSON Schema"})
    ui_schema = fields.Dict(allow_none=True)
    data = fields.Dict(metadata={"description": "the case data the task sees (not in the answers of claim, "
                                                "unclaim and delegate: they restore no workflow)"})
    instance_version = fields.Integer(required=True, metadata={
        "description": "send back when completing to detect concurrent changes"})


class TaskArgsSchema(PageArgsSchema):
    candidate_group = fields.String(validate=validate.OneOf(ROLE_CODES))
    assignee = fields.String(validate=validate.Length(min=1, max=80),
                             metadata={"description": "a username, or `me`"})
    unassigned = fields.Boolean()
    business_type = fields.String(validate=validate.Length(max=20), metadata={"example": "lv_res"})
    due_before = fields.AwareDateTime(default_timezone=CHINA)
    overdue = fields.Boolean()
    instance = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    q = fields.String(validate=validate.Length(min=1, max=worklist.TEXT_MAX), metadata={
        "description": "part of the application number, customer name or mobile", "example": "张伟"})
    follow_up_by = fields.Date(metadata={"description": "follow-up day on or before this", "example": "2026-03-05"})
    state = fields.String(load_default="open", validate=validate.OneOf(worklist.STATUSES))
    sort = fields.String(load_default="due", validate=validate.OneOf(worklist.SORTS),
                         metadata={"description": "due date or priority (`-` for descending); ties by priority, age"})
    cursor = fields.String(validate=validate.Length(min=1, max=1000), metadata={
        "description": "`next_cursor` of the previous answer (same filters and sort): the page after it, "
                       "fast at any depth; `page` is ignored then"})


class CompleteRequestSchema(ma.Schema):
    data = Data(required=True, metadata={"description": "the form data, validated against the task's form"})
    instance_version = fields.Integer(strict=True, validate=validate.Range(min=0), metadata={
        "description": "the instance_version read with the task; 409 if the case changed since"})
    expected_version = fields.Integer(strict=True, load_only=True, validate=validate.Range(min=0), metadata={
        "deprecated": True, "description": "deprecated alias of instance_version (accepted for one release)"})

    @ma.post_load
    def _one_version(self, body: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        alias = body.pop("expected_version", None)
        if alias is not None and body.setdefault("instance_version", alias) != alias:
            raise ma.ValidationError("send instance_version only", "expected_version")
        return body


class DelegateRequestSchema(ma.Schema):
    assignee = _str(required=True, validate=validate.Length(min=1, max=80), metadata={"example": "clerk2"})
    note = _str(load_default="", validate=validate.Length(max=500), metadata={"example": "本人休假，转同组处理"})


# -- instances ---------------------------------------------------------------------------------------


class InstanceSummarySchema(ma.Schema):
    id = fields.Integer(required=True)
    key = _str(required=True)
    definition_version = fields.Integer(required=True)
    business_key = _nullable_str()
    business_type = _nullable_str()
    customer_name = _nullable_str()
    customer_mobile = _nullable_str()
    channel = _nullable_str()
    status = _str(required=True)
    milestone = _nullable_str()
    started_at = _when()
    ended_at = _nullable_when()


def _instance_version(obj: Any) -> int:
    """The deprecated `version` field repeats `instance_version` (marshmallow lets no two fields share it)."""
    return obj["instance_version"] if isinstance(obj, dict) else obj.instance_version


class InstanceSchema(ma.Schema):
    id = fields.Integer(required=True)
    definition_id = fields.Integer(required=True)
    key = _str(required=True)
    definition_version = fields.Integer(required=True)
    business_key = _nullable_str()
    status = _str(required=True, metadata={"example": "running"})
    instance_version = fields.Integer(required=True, metadata={
        "description": "the case's version: send it back as `instance_version` when completing a task"})
    version = fields.Function(_instance_version, required=True, metadata={
        "type": "integer", "deprecated": True,
        "description": "deprecated alias of instance_version (kept for one release)"})
    milestone = _nullable_str()
    error = fields.Dict(allow_none=True)
    started_at = _when()
    started_by = _str(required=True)
    ended_at = _nullable_when()
    data = fields.Dict(required=True)
    open_items = fields.List(fields.Nested(WorkItemSchema), required=True)


class InstanceArgsSchema(PageArgsSchema):
    q = fields.String(validate=validate.Length(max=100),
                      metadata={"description": "application number, customer name or mobile (part of it)"})
    status = fields.String(validate=validate.OneOf(["running", "waiting", "completed", "cancelled", "error"]))
    key = fields.String(validate=validate.Length(max=200))
    business_type = fields.String(validate=validate.Length(max=20))


class StartInstanceSchema(ma.Schema):
    key = _str(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "new_connection"})
    data = Data(load_default=dict)
    business_key = _str(validate=validate.Length(min=1, max=64))


START_EXAMPLE = {"key": "new_connection", "data": {"channel": "counter"}}


class OutcomeSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    status = _str(required=True)
    instance_version = fields.Integer(required=True, metadata={
        "description": "the case's version: send it back as `instance_version` when completing a task"})
    version = fields.Function(_instance_version, required=True, metadata={
        "type": "integer", "deprecated": True,
        "description": "deprecated alias of instance_version (kept for one release)"})
    new_items = fields.List(fields.Nested(WorkItemSchema), required=True)
    error = fields.Dict(allow_none=True)


class CancelRequestSchema(ma.Schema):
    reason = _str(required=True, validate=validate.Length(min=1, max=500), metadata={"example": "客户电话要求撤销申请"})


class MessageRequestSchema(ma.Schema):
    name = _str(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "withdraw"})
    payload = Data(load_default=dict, metadata={"example": {"reason": "项目取消"}})


class EventSchema(ma.Schema):
    seq = fields.Integer(required=True)
    type = _str(required=True, metadata={"example": "task_completed"})
    at = _when()
    actor = _nullable_str()
    task_id = _nullable_str()
    task_spec = _nullable_str()
    payload = fields.Dict(required=True)
    hash = _str(required=True)


class HistorySchema(page_schema(EventSchema, "EventPage")):  # type: ignore[misc]
    chain_ok = fields.Boolean(required=True, metadata={"description": "the hash chain verifies"})
    chain_problem = _nullable_str()


class ClockSchema(ma.Schema):
    id = fields.Integer(required=True)
    sla_key = _str(required=True)
    scope = _str(required=True, metadata={"example": "step"})
    title = _str(required=True)
    status = _str(required=True, metadata={"example": "running"})
    limit_workdays = fields.Integer(required=True)
    started_at = _when()
    deadline_at = _when()
    provisional = fields.Boolean(required=True)
    assessed = fields.Boolean(required=True)
    ended_at = _nullable_when()
    work_item_id = _nullable_str()
    paused_workdays = fields.Integer(required=True)


class ClocksSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    paused = fields.Boolean(required=True)
    clocks = fields.List(fields.Nested(ClockSchema), required=True)


class PauseRequestSchema(ma.Schema):
    reason = _str(required=True, validate=validate.OneOf(sorted(sla.PAUSE_REASONS)),
                  metadata={"example": sorted(sla.PAUSE_REASONS)[0]})
    note = _str(load_default="", validate=validate.Length(max=500), metadata={"example": "客户补交产权证明中"})


class PauseResultSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    clocks = fields.Integer(required=True, metadata={"description": "how many clocks were paused or resumed"})


# -- notices -----------------------------------------------------------------------------------------


class NoticeSchema(ma.Schema):
    id = fields.Integer(required=True)
    instance_id = fields.Integer(allow_none=True)
    work_item_id = _nullable_str()
    kind = _str(required=True, metadata={"example": "超期"})
    recipient_user = _nullable_str()
    recipient_group = _nullable_str()
    title = _str(required=True)
    body = _str(required=True)
    requires_ack = fields.Boolean(required=True)
    created_at = _when()
    acknowledged_at = _nullable_when()
    acknowledged_by = _nullable_str()


class NoticeArgsSchema(PageArgsSchema):
    open = fields.Boolean(load_default=True, metadata={"description": "only notices not yet acknowledged"})


# -- calendar ----------------------------------------------------------------------------------------


class YearSchema(ma.Schema):
    year = fields.Integer(required=True)
    days = fields.Integer(required=True)
    workdays = fields.Integer(required=True)
    holidays = fields.Integer(required=True)
    adjusted_workdays = fields.Integer(required=True)
    source = _str(required=True)
    imported_at = _nullable_when()
    imported_by = _str(required=True)
    complete = fields.Boolean(required=True)


class ImportReportSchema(ma.Schema):
    year = fields.Integer(required=True)
    source = _str(required=True)
    days = fields.Integer(required=True)
    workdays = fields.Integer(required=True)
    holidays = fields.Integer(required=True)
    adjusted_workdays = fields.Integer(required=True)
    changed = fields.Boolean(required=True)
    changed_days = fields.Integer(required=True)
    previous_source = _nullable_str()
    hook_errors = fields.List(fields.String(), required=True)


# -- applications and documents -------------------------------------------------------------------------


class ApplicationRequestSchema(ma.Schema):
    channel = _str(required=True, validate=validate.OneOf([*applications.CHANNELS, *applications.CHANNEL_ALIASES]),
                   metadata={"example": "app", "description": "app, web95598 (or 95598), wechat, counter"})
    data = Data(required=True, metadata={
        "description": "the application: see GET /api/v1/applications/schema for its JSON Schema"})


APPLICATION_REQUEST_EXAMPLE = {"channel": "app", "data": APPLICATION_EXAMPLE}


class IdempotencyHeaderSchema(ma.Schema):
    idempotency_key = fields.String(data_key="Idempotency-Key", validate=validate.Length(min=1, max=120),
                                    metadata={"description": "retrying with the same key and body returns the "
                                                             "same application; a different body is 409",
                                              "example": "app-7f3a9c21-0001"})


class ApplicationCreatedSchema(ma.Schema):
    application_no = _str(required=True, metadata={"example": "YK20260302-0001"})
    instance_id = fields.Integer(required=True)
    channel = _str(required=True)
    submitted_at = _when()
    created = fields.Boolean(required=True, metadata={"description": "false for a repeated idempotent submission"})


class ApplicationStatusSchema(ma.Schema):
    application_no = _str(required=True, metadata={"example": "YK20260302-0001"})
    instance_id = fields.Integer(allow_none=True)
    channel = _str(required=True)
    client = _str(required=True)
    submitted_at = _when()
    status = _str(required=True, metadata={"example": "processing",
                                           "description": "processing, completed or cancelled"})
    milestone = _str(required=True, metadata={"example": "申请受理"})
    expected_completion = _nullable_when()
    expected_completion_provisional = fields.Boolean(required=True)
    completed_at = _nullable_when()


class ApplicationArgsSchema(PageArgsSchema):
    pass


class WithdrawRequestSchema(ma.Schema):
    reason = _str(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "项目取消，暂不用电"})


class UploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "PDF, JPEG or PNG (checked by content), at most 10 MB"})


class UploadArgsSchema(ma.Schema):
    instance_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**62), metadata={
        "description": "Staff only: the case the document is for. A staff form of a case may name only "
                       "documents of that case (422 otherwise)."})


class DocumentSchema(ma.Schema):
    ref = _str(required=True, metadata={"example": "att-5f1c0d7e9a3b4c2d1e0f9a8b"})
    sha256 = _str(required=True)
    size = fields.Integer(required=True)
    content_type = _str(required=True, metadata={"example": "application/pdf"})
    filename = _str(required=True, metadata={"example": "身份证正反面.pdf"})
    uploaded_by = _str(required=True)
    uploaded_at = _when()
    instance_id = fields.Integer(allow_none=True, metadata={"description": "the case it belongs to, if any"})

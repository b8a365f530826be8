"""marshmallow schemas of the time-limit rule sets (api.rest.rules): a version's content, bodies, answers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from api.rest.schemas import Flag, _str, _when
from engine.deadlines import rule_sets

_KEY = validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$", error="lower-case letters, digits and _ (at most 40)")
_BUSINESS = validate.Regexp(r"^(\*|[a-z][a-z0-9_]{0,19})$", error="a business type code, or * for all types")
_NAME = validate.Regexp(r"^[a-z][a-z0-9_]{1,59}$", error="lower-case letters, digits and _ (2–60)")
_REASON = _str(required=True, validate=validate.Length(min=1, max=500),
               metadata={"example": "2027年考核办法：供电方案答复缩短为12个工作日"})


class Number(fields.Float):
    """A JSON number only (no "5", no true): a limit typed as text is a mistake to report."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class TimeLimitSchema(ma.Schema):
    business_type = _str(required=True, validate=_BUSINESS, metadata={"example": "hv_single"})
    sla_key = _str(required=True, validate=_KEY, metadata={"example": "scheme_reply"})
    workdays = fields.Integer(strict=True, allow_none=True, load_default=None,
                              validate=validate.Range(min=1, max=rule_sets.MAX_WORKDAYS),
                              metadata={"description": "working days (or give `hours`)", "example": 15})
    hours = fields.Integer(strict=True, allow_none=True, load_default=None,
                           validate=validate.Range(min=1, max=rule_sets.MAX_HOURS),
                           metadata={"description": "working hours (09:00–17:00 of working days) instead of days"})
    assessed = Flag(load_default=True)
    title = _str(load_default="", validate=validate.Length(max=200), metadata={"example": "供电方案答复"})


class LevelSchema(ma.Schema):
    key = _str(required=True, validate=_KEY, metadata={"example": "supervise"})
    label = _str(required=True, validate=validate.Length(min=1, max=20), metadata={"example": "督办"})
    recipient = _str(required=True, validate=validate.Length(min=1, max=40),
                     metadata={"description": "`holder` (the task's assignee, else its group) or a group code",
                               "example": "supervisor"})
    delay_hours = Number(required=True, validate=validate.Range(min=0, max=rule_sets.MAX_DELAY),
                         metadata={"description": "working hours after the deadline", "example": 2})
    requires_ack = Flag(load_default=False)


class RuleContentSchema(ma.Schema):
    title = _str(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "某省公司时限"})
    source = _str(load_default="", validate=validate.Length(max=2000))
    warnings = fields.List(Number(validate=validate.Range(min=0, max=100, min_inclusive=False, max_inclusive=False)),
                           required=True, validate=validate.Length(max=5),
                           metadata={"description": "pre-warnings, % of the working time", "example": [50, 80]})
    reminder_after_hours = Number(load_default=0, validate=validate.Range(min=0, max=rule_sets.MAX_DELAY))
    first_response_hours = Number(load_default=rule_sets.DEFAULT_FIRST_RESPONSE_HOURS,
                                  validate=validate.Range(min=0, max=240, min_inclusive=False),
                                  metadata={"description": "working hours staff have to answer a customer's "
                                                           "message on the case thread"})
    escalation = fields.List(fields.Nested(LevelSchema), required=True, validate=validate.Length(min=1, max=8))
    rules = fields.List(fields.Nested(TimeLimitSchema), required=True, validate=validate.Length(min=1, max=500))


class RuleEditSchema(RuleContentSchema):
    reason = _REASON


class CopySchema(ma.Schema):
    name = _str(required=True, validate=_NAME, metadata={"example": "province_x"})
    title = _str(load_default=None, validate=validate.Length(min=1, max=200))
    version = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))
    reason = _REASON


class ActivateSchema(ma.Schema):
    version = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))
    reason = _REASON


class RuleVersionSchema(ma.Schema):
    name = _str(required=True)
    title = _str(required=True)
    version = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    created_at = _when()
    created_by = _str(required=True)
    reason = _str(required=True)
    content = fields.Nested(RuleContentSchema, required=True)


class VersionEntrySchema(ma.Schema):
    version = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    created_at = _when()
    created_by = _str(required=True)
    reason = _str(required=True)


class RuleSetSummarySchema(ma.Schema):
    name = _str(required=True)
    title = _str(required=True)
    active = fields.Boolean(required=True)
    active_version = fields.Integer(allow_none=True)
    latest_version = fields.Integer(required=True)
    changed_at = _when()
    changed_by = _str(required=True)


class RuleSetDetailSchema(RuleSetSummarySchema):
    versions = fields.List(fields.Nested(VersionEntrySchema), required=True)
    current = fields.Nested(RuleVersionSchema, required=True)

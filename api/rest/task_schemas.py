"""Schemas of what people add to their work list over the API: saved filters and follow-up days
(`engine.core.worklist_prefs`); kept apart from `schemas.py`."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from engine.core import worklist, worklist_prefs

_VALUE = validate.Length(max=worklist_prefs.VALUE_MAX)


class FilterParamsSchema(ma.Schema):
    """The list parameters a saved filter keeps (as the task-list page's query string)."""

    class Meta:
        unknown = ma.RAISE

    scope = fields.String(validate=validate.OneOf(["mine", "group", "all"]),
                          metadata={"description": "which list: my tasks, my groups' tasks, all (centre)"})
    type = fields.String(validate=_VALUE, metadata={"description": "business type code", "example": "lv_res"})
    overdue = fields.String(validate=validate.OneOf(["", "1"]))
    q = fields.String(validate=_VALUE, metadata={"description": "application number, customer or mobile"})
    follow_up = fields.String(validate=validate.OneOf(["", "due"]),
                              metadata={"description": "`due`: follow-up day today or earlier"})
    sort = fields.String(validate=validate.OneOf(worklist.SORTS))


class SavedFilterRequestSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=worklist_prefs.NAME_MAX),
                         metadata={"description": "the same name again replaces that filter"})
    params = fields.Nested(FilterParamsSchema, load_default=dict)


class SavedFilterSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    created_at = fields.DateTime(required=True)


class SavedFilterListSchema(ma.Schema):
    items = fields.List(fields.Nested(SavedFilterSchema), required=True)


class TaskFollowUpRequestSchema(ma.Schema):
    follow_up_on = fields.Date(required=True, allow_none=True,
                               metadata={"description": "the day to come back to the task; null clears it"})


class TaskFollowUpSchema(ma.Schema):
    task_id = fields.String(required=True)
    follow_up_on = fields.Date(required=True, allow_none=True)


FILTER_EXAMPLE = {"name": "本周跟进的居民业务", "params": {"scope": "mine", "type": "lv_res", "follow_up": "due",
                                                           "sort": "follow_up"}}
FOLLOW_UP_EXAMPLE = {"follow_up_on": "2026-03-05"}

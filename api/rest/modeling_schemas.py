"""Schemas of the analyst's API (check, versions, diff, migration); kept apart from `schemas.py`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from api.rest.schemas import EXAMPLE_BPMN, DeploymentRequestSchema, Flag

_FORM_NAME = validate.Regexp(r"^[^/\\]{1,200}\.json$")
_FILE_NAME = validate.Regexp(r"^[^/\\]{1,200}\.(bpmn|dmn|xml)$")


class FormsField(fields.Dict):
    """form file name → the form (a JSON object, or its text while it is being edited)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(keys=fields.String(validate=_FORM_NAME), values=fields.Raw(), **kw)


class BundleDeploymentSchema(DeploymentRequestSchema):
    """The deploy body, plus forms that travel with the bundle (made or edited in the modeler)."""

    forms = FormsField(load_default=dict, validate=validate.Length(max=200),
                       metadata={"description": "form file name → JSON-Schema form; laid over the server's forms"})


CHECK_EXAMPLE = {"files": {"meter_check.bpmn": EXAMPLE_BPMN}, "forms": {}}


class CheckRequestSchema(ma.Schema):
    files = fields.Dict(keys=fields.String(validate=_FILE_NAME), values=fields.String(), load_default=dict,
                        validate=validate.Length(max=50), metadata={"description": "file name → BPMN/DMN XML text"})
    forms = FormsField(load_default=dict, validate=validate.Length(max=200))


class ProblemSchema(ma.Schema):
    file = fields.String(required=True)
    element = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    message = fields.String(required=True)


class CheckedProcessSchema(ma.Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the version a deploy would give it"})
    changed = fields.Boolean(required=True)


class CheckResultSchema(ma.Schema):
    ok = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(ProblemSchema), required=True)
    notes = fields.List(fields.Nested(ProblemSchema), required=True,
                        metadata={"description": "what an import changed (e.g. Camunda attributes dropped)"})
    processes = fields.List(fields.Nested(CheckedProcessSchema), required=True)
    files = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "the files as they would be deployed (after import normalisation)"})


class VersionSchema(ma.Schema):
    id = fields.Integer(required=True)
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)
    deployed_by = fields.String(required=True)
    note = fields.String(required=True)
    running = fields.Integer(required=True, metadata={"description": "cases on this version not yet ended"})


class VersionListSchema(ma.Schema):
    key = fields.String(required=True)
    items = fields.List(fields.Nested(VersionSchema), required=True)


class DiffArgsSchema(ma.Schema):
    from_version = fields.Integer(required=True, data_key="from", validate=validate.Range(min=1, max=2**31 - 1))
    to_version = fields.Integer(required=True, data_key="to", validate=validate.Range(min=1, max=2**31 - 1))


class ElementChangeSchema(ma.Schema):
    process = fields.String(required=True)
    element = fields.String(required=True)
    name = fields.String(required=True)
    change = fields.String(required=True, metadata={"enum": ["added", "removed", "changed"]})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", required=True)
    kind = fields.String(required=True, metadata={"enum": ["element", "flow", "form"],
                                                  "description": "a flow node, a sequence flow, or a form file"})


class DiffSchema(ma.Schema):
    key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    changes = fields.List(fields.Nested(ElementChangeSchema), required=True)
    running = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class InstanceFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(["running", "waiting", "error"]))
    at_step = fields.String(validate=validate.Length(min=1, max=200),
                            metadata={"description": "BPMN id of an open step"})
    q = fields.String(validate=validate.Length(min=1, max=100))


MIGRATION_EXAMPLE = {"key": "design_review", "from_version": 1, "to_version": 2, "instance_ids": [42],
                     "note": "增加现场核对步骤"}


class MigrationRequestSchema(ma.Schema):
    """Which cases: `instance_ids`, or `filter`, or `all` of `from_version`; to `to_version` (default latest)."""

    key = fields.String(required=True, validate=validate.Length(min=1, max=200))
    from_version = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=2**31 - 1))
    to_version = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1), allow_none=True)
    instance_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1)),
                               validate=validate.Length(min=1, max=1000))
    filter = fields.Nested(InstanceFilterSchema)
    all = Flag(load_default=False)
    note = fields.String(load_default="", validate=validate.Length(max=500))

    @ma.validates_schema
    def _one_selection(self, data: dict[str, Any], **_kw: Any) -> None:
        chosen = [k for k in ("instance_ids", "filter") if data.get(k) is not None] + (["all"] if data.get("all") else [])
        if len(chosen) != 1:
            raise ma.ValidationError("choose the cases with exactly one of instance_ids, filter or all",
                                     "instance_ids")


class MigrationCheckItemSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    can_migrate = fields.Boolean(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    reasons = fields.List(fields.String(), required=True)


class MigrationCheckSchema(ma.Schema):
    items = fields.List(fields.Nested(MigrationCheckItemSchema), required=True)
    movable = fields.Integer(required=True)
    blocked = fields.Integer(required=True)


class MigrationResultItemSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    migrated = fields.Boolean(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    reasons = fields.List(fields.String(), required=True)


class MigrationResultSchema(ma.Schema):
    items = fields.List(fields.Nested(MigrationResultItemSchema), required=True)
    migrated = fields.Integer(required=True)


class RevertResultSchema(ma.Schema):
    instance_id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True)

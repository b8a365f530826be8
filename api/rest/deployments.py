"""Process definitions (read) and deployments (BPMN/DMN upload, analysts only)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, page_of, paginate_list, path_param, settings, window
from api.rest.errors import validation_details
from api.rest.modeling_schemas import BundleDeploymentSchema
from api.rest.schemas import (
    DEPLOYMENT_EXAMPLE,
    DefinitionArgsSchema,
    DefinitionDetailSchema,
    DefinitionSchema,
    DeploymentSchema,
    PageArgsSchema,
    page_schema,
)
from engine.core import definitions
from engine.core.errors import InvalidData, YekuoError
from engine.modeling import authoring as modeling

definitions_blp = Blueprint("process-definitions", __name__, url_prefix="/api/v1/process-definitions",
                            description="Deployed process versions (immutable; running cases keep theirs).")
deployments_blp = Blueprint("deployments", __name__, url_prefix="/api/v1/deployments",
                            description="Upload BPMN/DMN files; each changed process becomes its next version.")
blueprints = [definitions_blp, deployments_blp]


class UnsupportedMediaType(YekuoError):
    code, status = "unsupported_media_type", 415


@definitions_blp.route("", methods=["GET"])
@allow(definitions_blp, "staff.read")
@definitions_blp.arguments(DefinitionArgsSchema, location="query")
@definitions_blp.response(200, page_schema(DefinitionSchema, "DefinitionPage"))
def list_definitions(args: dict[str, Any]) -> Any:
    found = definitions.list_definitions(db(), latest_only=args["latest"])
    if args.get("key"):
        found = [d for d in found if d.key == args["key"]]
    return paginate_list(found, args)


@definitions_blp.route("/<int(min=1, max=2147483647):definition_id>", methods=["GET"], parameters=[path_param("definition_id", 1)])
@allow(definitions_blp, "staff.read")
@definitions_blp.response(200, DefinitionDetailSchema)
def get_definition(definition_id: int) -> Any:
    d = definitions.load(db(), definition_id)
    summary = next(s for s in definitions.list_definitions(db()) if s.id == definition_id)
    tasks = [{"id": t.bpmn_id, "name": t.name, "process": t.process, "lane": t.lane, "group": t.group,
              "form": t.form_schema} for t in d.tasks.values() if t.form_schema]
    return {**summary.__dict__, "forms": sorted(d.forms), "lanes": dict(d.meta.get("lanes", {})),
            "user_tasks": sorted(tasks, key=lambda t: (t["process"], t["id"]))}


@deployments_blp.route("", methods=["GET"])
@allow(deployments_blp, "staff.read")
@deployments_blp.arguments(PageArgsSchema, location="query")
@deployments_blp.response(200, page_schema(DefinitionSchema, "DeploymentPage"))
def list_deployments(args: dict[str, Any]) -> Any:
    found = sorted(definitions.list_definitions(db()), key=lambda d: (d.deployed_at, d.id), reverse=True)
    limit, offset = window(args)
    return page_of(found[offset:offset + limit], len(found), args)


_MULTIPART_SCHEMA = {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": ".bpmn/.dmn files, or one .zip as exported (BPMN/DMN and forms)"},
                   "note": {"type": "string", "maxLength": 500}},
}


@deployments_blp.route("", methods=["POST"])
@allow(deployments_blp, "models.edit")
@deployments_blp.doc(
    summary="Deploy BPMN/DMN files",
    description="JSON `{files: {name: xml}, forms: {name: schema}, note}` or multipart (`files` repeated — or one "
                "exported `.zip` — and `note`). Forms come from the server's forms directory, with the bundle's own "
                "`forms` laid over it. Camunda Modeler / spiff-arena files are normalised as on import. A change "
                "`note` is required whenever a new version would be created (422 `invalid_data` on `note`). 201 "
                "with one result per executable process (`created` is false for a process whose content was "
                "already deployed); 422 lists every problem with file, element and line.",
    requestBody={"required": True, "content": {
        "application/json": {"schema": BundleDeploymentSchema, "example": DEPLOYMENT_EXAMPLE},
        "multipart/form-data": {"schema": _MULTIPART_SCHEMA}}})
@deployments_blp.response(201, DeploymentSchema)
def deploy() -> Any:
    conf = settings()
    request.max_content_length = conf.max_bpmn_bytes * 4
    forms: dict[str, Any] = {}
    if request.mimetype == "multipart/form-data":
        uploads = request.files.getlist("files")
        if not uploads:
            raise InvalidData("no files were sent", details={"files": ["请选择 BPMN/DMN 文件"]})
        files = {}
        for up in uploads:
            name = (up.filename or "").rsplit("/", 1)[-1]
            if name.endswith(".zip"):
                unzipped, zipped_forms = modeling.read_zip(up.stream.read(conf.max_bpmn_bytes * 4 + 1))
                files.update(unzipped)
                forms.update(zipped_forms)
                continue
            if not name.endswith((".bpmn", ".dmn")):
                raise InvalidData("only .bpmn, .dmn and .zip files can be deployed", details={"files": [name or "?"]})
            files[name] = up.stream.read(conf.max_bpmn_bytes + 1)
        note = request.form.get("note", "")[:500]
    elif request.is_json:
        try:
            body = BundleDeploymentSchema().load(request.get_json(silent=True) or {})
        except ma.ValidationError as exc:
            raise InvalidData("the request is not valid", details=validation_details({"json": exc.messages})) from None
        files = {name: text.encode("utf-8") for name, text in body["files"].items()}
        forms = body["forms"]
        note = body["note"]
    else:
        raise UnsupportedMediaType("send application/json or multipart/form-data")
    results = modeling.deploy(db(), files, forms_dir=conf.forms_dir, forms=forms, actor=actor().name, note=note,
                              max_bytes=conf.max_bpmn_bytes)
    return {"results": results}

"""The analyst's API: check a bundle without deploying, version diff, migration of running cases, export.

Writes (check, migrations, revert) are for analysts; versions, diffs and exports are also readable
by supervisors, auditors and administrators. Each handler calls one engine function.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, path_param, settings
from api.rest.modeling_schemas import (
    CHECK_EXAMPLE,
    MIGRATION_EXAMPLE,
    CheckRequestSchema,
    CheckResultSchema,
    DiffArgsSchema,
    DiffSchema,
    MigrationCheckSchema,
    MigrationRequestSchema,
    MigrationResultSchema,
    RevertResultSchema,
    VersionListSchema,
)
from engine.core import queries
from engine.core.errors import InvalidData
from engine.modeling import authoring as modeling
from engine.modeling import migration

check_blp = Blueprint("deployment-checks", __name__, url_prefix="/api/v1/deployments",
                      description="Validate a bundle exactly as a deployment would, without deploying.")
versions_blp = Blueprint("process-versions", __name__, url_prefix="/api/v1/process-definitions",
                         description="Versions of a process, diffs between them, export.")
migrations_blp = Blueprint("migrations", __name__, url_prefix="/api/v1",
                           description="Move running cases to another version: dry run, migrate, revert.")

#: registered by `api.rest.register`
blueprints: list[Any] = [check_blp, versions_blp, migrations_blp]

_KEY = path_param("key", "design_review", "the process id (BPMN process key)")
_ID = path_param("definition_id", 1)


@check_blp.route("/check", methods=["POST"])
@allow(check_blp, "models.edit")
@check_blp.arguments(CheckRequestSchema, example=CHECK_EXAMPLE)
@check_blp.response(200, CheckResultSchema)
@check_blp.doc(summary="Check a bundle (never deploys)",
               description="Runs the deploy-time validation of `yekuo deploy` on the files, with `forms` laid "
                           "over the server's forms directory. Camunda/spiff-arena files are normalised first "
                           "(`notes` says what changed). `problems` carry file, element id and line.")
def check(body: dict[str, Any]) -> Any:
    if not body["files"] and not body["forms"]:
        raise InvalidData("send files and/or forms", details={"files": ["nothing to check"]})
    conf = settings()
    result = modeling.check(db(), body["files"], forms_dir=conf.forms_dir, forms=body["forms"],
                            max_bytes=conf.max_bpmn_bytes)
    return {"ok": result.ok, "problems": result.problems, "notes": result.notes, "processes": result.processes,
            "files": {k: v.decode("utf-8", "replace") for k, v in result.files.items()}}


@versions_blp.route("/<string:key>/versions", methods=["GET"], parameters=[_KEY])
@allow(versions_blp, "models.read")
@versions_blp.response(200, VersionListSchema)
def list_versions(key: str) -> Any:
    return {"key": key, "items": migration.versions(db(), key)}


@versions_blp.route("/<string:key>/diff", methods=["GET"], parameters=[_KEY])
@allow(versions_blp, "models.read")
@versions_blp.arguments(DiffArgsSchema, location="query")
@versions_blp.response(200, DiffSchema)
def diff(args: dict[str, Any], key: str) -> Any:
    found = migration.diff_versions(db(), key, args["from_version"], args["to_version"])
    return {"key": found.key, "from_version": found.from_version, "to_version": found.to_version,
            "changes": found.changes, "running": {str(k): v for k, v in found.running.items()}}


@versions_blp.route("/<int(min=1, max=2147483647):definition_id>/export", methods=["GET"], parameters=[_ID])
@allow(versions_blp, "models.read")
@versions_blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip",
                       description="the version's BPMN/DMN files, forms and a manifest")
def export_zip(definition_id: int) -> Any:
    name, data = modeling.export_zip(db(), definition_id)
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@versions_blp.route("/<int(min=1, max=2147483647):definition_id>/bpmn", methods=["GET"], parameters=[_ID])
@allow(versions_blp, "models.read")
@versions_blp.response(200, {"type": "string"}, content_type="application/xml",
                       description="the version's main BPMN file as deployed")
def export_bpmn(definition_id: int) -> Any:
    name, text = modeling.export_bpmn(db(), definition_id)
    return Response(text, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _selected(body: dict[str, Any]) -> list[int]:
    flt = body.get("filter") or {}
    ids = migration.select_instances(db(), body["key"], body["from_version"], ids=body.get("instance_ids"),
                                     status=flt.get("status"), at_step=flt.get("at_step"), query=flt.get("q"))
    missing = sorted(set(body.get("instance_ids") or []) - set(ids))
    if missing:
        raise InvalidData(f"not running on {body['key']} version {body['from_version']}: "
                          + ", ".join(map(str, missing)), details={"instance_ids": [str(i) for i in missing]})
    return ids


@migrations_blp.route("/migrations/check", methods=["POST"])
@allow(migrations_blp, "models.edit")
@migrations_blp.arguments(MigrationRequestSchema, example=MIGRATION_EXAMPLE)
@migrations_blp.response(200, MigrationCheckSchema)
@migrations_blp.doc(summary="Dry run: which cases can move, and why not")
def migration_check(body: dict[str, Any]) -> Any:
    items = migration.check(db(), _selected(body), body.get("to_version"), key=body["key"])
    movable = sum(1 for i in items if i.can_migrate)
    return {"items": items, "movable": movable, "blocked": len(items) - movable}


@migrations_blp.route("/migrations", methods=["POST"])
@allow(migrations_blp, "models.edit")
@migrations_blp.arguments(MigrationRequestSchema, example=MIGRATION_EXAMPLE)
@migrations_blp.response(200, MigrationResultSchema)
@migrations_blp.doc(summary="Migrate the chosen cases (each one an audited command)")
def migrate(body: dict[str, Any]) -> Any:
    items = migration.migrate_many(db(), _selected(body), body.get("to_version"), actor=actor().name,
                                   note=body["note"], key=body["key"])
    return {"items": items, "migrated": sum(1 for i in items if i.migrated)}


@migrations_blp.route("/process-instances/<int(min=1, max=2147483647):instance_id>/revert-migration",
                      methods=["POST"], parameters=[path_param("instance_id", 1)])
@allow(migrations_blp, "models.edit")
@migrations_blp.response(200, RevertResultSchema)
@migrations_blp.doc(summary="Undo the case's last migration while nothing has happened since")
def revert(instance_id: int) -> Any:
    migration.revert(db(), instance_id, actor=actor().name)
    inst = queries.get_instance(db(), instance_id)
    return {"instance_id": instance_id, "version": inst.definition_version, "status": inst.status}


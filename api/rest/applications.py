"""O2O intake: channel applications with idempotency keys, their customer-facing status, and uploads."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request
from flask_smorest import Blueprint

from api import uploads
from api.rest.common import (
    actor,
    allow,
    db,
    may,
    page_of,
    path_param,
    window,
)
from api.rest.schemas import (
    APPLICATION_REQUEST_EXAMPLE,
    ApplicationArgsSchema,
    ApplicationCreatedSchema,
    ApplicationRequestSchema,
    ApplicationStatusSchema,
    DocumentSchema,
    IdempotencyHeaderSchema,
    OutcomeSchema,
    UploadArgsSchema,
    UploadSchema,
    WithdrawRequestSchema,
    page_schema,
)
from engine.core import queries
from engine.core.errors import Forbidden, InvalidData, NotFound
from engine.intake import applications, documents

blp = Blueprint("applications", __name__, url_prefix="/api/v1/applications",
                description="Applications from the channels (app, 95598 website, WeChat, counter).")
documents_blp = Blueprint("documents", __name__, url_prefix="/api/v1/documents",
                          description="Uploaded documents (PDF, JPEG, PNG), referenced from applications and forms.")
blueprints = [blp, documents_blp]
NO = [path_param("application_no", "YK20260302-0001")]
REF = [path_param("ref", "att-5f1c0d7e9a3b4c2d1e0f9a8b")]


class SchemaDocSchema(ma.Schema):
    definition_id = ma.fields.Integer(required=True)
    schema = ma.fields.Dict(required=True, metadata={"description": "JSON Schema (draft 2020-12) of `data`"})


def _own_application(application_no: str) -> None:
    """Staff see every application; a channel client only its own (others are 404 to it)."""
    if may("applications.read_all"):
        return
    if applications.owner(db(), application_no) != actor().name:
        raise NotFound(f"application {application_no} does not exist")


@blp.route("/schema", methods=["GET"])
@allow(blp, "applications.read")
@blp.doc(summary="The application schema",
         description="The accept form of the deployed `new_connection` without the fields staff decide "
                     f"({', '.join(applications.STAFF_ONLY)}). Custom formats: cn-id-card, cn-uscc, cn-mobile, "
                     "date-not-past.")
@blp.response(200, SchemaDocSchema)
def application_schema() -> Any:
    schema, definition_id = applications.application_schema(db())
    return {"definition_id": definition_id, "schema": schema}


@blp.route("", methods=["POST"])
@allow(blp, "applications.submit")
@blp.doc(summary="Submit an application",
         description="201 with the application number. With an `Idempotency-Key` header a retried submission "
                     "(same key, same body) returns the same application with 200; the same key with a different "
                     "body is 409. 422 with per-field messages when `data` does not fit the application schema or "
                     "refers to documents this client did not upload.")
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(ApplicationRequestSchema, example=APPLICATION_REQUEST_EXAMPLE)
@blp.response(201, ApplicationCreatedSchema)
@blp.alt_response(200, schema=ApplicationCreatedSchema, description="a repeated submission (same Idempotency-Key)")
def submit(headers: dict[str, Any], body: dict[str, Any]) -> Any:
    result = applications.submit(db(), body["data"], channel=body["channel"], client=actor().name,
                                 idempotency_key=headers.get("idempotency_key"))
    return result, 201 if result.created else 200


@blp.route("", methods=["GET"])
@allow(blp, "applications.read")
@blp.doc(summary="List applications", description="A channel client sees its own; staff see all.")
@blp.arguments(ApplicationArgsSchema, location="query")
@blp.response(200, page_schema(ApplicationStatusSchema, "ApplicationPage"))
def list_applications(args: dict[str, Any]) -> Any:
    limit, offset = window(args)
    client = None if may("applications.read_all") else actor().name
    found, total = applications.list_applications(db(), client=client, limit=limit, offset=offset)
    return page_of(found, total, args)


@blp.route("/<string:application_no>", methods=["GET"], parameters=NO)
@allow(blp, "applications.read")
@blp.doc(summary="Status for the customer",
         description="Current milestone and the expected completion date (the whole-process deadline, known once "
                     "the application is accepted and its business type determined).")
@blp.response(200, ApplicationStatusSchema)
def get_application(application_no: str) -> Any:
    _own_application(application_no)
    return applications.status(db(), application_no)


@blp.route("/<string:application_no>/withdraw", methods=["POST"], parameters=NO)
@allow(blp, "applications.withdraw")
@blp.doc(summary="Withdraw", description="Allowed until the supply is energized; 409 afterwards.")
@blp.arguments(WithdrawRequestSchema, example={"reason": "项目取消，暂不用电"})
@blp.response(200, OutcomeSchema)
def withdraw(body: dict[str, Any], application_no: str) -> Any:
    _own_application(application_no)
    return applications.withdraw(db(), application_no, reason=body["reason"], actor=actor())


# -- documents -----------------------------------------------------------------------------------------


@documents_blp.before_request
def _limit_upload() -> None:
    if request.method == "POST" and request.endpoint == "documents.upload":
        uploads.limit_request()


def _own_document(ref: str) -> documents.DocumentInfo:
    info = documents.get(db(), ref)
    if not may("applications.read_all") and info.uploaded_by != actor().name:
        raise NotFound(f"document {ref} does not exist")
    return info


@documents_blp.route("", methods=["POST"])
@allow(documents_blp, "documents.upload")
@documents_blp.doc(summary="Upload a document",
                   description="multipart/form-data with one `file`. Accepted by content (PDF, JPEG, PNG; 415 "
                               "otherwise), at most `YEKUO_MAX_UPLOAD_BYTES` (default 10 MB; 413). Use the returned "
                               "`ref` with the file name in the application's `documents` fields. Staff upload "
                               "a case's documents with `?instance_id=` (403 for channel clients).")
@documents_blp.arguments(UploadArgsSchema, location="query")
@documents_blp.arguments(UploadSchema, location="files")
@documents_blp.response(201, DocumentSchema)
def upload(args: dict[str, Any], files: dict[str, Any]) -> Any:
    if request.form:  # the body is one `file`: other fields are refused like unknown JSON fields
        raise InvalidData("only `file` may be sent", details={k: ["Unknown field."] for k in sorted(request.form)})
    instance_id = args.get("instance_id")
    if instance_id is not None:
        if not may("staff.read"):
            raise Forbidden("only staff upload documents for a case")
        queries.get_instance(db(), instance_id)  # 404 for an unknown case
    return uploads.store_upload(db(), files.get("file"), uploaded_by=actor().name, instance_id=instance_id)


@documents_blp.route("/<string:ref>", methods=["GET"], parameters=REF)
@allow(documents_blp, "documents.read")
@documents_blp.response(200, DocumentSchema)
def get_document(ref: str) -> Any:
    return _own_document(ref)


@documents_blp.route("/<string:ref>/content", methods=["GET"], parameters=REF)
@allow(documents_blp, "documents.read")
@documents_blp.doc(summary="Download the file")
@documents_blp.response(200, content_type="application/pdf", description="the file (PDF, JPEG or PNG)")
@documents_blp.alt_response(200, content_type="image/jpeg", success=True)
@documents_blp.alt_response(200, content_type="image/png", success=True)
def get_document_content(ref: str) -> Any:
    info = _own_document(ref)
    body = uploads.read(info)
    return Response(body, mimetype=info.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(info.filename)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")

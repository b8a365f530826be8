"""POST /api/v1/meter-verifications: a customer's request for on-site meter verification (现场申校)
through a channel; it opens a verification field job at the dispatch centre (`engine.connectors.verification`)."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.rest.common import actor, allow, db
from api.rest.schemas import IdempotencyHeaderSchema
from engine.connectors import verification

blp = Blueprint("meter_verifications", __name__, url_prefix="/api/v1/meter-verifications",
                description="On-site meter verification (现场申校) requested by customers through the channels.")
EXAMPLE = {"customer_name": "张伟", "mobile": "13800138000", "address": "北京市东城区安德路12号",
           "meter_no": "3300123456", "area": "urban", "account_no": "3001234567",
           "reason": "客户认为电表走快，申请现场校验"}


class VerificationRequestSchema(ma.Schema):
    customer_name = ma.fields.String(required=True)
    mobile = ma.fields.String(required=True)
    address = ma.fields.String(required=True)
    meter_no = ma.fields.String(required=True, metadata={"description": "the meter's number (表号)"})
    area = ma.fields.String(metadata={"description": "urban or rural (which teams go)"})
    account_no = ma.fields.String()
    reason = ma.fields.String(metadata={"description": "why the customer doubts the meter"})


class VerificationOpenedSchema(ma.Schema):
    verification_no = ma.fields.String(required=True)
    instance_id = ma.fields.Integer(required=True, metadata={"description": "the verification field job"})
    created = ma.fields.Boolean(required=True)


@blp.route("", methods=["POST"])
@allow(blp, "applications.submit")
@blp.doc(summary="Request on-site meter verification (现场申校)",
         description="201 with the verification number and the field job the dispatch centre books; with an "
                     "`Idempotency-Key` a retried request answers the same job with 200.")
@blp.arguments(IdempotencyHeaderSchema, location="headers")
@blp.arguments(VerificationRequestSchema, example=EXAMPLE)
@blp.response(201, VerificationOpenedSchema)
@blp.alt_response(200, schema=VerificationOpenedSchema, description="a repeated request (same Idempotency-Key)")
def request_verification(headers: dict[str, Any], body: dict[str, Any]) -> Any:
    key = headers.get("idempotency_key") or f"auto-{uuid.uuid4().hex}"
    opened = verification.request_verification(db(), body, source=f"client:{actor().name}", key=key)
    return opened, 201 if opened["created"] else 200

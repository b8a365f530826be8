"""POST /api/v1/inbound/{system}: signed calls from the other systems (95598, the marketing system).

No bearer token: the caller proves itself with the HMAC signature, which is checked before the
body is read (`engine.connectors.inbound`). The schemas here document the payloads; the engine
validates them after the signature.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import jsonify, request
from flask_smorest import Blueprint

from api.rest.common import db
from api.rest.schemas import APPLICATION_REQUEST_EXAMPLE
from engine.connectors import inbound, signing

blp = Blueprint("inbound", __name__, url_prefix="/api/v1/inbound",
                description="Signed calls from other systems: HMAC-SHA256 over `<X-Yekuo-Timestamp>.<body>` with "
                            "the connector's secret (hex in `X-Yekuo-Signature`); refused with 401 outside five "
                            "minutes or with a bad signature. Each `X-Yekuo-Message-Id` is applied once: a repeat "
                            "answers the first result with `X-Yekuo-Duplicate: 1`.")
DUPLICATE = "X-Yekuo-Duplicate"
HEADERS = [{"in": "header", "name": signing.TIMESTAMP, "required": True, "schema": {"type": "string"},
            "example": "1767225600", "description": "Unix seconds when the call was signed"},
           {"in": "header", "name": signing.SIGNATURE, "required": True, "schema": {"type": "string"},
            "example": "5d41402abc4b2a76b9719d911017c592ae0c6b51ab1e4e9f3f0f8d5c3e0b9a1f", "description": "hex HMAC-SHA256 of `<timestamp>.<body>`"},
           {"in": "header", "name": signing.MESSAGE_ID, "required": True, "schema": {"type": "string"},
            "example": "95598-20270105-000123", "description": "the sender's id of this message (≤ 120)"}]


class Inbound95598Schema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["application", "urging", "complaint"]))
    ticket_no = ma.fields.String(metadata={"description": "95598 work-order number; an application's is its key"})
    application = ma.fields.Dict(metadata={"description": "`application`: the form of GET /applications/schema"})
    application_no = ma.fields.String(metadata={"description": "urging/complaint: our number (or give ticket_no)"})
    text = ma.fields.String(metadata={"description": "urging/complaint: what the customer said"})
    caller = ma.fields.String()


class InboundMarketingSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["account_number"]))
    application_no = ma.fields.String(required=True)
    account_no = ma.fields.String(required=True, metadata={"description": "the account (户号) opened for the case"})
    issued_at = ma.fields.String(required=True, metadata={"description": "ISO time at the marketing system; "
                                                                          "the newest number wins"})


class InboundReplySchema(ma.Schema):
    message_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    result = ma.fields.Dict(required=True)


_95598_EXAMPLES = {
    "application": {"value": {"type": "application", "ticket_no": "95598-20270105-000123",
                              "application": {k: v for k, v in APPLICATION_REQUEST_EXAMPLE["data"].items()
                                              if k != "documents"}}},
    "urging": {"value": {"type": "urging", "ticket_no": "95598-20270105-000123", "caller": "张伟",
                         "text": "客户来电催办：约定的勘查时间已过，至今无人联系。"}},
    "complaint": {"value": {"type": "complaint", "application_no": "YK20270105-0001",
                            "text": "客户投诉：装表人员未按预约时间到达。"}},
}
_MARKETING_EXAMPLES = {"account_number": {"value": {"type": "account_number", "application_no": "YK20270105-0001",
                                                    "account_no": "3001234567",
                                                    "issued_at": "2027-01-08T10:15:00+08:00"}}}


def _doc(schema: type[ma.Schema], examples: dict[str, Any], summary: str) -> Any:
    return blp.doc(security=[], summary=summary, parameters=HEADERS,
                   requestBody={"required": True, "content": {"application/json": {"schema": schema,
                                                                                   "examples": examples}}})


def _answer(system: str) -> Any:
    reply = inbound.receive(db(), system, request.headers, request.get_data(cache=False))
    response = jsonify(reply.body)
    response.status_code = reply.status
    if reply.duplicate:
        response.headers[DUPLICATE] = "1"
    return response


def _responses(fn: Any) -> Any:
    fn = blp.response(200, InboundReplySchema, description="applied (or a repeat: the first result)")(fn)
    for status, why in ((401, "bad signature or outside the five-minute window (logged)"),
                        (404, "the case is not known (yet): send again later"),
                        (409, "the same message id is being applied now, or the case changed: send again"),
                        (422, "the payload is invalid (remembered: a repeat gets the same answer)"),
                        (503, "the connector is switched off, or the message could not be applied now")):
        fn = blp.alt_response(status, schema="Error", description=why)(fn)
    return fn


@blp.route("/95598", methods=["POST"])
@_doc(Inbound95598Schema, _95598_EXAMPLES, "A call from 95598: an application, an urging (催办) or a complaint")
@_responses
def from_95598() -> Any:
    return _answer("95598")


@blp.route("/marketing", methods=["POST"])
@_doc(InboundMarketingSchema, _MARKETING_EXAMPLES, "A call from the marketing system: an account number (户号)")
@_responses
def from_marketing() -> Any:
    return _answer("marketing")

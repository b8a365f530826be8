"""POST /api/v1/inbound/{system}: signed calls from the other systems (95598, the marketing system,
the call centre, the SMS platform, the meter verification platform).

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
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["application", "urging", "complaint",
                                                                        "meter_verification"]))
    ticket_no = ma.fields.String(metadata={"description": "95598 work-order number; an application's is its key"})
    application = ma.fields.Dict(metadata={"description": "`application`: the form of GET /applications/schema"})
    application_no = ma.fields.String(metadata={"description": "urging/complaint: our number (or give ticket_no)"})
    text = ma.fields.String(metadata={"description": "urging/complaint: what the customer said"})
    caller = ma.fields.String()
    request = ma.fields.Dict(metadata={"description": "`meter_verification` (现场申校): customer_name, mobile, "
                                                      "address, meter_no, area, account_no, reason"})


class InboundMarketingSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["account_number"]))
    application_no = ma.fields.String(required=True)
    account_no = ma.fields.String(required=True, metadata={"description": "the account (户号) opened for the case"})
    issued_at = ma.fields.String(required=True, metadata={"description": "ISO time at the marketing system; "
                                                                          "the newest number wins"})


class InboundCallCenterSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["call_result", "field_report"]))
    task_no = ma.fields.String(metadata={"description": "call_result: the `task_no` of our `call_task`"})
    result = ma.fields.String(validate=ma.validate.OneOf(["answered", "unreached"]),
                              metadata={"description": "call_result: unreached keeps the call-back open and is "
                                                       "called again (3 calls, 2 hours apart)"})
    satisfaction = ma.fields.Integer(validate=ma.validate.Range(1, 5), metadata={"description": "answered: 1–5"})
    problems = ma.fields.String(metadata={"description": "answered: what the customer raised (opens a follow-up)"})
    duration_s = ma.fields.Integer(metadata={"description": "call_result: seconds on the phone"})
    recording_ref = ma.fields.String(metadata={"description": "call_result: the recording at the call centre"})
    called_at = ma.fields.String(metadata={"description": "call_result: ISO time with offset"})
    job_no = ma.fields.String(metadata={"description": "field_report: the field job (作业单号)"})
    report = ma.fields.String(validate=ma.validate.OneOf(["arrival", "completion"]),
                              metadata={"description": "field_report: 第一个电话 (arrival) or 第二个电话 (completion)"})
    at = ma.fields.String(metadata={"description": "field_report: when, ISO time with offset"})
    work_summary = ma.fields.String(metadata={"description": "completion: what was done"})
    customer_signed = ma.fields.Boolean(metadata={"description": "completion: the customer signed the work order"})


class InboundSmsSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["delivery_receipt"]))
    message_id = ma.fields.String(required=True, metadata={"description": "the SMS's id (its X-Yekuo-Message-Id)"})
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["delivered", "failed", "unknown"]))
    error = ma.fields.String(metadata={"description": "failed: the operator's reason"})
    reported_at = ma.fields.String(metadata={"description": "ISO time with offset at the SMS platform"})


class InboundVerificationSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(["verification_result"]))
    verification_no = ma.fields.String(required=True, metadata={"description": "our number (JD…) of the request"})
    passed = ma.fields.Boolean(required=True, metadata={"description": "the meter is within its accuracy class"})
    error_pct = ma.fields.Float(required=True, metadata={"description": "measured error, percent"})
    certificate_ref = ma.fields.String(required=True, metadata={"description": "the verification certificate"})
    verified_at = ma.fields.String(metadata={"description": "ISO time with offset"})


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
    "meter_verification": {"value": {"type": "meter_verification", "ticket_no": "95598-20270105-000456",
                                     "request": {"customer_name": "张伟", "mobile": "13800138000",
                                                 "address": "北京市东城区安德路12号", "meter_no": "3300123456",
                                                 "area": "urban", "reason": "客户认为电表走快，申请现场校验"}}},
}
_MARKETING_EXAMPLES = {"account_number": {"value": {"type": "account_number", "application_no": "YK20270105-0001",
                                                    "account_no": "3001234567",
                                                    "issued_at": "2027-01-08T10:15:00+08:00"}}}


_CALLCENTER_EXAMPLES = {
    "call_result": {"value": {"type": "call_result", "task_no": "CA-5b0e7c1e-6d3f-4a8e-9a41-2f0c3b7d9e11-1",
                              "result": "answered", "satisfaction": 5, "problems": "", "duration_s": 96,
                              "recording_ref": "rec/20270108/0001.mp3", "called_at": "2027-01-08T10:05:00+08:00"}},
    "unreached": {"value": {"type": "call_result", "task_no": "CA-5b0e7c1e-6d3f-4a8e-9a41-2f0c3b7d9e11-1",
                            "result": "unreached", "duration_s": 0, "called_at": "2027-01-08T10:05:00+08:00"}},
    "field_report": {"value": {"type": "field_report", "job_no": "ZY20270108-0003", "report": "arrival",
                               "at": "2027-01-08T09:40:00+08:00"}},
}
_SMS_EXAMPLES = {"delivery_receipt": {"value": {"type": "delivery_receipt", "message_id": "sms:42:appointment",
                                                "status": "delivered", "reported_at": "2027-01-08T09:00:05+08:00"}},
                 "failed": {"value": {"type": "delivery_receipt", "message_id": "sms:42:appointment",
                                      "status": "failed", "error": "用户关机",
                                      "reported_at": "2027-01-08T09:00:05+08:00"}}}


_VERIFICATION_EXAMPLES = {"verification_result": {"value": {
    "type": "verification_result", "verification_no": "JD20270108-00001", "passed": True, "error_pct": 0.3,
    "certificate_ref": "JDZS-2027-000123", "verified_at": "2027-01-09T10:30:00+08:00"}}}


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


@blp.route("/callcenter", methods=["POST"])
@_doc(InboundCallCenterSchema, _CALLCENTER_EXAMPLES,
      "A call from the call centre (话务平台): a call's result, or a field worker's phone report")
@_responses
def from_callcenter() -> Any:
    return _answer("callcenter")


@blp.route("/sms", methods=["POST"])
@_doc(InboundSmsSchema, _SMS_EXAMPLES, "A call from the SMS platform (短信平台): a delivery receipt")
@_responses
def from_sms() -> Any:
    return _answer("sms")


@blp.route("/verification", methods=["POST"])
@_doc(InboundVerificationSchema, _VERIFICATION_EXAMPLES,
      "A call from the meter verification platform (鉴定平台): the result of an on-site verification")
@_responses
def from_verification() -> Any:
    return _answer("verification")

"""Process instances: search, start, read, history, cancel, retry, messages, SLA clocks and pauses."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError

from api.rest.audit_schemas import HistoryArgsSchema
from api.rest.common import (
    actor,
    allow,
    db,
    page_of,
    path_param,
    window,
)
from api.rest.schemas import (
    START_EXAMPLE,
    CancelRequestSchema,
    ClocksSchema,
    HistorySchema,
    InstanceArgsSchema,
    InstanceSchema,
    InstanceSummarySchema,
    MessageRequestSchema,
    OutcomeSchema,
    PauseRequestSchema,
    PauseResultSchema,
    StartInstanceSchema,
    page_schema,
)
from engine.audit import chains as audit
from engine.core import history, queries, runtime
from engine.core.errors import Conflict
from engine.deadlines import sla

blp = Blueprint("process-instances", __name__, url_prefix="/api/v1/process-instances",
                description="Cases: one running process instance each.")
ID = [path_param("instance_id", 1)]


@blp.route("", methods=["GET"])
@allow(blp, "staff.read")
@blp.arguments(InstanceArgsSchema, location="query")
@blp.response(200, page_schema(InstanceSummarySchema, "InstancePage"))
def list_instances(args: dict[str, Any]) -> Any:
    limit, offset = window(args)
    found, total = queries.list_instances(db(), query=args.get("q"), status=args.get("status"), key=args.get("key"),
                                          business_type=args.get("business_type"), limit=limit, offset=offset)
    return page_of(found, total, args)


@blp.route("", methods=["POST"])
@allow(blp, "cases.start")
@blp.doc(summary="Start a case", description="Starts the latest version of `key` with `data` as start data. "
                                             "Channel applications use POST /api/v1/applications instead.")
@blp.arguments(StartInstanceSchema, example=START_EXAMPLE)
@blp.response(201, OutcomeSchema)
def start(body: dict[str, Any]) -> Any:
    try:
        return runtime.start_instance(db(), body["key"], body["data"], actor=actor(),
                                      business_key=body.get("business_key"))
    except IntegrityError:
        raise Conflict(f"business key {body.get('business_key')} is already in use") from None


@blp.route("/<int(min=1, max=2147483647):instance_id>", methods=["GET"], parameters=ID)
@allow(blp, "staff.read")
@blp.response(200, InstanceSchema)
def get_instance(instance_id: int) -> Any:
    return queries.get_instance(db(), instance_id)


@blp.route("/<int(min=1, max=2147483647):instance_id>/history", methods=["GET"], parameters=ID)
@allow(blp, "staff.read")
@blp.doc(summary="The case's hash-chained history",
         description="Events in order, with the chain's verification (always over all events); `type` (repeatable) "
                     "and `actor` narrow the list.")
@blp.arguments(HistoryArgsSchema, location="query")
@blp.response(200, HistorySchema)
def get_history(args: dict[str, Any], instance_id: int) -> Any:
    [report] = audit.verify(db(), instance_id)
    rows, _ = audit.events(db(), instance_id, types=args.get("type"), actor=args.get("actor"))
    limit, offset = window(args)
    events = [{"seq": r.seq, "type": r.type, "at": r.at, "actor": r.actor, "task_id": r.task_id,
               "task_spec": r.task_spec, "payload": history.payload_of(r), "hash": r.hash}
              for r in rows[offset:offset + limit]]
    return {**page_of(events, len(rows), args), "chain_ok": report.ok,
            "chain_problem": None if report.ok else str(report)}


@blp.route("/<int(min=1, max=2147483647):instance_id>/cancel", methods=["POST"], parameters=ID)
@allow(blp, "cases.cancel")
@blp.arguments(CancelRequestSchema, example={"reason": "客户电话要求撤销申请"})
@blp.response(200, OutcomeSchema)
def cancel(body: dict[str, Any], instance_id: int) -> Any:
    return runtime.cancel(db(), instance_id, actor=actor(), reason=body["reason"])


@blp.route("/<int(min=1, max=2147483647):instance_id>/retry", methods=["POST"], parameters=ID)
@allow(blp, "cases.retry")
@blp.doc(summary="Run the failed step again", description="409 unless the case is in error.")
@blp.response(200, OutcomeSchema)
def retry(instance_id: int) -> Any:
    return runtime.retry(db(), instance_id, actor=actor())


@blp.route("/<int(min=1, max=2147483647):instance_id>/messages", methods=["POST"], parameters=ID)
@allow(blp, "cases.message")
@blp.doc(summary="Deliver a BPMN message", description="e.g. `withdraw` with `{reason}`; 409 if the case does "
                                                        "not wait for that message now.")
@blp.arguments(MessageRequestSchema, example={"name": "withdraw", "payload": {"reason": "项目取消"}})
@blp.response(200, OutcomeSchema)
def message(body: dict[str, Any], instance_id: int) -> Any:
    return runtime.send_message(db(), instance_id, body["name"], body["payload"], actor=actor())


def _clocks(instance_id: int) -> dict[str, Any]:
    queries.get_instance(db(), instance_id, with_data=False)  # 404 for an unknown case
    clocks = sla.clocks_of(db(), instance_id)
    return {"instance_id": instance_id, "paused": any(c.status == "paused" for c in clocks), "clocks": clocks}


@blp.route("/<int(min=1, max=2147483647):instance_id>/sla", methods=["GET"], parameters=ID)
@allow(blp, "staff.read")
@blp.doc(summary="SLA clocks", description="Per assessed step and for the whole process (scope `process`).")
@blp.response(200, ClocksSchema)
def clocks(instance_id: int) -> Any:
    return _clocks(instance_id)


@blp.route("/<int(min=1, max=2147483647):instance_id>/sla/pause", methods=["POST"], parameters=ID)
@allow(blp, "cases.pause")
@blp.doc(summary="Pause the clocks (customer-caused waiting)")
@blp.arguments(PauseRequestSchema, example={"reason": sorted(sla.PAUSE_REASONS)[0], "note": "客户补交产权证明中"})
@blp.response(200, PauseResultSchema)
def pause(body: dict[str, Any], instance_id: int) -> Any:
    queries.get_instance(db(), instance_id, with_data=False)
    n = sla.pause(db(), instance_id, reason=body["reason"], actor=actor().name, note=body["note"])
    return {"instance_id": instance_id, "clocks": n}


@blp.route("/<int(min=1, max=2147483647):instance_id>/sla/resume", methods=["POST"], parameters=ID)
@allow(blp, "cases.pause")
@blp.doc(summary="Resume paused clocks", description="Each deadline moves by the working days the pause lasted.")
@blp.response(200, PauseResultSchema)
def resume(instance_id: int) -> Any:
    queries.get_instance(db(), instance_id, with_data=False)
    n = sla.resume(db(), instance_id, actor=actor().name)
    return {"instance_id": instance_id, "clocks": n}


class ReplaySchema(ma.Schema):
    instance_id = ma.fields.Integer(required=True)
    events = ma.fields.Integer(required=True)
    inputs = ma.fields.Integer(required=True)
    ok = ma.fields.Boolean(required=True)
    final = ma.fields.Dict(required=True)
    divergence = ma.fields.Dict(allow_none=True, metadata={"description": "the first difference, when not ok"})


@blp.route("/<int(min=1, max=2147483647):instance_id>/replay", methods=["POST"], parameters=ID)
@allow(blp, "cases.replay")
@blp.doc(summary="Replay from history",
         description="Re-runs the case from its recorded inputs on its definition version and compares trail, data, "
                     "status, open tasks and deadlines with what is stored. Changes nothing.")
@blp.response(200, ReplaySchema)
def replay(instance_id: int) -> Any:
    from engine.audit import replay as engine_replay

    report = engine_replay.replay(db(), instance_id).to_dict()
    report.setdefault("divergence", None)
    return report

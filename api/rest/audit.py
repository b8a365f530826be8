"""The auditor's API: case state as of an event, case-file export, chain verification, KPIs.

Who reads what: auditors and supervisors read every case's record, its chain and its state at any
event; analysts also read KPIs and waiting-time heatmaps (they tune the models), and may time
travel like they may replay (`cases.replay` in `api.policy`). The case file carries customer data and the full
history, so only auditors and supervisors export it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_smorest import Blueprint

from api.rest.audit_schemas import (
    AsOfArgsSchema,
    AsOfSchema,
    CaseFileSchema,
    ChainArgsSchema,
    ChainsSchema,
    HeatmapArgsSchema,
    HeatmapSchema,
    KpiArgsSchema,
    KpiReportSchema,
)
from api.rest.common import allow, db, path_param, settings
from engine.audit import anchor, kpi, timetravel
from engine.audit import chains as audit
from engine.core import definitions
from engine.core.clock import CHINA
from engine.core.codec import CODEC

blp = Blueprint("audit", __name__, url_prefix="/api/v1",
                description="Audit: a case as of any event, case files, chain verification, KPIs.")
ID = [path_param("instance_id", 1)]

#: registered by `api.rest.register`
blueprints: list[Any] = [blp]


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 text (with offset), everything else as plain JSON."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return CODEC.to_jsonable(value) if not isinstance(value, (str, int, float, bool, type(None))) else value


@blp.route("/process-instances/<int(min=1, max=2147483647):instance_id>/as-of/<int(min=1, max=2147483647):seq>",
           methods=["GET"], parameters=[*ID, path_param("seq", 3, "the event's sequence number in the history")])
@allow(blp, "cases.replay")
@blp.doc(summary="The case as of one event",
         description="Rebuilt by replaying the recorded inputs up to event `seq`: the diagram path with run counts, "
                     "the open tasks, the case data before and after the event and what it changed. 404 for an "
                     "unknown case or event.")
@blp.arguments(AsOfArgsSchema, location="query")
@blp.response(200, AsOfSchema)
def as_of(args: dict[str, Any], instance_id: int, seq: int) -> Any:
    return jsonable(timetravel.as_of(db(), instance_id, seq).to_dict(with_xml=args["xml"]))


@blp.route("/process-instances/<int(min=1, max=2147483647):instance_id>/case-file", methods=["GET"], parameters=ID)
@allow(blp, "audit.read")
@blp.doc(summary="The case file",
         description="One application's full record: data, open tasks, deadlines, documents, history (each "
                     "event with prev_hash and hash), a fresh replay verdict, the chain check, how the hashes are "
                     "made (`hashing`) and a digest of the whole document (`integrity`); `yekuo audit verify "
                     "--file` checks a saved copy offline.")
@blp.response(200, CaseFileSchema)
def case_file(instance_id: int) -> Any:
    return audit.export(db(), instance_id)


def anchor_status() -> dict[str, Any]:
    s = settings()
    return anchor.status(db(), (s.anchor_key or "").encode(), s.anchor_dir)


@blp.route("/audit/chains", methods=["GET"])
@allow(blp, "audit.read")
@blp.doc(summary="Verify the hash chains",
         description="Recomputes every case's chain (or one with `instance`) and compares it with the head its row "
                     "records; each failure names the first bad event. With an anchor key configured, the newest "
                     "anchor file is checked too.")
@blp.arguments(ChainArgsSchema, location="query")
@blp.response(200, ChainsSchema)
def chains(args: dict[str, Any]) -> Any:
    reports = audit.verify(db(), args.get("instance"))
    failures = [r for r in reports if not r.ok]
    shown = failures if args["failures_only"] else reports
    return {"checked": len(reports), "ok": not failures, "failures": len(failures),
            "chains": [{"instance_id": r.instance_id, "events": r.events, "ok": r.ok,
                        "first_bad_seq": r.first_bad_seq, "reason": r.reason, "message": str(r)} for r in shown],
            "anchor": jsonable(anchor_status())}


def kpi_window(args: dict[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    start, end = args.get("start"), args.get("end")
    return (dt.datetime.combine(start, dt.time(), CHINA) if start else None,
            dt.datetime.combine(end, dt.time(), CHINA) if end else None)


def kpi_report(args: dict[str, Any]) -> dict[str, Any]:
    """Totals over the window and, when it is bounded, the same figures per month."""
    start, end = kpi_window(args)
    scope = {"business_type": args.get("business_type"), "group": args.get("team"), "team": args.get("field_team")}
    totals = kpi.compute(db(), start=start, end=end, **scope)
    months = []
    if args.get("start") and args.get("end"):
        months = [{"label": label, **k.to_dict()} for label, k in kpi.series(db(), args["start"], args["end"], **scope)]
    filters = {k: jsonable(args.get(k)) for k in ("start", "end", "business_type", "team", "field_team")}
    return {"filters": filters, "totals": totals.to_dict(), "months": months}


@blp.route("/kpis", methods=["GET"])
@allow(blp, "kpi.read")
@blp.doc(summary="Service KPIs",
         description="平均接电时长 per business type, 时限达标率, overdue now, 预约准时率, 回访满意率, 办电环节数 and "
                     "average waiting per task, from the history events replay verifies; per period [start, end), "
                     "business type and team.")
@blp.arguments(KpiArgsSchema, location="query")
@blp.response(200, KpiReportSchema)
def kpis(args: dict[str, Any]) -> Any:
    return kpi_report(args)


@blp.route("/kpis/heatmap", methods=["GET"])
@allow(blp, "kpi.read")
@blp.doc(summary="Where waiting time accumulates",
         description="Per user task of one definition version: how often it was worked and the total, average and "
                     "longest hours it waited between opening and completion; with the diagram XML to colour.")
@blp.arguments(HeatmapArgsSchema, location="query")
@blp.response(200, HeatmapSchema)
def heatmap(args: dict[str, Any]) -> Any:
    return heatmap_of(args)


def heatmap_of(args: dict[str, Any]) -> dict[str, Any]:
    from engine.audit import diagrams

    definition_id = definitions.latest_id(db(), args["key"], args.get("version"))
    definition = definitions.load(db(), definition_id)
    start, end = kpi_window(args)
    every = args.get("version") is None
    heat = kpi.heatmap(db(), definition_id, start=start, end=end, all_versions=every, team=args.get("field_team"))
    return {"definition_id": definition_id, "key": definition.key, "version": definition.version,
            "all_versions": every,
            "xml": diagrams.definition_xml(db(), definition_id), "processes": heat_processes(definition_id, heat),
            "elements": [h.to_dict() for h in heat]}


def heat_processes(definition_id: int, heat: list[kpi.Heat]) -> list[dict[str, str]]:
    """The diagrams worth colouring: the main process and every called process that has waiting."""
    from engine.audit import diagrams

    used = {h.process for h in heat}
    found = diagrams.process_sources(db(), definition_id)
    have = {p for p, _n, _x in found}
    latest = definitions.latest_ids(db()) if used - have else {}
    for process in sorted(used - have):  # a called process is its own definition: its newest diagram
        if process in latest:
            found += [src for src in diagrams.process_sources(db(), latest[process]) if src[0] == process]
    return [{"process": p, "name": name, "xml": xml} for i, (p, name, xml) in enumerate(found) if i == 0 or p in used]

"""The auditor's pages: case history with time travel, replay, chain verification, case-file export
(the KPI dashboard is `kpi_pages`).

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
Who sees what: the history/time-travel page and replay are for auditors, supervisors and analysts
(those who may replay); chain verification and the case file for auditors and supervisors; the KPI
dashboard also for analysts. The engine does the work (`timetravel`, `replay`, `audit`, `kpi`); the
views only shape it for people.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from api import policy
from api.rest.audit import jsonable
from api.web import casedata, labels
from api.web.views import bp, display_name, event_summary, form_order, page, page_db, page_user, task_names
from engine.audit import anchor, replay, timetravel
from engine.audit import chains as audit
from engine.core import clock, definitions, history, queries
from engine.deadlines import sla


def _short_of(key: str, value: Any, schema: dict[str, Any] | None = None) -> str:
    """A value as the history shows it: formatted as on the case page, cut at 200 characters."""
    text = casedata.value_text(key, value, schema)
    return text if len(text) <= 200 else text[:199] + "…"


def _event_rows(definition: definitions.Definition, rows: list[Any]) -> list[dict[str, Any]]:
    names = task_names(definition)
    clock_titles = {c.id: c.title or c.sla_key for c in sla.clocks_of(page_db(), rows[0].instance_id)} if rows else {}
    out = []
    for ev in rows:
        payload = history.payload_of(ev)
        out.append({"seq": ev.seq, "at": ev.at, "type": ev.type, "type_label": labels.label(labels.EVENT_TYPES, ev.type),
                    "actor": display_name(ev.actor) if ev.actor else "", "actor_code": ev.actor or "",
                    "task": names.get(ev.task_spec or "", ev.task_spec or ""),
                    "summary": event_summary(ev, {k: v for k, v in payload.items() if k != "trail"}, names,
                                              clock_titles)})
    return out


# -- history and time travel ----------------------------------------------------------------------

@bp.get("/cases/<int:instance_id>/history")
@page("cases.replay")
def audit_history(instance_id: int) -> Any:
    db = page_db()
    inst = queries.get_instance(db, instance_id, with_data=True)
    definition = queries.case_definition(db, instance_id)
    types = [t for t in request.args.getlist("type") if t]
    actor = request.args.get("actor") or None
    rows, total = audit.events(db, instance_id, types=types or None, actor=actor)
    all_actors, all_types = audit.actors_and_types(db, instance_id)
    events = _event_rows(definition, rows)
    seq = request.args.get("seq", type=int)
    if seq is None or not any(e["seq"] == seq for e in events):
        seq = events[-1]["seq"] if events else None
    [chain] = audit.verify(db, instance_id)
    return render_template(
        "audit_history.html", inst=inst, definition=definition, events=events, total=total, seq=seq,
        types=types, actor=actor or "", chain=chain,
        type_choices=[(t, labels.label(labels.EVENT_TYPES, t)) for t in all_types],
        actor_choices=[(a, display_name(a)) for a in all_actors],
        application_no=inst.business_key or inst.data.get("application_no") or "",
        may_file=policy.may(page_user().groups, "audit.read"))


@bp.get("/cases/<int:instance_id>/as-of/<int:seq>.json")
@page("cases.replay")
def audit_as_of(instance_id: int, seq: int) -> Any:
    """The case as of event `seq` for the history page: diagram marks as data, the panels as HTML.
    `have` lists processes whose XML the page already holds (sent once, not on every step)."""
    db = page_db()
    found = timetravel.as_of(db, instance_id, seq)
    definition = queries.case_definition(db, instance_id)
    have = set(filter(None, request.args.get("have", "").split(",")))
    upto = _rows_upto(instance_id, seq)
    order = form_order(definition, upto)
    known = casedata.form_labels(definition.forms, order)
    changes, unlabelled = [], {}
    for key, ch in found.changes.items():
        title = casedata.field_title(key, known)
        if title is None:  # process-internal: only in the collapsed raw view, never a raw key as a label
            unlabelled[key] = ch
            continue
        f = known.fields.get(key)
        schema = f.schema if f else None
        changes.append({"key": key, "title": title, "change": ch["change"],
                        "before": _short_of(key, ch["before"], schema) if ch["change"] != "added" else "",
                        "after": _short_of(key, ch["after"], schema) if ch["change"] != "removed" else ""})
    [event] = _event_rows(definition, [r for r in upto if r.seq == seq])
    payload = found.event["payload"]
    entered = payload.get("data") if found.event["type"] in ("task_completed", "instance_started") else None
    names = {d.process: d.name for d in found.diagrams}
    scope = found.scope or {}
    call_name = task_names(definition).get(scope.get("call_activity") or "", "")
    panel = render_template(
        "audit_asof_panel.html", found=found, event=event, changes=changes,
        scope_name=names.get(scope.get("process") or "", ""), call_name=call_name,
        in_called=bool(scope.get("call_activity")),
        entered=[(title, _short_of(k, v, known.fields[k].schema if k in known.fields else None))
                 for k, v in (entered or {}).items() if (title := casedata.field_title(k, known))],
        unlabelled=casedata.raw_json(unlabelled) if unlabelled else "", unlabelled_n=len(unlabelled),
        case=casedata.describe(found.data, definition.forms, order),
        open_tasks=[{"name": t.name, "group": labels.label(labels.ROLES, t.group),
                     "assignee": display_name(t.assignee) if t.assignee else ""} for t in found.open_tasks],
        status=labels.label(labels.INSTANCE_STATUS, found.status))
    procs = []
    for d in found.diagrams:
        entry = d.to_dict()
        if d.process in have:
            entry.pop("xml")
        procs.append(entry)
    return jsonify(seq=found.seq, last_seq=found.last_seq, status=found.status, replay_ok=found.replay_ok,
                   processes=procs, open_tasks=[t.task_spec for t in found.open_tasks],
                   changed=sorted(found.changes), panel=panel, scope=found.scope, focus=_focus(found))


def _focus(found: timetravel.AsOf) -> dict[str, str] | None:
    """Where the diagram goes for this event: the open task (in the event's own process if several are
    open, so a step inside a called process opens that process's tab), else the element the event acted on."""
    scope = found.scope or {}
    drawn = {d.process for d in found.diagrams}
    tasks = [t for t in found.open_tasks if t.process in drawn]
    if tasks:
        mine = [t for t in tasks if t.process == scope.get("process")]
        task = (mine or tasks)[0]
        return {"process": task.process, "element": task.task_spec}
    if scope.get("process") in drawn and scope.get("task_spec"):
        return {"process": scope["process"], "element": scope["task_spec"]}
    return None


def _rows_upto(instance_id: int, seq: int) -> list[Any]:
    rows, _total = audit.events(page_db(), instance_id)
    return [r for r in rows if r.seq <= seq]


@bp.post("/cases/<int:instance_id>/replay")
@page("cases.replay")
def audit_replay(instance_id: int) -> Any:
    """Replay the case now (changes nothing) and say whether it equals the record."""
    report = replay.replay(page_db(), instance_id)
    out = jsonable(report.to_dict())
    if report.ok:
        out["message"] = _("Replay equals the record: %(n)s inputs of %(m)s events reproduced the same path, data, "
                           "status, open tasks and deadlines.", n=report.inputs, m=report.events)
    else:
        d = report.divergence
        where = _("event %(seq)s", seq=d.seq) if d and d.seq is not None else _("the final state")
        out["message"] = _("Replay diverges first at %(where)s: %(what)s — recorded %(expected)s, replay %(got)s.",
                           where=where, what=d.what if d else "", expected=json.dumps(
                               out["divergence"]["expected"], ensure_ascii=False)[:300],
                           got=json.dumps(out["divergence"]["got"], ensure_ascii=False)[:300])
        if d and d.seq is not None:
            out["link"] = url_for("web.audit_history", instance_id=instance_id, seq=d.seq)
    return jsonify(out)


# -- chain verification ---------------------------------------------------------------------------

@bp.get("/audit")
@page("audit.read")
def audit_chains() -> Any:
    from api.rest.common import settings

    db = page_db()
    reports = audit.verify(db)
    failures = [r for r in reports if not r.ok]
    others = audit.verify_others(db)
    s = settings()
    anchor_state = anchor.status(db, (s.anchor_key or "").encode(), s.anchor_dir)
    return render_template("audit_chains.html", reports=reports, failures=failures, others=others,
                           others_broken=sum(not r.ok for r in others.values()),
                           chain_names={"dispatch_mode": _("Dispatch-mode switches (派工方式切换)")},
                           events=sum(r.events for r in reports), anchor=anchor_state, now=clock.now())


# -- case file -------------------------------------------------------------------------------------

@bp.get("/cases/<int:instance_id>/file")
@page("audit.read")
def audit_case_file(instance_id: int) -> Any:
    db = page_db()
    doc = audit.case_file(db, instance_id)
    inst = queries.get_instance(db, instance_id)
    definition = queries.case_definition(db, instance_id)
    rows, _total = audit.events(db, instance_id)
    return render_template("audit_file.html", doc=doc, inst=inst, definition=definition,
                           **casedata.step_view(definition, inst.data, rows, display_name),
                           events=_event_rows(definition, rows), clocks=sla.clocks_of(db, instance_id),
                           application_no=inst.business_key or inst.data.get("application_no") or "",
                           started_by=display_name(inst.started_by))


@bp.get("/cases/<int:instance_id>/file.json")
@page("audit.read")
def audit_case_file_json(instance_id: int) -> Any:
    doc = audit.export(page_db(), instance_id)
    name = f"case-{doc['instance']['business_key'] or instance_id}.json"
    return Response(json.dumps(doc, ensure_ascii=False, indent=1), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

"""The auditor's pages: case history with time travel, replay, chain verification, case-file export, KPIs.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
Who sees what: the history/time-travel page and replay are for auditors, supervisors and analysts
(those who may replay); chain verification and the case file for auditors and supervisors; the KPI
dashboard also for analysts. The engine does the work (`timetravel`, `replay`, `audit`, `kpi`); the
views only shape it for people.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Response, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from api import policy
from api.rest.audit import jsonable
from api.web import CHINA, casedata, labels
from api.web.views import bp, display_name, event_summary, form_order, page, page_db, page_user, task_names
from engine.audit import anchor, kpi, replay, timetravel
from engine.audit import chains as audit
from engine.core import clock, definitions, history, queries
from engine.core.errors import InvalidData
from engine.deadlines import sla

def _short(value: Any, schema: dict[str, Any] | None = None) -> str:
    text = casedata.display(value, schema)
    return text if len(text) <= 200 else text[:199] + "…"


def _derived(key: str) -> Any:
    """How the case page shows a derived code (business type, voltage class), if `key` is one."""
    table = {"business_type": labels.BUSINESS_TYPES, "voltage_class": labels.VOLTAGE_CLASSES}.get(key)
    return (lambda v: labels.label(table, v)) if table is not None else None


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
    changes = []
    for key, ch in found.changes.items():
        f = known.fields.get(key)
        schema = f.schema if f else None
        title = labels.label(labels.DERIVED_FIELDS, key) if key in labels.DERIVED_FIELDS else known.titles.get(key, key)
        show = _derived(key) or (lambda v: _short(v, schema))
        changes.append({"key": key, "title": title, "change": ch["change"],
                        "before": show(ch["before"]) if ch["change"] != "added" else "",
                        "after": show(ch["after"]) if ch["change"] != "removed" else ""})
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
        entered=[(known.titles.get(k, k), _short(v, known.fields[k].schema if k in known.fields else None))
                 for k, v in (entered or {}).items()],
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
    s = settings()
    anchor_state = anchor.status(db, (s.anchor_key or "").encode(), s.anchor_dir)
    return render_template("audit_chains.html", reports=reports, failures=failures,
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
    steps = casedata.by_step(definition, rows)
    raw = casedata.raw_json({"data": inst.data, "steps": [{"seq": s.seq, "task": s.task_spec, "process": s.process,
                                                            "data": s.raw} for s in steps]})
    return render_template("audit_file.html", doc=doc, inst=inst, definition=definition,
                           summary=casedata.derived_rows(inst.data), steps=steps, raw=raw,
                           actors={s.actor: display_name(s.actor) for s in steps if s.actor},
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


# -- KPI dashboard ---------------------------------------------------------------------------------

def _date_arg(name: str, default: dt.date) -> dt.date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidData(f"{name}: not a date (YYYY-MM-DD)") from None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def bar_chart(items: list[tuple[str, float | None]], *, fmt: str = "{:.1f}", unit: str = "", testid: str = "",
              max_value: float | None = None, title: str = "") -> Markup:
    """A vertical bar chart as inline SVG (no script, prints well); None values are gaps."""
    width, height, pad, base = max(320, 48 * len(items) + 60), 230, 28, 165
    top = max_value or max([v for _l, v in items if v is not None] or [0]) or 1
    bar = min(36, (width - 40) / max(len(items), 1) - 12)
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
             f' data-testid="{escape(testid)}" aria-label="{escape(title)}">',
             f'<line x1="20" y1="{base}" x2="{width - 10}" y2="{base}" class="axis"/>']
    for i, (label, value) in enumerate(items):
        x = 50 + i * (bar + 12)
        if value is not None:
            h = max(1.0, (base - pad) * value / top)
            text = fmt.format(value * 100 if unit == "%" else value) + unit
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" class="bar">'
                         f'<title>{escape(label)}: {escape(text)}</title></rect>')
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 4:.1f}" class="val">{escape(text)}</text>')
        else:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - 4}" class="val muted">—</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 14}" class="lbl" text-anchor="end" '
                     f'transform="rotate(-30 {x + bar / 2:.1f} {base + 14})">{escape(label[:8])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@bp.get("/kpis")
@page("kpi.read")
def audit_kpis() -> Any:
    db = page_db()
    today = clock.now().astimezone(CHINA).date()
    first = today.replace(day=1)
    default_start = (first - dt.timedelta(days=150)).replace(day=1)
    default_end = (first + dt.timedelta(days=32)).replace(day=1)
    start, end = _date_arg("start", default_start), _date_arg("end", default_end)
    if start >= end or (end - start).days > 3 * 366:
        raise InvalidData("the period must end after it starts and span at most three years")
    business_type = request.args.get("business_type") or None
    team = request.args.get("team") or None
    if team is not None and team not in labels.ROLES:
        raise InvalidData("unknown team")
    a = dt.datetime.combine(start, dt.time(), CHINA)
    b = dt.datetime.combine(end, dt.time(), CHINA)
    totals = kpi.compute(db, start=a, end=b, business_type=business_type, group=team)
    months = kpi.series(db, start, end, business_type=business_type, group=team)
    keys = sorted({d.key for d in definitions.list_definitions(db, latest_only=True)})
    key = request.args.get("key") or ("new_connection" if "new_connection" in keys else (keys[0] if keys else None))
    heat: list[kpi.Heat] = []
    processes: list[dict[str, str]] = []
    definition_id = None
    if key in keys:
        from api.rest.audit import heat_processes

        definition_id = definitions.latest_id(db, key)
        heat = kpi.heatmap(db, definition_id, start=a, end=b)
        processes = heat_processes(definition_id, heat)
    charts = {
        "connection": bar_chart([(labels.label(labels.BUSINESS_TYPES, k), v)
                                 for k, v in totals.avg_connection_workdays.items()],
                                unit="", testid="chart-connection", title=_("Average connection time")),
        "on_time": bar_chart([(m, k.on_time_rate) for m, k in months], fmt="{:.0f}", unit="%", max_value=1,
                             testid="chart-on-time", title=_("On-time rate")),
        "punctuality": bar_chart([(m, k.appointment_punctuality) for m, k in months], fmt="{:.0f}", unit="%",
                                 max_value=1, testid="chart-punctuality", title=_("Appointment punctuality")),
        "satisfaction": bar_chart([(m, k.satisfaction_rate) for m, k in months], fmt="{:.0f}", unit="%",
                                  max_value=1, testid="chart-satisfaction", title=_("Call-back satisfaction")),
        "cases": bar_chart([(m, float(k.cases)) for m, k in months], fmt="{:.0f}", testid="chart-cases",
                           title=_("Applications")),
        "waiting": bar_chart([(h.name, h.avg_hours) for h in heat[:12]], testid="chart-waiting",
                             title=_("Average waiting (hours)")),
    }
    heat_data = {"processes": processes, "elements": [h.to_dict() for h in heat],
                 "text": {"hours": _("%(h)s h", h="%(h)s"), "times": _("×%(n)s", n="%(n)s"),
                          "loadFailed": _("The diagram could not be drawn.")}}
    return render_template("audit_kpis.html", totals=totals, months=months, charts=charts, pct=_pct,
                           start=start.isoformat(), end=end.isoformat(), business_type=business_type or "",
                           team=team or "", keys=keys, key=key or "", heat=heat, heat_data=heat_data,
                           definition_id=definition_id)

"""The KPI dashboard (`/kpis`): headline cards, monthly charts and the waiting heatmap.

Charts are drawn in the browser by Apache ECharts (served from `node_modules` like bpmn-js) from
the option objects built here (`kpi.js` only hands them to ECharts), so a bar's height is its
value on an axis that starts at zero and nothing is clipped. Every filter shows Chinese names; the
team filter lists the field teams (班所) and narrows every card and chart; the heatmap adds up an
element's waiting over every version of the process unless one version is picked. Bad filter
input is said next to the filters, in Chinese, and the filters stay as typed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from api.web import CHINA, labels
from api.web.views import bp, page, page_db
from engine.audit import kpi
from engine.core import clock, definitions
from engine.dispatch import teams


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _period(problems: list[str]) -> tuple[dt.date, dt.date]:
    """The period asked for; what cannot be read is reported and replaced by the default."""
    today = clock.now().astimezone(CHINA).date()
    first = today.replace(day=1)
    default = ((first - dt.timedelta(days=150)).replace(day=1), (first + dt.timedelta(days=32)).replace(day=1))
    values = []
    for name, fallback, title in (("start", default[0], _("From")), ("end", default[1], _("Until"))):
        raw = (request.args.get(name) or "").strip()
        try:
            values.append(dt.date.fromisoformat(raw) if raw else fallback)
        except ValueError:
            problems.append(_("%(field)s: “%(value)s” is not a date; enter it as YYYY-MM-DD (e.g. 2026-03-01).",
                              field=title, value=raw[:40]))
            values.append(fallback)
    start, end = values
    if start >= end or (end - start).days > 3 * 366:
        problems.append(_("The period must end after it starts and span at most three years; the default "
                          "period is shown."))
        start, end = default
    return start, end


def bar_option(items: list[tuple[str, float | None]], *, percent: bool = False, digits: int = 1) -> dict[str, Any]:
    """An ECharts bar chart: y from zero (percentages to 100), a label on each bar, gaps for no data."""
    values = [None if v is None else round(v * 100 if percent else v, digits) for _l, v in items]
    return {
        "grid": {"left": 8, "right": 16, "top": 28, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": [label for label, _v in items],
                  "axisLabel": {"interval": 0, "rotate": 30 if len(items) > 4 else 0, "width": 90,
                                "overflow": "truncate"}},
        "yAxis": {"type": "value", "min": 0, **({"max": 100} if percent else {})},
        "series": [{"type": "bar", "data": ["-" if v is None else v for v in values], "barMaxWidth": 36,
                    "label": {"show": True, "position": "top"}}],
        "yekuo": {"unit": "%" if percent else ""},
    }


def _filters(db: Any, problems: list[str]) -> dict[str, Any]:
    business_type = request.args.get("business_type") or ""
    if business_type and business_type not in labels.BUSINESS_TYPES:
        problems.append(_("Unknown business type; all types are shown."))
        business_type = ""
    field_teams = [(t.code, t.name) for t in teams.list_teams(db)]
    team = request.args.get("team") or ""
    if team and team not in dict(field_teams):
        problems.append(_("Unknown team; all teams are shown."))
        team = ""
    latest = {d.key: d for d in definitions.list_definitions(db, latest_only=True)}
    key = request.args.get("key") or ""
    if key not in latest:
        if key:
            problems.append(_("Unknown process; the new-connection process is shown."))
        key = "new_connection" if "new_connection" in latest else (sorted(latest)[0] if latest else "")
    versions = sorted({d.version for d in definitions.list_definitions(db) if d.key == key}, reverse=True)
    version = request.args.get("version", type=int)
    if request.args.get("version") and version not in versions:
        problems.append(_("Unknown version; all versions are shown."))
        version = None
    return {"business_type": business_type, "team": team, "teams": field_teams, "key": key, "version": version,
            "versions": versions, "processes": sorted(((k, d.name or k) for k, d in latest.items()),
                                                       key=lambda kv: kv[1])}


@bp.get("/kpis")
@page("kpi.read")
def audit_kpis() -> Any:
    from api.rest.audit import heat_processes

    db = page_db()
    problems: list[str] = []
    start, end = _period(problems)
    f = _filters(db, problems)
    a, b = (dt.datetime.combine(d, dt.time(), CHINA) for d in (start, end))
    scope = {"business_type": f["business_type"] or None, "team": f["team"] or None}
    totals = kpi.compute(db, start=a, end=b, **scope)
    months = kpi.series(db, start, end, **scope)
    heat: list[kpi.Heat] = []
    processes: list[dict[str, str]] = []
    if f["key"]:
        definition_id = definitions.latest_id(db, f["key"], f["version"])
        heat = kpi.heatmap(db, definition_id, start=a, end=b, all_versions=f["version"] is None, team=scope["team"])
        processes = heat_processes(definition_id, heat)
    charts = {
        "connection": bar_option([(labels.label(labels.BUSINESS_TYPES, k), v)
                                  for k, v in totals.avg_connection_workdays.items()]),
        "on_time": bar_option([(m, k.on_time_rate) for m, k in months], percent=True, digits=0),
        "punctuality": bar_option([(m, k.appointment_punctuality) for m, k in months], percent=True, digits=0),
        "satisfaction": bar_option([(m, k.satisfaction_rate) for m, k in months], percent=True, digits=0),
        "cases": bar_option([(m, float(k.cases)) for m, k in months], digits=0),
        "waiting": bar_option([(h.name, h.avg_hours) for h in heat[:12]]),
    }
    heat_data = {"processes": processes, "elements": [h.to_dict() for h in heat],
                 "text": {"hours": _("%(h)s h", h="%(h)s"), "times": _("×%(n)s", n="%(n)s"),
                          "loadFailed": _("The diagram could not be drawn.")}}
    raw = {k: request.args.get(k, "") for k in ("start", "end")}
    return render_template("audit_kpis.html", totals=totals, charts=charts, pct=_pct, problems=problems,
                           start=raw["start"] if problems and raw["start"] else start.isoformat(),
                           end=raw["end"] if problems and raw["end"] else end.isoformat(),
                           period=(start.isoformat(), end.isoformat()), heat=heat, heat_data=heat_data, **f)

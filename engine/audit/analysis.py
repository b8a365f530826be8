"""Load growth for grid planning: applied and energized capacity by area, month, voltage, customer
category and industry; load density per area; growth against the same month a year before.

Read from the history, like the KPIs (`kpi.py`):

- a case is a `new_connection` application; its data is the start data with every completed
  form laid over it in order (the accept form fixes area, voltage, category, industry, capacity);
- **applied** in the month (China time) the case started, whatever became of it;
- **energized** in the month its whole-process clock stopped at energizing (`sla_stopped`, scope
  `process`, met or missed — a withdrawn case's clock is `void` and never counts);
- **load density** of an area: the capacity energized in the period per km² of the area
  (`area_size`; an area without a size has none).

Growth is (this month − same month last year) / same month last year, none when last year had none.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.core import history
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import event_t, instance_t
from engine.dispatch.teams import AREAS, area_sizes

PROCESS_KEY = "new_connection"
CATEGORIES = {"resident": "居民生活", "commercial": "一般工商业", "industrial": "大工业", "agricultural": "农业生产"}
NO_INDUSTRY = "未填写"
ENERGIZED = ("met", "missed")
DIMENSIONS = ("area", "voltage", "category", "industry")
_MEASURES = ("applied_count", "applied_kw", "energized_count", "energized_kw")


@dataclass
class CaseLoad:
    instance_id: int
    area: str
    voltage: str
    category: str
    industry: str
    capacity_kw: float
    applied_at: dt.datetime
    energized_at: dt.datetime | None


@dataclass
class Filters:
    """What the page's filters choose; months are `YYYY-MM` (inclusive)."""

    area: str | None = None
    voltage: str | None = None
    category: str | None = None
    industry: str | None = None
    start_month: str | None = None
    end_month: str | None = None

    def matches(self, c: CaseLoad) -> bool:
        return all(getattr(self, d) in (None, "", getattr(c, d)) for d in DIMENSIONS)


@dataclass
class Analysis:
    months: list[dict[str, Any]] = field(default_factory=list)
    areas: list[dict[str, Any]] = field(default_factory=list)
    by: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # voltage, category, industry
    rows: list[dict[str, Any]] = field(default_factory=list)  # month × area × voltage × category × industry
    choices: dict[str, list[str]] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)


def month_of(at: dt.datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m")


def _check_month(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        dt.datetime.strptime(value, "%Y-%m")
    except ValueError:
        raise InvalidData("a month is YYYY-MM", details={name: ["月份格式为 YYYY-MM"]}) from None
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if value > 0 else 0.0


def case_loads(db: Database) -> list[CaseLoad]:
    """Every application with its merged data, application time and energizing time."""
    watched = ("instance_started", "task_completed", "sla_stopped")
    with db.read() as conn:
        starts = {r.id: r.started_at for r in conn.execute(select(instance_t.c.id, instance_t.c.started_at))}
        rows = conn.execute(select(event_t.c.instance_id, event_t.c.seq, event_t.c.type, event_t.c.at,
                                   event_t.c.payload).where(event_t.c.type.in_(watched))
                            .order_by(event_t.c.instance_id, event_t.c.seq)).all()
    data: dict[int, dict[str, Any]] = {}
    keys: dict[int, str] = {}
    energized: dict[int, dt.datetime] = {}
    for r in rows:
        payload = history.payload_of(r)
        if r.type == "instance_started":
            keys[r.instance_id] = payload.get("key")
            data[r.instance_id] = dict(payload.get("data") or {})
        elif r.type == "task_completed" and isinstance(payload.get("data"), dict):
            data.setdefault(r.instance_id, {}).update(payload["data"])
        elif (r.type == "sla_stopped" and payload.get("scope") == "process" and payload.get("status") in ENERGIZED
              and r.instance_id not in energized):
            energized[r.instance_id] = r.at
    out = []
    for iid, key in keys.items():
        d = data.get(iid, {})
        if key != PROCESS_KEY or iid not in starts:
            continue
        out.append(CaseLoad(iid, str(d.get("area") or "urban"), str(d.get("supply_voltage") or "—"),
                            str(d.get("customer_category") or "—"),
                            str(d.get("industry") or "").strip() or NO_INDUSTRY,
                            _number(d.get("capacity_kw")), starts[iid], energized.get(iid)))
    return out


def _last_year(month: str) -> str:
    return f"{int(month[:4]) - 1:04d}{month[4:]}"


def _growth(now: float, before: float) -> float | None:
    return round((now - before) / before, 4) if before > 0 else None


def _sums(loads: list[CaseLoad]) -> dict[str, dict[str, float]]:
    """Per month: applied and energized counts and kW."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in loads:
        a = sums[month_of(c.applied_at)]
        a["applied_count"] += 1
        a["applied_kw"] += c.capacity_kw
        if c.energized_at is not None:
            e = sums[month_of(c.energized_at)]
            e["energized_count"] += 1
            e["energized_kw"] += c.capacity_kw
    return sums


def _month_range(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last and len(out) < 1200:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def analyse(db: Database, filters: Filters | None = None) -> Analysis:
    """The figures of the analysis page and its CSV for the chosen filters."""
    f = filters or Filters()
    f.start_month, f.end_month = _check_month(f.start_month, "start_month"), _check_month(f.end_month, "end_month")
    everything = case_loads(db)
    result = Analysis(choices={d: sorted({getattr(c, d) for c in everything}) for d in DIMENSIONS})
    loads = [c for c in everything if f.matches(c)]
    sums = _sums(loads)
    seen = sorted(sums)
    if not seen:
        return result
    months = _month_range(f.start_month or seen[0], f.end_month or seen[-1])
    in_period = set(months)
    for m in months:
        cur, before = sums.get(m, {}), sums.get(_last_year(m), {})
        row = {"month": m, **{k: cur.get(k, 0) for k in _MEASURES},
               "applied_kw_last_year": before.get("applied_kw", 0),
               "energized_kw_last_year": before.get("energized_kw", 0)}
        row["applied_growth"] = _growth(row["applied_kw"], row["applied_kw_last_year"])
        row["energized_growth"] = _growth(row["energized_kw"], row["energized_kw_last_year"])
        result.months.append(row)
    result.totals = {k: sum(r[k] for r in result.months) for k in _MEASURES}
    result.rows = _detail(loads, in_period)
    for dim in ("voltage", "category", "industry"):
        result.by[dim] = _by(result.rows, dim)
    result.areas = _areas(db, result.rows)
    return result


def _detail(loads: list[CaseLoad], in_period: set[str]) -> list[dict[str, Any]]:
    cells: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in loads:
        dims = (c.area, c.voltage, c.category, c.industry)
        if month_of(c.applied_at) in in_period:
            cell = cells[(month_of(c.applied_at), *dims)]
            cell["applied_count"] += 1
            cell["applied_kw"] += c.capacity_kw
        if c.energized_at is not None and month_of(c.energized_at) in in_period:
            cell = cells[(month_of(c.energized_at), *dims)]
            cell["energized_count"] += 1
            cell["energized_kw"] += c.capacity_kw
    return [{"month": k[0], "area": k[1], "voltage": k[2], "category": k[3], "industry": k[4],
             **{n: v.get(n, 0) for n in _MEASURES}}
            for k, v in sorted(cells.items())]


def _by(rows: list[dict[str, Any]], dim: str) -> list[dict[str, Any]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        for k in ("applied_kw", "energized_kw"):
            out[r[dim]][k] += r[k]
    return [{"key": k, "applied_kw": v["applied_kw"], "energized_kw": v["energized_kw"]}
            for k, v in sorted(out.items())]


def _areas(db: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sizes = area_sizes(db)
    totals = {r["key"]: r for r in _by(rows, "area")}
    out = []
    for area in sorted(set(AREAS) | set(totals)):
        t = totals.get(area, {"applied_kw": 0.0, "energized_kw": 0.0})
        km2 = sizes.get(area)
        out.append({"area": area, "size_km2": km2, "applied_kw": t["applied_kw"], "energized_kw": t["energized_kw"],
                    "density_kw_per_km2": round(t["energized_kw"] / km2, 4) if km2 else None})
    return out


def label(dim: str, value: str) -> str:
    """The Chinese name of a dimension's value (areas and categories are codes)."""
    if dim == "area":
        return AREAS.get(value, value)
    if dim == "category":
        return CATEGORIES.get(value, value)
    return value


CSV_HEADER = ("月份", "区域", "供电电压", "用电类别", "行业", "申请户数", "申请容量(kW)", "接电户数", "接电容量(kW)")


def to_csv(result: Analysis) -> str:
    """The detail rows as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in result.rows:
        writer.writerow([r["month"], label("area", r["area"]), _cell(r["voltage"]), label("category", r["category"]),
                         _cell(r["industry"]), int(r["applied_count"]), _kw(r["applied_kw"]),
                         int(r["energized_count"]), _kw(r["energized_kw"])])
    return "\ufeff" + buf.getvalue()


def _kw(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _cell(text: str) -> str:
    """A customer-typed value that a spreadsheet would run as a formula is quoted as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

"""Service KPIs for supervisors and auditors, computed from the history events replay verifies.

- 平均接电时长: average working days from application to energizing (the whole-process clock),
  customer pauses excluded, per business type;
- 时限达标率: share of assessed clocks stopped in the period that met their deadline;
- 超期工单: cases with a running clock past its deadline now;
- 预约准时率: field arrivals reported no later than the appointment's due time;
- 回访满意率: reached call-backs rated satisfied or better (4–5 of 5);
- 办电环节数: customer-visible milestones a case passed, on average;
- waiting heatmap: how long human tasks waited between opening and completion, per BPMN element.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from sqlalchemy import select

from engine.deadlines import calendar
from engine.core import clock, definitions, history
from engine.core.db import Database
from engine.core.models import event_t, instance_t, sla_clock_t

CHINA = dt.timezone(dt.timedelta(hours=8))
SATISFACTION = {"very_satisfied": 5, "satisfied": 4, "neutral": 3, "dissatisfied": 2, "very_dissatisfied": 1}


@dataclass
class Kpis:
    period: tuple[str | None, str | None]
    cases: int = 0
    avg_connection_workdays: dict[str, float] = field(default_factory=dict)
    on_time_rate: float | None = None
    assessed: int = 0
    overdue_now: int = 0
    appointment_punctuality: float | None = None
    appointments: int = 0
    satisfaction_rate: float | None = None
    callbacks: int = 0
    avg_milestones: float | None = None
    waiting_hours: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _in(at: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at < end)


@dataclass
class _Record:
    """The cases, their events (payloads parsed once) and running clocks: read once per report,
    however many periods it is cut into."""

    cases: dict[int, Any]
    events: dict[int, list[tuple[Any, dict[str, Any]]]]
    running: list[Any]
    definitions: dict[int, _Lazy]


def _load(db: Database, business_type: str | None) -> _Record:
    with db.read() as conn:
        q = select(instance_t.c.id, instance_t.c.business_type, instance_t.c.definition_id)
        if business_type:
            q = q.where(instance_t.c.business_type == business_type)
        cases = {r.id: r for r in conn.execute(q)}
        rows = conn.execute(select(event_t).where(event_t.c.instance_id.in_(list(cases) or [-1]))
                            .order_by(event_t.c.instance_id, event_t.c.seq)).all()
        running = conn.execute(select(sla_clock_t.c.instance_id, sla_clock_t.c.deadline_at).where(
            sla_clock_t.c.status == "running", sla_clock_t.c.instance_id.in_(list(cases) or [-1]))).all()
    events: dict[int, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    for ev in rows:
        events[ev.instance_id].append((ev, history.payload_of(ev)))
    # loaded only for cases with tasks or trails
    lazy = {d: _Lazy(db, d) for d in {c.definition_id for c in cases.values()}}
    return _Record(cases, events, running, lazy)


def compute(db: Database, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
            business_type: str | None = None, group: str | None = None) -> Kpis:
    """KPIs over events in [start, end); `group` narrows waiting times and on-time rates to one team."""
    return _compute(db, _load(db, business_type), start, end, group)


def _compute(db: Database, record: _Record, start: dt.datetime | None, end: dt.datetime | None,
             group: str | None) -> Kpis:
    out = Kpis((start.isoformat() if start else None, end.isoformat() if end else None))
    now = clock.now()
    out.overdue_now = len({r.instance_id for r in record.running if r.deadline_at < now})
    cases, by_case = record.cases, record.events
    durations: dict[str, list[float]] = defaultdict(list)
    met = missed = 0
    punctual = late = 0
    satisfied = rated = 0
    milestones: list[int] = []
    waits: dict[str, list[float]] = defaultdict(list)
    for iid, evs in by_case.items():
        case = cases[iid]
        if evs and _in(evs[0][0].at, start, end):
            out.cases += 1
        definition = record.definitions[case.definition_id]
        m = _milestones(definition, evs, start, end)
        if m is not None:
            milestones.append(m)
        clocks: dict[int, dict[str, Any]] = {}
        opened: dict[str, list[tuple[dt.datetime, str | None]]] = defaultdict(list)
        due_at: dt.datetime | None = None
        for ev, p in evs:
            if ev.type == "sla_started":
                clocks[p["clock_id"]] = {"scope": p["scope"], "start": ev.at, "paused": 0}
            elif ev.type == "sla_resumed":
                for moved in p.get("clocks", []):
                    if moved["clock_id"] in clocks:
                        clocks[moved["clock_id"]]["paused"] += moved["workdays"]
            elif ev.type == "sla_stopped" and p["clock_id"] in clocks and _in(ev.at, start, end):
                c = clocks[p["clock_id"]]
                if p["status"] in ("met", "missed") and (group is None or _group_of(definition, ev) in (None, group)):
                    met += p["status"] == "met"
                    missed += p["status"] == "missed"
                if c["scope"] == "process" and p["status"] in ("met", "missed"):
                    days = calendar.workdays_between(db, c["start"].astimezone(CHINA).date(),
                                                     ev.at.astimezone(CHINA).date(), fallback=True) - c["paused"]
                    durations[case.business_type or "?"].append(max(days, 0))
            elif ev.type == "service_called" and p.get("operator") == "yekuo/field_appointment":
                due = (p.get("result") or {}).get("due_at")
                due_at = dt.datetime.fromisoformat(due) if due else None
            if ev.type in ("instance_started", "task_completed", "timer_fired", "message_received",
                           "instance_retried"):
                if ev.type == "task_completed" and ev.task_spec and opened.get(ev.task_spec):
                    since, grp = opened[ev.task_spec].pop(0)
                    if _in(ev.at, start, end) and (group is None or grp == group):
                        waits[ev.task_spec].append((ev.at - since).total_seconds() / 3600)
                for spec in p.get("opened", []):
                    opened[spec].append((ev.at, _group_for_spec(definition, spec)))
            if ev.type == "task_completed" and _in(ev.at, start, end):
                data = p.get("data", {})
                if ev.task_spec == "report_arrival" and due_at is not None and data.get("arrived_at"):
                    arrived = dt.datetime.fromisoformat(data["arrived_at"])
                    punctual += arrived <= due_at
                    late += arrived > due_at
                if "satisfaction" in data and data.get("reachable", True):
                    score = data["satisfaction"]
                    score = SATISFACTION.get(score, score) if isinstance(score, str) else score
                    if isinstance(score, (int, float)):
                        rated += 1
                        satisfied += score >= 4
    out.avg_connection_workdays = {k: round(mean(v), 2) for k, v in sorted(durations.items())}
    out.assessed = met + missed
    out.on_time_rate = round(met / (met + missed), 4) if met + missed else None
    out.appointments = punctual + late
    out.appointment_punctuality = round(punctual / (punctual + late), 4) if punctual + late else None
    out.callbacks = rated
    out.satisfaction_rate = round(satisfied / rated, 4) if rated else None
    out.avg_milestones = round(mean(milestones), 2) if milestones else None
    out.waiting_hours = {k: round(mean(v), 2) for k, v in sorted(waits.items())}
    return out


class _Lazy:
    """A definition loaded on first use: a case with only bookings or notices never needs it."""

    def __init__(self, db: Database, definition_id: int) -> None:
        self._db, self._id, self._found = db, definition_id, None

    def __getattr__(self, name: str) -> Any:
        if self._found is None:
            self._found = definitions.load(self._db, self._id)
        return getattr(self._found, name)


def _group_for_spec(definition: Any, spec: str) -> str | None:
    """The candidate group of a BPMN task id (built once per definition version)."""
    groups = definition.derived.get("kpi_groups")
    if groups is None:
        groups = definition.derived["kpi_groups"] = {i.bpmn_id: i.group for i in definition.tasks.values()
                                                         if i.group}
    return groups.get(spec)


def _group_of(definition: Any, ev: Any) -> str | None:
    return _group_for_spec(definition, ev.task_spec) if ev.task_spec else None


def _milestones(definition: Any, evs: list[tuple[Any, dict[str, Any]]], start: dt.datetime | None,
                end: dt.datetime | None) -> int | None:
    """Distinct customer-visible milestones of a case that ended in the period."""
    ended = [e for e, _p in evs if e.type == "instance_completed"]
    if not ended or not _in(ended[-1].at, start, end):
        return None
    seen: set[str] = set()
    for _ev, payload in evs:
        for entry in payload.get("trail", []):
            if entry[1] != "c":
                continue
            process = entry[3] if len(entry) > 3 and entry[3] else definition.spec.name
            info = definition.tasks.get((process, entry[0]))
            if info and info.properties.get("milestone"):
                seen.add(info.properties["milestone"])
    return len(seen)


def months(start: dt.date, end: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """Calendar months (China time) overlapping [start, end), as [first instant, next month's)."""
    out = []
    y, m = start.year, start.month
    while dt.date(y, m, 1) < end:
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        out.append((dt.datetime(y, m, 1, tzinfo=CHINA), dt.datetime(ny, nm, 1, tzinfo=CHINA)))
        y, m = ny, nm
    return out[:36]


def series(db: Database, start: dt.date, end: dt.date, *, business_type: str | None = None,
           group: str | None = None) -> list[tuple[str, Kpis]]:
    """The KPIs per calendar month between the dates (the trend the dashboard charts), from one read."""
    record = _load(db, business_type)
    return [(f"{a.year}-{a.month:02d}", _compute(db, record, a, b, group)) for a, b in months(start, end)]


@dataclass
class Heat:
    """Waiting time of one user task: how often it was worked, total and average hours it waited."""

    element: str
    name: str
    process: str
    count: int
    total_hours: float
    avg_hours: float
    max_hours: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def heatmap(db: Database, definition_id: int, *, start: dt.datetime | None = None,
            end: dt.datetime | None = None) -> list[Heat]:
    """Where waiting time accumulates on one definition version's diagram.

    A human task waits from the command that opened it to its completion (the same `opened` and
    `task_completed` events replay checks); tasks of called processes are attributed to their own
    element ids. Sorted by total hours, largest first.
    """
    definition = definitions.load(db, definition_id)
    with db.read() as conn:
        ids = list(conn.execute(select(instance_t.c.id).where(instance_t.c.definition_id == definition_id)).scalars())
        events = conn.execute(select(event_t).where(event_t.c.instance_id.in_(ids or [-1]))
                              .order_by(event_t.c.instance_id, event_t.c.seq)).all()
    waits: dict[str, list[float]] = defaultdict(list)
    opened: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    for ev in events:
        if ev.type not in ("instance_started", "task_completed", "timer_fired", "message_received",
                           "instance_retried"):
            continue
        p = history.payload_of(ev)
        if ev.type == "task_completed" and ev.task_spec and opened.get((ev.instance_id, ev.task_spec)):
            since = opened[(ev.instance_id, ev.task_spec)].pop(0)
            if _in(ev.at, start, end):
                waits[ev.task_spec].append((ev.at - since).total_seconds() / 3600)
        for spec in p.get("opened", []):
            opened[(ev.instance_id, spec)].append(ev.at)
    names: dict[str, tuple[str, str]] = {}
    for info in definition.tasks.values():
        if info.form_schema or info.group:
            names.setdefault(info.bpmn_id, (info.name, info.process))
    out = [Heat(k, names.get(k, (k, definition.spec.name))[0], names.get(k, (k, definition.spec.name))[1], len(v),
                round(sum(v), 2), round(mean(v), 2), round(max(v), 2)) for k, v in waits.items()]
    return sorted(out, key=lambda h: (-h.total_hours, h.element))

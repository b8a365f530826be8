"""Service KPIs for supervisors and auditors, computed from the history events replay verifies,
exactly as the business rules define them (tests/test_kpi_definitions.py checks each against a
fixture computed by hand):

- 平均接电时长: average working days from application to energizing (the whole-process clock),
  customer pauses excluded, per business type;
- 时限达标率: share of *cases* on time, overall and per business type. A case is on time only if
  every assessed step (the clock's `assessed` flag; the whole process included) was met; it is
  counted when it has ended, in the period of its last assessed stop. Withdrawn cases are out;
- 超期工单: cases with a running clock past its deadline now;
- 预约准时率: field arrivals no later than the due time of the appointment *in force at the
  visit* (a reschedule replaces the first booking's window);
- 回访满意率: reached call-backs rated 4–5 on the one 1–5 scale of job and case call-backs (the
  case call-back's old words are mapped onto it);
- 办电环节数: the customer-visible steps a case passed, per business type (never mixed), counting
  only the steps the rules list for that type (lv_res 受理签约 → 施工接电 = 2); withdrawn cases out;
- 售后跟进及时率: share of finished cases (ended in the period, not withdrawn) whose after-sales
  follow-up (`engine.dispatch.after_sales`) was done within its time limit (its `after_sales`
  clock met); a follow-up still open, done late or never opened counts against it. After-sales
  cases are follow-ups, not cases: they are left out of every other figure;
- waiting heatmap: how long human tasks waited between opening and completion, per BPMN element,
  over every version of a process (an element keeps its id across redeploys) or one version;
- 首次响应: customer messages (the case thread, `intake/threads.py`) answered within the rule set's
  `first_response_hours` working hours, over the questions asked in the period; the average
  working hours to the answer; questions waiting past their limit now.

`team` narrows every figure to the field team (班所, `engine.dispatch.teams`) that took part: the
cases it had a field job in, and of those, the arrivals of its own jobs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from sqlalchemy import or_, select

from engine.core import calls, clock, definitions, history
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import appointment_t, definition_t, event_t, instance_t, sla_clock_t, team_t
from engine.deadlines import calendar
from engine.dispatch import after_sales
from engine.dispatch.field import score_of
from engine.intake import threads

SATISFIED_FROM = 4

_HV_STEPS = ("申请受理", "供电方案答复", "设计审核", "中间检查", "竣工检验", "装表接电")
#: Customer-visible steps (办电环节) per business type (the utility's rule of customer-visible milestones):
#: a model milestone outside its type's list (e.g. 申请受理 of a low-voltage case, whose acceptance
#: and contract are one step for the customer) is not counted. Types not listed count every milestone.
VISIBLE_STEPS: dict[str, tuple[str, ...]] = {
    "lv_res": ("受理签约", "施工接电"),
    "lv_nonres": ("受理签约", "供电方案答复", "施工接电"),
    "hv_single": _HV_STEPS,
    "hv_dual": _HV_STEPS,
    "change": ("受理", "办结"),
}
WITHDRAW_MESSAGE = "withdraw"
_INPUTS = ("instance_started", "task_completed", "timer_fired", "message_received", "instance_retried")
_APPOINTMENT_EVENTS = ("field_booked", "field_moved", "field_rescheduled")


@dataclass
class Kpis:
    period: tuple[str | None, str | None]
    cases: int = 0
    avg_connection_workdays: dict[str, float] = field(default_factory=dict)
    on_time_rate: float | None = None
    on_time_by_type: dict[str, float] = field(default_factory=dict)
    assessed: int = 0  # cases whose on-time verdict falls in the period
    overdue_now: int = 0
    appointment_punctuality: float | None = None
    appointments: int = 0
    satisfaction_rate: float | None = None
    callbacks: int = 0
    avg_milestones: dict[str, float] = field(default_factory=dict)
    waiting_hours: dict[str, float] = field(default_factory=dict)
    first_response_questions: int = 0
    first_response_on_time_rate: float | None = None
    first_response_avg_hours: float | None = None
    first_response_overdue_now: int = 0
    after_sales_on_time_rate: float | None = None
    after_sales_cases: int = 0  # finished cases the follow-up rate is over

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _in(at: dt.datetime, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    return (start is None or at >= start) and (end is None or at < end)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


@dataclass
class _Record:
    """The cases, their events (payloads parsed once), running clocks and which clocks are assessed:
    read once per report, however many periods it is cut into."""

    cases: dict[int, Any]
    events: dict[int, list[tuple[Any, dict[str, Any]]]]
    running: list[Any]
    definitions: dict[int, _Lazy]
    assessed: dict[int, bool]
    business_type: str | None = None
    team_jobs: set[str] | None = None  # with a team: the job numbers of its field jobs
    followed_in_time: set[int] = field(default_factory=set)  # cases whose follow-up met its limit


def team_work(db: Database, team: str) -> tuple[set[int], set[str]]:
    """The cases a field team had a field job in, and those jobs' numbers."""
    with db.read() as conn:
        rows = conn.execute(select(appointment_t.c.instance_id, appointment_t.c.job_no)
                            .join(team_t, team_t.c.id == appointment_t.c.team_id).where(team_t.c.code == team)).all()
    return {r.instance_id for r in rows}, {r.job_no for r in rows}


def _load(db: Database, business_type: str | None, team: str | None = None) -> _Record:
    only, jobs = team_work(db, team) if team else (None, None)
    with db.read() as conn:
        q = select(instance_t.c.id, instance_t.c.business_type, instance_t.c.definition_id).where(or_(
            instance_t.c.business_type.is_(None), instance_t.c.business_type != after_sales.BUSINESS_TYPE))
        if business_type:
            q = q.where(instance_t.c.business_type == business_type)
        if only is not None:
            q = q.where(instance_t.c.id.in_(sorted(only) or [-1]))
        cases = {r.id: r for r in conn.execute(q)}
        ids = list(cases) or [-1]
        rows = conn.execute(select(event_t).where(event_t.c.instance_id.in_(ids))
                            .order_by(event_t.c.instance_id, event_t.c.seq)).all()
        clocks = conn.execute(select(sla_clock_t.c.id, sla_clock_t.c.instance_id, sla_clock_t.c.status,
                                     sla_clock_t.c.deadline_at, sla_clock_t.c.assessed)
                              .where(sla_clock_t.c.instance_id.in_(ids))).all()
        follow_ups = conn.execute(select(instance_t.c.business_key).join(
            sla_clock_t, sla_clock_t.c.instance_id == instance_t.c.id).where(
            instance_t.c.business_type == after_sales.BUSINESS_TYPE, sla_clock_t.c.sla_key == after_sales.SLA_KEY,
            sla_clock_t.c.status == "met")).scalars().all()
    events: dict[int, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    for ev in rows:
        events[ev.instance_id].append((ev, history.payload_of(ev)))
    # loaded only for cases with tasks or trails
    lazy = {d: _Lazy(db, d) for d in {c.definition_id for c in cases.values()}}
    running = [c for c in clocks if c.status == "running"]
    followed = {case for case in map(after_sales.case_of, follow_ups) if case is not None}
    return _Record(cases, events, running, lazy, {c.id: bool(c.assessed) for c in clocks},
                   business_type=business_type, team_jobs=jobs, followed_in_time=followed)


def compute(db: Database, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
            business_type: str | None = None, group: str | None = None, team: str | None = None) -> Kpis:
    """KPIs over events in [start, end); `group` narrows waiting times and on-time rates to one role
    group, `team` every figure to one field team's cases (and its own arrivals)."""
    return _compute(db, _load(db, business_type, team), start, end, group)


@dataclass
class _Tally:
    """What the cases of one period add up to, before the averages and rates."""

    cases: int = 0
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    verdicts: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    arrivals: list[bool] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    milestones: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished: list[int] = field(default_factory=list)


def _compute(db: Database, record: _Record, start: dt.datetime | None, end: dt.datetime | None,
             group: str | None) -> Kpis:
    out = Kpis((start.isoformat() if start else None, end.isoformat() if end else None))
    now = clock.now()
    out.overdue_now = len({r.instance_id for r in record.running if r.deadline_at < now})
    t = _Tally()
    for iid, evs in record.events.items():
        _CaseWalk(db, record, record.cases[iid], evs, start, end, group).into(t)
    out.cases = t.cases
    out.avg_connection_workdays = {k: round(mean(v), 2) for k, v in sorted(t.durations.items())}
    every = [v for vs in t.verdicts.values() for v in vs]
    out.assessed, out.on_time_rate = len(every), _rate(sum(every), len(every))
    out.on_time_by_type = {k: _rate(sum(v), len(v)) or 0.0 for k, v in sorted(t.verdicts.items())}
    out.appointments, out.appointment_punctuality = len(t.arrivals), _rate(sum(t.arrivals), len(t.arrivals))
    out.callbacks = len(t.scores)
    out.satisfaction_rate = _rate(sum(s >= SATISFIED_FROM for s in t.scores), len(t.scores))
    out.avg_milestones = {k: round(mean(v), 2) for k, v in sorted(t.milestones.items())}
    out.waiting_hours = {k: round(mean(v), 2) for k, v in sorted(t.waits.items())}
    first = threads.first_response_kpi(db, start=start, end=end, now=now, business_type=record.business_type or None)
    out.first_response_questions, out.first_response_on_time_rate = first.questions, first.on_time_rate
    out.first_response_avg_hours, out.first_response_overdue_now = first.avg_hours, first.overdue_open
    out.after_sales_cases = len(t.finished)
    out.after_sales_on_time_rate = _rate(sum(i in record.followed_in_time for i in t.finished), len(t.finished))
    return out


class _CaseWalk:
    """One case's events, read once, in order, for every KPI."""

    def __init__(self, db: Database, record: _Record, case: Any, evs: list[tuple[Any, dict[str, Any]]],
                 start: dt.datetime | None, end: dt.datetime | None, group: str | None) -> None:
        self.db, self.record, self.case, self.evs = db, record, case, evs
        self.start, self.end, self.group = start, end, group
        bindings: dict[str, int] = {}  # the called versions this case bound, as its history records them
        for _e, p in evs:
            for key, bound in (p.get("called") or {}).items():
                bindings.setdefault(key, bound["definition_id"])
        base = record.definitions[case.definition_id]
        self.definition = calls.compose(db, base, bindings) if bindings else base
        self.type = case.business_type or "?"
        self.withdrawn = any(e.type == "message_received" and p.get("name") == WITHDRAW_MESSAGE for e, p in evs)
        self.ended = next((e.at for e, _p in reversed(evs) if e.type == "instance_completed"), None)

    def _period(self, at: dt.datetime) -> bool:
        return _in(at, self.start, self.end)

    def into(self, t: _Tally) -> None:
        if self.evs and self._period(self.evs[0][0].at):
            t.cases += 1
        self._clocks(t)
        self._visits(t)
        self._waits(t)
        if not self.withdrawn and self.ended is not None and self._period(self.ended):
            t.milestones[self.type].append(self._milestones())
            t.finished.append(self.case.id)

    def _clocks(self, t: _Tally) -> None:
        """Connection time from the whole-process clock; the case's on-time verdict from every
        assessed clock (of the team, with `group`), dated by the last of them to stop."""
        started: dict[int, tuple[str, dt.datetime]] = {}
        paused: dict[int, int] = defaultdict(int)
        verdict: list[tuple[dt.datetime, bool]] = []
        for ev, p in self.evs:
            if ev.type == "sla_started":
                started[p["clock_id"]] = (p["scope"], ev.at)
            elif ev.type == "sla_resumed":
                for moved in p.get("clocks", []):
                    paused[moved["clock_id"]] += moved["workdays"]
            elif ev.type == "sla_stopped" and p["clock_id"] in started and p["status"] in ("met", "missed"):
                scope, since = started[p["clock_id"]]
                if self.record.assessed.get(p["clock_id"], True) and self._of_group(ev):
                    verdict.append((ev.at, p["status"] == "met"))
                if scope == "process" and self._period(ev.at) and not self.withdrawn:
                    days = calendar.workdays_between(self.db, since.astimezone(CHINA).date(),
                                                     ev.at.astimezone(CHINA).date(), fallback=True)
                    t.durations[self.type].append(max(days - paused[p["clock_id"]], 0))
        if verdict and not self.withdrawn and self.ended is not None and self._period(max(verdict)[0]):
            t.verdicts[self.type].append(all(met for _at, met in verdict))

    def _of_group(self, ev: Any) -> bool:
        return self.group is None or _group_of(self.definition, ev) in (None, self.group)

    def _visits(self, t: _Tally) -> None:
        """Arrivals against the appointment in force (its latest booking or move, per job), which
        the arrival service's own answer confirms; call-back scores on one scale."""
        due: dict[str | None, dt.datetime] = {}
        current: str | None = None
        pending: tuple[dt.datetime, dt.datetime, dt.datetime | None] | None = None  # event at, arrived, due
        for ev, p in self.evs:
            answer = (p.get("result") or {}) if ev.type == "service_called" else {}
            if ev.type in _APPOINTMENT_EVENTS or p.get("operator") == "yekuo/field_appointment":
                source = p if ev.type in _APPOINTMENT_EVENTS else answer
                if source.get("due_at"):
                    current = source.get("job_no")
                    due[current] = dt.datetime.fromisoformat(source["due_at"])
            elif p.get("operator") == "yekuo/field_arrival" and pending and answer.get("due_at"):
                pending = (pending[0], pending[1], dt.datetime.fromisoformat(answer["due_at"]))
            if ev.type != "task_completed":
                continue
            data = p.get("data", {})
            if ev.task_spec == "report_arrival" and data.get("arrived_at"):
                self._arrival(t, pending)
                job = (data.get("booking") or {}).get("job_no", current)
                pending = (ev.at, dt.datetime.fromisoformat(data["arrived_at"]), due.get(job, due.get(current)))
                if self.record.team_jobs is not None and job not in self.record.team_jobs:
                    pending = None  # another team's visit
            score = score_of(data.get("satisfaction")) if data.get("reachable", True) else None
            if score is not None and self._period(ev.at):
                t.scores.append(score)
        self._arrival(t, pending)

    def _arrival(self, t: _Tally, pending: tuple[dt.datetime, dt.datetime, dt.datetime | None] | None) -> None:
        if pending and pending[2] is not None and self._period(pending[0]):
            t.arrivals.append(pending[1] <= pending[2])

    def _waits(self, t: _Tally) -> None:
        opened: dict[str, list[tuple[dt.datetime, str | None]]] = defaultdict(list)
        for ev, p in self.evs:
            if ev.type not in _INPUTS:
                continue
            if ev.type == "task_completed" and ev.task_spec and opened.get(ev.task_spec):
                since, grp = opened[ev.task_spec].pop(0)
                if self._period(ev.at) and (self.group is None or grp == self.group):
                    t.waits[ev.task_spec].append((ev.at - since).total_seconds() / 3600)
            for spec in p.get("opened", []):
                opened[spec].append((ev.at, _group_for_spec(self.definition, spec)))

    def _milestones(self) -> int:
        """Distinct customer-visible steps the case passed, of those its type lists."""
        visible = VISIBLE_STEPS.get(self.type)
        seen: set[str] = set()
        for _ev, payload in self.evs:
            for entry in payload.get("trail", []):
                if entry[1] != "c":
                    continue
                process = entry[3] if len(entry) > 3 and entry[3] else self.definition.spec.name
                info = self.definition.tasks.get((process, entry[0]))
                name = info.properties.get("milestone") if info else None
                if name and (visible is None or name in visible):
                    seen.add(name)
        return len(seen)


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
           group: str | None = None, team: str | None = None) -> list[tuple[str, Kpis]]:
    """The KPIs per calendar month between the dates (the trend the dashboard charts), from one read."""
    record = _load(db, business_type, team)
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
            end: dt.datetime | None = None, all_versions: bool = False, team: str | None = None) -> list[Heat]:
    """Where waiting time accumulates on a process's diagram: its cases of this version (or, with
    `all_versions`, of every version of its key, aggregated by element id), optionally one field team's.

    A human task waits from the command that opened it to its completion (the same `opened` and
    `task_completed` events replay checks); tasks of called processes are attributed to their own
    element ids and named from the called versions the cases bound. Sorted by total hours, largest first.
    """
    definition = definitions.load(db, definition_id)
    with db.read() as conn:
        ids_of = select(definition_t.c.id).where(definition_t.c.key == definition.key) if all_versions else None
        q = select(instance_t.c.id, instance_t.c.definition_id)
        q = q.where(instance_t.c.definition_id.in_(ids_of)) if ids_of is not None else \
            q.where(instance_t.c.definition_id == definition_id)
        cases = {r.id: r.definition_id for r in conn.execute(q)}
        if team:
            only = team_work(db, team)[0]
            cases = {i: d for i, d in cases.items() if i in only}
        events = conn.execute(select(event_t).where(event_t.c.instance_id.in_(list(cases) or [-1]))
                              .order_by(event_t.c.instance_id, event_t.c.seq)).all()
    waits: dict[str, list[float]] = defaultdict(list)
    opened: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
    used = {definition_id, *cases.values()}
    for ev in events:
        p = history.payload_of(ev)
        used.update(bound["definition_id"] for bound in (p.get("called") or {}).values())
        if ev.type not in _INPUTS:
            continue
        if ev.type == "task_completed" and ev.task_spec and opened.get((ev.instance_id, ev.task_spec)):
            since = opened[(ev.instance_id, ev.task_spec)].pop(0)
            if _in(ev.at, start, end):
                waits[ev.task_spec].append((ev.at - since).total_seconds() / 3600)
        for spec in p.get("opened", []):
            opened[(ev.instance_id, spec)].append(ev.at)
    names = _element_names(db, definition, sorted(used - {definition_id}, reverse=True))
    main = definition.spec.name
    out = [Heat(k, names.get(k, (k, main))[0], names.get(k, (k, main))[1], len(v),
                round(sum(v), 2), round(mean(v), 2), round(max(v), 2)) for k, v in waits.items()]
    return sorted(out, key=lambda h: (-h.total_hours, h.element))


def _element_names(db: Database, first: Any, others: list[int]) -> dict[str, tuple[str, str]]:
    """Element id -> (task name, process) from the shown version first, then the others (newest first)."""
    names: dict[str, tuple[str, str]] = {}
    for d in [first, *(definitions.load(db, i) for i in others)]:
        for info in d.tasks.values():
            if info.form_schema or info.group:
                names.setdefault(info.bpmn_id, (info.name, info.process))
    return names

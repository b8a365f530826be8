"""`yekuo demo cases`: a month of realistic cases driven through the engine's own commands.

A small discrete-event simulation: applications of every business type arrive on working days;
each case then moves one task at a time, as its lane's member of staff would (claim, then complete
with a plausible form), a few working hours apart, the field work on its appointment's day. The
engine clock is a `FixedClock` stepping through the month, and before every step the timers that
fell due are fired as the scheduler would — so the history, replay, SLA clocks, KPIs and the
heatmap are the real ones. Some cases stall (they end up overdue), some get a design sent back,
a failed inspection or a call-back that raises a problem; cases started late in the month are
still under way. One `random.Random(seed)` makes every run with the same seed identical.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from engine.core import actors, clock, definitions, queries, runtime, timers, worklist
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import instance_t
from engine.demo import answers, applications
from engine.dispatch import appointments, capacity, teams

#: tasks a case may plan to get wrong once (the form's second example is the rework answer)
REWORK = {"review_design": 0.3, "inspect": 0.25, "check_file": 0.15, "job_callback": 0.2}
#: field tasks done on the appointment's day
FIELD_TASKS = frozenset({"report_arrival", "do_survey", "do_install", "do_verify", "report_completion",
                         "dispatch_job"})
STALL_SHARE = 0.12
CAPACITY_SCALE = 3


@dataclass
class Plan:
    """One simulated case: its type, what it will get wrong, where it will stall."""

    kind: str
    iid: int = 0
    rework: set[str] = field(default_factory=set)
    stall_after: int | None = None
    done: int = 0
    visits: Counter = field(default_factory=Counter)
    refusals: int = 0


@dataclass
class DemoReport:
    started: Counter = field(default_factory=Counter)
    finished: Counter = field(default_factory=Counter)
    tasks: int = 0
    timers: int = 0
    refused: list[str] = field(default_factory=list)
    instance_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} {self.started[k]} (finished {self.finished[k]})" for k in applications.TYPES)
        return (f"{sum(self.started.values())} demo cases: {kinds}; {self.tasks} tasks completed, "
                f"{self.timers} timers fired, {len(self.refused)} submissions refused")


def case_count(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(instance_t)).scalar_one()


def _work_time(t: dt.datetime, rng: random.Random) -> dt.datetime:
    """`t`, or the next working morning when `t` falls outside 09:00–18:00 on a weekday."""
    local = t.astimezone(CHINA)
    if local.weekday() < 5 and 9 <= local.hour < 18:
        return local
    day = local.date() if local.hour < 9 and local.weekday() < 5 else answers.next_workday(local.date())
    return dt.datetime.combine(day, dt.time(9, rng.randint(0, 50)), CHINA)


def _arrivals(start: dt.datetime, days: int, per_day: float, rng: random.Random) -> list[tuple[dt.datetime, str]]:
    out = []
    for n in range(days):
        day = start.date() + dt.timedelta(days=n)
        mean = per_day if day.weekday() < 5 else per_day / 4
        count = sum(1 for _ in range(int(mean * 2) + 1) if rng.random() < mean / (int(mean * 2) + 1))
        for _ in range(count):
            at = dt.datetime.combine(day, dt.time(rng.randint(9, 16), rng.randint(0, 59)), CHINA)
            out.append((at, rng.choices(applications.TYPES, applications.WEIGHTS)[0]))
    out.sort()
    for (at, _kind), kind in zip(list(out), applications.TYPES):  # every type at least once, early
        out[out.index((at, _kind))] = (at, kind)
    return out


def _seed_capacity(db: Database, start: dt.date) -> None:
    """The demo field teams, with a standing weekly capacity from the month's first week."""
    week = capacity.week_of(start)
    added = teams.seed_demo(db, week_start=week, scale=CAPACITY_SCALE, actor="demo")
    for code, _name, _area, _members, plan in teams.DEMO_TEAMS:
        if code not in added:
            capacity.report_week(db, code, week, {k: [n * CAPACITY_SCALE for n in v] for k, v in plan.items()},
                                 actor="demo", note="演示数据：月初起的常规承载力")


def _start(db: Database, plan: Plan, rng: random.Random, now: dt.datetime) -> None:
    key, accept_spec = applications.STARTS.get(plan.kind, applications.DEFAULT_START)
    definition = definitions.load(db, definitions.latest_id(db, key))
    accept_task = next(t for t in definition.tasks.values() if t.bpmn_id == accept_spec)
    examples = definition.forms[accept_task.form_schema]["examples"]
    data = applications.BUILDERS[plan.kind](examples, rng, now.astimezone(CHINA).date())
    starter = "clerk" if data["channel"] == "counter" else "channel"  # the counter, or an online channel
    plan.iid = runtime.start_instance(db, key, {"channel": data["channel"], "customer_name": data["customer_name"],
                                                "mobile": data["mobile"]},
                                      actor=actors.Actor(starter, frozenset({starter}))).instance_id
    plan.rework = {spec for spec, share in REWORK.items() if rng.random() < share}
    if rng.random() < STALL_SHARE:
        plan.stall_after = rng.randint(1, 12)
    plan.accept = data  # type: ignore[attr-defined]


def _open(db: Database, iid: int) -> list[worklist.WorkItemView]:
    return sorted(worklist.items(db, worklist.TaskFilter(instance_id=iid)), key=lambda i: (i.created_at, i.task_spec))


def _step(db: Database, plan: Plan, rng: random.Random, now: dt.datetime, report: DemoReport, root: Path) -> bool:
    """Claim and complete the case's oldest open task; False when it has none."""
    items = _open(db, plan.iid)
    if not items:
        return False
    item = items[0]
    who = actors.Actor(item.candidate_group or "clerk", frozenset({item.candidate_group or "clerk"}))
    detail = queries.task_detail(db, item.id)
    first = plan.visits[item.task_spec] == 0
    if item.task_spec in {"accept", "accept_change"} and first:
        data = answers._retime(plan.accept, now, rng)  # type: ignore[attr-defined]
    else:
        data = answers.answer(detail.form, detail.data, rework=first and item.task_spec in plan.rework,
                              now=now, rng=rng)
    data = answers.upload_files(db, data, instance_id=plan.iid, uploaded_by=who.name, root=root)
    try:
        if item.assignee is None:
            runtime.claim(db, item.id, actor=who)
        runtime.complete_task(db, item.id, data, actor=who)
    except YekuoError as err:
        plan.refusals += 1
        report.refused.append(f"case {plan.iid} {item.task_spec}: {err.message} {getattr(err, 'details', '')}")
        return True
    plan.visits[item.task_spec] += 1
    plan.done += 1
    report.tasks += 1
    return True


def _next_time(db: Database, plan: Plan, rng: random.Random, now: dt.datetime) -> dt.datetime | None:
    """When the case's next step happens; None when it is over or stalls for good."""
    if plan.refusals > 3 or (plan.stall_after is not None and plan.done >= plan.stall_after):
        return None
    items = _open(db, plan.iid)
    if not items:
        inst = queries.get_instance(db, plan.iid, with_data=False)
        return None if inst.status != "running" else now + dt.timedelta(days=1)  # waits on a timer
    if items[0].task_spec in FIELD_TASKS:
        booked = [a for a in appointments.list_appointments(db, instance_id=plan.iid) if a.status != "cancelled"]
        if booked and booked[-1].window_start > now:
            return booked[-1].window_start + dt.timedelta(minutes=rng.randint(10, 90))
    hours = rng.uniform(0.3, 5) if rng.random() > 0.08 else rng.uniform(48, 160)
    return _work_time(now + dt.timedelta(hours=hours), rng)


def run(db: Database, *, days: int = 30, seed: int = 1, per_day: float = 2.0, end: dt.datetime | None = None,
        force: bool = False, documents_root: Path = Path("instance/documents")) -> DemoReport:
    """Simulate `days` of applications up to `end` (default: now) on a database with the bundled
    process deployed. Refuses a database that already holds cases unless `force`."""
    have = case_count(db)
    if have and not force:
        raise YekuoError(f"the database already holds {have} case(s); the demo only fills an empty one "
                         f"(add --force to add demo cases anyway)")
    missing = {"new_connection", "change"} - set(definitions.latest_ids(db))
    if missing:
        raise YekuoError(f"process(es) {', '.join(sorted(missing))} not deployed; run `yekuo deploy bpmn/` first")
    rng = random.Random(seed)
    end = (end or clock.now()).astimezone(CHINA)
    start = dt.datetime.combine(end.date() - dt.timedelta(days=days), dt.time(8, 30), CHINA)
    sim = clock.FixedClock(start)
    report = DemoReport()
    with clock.using(sim):
        _seed_capacity(db, start.date())
        queue: list[tuple[dt.datetime, int, Plan]] = []
        for n, (at, kind) in enumerate(_arrivals(start, days, per_day, rng)):
            if at < end:
                heapq.heappush(queue, (at, n, Plan(kind)))
        seq = len(queue)
        while queue:
            now, _n, plan = heapq.heappop(queue)
            sim.set(now)
            report.timers += timers.fire_due(db, now).fired
            if not plan.iid:
                _start(db, plan, rng, now)
                report.started[plan.kind] += 1
                report.instance_ids.append(plan.iid)
            _step(db, plan, rng, now, report, documents_root)
            after = _next_time(db, plan, rng, now)
            if after is None or after >= end:
                if queries.get_instance(db, plan.iid, with_data=False).status == "completed":
                    report.finished[plan.kind] += 1
                continue
            seq += 1
            heapq.heappush(queue, (after, seq, plan))
        sim.set(end)
        report.timers += timers.fire_due(db, end).fired
    return report

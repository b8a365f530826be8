"""SLA clocks: started per assessed step and per case, paused for customer time, recomputed.

Each assessed step (a user task whose BPMN declares `slaKey`) gets a clock when its work item
appears, and the whole process gets one as soon as the business type is known. The limit comes
from the active rule set (`rule_sets`: per business type × SLA key, `*` as a fallback) and is
frozen on the clock: changing a rule never moves deadlines already issued, unless `recompute` is
asked to. Deadlines are the end of the business day (17:00 China time) of the N-th working day
after the start (start day excluded), counted in the working-day calendar.

Thresholds become rows in the `timer` table (purpose `sla`): pre-warnings at the rule set's
percentages of the working time (`prewarn_<pct>`), then each level of its escalation chain (催办 at
the deadline, 督办 and 升级 later) a number of *working* hours after the deadline. The clock keeps
the rule-set version it started under, so its thresholds come from that version even after another
is activated. They fire exactly once through `engine.core.timers`, which calls `notices.fire`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from engine.core import clock, history, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidState
from engine.core.models import sla_clock_t, sla_pause_t, timer_t, work_item_t
from engine.deadlines import calendar
from engine.deadlines.rule_sets import Rule, RuleSet, active_rules, rules_for_clock

PURPOSE = "sla"
OPEN, CLOSE = calendar.BUSINESS_OPEN, calendar.BUSINESS_CLOSE  # warnings land while people are at work
PROCESS_KEY = "whole_process"
PAUSE_REASONS = {
    "customer_documents": "客户资料不全",
    "customer_works": "客户受电工程施工",
    "customer_design": "客户委托设计",
}


# ---------------------------------------------------------------------------------------------
# deadlines in working time


def deadline_after(db: Database, start: dt.datetime, workdays: int,
                   hours: int | None = None) -> tuple[dt.datetime, bool]:
    """End of the business day of the N-th working day after `start`'s local date, and whether it
    is provisional.

    A year with no official calendar never stops a step: it is counted Monday–Friday and the
    deadline is marked provisional — shown as such wherever it appears, announced daily by
    `calendar_watch`, and recomputed when the year is imported (`after_calendar_import`).
    """
    if hours:  # a limit in working hours counts business time from the start instant
        return calendar.add_working_hours(db, start, hours, fallback=True)
    result = calendar.add_workdays(db, start.astimezone(CHINA).date(), workdays, fallback=True)
    end = dt.datetime.combine(result.date, CLOSE, tzinfo=CHINA)
    return end.astimezone(dt.timezone.utc), result.provisional


def _working_spans(db: Database, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of [start, end) that fall in business hours of working days."""
    spans = []
    day = start.astimezone(CHINA).date()
    last = end.astimezone(CHINA).date()
    while day <= last:
        if calendar.is_workday(db, day, fallback=True):
            lo = max(start, dt.datetime.combine(day, OPEN, tzinfo=CHINA))
            hi = min(end, dt.datetime.combine(day, CLOSE, tzinfo=CHINA))
            if hi > lo:
                spans.append((lo, hi))
        day += dt.timedelta(days=1)
    return spans


def working_hours_between(db: Database, start: dt.datetime, end: dt.datetime) -> float:
    """Business hours of working days between two instants (0 if `end` is not later)."""
    if end <= start:
        return 0.0
    return sum(((hi - lo) for lo, hi in _working_spans(db, start, end)), dt.timedelta()).total_seconds() / 3600


def add_working_hours(db: Database, start: dt.datetime, hours: float) -> dt.datetime:
    """The instant `hours` of business time (09:00–17:00 of working days) after `start`: a limit in
    working hours, like the first answer to a customer's message."""
    left = dt.timedelta(hours=hours)
    day = start.astimezone(CHINA).date()
    for _ in range(calendar.MAX_WORKDAYS * 2):
        if calendar.is_workday(db, day, fallback=True):
            lo = max(start, dt.datetime.combine(day, OPEN, tzinfo=CHINA))
            hi = dt.datetime.combine(day, CLOSE, tzinfo=CHINA)
            if hi > lo:
                if left <= hi - lo:
                    return (lo + left).astimezone(dt.timezone.utc)
                left -= hi - lo
        day += dt.timedelta(days=1)
    raise InvalidState("a working-hours limit ran past the calendar")


def threshold_at(db: Database, start: dt.datetime, deadline: dt.datetime, fraction: float) -> dt.datetime:
    """The instant when `fraction` of the working time (business hours of working days) between
    start and deadline has passed."""
    spans = _working_spans(db, start, deadline)
    total = sum(((hi - lo) for lo, hi in spans), dt.timedelta())
    if not spans or total <= dt.timedelta():
        return start + (deadline - start) * fraction
    target = total * fraction
    for lo, hi in spans:
        if target <= hi - lo:
            return (lo + target).astimezone(dt.timezone.utc)
        target -= hi - lo
    return deadline


def _threshold_rows(db: Database, rules: RuleSet, clock_id: int, instance_id: int, start: dt.datetime,
                    deadline: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    for percent in rules.warnings:
        rows.append((f"prewarn_{percent:g}", threshold_at(db, start, deadline, percent / 100)))
    for level in rules.escalation:
        rows.append((level.key, calendar.add_working_hours(db, deadline, level.delay_hours, fallback=True)[0]))
    return [{"instance_id": instance_id, "task_id": f"sla:{clock_id}:{level}", "purpose": PURPOSE, "due_at": due,
             "payload": {"clock_id": clock_id, "level": level}} for level, due in rows]


# ---------------------------------------------------------------------------------------------
# clocks, inside engine commands (same transaction as the work items)


def start_step_clocks(conn: Connection, db: Database, *, instance_id: int, business_type: str | None,
                      items: list[dict[str, Any]], sla_keys: dict[str, str], now: dt.datetime,
                      starts: dict[str, tuple[dt.datetime, str]] | None = None) -> list[history.NewEvent]:
    """Start a clock for every new work item whose task declares an SLA key; sets `due_at` on it.

    `starts` gives a work item's clock an earlier start (its `slaFrom` anchor: the instant and the
    anchor it came from); otherwise the clock starts now. Returns the history events to append.
    """
    rules = active_rules(db)
    if rules is None or not business_type:
        return []
    events = []
    for item in items:
        key = sla_keys.get(item["id"])
        rule = rules.find(business_type, key) if key else None
        if rule is None:
            continue
        start, anchor = (starts or {}).get(item["id"], (now, None))
        clock_row = _start(conn, db, rules, rule, instance_id=instance_id, work_item_id=item["id"], scope="step",
                           sla_key=key, business_type=business_type, start=start, now=now)
        item["due_at"], item["due_provisional"] = clock_row["deadline_at"], clock_row["provisional"]
        payload = _event_payload(clock_row)
        if anchor:
            payload.update(started_at=start.isoformat(), anchor=anchor)
        events.append(history.NewEvent("sla_started", now, task_id=item["id"], task_spec=item["task_spec"],
                                       payload=payload))
    return events


def start_process_clock(conn: Connection, db: Database, *, instance_id: int, business_type: str,
                        started_at: dt.datetime, now: dt.datetime) -> list[history.NewEvent]:
    rules = active_rules(db)
    rule = rules.find(business_type, PROCESS_KEY) if rules else None
    if rule is None:
        return []
    clock_row = _start(conn, db, rules, rule, instance_id=instance_id, work_item_id=None, scope="process",
                       sla_key=PROCESS_KEY, business_type=business_type, start=started_at, now=now)
    return [history.NewEvent("sla_started", now, payload=_event_payload(clock_row))]


def _start(conn: Connection, db: Database, rules: RuleSet, rule: Rule, *, instance_id: int,
           work_item_id: str | None, scope: str, sla_key: str, business_type: str,
           start: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    deadline, provisional = deadline_after(db, start, rule.workdays, rule.hours)
    row = {"instance_id": instance_id, "work_item_id": work_item_id, "scope": scope, "sla_key": sla_key,
           "title": rule.title, "rule_set": rules.name, "rule_version": rules.version, "business_type": business_type,
           "limit_workdays": rule.workdays, "limit_hours": rule.hours, "assessed": rule.assessed, "started_at": start,
           "deadline_at": deadline, "provisional": provisional, "status": "running", "paused_at": None,
           "paused_workdays": 0, "ended_at": None}
    row["id"] = conn.execute(insert(sla_clock_t).values(**row).returning(sla_clock_t.c.id)).scalar_one()
    # a clock anchored in the past raises no pre-warning that is already stale; overdue still fires
    conn.execute(insert(timer_t), [r for r in _threshold_rows(db, rules, row["id"], instance_id, start, deadline)
                                   if r["due_at"] > now or not r["payload"]["level"].startswith("prewarn")])
    return row


def _event_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {"clock_id": row["id"], "sla_key": row["sla_key"], "scope": row["scope"], "rule_set": row["rule_set"],
            "rule_version": row["rule_version"], "limit_workdays": row["limit_workdays"],
            **({"limit_hours": row["limit_hours"]} if row["limit_hours"] else {}), "deadline": row["deadline_at"].isoformat(),
            "provisional": row["provisional"]}


def close_clocks(conn: Connection, *, instance_id: int, item_ids: set[str] | None, outcome: str,
                 now: dt.datetime) -> list[history.NewEvent]:
    """Stop the clocks of finished work items (or all of the instance's when `item_ids` is None).

    `outcome` is 'done' (met or missed is decided against the deadline) or 'void' (the step was
    cancelled, e.g. the customer withdrew).
    """
    if item_ids is not None and not item_ids:
        return []
    where = [] if item_ids is None else [sla_clock_t.c.work_item_id.in_(item_ids)]
    return _close(conn, instance_id, where, outcome, now)


def _close(conn: Connection, instance_id: int, where: list[Any], outcome: str,
           now: dt.datetime) -> list[history.NewEvent]:
    q = select(sla_clock_t).where(sla_clock_t.c.instance_id == instance_id,
                                  sla_clock_t.c.status.in_(("running", "paused")), *where)
    events = []
    for c in conn.execute(q).all():
        status = "void" if outcome == "void" else ("met" if now <= c.deadline_at else "missed")
        conn.execute(update(sla_clock_t).where(sla_clock_t.c.id == c.id).values(status=status, ended_at=now,
                                                                                  paused_at=None))
        conn.execute(delete(timer_t).where(timer_t.c.purpose == PURPOSE, timer_t.c.fired_at.is_(None),
                                           timer_t.c.task_id.like(f"sla:{c.id}:%")))
        events.append(history.NewEvent("sla_stopped", now, task_id=c.work_item_id, payload={
            "clock_id": c.id, "sla_key": c.sla_key, "scope": c.scope, "status": status,
            "deadline": c.deadline_at.isoformat()}))
    return events


def close_process_clock(conn: Connection, *, instance_id: int, now: dt.datetime) -> list[history.NewEvent]:
    """Stop the whole-process clock (at energizing: what follows is no longer assessed)."""
    return _close(conn, instance_id, [sla_clock_t.c.scope == "process"], "done", now)


# ---------------------------------------------------------------------------------------------
# pause and resume (customer time)


def pause(db: Database, instance_id: int, *, reason: str, actor: str, note: str = "") -> int:
    """Stop the clocks for customer-caused waiting; returns how many clocks were paused."""
    now = clock.now()
    with db.write() as conn:
        head = store.case_head(conn, instance_id)
        if head.status in ("completed", "cancelled"):
            raise InvalidState(f"instance {instance_id} has ended")
        count, events = pause_in(conn, instance_id, reason=reason, actor=actor, note=note, now=now)
        store.append_to_chain(conn, head, events)
    return count


def pause_in(conn: Connection, instance_id: int, *, reason: str, actor: str | None, note: str = "",
             now: dt.datetime, strict: bool = True) -> tuple[int, list[history.NewEvent]]:
    """Pause inside an open transaction (a command, or `pause`); returns the events to append.

    `strict=False` (the process pausing itself at a customer step) ignores an existing pause.
    """
    if reason not in PAUSE_REASONS:
        raise InvalidState(f"unknown pause reason '{reason}'; use one of: {', '.join(PAUSE_REASONS)}")
    if conn.execute(select(sla_pause_t.c.id).where(sla_pause_t.c.instance_id == instance_id,
                                                   sla_pause_t.c.resumed_at.is_(None))).first():
        if strict:
            raise InvalidState(f"the clocks of instance {instance_id} are already paused")
        return 0, []
    running = conn.execute(select(sla_clock_t.c.id).where(sla_clock_t.c.instance_id == instance_id,
                                                          sla_clock_t.c.status == "running")).scalars().all()
    conn.execute(update(sla_clock_t).where(sla_clock_t.c.id.in_(running)).values(status="paused", paused_at=now))
    for cid in running:
        conn.execute(delete(timer_t).where(timer_t.c.purpose == PURPOSE, timer_t.c.fired_at.is_(None),
                                           timer_t.c.task_id.like(f"sla:{cid}:%")))
    conn.execute(insert(sla_pause_t).values(instance_id=instance_id, reason=reason, note=note, paused_at=now,
                                            paused_by=actor or "process"))
    return len(running), [history.NewEvent("sla_paused", now, actor=actor, payload={
        "reason": reason, "note": note, "clocks": list(running)})]


def resume(db: Database, instance_id: int, *, actor: str) -> int:
    """Restart paused clocks; each deadline moves by the working days the pause lasted."""
    now = clock.now()
    with db.write() as conn:
        head = store.case_head(conn, instance_id)
        count, events = resume_in(conn, db, instance_id, actor=actor, now=now)
        store.append_to_chain(conn, head, events)
    return count


def resume_in(conn: Connection, db: Database, instance_id: int, *, actor: str | None, now: dt.datetime,
              strict: bool = True) -> tuple[int, list[history.NewEvent]]:
    """Resume inside an open transaction; returns the events to append."""
    pause_row = conn.execute(select(sla_pause_t).where(sla_pause_t.c.instance_id == instance_id,
                                                       sla_pause_t.c.resumed_at.is_(None))).first()
    if pause_row is None:
        if strict:
            raise InvalidState(f"the clocks of instance {instance_id} are not paused")
        return 0, []
    paused = conn.execute(select(sla_clock_t).where(sla_clock_t.c.instance_id == instance_id,
                                                    sla_clock_t.c.status == "paused")).all()
    moved = []
    for c in paused:
        days = workdays_paused(db, c.paused_at, now)
        deadline, provisional = (c.deadline_at, c.provisional) if days == 0 else shift_deadline(db, c.deadline_at, days)
        conn.execute(update(sla_clock_t).where(sla_clock_t.c.id == c.id).values(
            status="running", paused_at=None, deadline_at=deadline, provisional=c.provisional or provisional,
            paused_workdays=c.paused_workdays + days))
        if c.work_item_id:
            conn.execute(update(work_item_t).where(work_item_t.c.id == c.work_item_id).values(
                due_at=deadline, due_provisional=c.provisional or provisional))
        ruleset = rules_for_clock(db, c.rule_set, c.rule_version)
        future = [r for r in _threshold_rows(db, ruleset, c.id, instance_id, c.started_at, deadline)
                  if r["due_at"] > now]
        _insert_timers(conn, future)
        moved.append({"clock_id": c.id, "workdays": days, "deadline": deadline.isoformat(),
                      "provisional": bool(c.provisional or provisional)})
    conn.execute(update(sla_pause_t).where(sla_pause_t.c.id == pause_row.id).values(resumed_at=now,
                                                                                     resumed_by=actor or "process"))
    return len(moved), [history.NewEvent("sla_resumed", now, actor=actor, payload={
        "reason": pause_row.reason, "clocks": moved})]


def _insert_timers(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert threshold timers, skipping any identical row already there (re-issued thresholds)."""
    for row in rows:
        exists = conn.execute(select(timer_t.c.id).where(
            timer_t.c.instance_id == row["instance_id"], timer_t.c.task_id == row["task_id"],
            timer_t.c.purpose == row["purpose"], timer_t.c.due_at == row["due_at"])).first()
        if exists is None:
            conn.execute(insert(timer_t).values(**row))


def workdays_paused(db: Database, paused_at: dt.datetime, resumed_at: dt.datetime) -> int:
    """Working days from the pause's local date to the resume's (the pause day excluded)."""
    a = paused_at.astimezone(CHINA).date()
    b = resumed_at.astimezone(CHINA).date()
    return calendar.workdays_between(db, a, b, fallback=True) if b > a else 0


def shift_deadline(db: Database, deadline: dt.datetime, days: int) -> tuple[dt.datetime, bool]:
    """A deadline moved by `days` working days (a pause's length); with its provisional flag."""
    result = calendar.add_workdays(db, deadline.astimezone(CHINA).date(), days, fallback=True)
    return dt.datetime.combine(result.date, CLOSE, tzinfo=CHINA).astimezone(dt.timezone.utc), result.provisional


# ---------------------------------------------------------------------------------------------
# recomputing (a changed rule, an imported calendar year)


def recompute(db: Database, *, instance_ids: list[int] | None = None, provisional_only: bool = False,
              actor: str = "system") -> int:
    """Recompute deadlines of open clocks from the current rules and calendar; returns how many moved.

    A paused clock moves too (its thresholds come back when it resumes)."""
    rules = active_rules(db)
    now = clock.now()
    moved = 0
    with db.read() as conn:
        q = select(sla_clock_t).where(sla_clock_t.c.status.in_(("running", "paused")))
        if instance_ids is not None:
            q = q.where(sla_clock_t.c.instance_id.in_(instance_ids))
        if provisional_only:
            q = q.where(sla_clock_t.c.provisional)
        clocks = conn.execute(q).all()
    for c in clocks:
        rule = rules.find(c.business_type, c.sla_key) if (rules and not provisional_only) else None
        limit, hours = (rule.workdays, rule.hours) if rule else (c.limit_workdays, c.limit_hours)
        deadline, provisional = deadline_after(db, c.started_at, limit, hours)
        if c.paused_workdays:
            deadline, more = shift_deadline(db, deadline, c.paused_workdays)
            provisional = provisional or more
        source = (rules.name, rules.version) if rule else (c.rule_set, c.rule_version)
        if (deadline, provisional, limit, hours) == (c.deadline_at, c.provisional, c.limit_workdays, c.limit_hours):
            continue
        with db.write() as conn:
            head = store.case_head(conn, c.instance_id)
            conn.execute(update(sla_clock_t).where(sla_clock_t.c.id == c.id).values(
                deadline_at=deadline, provisional=provisional, limit_workdays=limit, limit_hours=hours,
                rule_set=source[0], rule_version=source[1]))
            if c.work_item_id:
                conn.execute(update(work_item_t).where(work_item_t.c.id == c.work_item_id).values(
                    due_at=deadline, due_provisional=provisional))
            conn.execute(delete(timer_t).where(timer_t.c.purpose == PURPOSE, timer_t.c.fired_at.is_(None),
                                               timer_t.c.task_id.like(f"sla:{c.id}:%")))
            if c.status == "running":
                ruleset = rules_for_clock(db, *source)
                _insert_timers(conn, [r for r in _threshold_rows(db, ruleset, c.id, c.instance_id, c.started_at,
                                                                 deadline) if r["due_at"] > now])
            store.append_to_chain(conn, head, [history.NewEvent(
                "sla_recomputed", now, actor=actor, task_id=c.work_item_id, payload={
                    "clock_id": c.id, "from": c.deadline_at.isoformat(), "to": deadline.isoformat(),
                    "limit_workdays": limit, "provisional": provisional})])
        moved += 1
    return moved


def after_calendar_import(db: Database, year: int) -> None:
    """An imported year turns provisional deadlines into real ones (wired by `engine.wiring`)."""
    recompute(db, provisional_only=True, actor="calendar-import")


# ---------------------------------------------------------------------------------------------
# reads


@dataclass
class ClockView:
    id: int
    sla_key: str
    scope: str
    title: str
    status: str
    limit_workdays: int
    started_at: dt.datetime
    deadline_at: dt.datetime
    provisional: bool
    assessed: bool
    ended_at: dt.datetime | None
    work_item_id: str | None
    paused_workdays: int


def clocks_of(db: Database, instance_id: int) -> list[ClockView]:
    with db.read() as conn:
        rows = conn.execute(select(sla_clock_t).where(sla_clock_t.c.instance_id == instance_id)
                            .order_by(sla_clock_t.c.id)).all()
    return [ClockView(r.id, r.sla_key, r.scope, r.title, r.status, r.limit_workdays, r.started_at, r.deadline_at,
                      r.provisional, r.assessed, r.ended_at, r.work_item_id, r.paused_workdays) for r in rows]


def on_time(db: Database, instance_id: int) -> bool | None:
    """A case is on time only if every assessed clock is met; None while any is still open."""
    clocks = [c for c in clocks_of(db, instance_id) if c.assessed and c.status != "void"]
    if any(c.status in ("running", "paused") for c in clocks):
        return None
    return all(c.status == "met" for c in clocks)


def is_paused(db: Database, instance_id: int) -> bool:
    """True while a customer-caused pause of the case is open."""
    with db.read() as conn:
        return conn.execute(select(sla_pause_t.c.id).where(sla_pause_t.c.instance_id == instance_id,
                                                           sla_pause_t.c.resumed_at.is_(None))).first() is not None


"""Deadlines: time-limit rules as data, SLA clocks with pause/resume, warnings and escalation.

Each assessed step (a user task whose BPMN declares `slaKey`) gets a clock when its work item
appears, and the whole process gets one as soon as the business type is known. The limit comes
from the active rule set (per business type × SLA key, `*` as a fallback) and is frozen on the
clock: changing a rule never moves deadlines already issued, unless `recompute` is asked to.
Deadlines are the end of the business day (17:00 China time) of the N-th working day after the
start (start day excluded), counted in the working-day calendar.

Thresholds become rows in the `timer` table (purpose `sla`): pre-warnings at 50 % and 80 % of the
working time, overdue at 100 % (to the team lead), supervision (督办) after a further delay (to the
dispatch centre, to be acknowledged). They fire exactly once through `engine.core.timers`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from engine.deadlines import calendar
from engine.core import clock, history
from engine.messages import templates
from engine.core.db import Database
from engine.core.errors import InvalidState, NotFound, YekuoError
from engine.core.models import (
    instance_t,
    notice_t,
    rule_set_t,
    sla_clock_t,
    sla_pause_t,
    time_limit_t,
    timer_t,
    work_item_t,
)

PURPOSE = "sla"
REMINDER = "reminder"
CHINA = dt.timezone(dt.timedelta(hours=8))
OPEN, CLOSE = dt.time(9, 0), dt.time(17, 0)  # business hours: warnings land while people are at work
PROCESS_KEY = "whole_process"
PAUSE_REASONS = {
    "customer_documents": "客户资料不全",
    "customer_works": "客户受电工程施工",
    "customer_design": "客户委托设计",
}
LEVELS = ("prewarn_50", "prewarn_80", "overdue", "supervise")
BUNDLED = Path(__file__).resolve().parent / "rules"


class RuleError(YekuoError):
    code, status = "invalid_rules", 422


@dataclass
class Rule:
    workdays: int
    assessed: bool
    title: str


@dataclass
class RuleSet:
    name: str
    thresholds: dict[str, Any]
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)

    def find(self, business_type: str, sla_key: str) -> Rule | None:
        return self.rules.get((business_type, sla_key)) or self.rules.get(("*", sla_key))

    @property
    def prewarn(self) -> list[float]:
        return [float(f) for f in self.thresholds.get("prewarn", [0.5, 0.8])]

    @property
    def escalate_after(self) -> dt.timedelta:
        return dt.timedelta(hours=float(self.thresholds.get("escalate_after_hours", 4)))


# ---------------------------------------------------------------------------------------------
# rule sets


def _parse_rule_file(doc: dict[str, Any], origin: str) -> dict[str, Any]:
    problems = []
    for key in ("name", "title", "rules"):
        if key not in doc:
            problems.append(f"missing '{key}'")
    seen = set()
    for i, rule in enumerate(doc.get("rules", []), 1):
        ident = (rule.get("business_type"), rule.get("sla_key"))
        if not all(isinstance(x, str) and x for x in ident):
            problems.append(f"rule {i}: business_type and sla_key are required")
        if not isinstance(rule.get("workdays"), int) or rule["workdays"] < 1:
            problems.append(f"rule {i}: workdays must be a whole number ≥ 1")
        if ident in seen:
            problems.append(f"rule {i}: {ident[0]} × {ident[1]} appears twice")
        seen.add(ident)
    prewarn = doc.get("thresholds", {}).get("prewarn", [0.5, 0.8])
    if not all(isinstance(f, (int, float)) and 0 < f < 1 for f in prewarn):
        problems.append("thresholds.prewarn must be fractions between 0 and 1")
    if problems:
        raise RuleError(f"{origin}: " + "; ".join(problems), details=problems)
    return doc


def load_rule_set(db: Database, source: Path | dict[str, Any], *, actor: str = "system",
                  activate: bool = False) -> str:
    """Load (or replace) a rule set from a JSON file or dict; returns its name."""
    if isinstance(source, Path):
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RuleError(f"{source}: {exc}") from None
        origin = source.name
    else:
        doc, origin = source, "rules"
    doc = _parse_rule_file(doc, origin)
    with db.write() as conn:
        was_active = conn.execute(select(rule_set_t.c.active).where(rule_set_t.c.name == doc["name"])).scalar()
        conn.execute(delete(time_limit_t).where(time_limit_t.c.rule_set == doc["name"]))
        conn.execute(delete(rule_set_t).where(rule_set_t.c.name == doc["name"]))
        conn.execute(insert(rule_set_t).values(
            name=doc["name"], title=doc["title"], source=doc.get("source", ""),
            thresholds=doc.get("thresholds", {}), active=bool(was_active), loaded_at=clock.now(), loaded_by=actor))
        conn.execute(insert(time_limit_t), [{
            "rule_set": doc["name"], "business_type": r["business_type"], "sla_key": r["sla_key"],
            "workdays": r["workdays"], "assessed": r.get("assessed", True), "title": r.get("title", "")}
            for r in doc["rules"]])
    if activate:
        activate_rule_set(db, doc["name"])
    db.cache.pop("sla_rules", None)
    return doc["name"]


def seed_rule_sets(db: Database) -> list[str]:
    """Load the bundled rule sets that are missing; the State Grid default becomes active."""
    with db.read() as conn:
        have = set(conn.execute(select(rule_set_t.c.name)).scalars())
        any_active = conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.active)).first() is not None
    loaded = []
    for path in sorted(BUNDLED.glob("*.json")):
        name = json.loads(path.read_text(encoding="utf-8"))["name"]
        if name not in have:
            load_rule_set(db, path, activate=(name == "sgcc_default" and not any_active))
            loaded.append(name)
    return loaded


def activate_rule_set(db: Database, name: str) -> None:
    """Make `name` the rule set new clocks use; running clocks keep their limits."""
    with db.write() as conn:
        if conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.name == name)).first() is None:
            raise NotFound(f"no rule set named '{name}'")
        conn.execute(update(rule_set_t).values(active=rule_set_t.c.name == name))
    db.cache.pop("sla_rules", None)


def active_rules(db: Database) -> RuleSet | None:
    cached = db.cache.get("sla_rules")
    if cached is not None:
        return cached or None
    with db.read() as conn:
        head = conn.execute(select(rule_set_t).where(rule_set_t.c.active)).first()
        if head is None:
            db.cache["sla_rules"] = False
            return None
        rows = conn.execute(select(time_limit_t).where(time_limit_t.c.rule_set == head.name)).all()
    rules = RuleSet(head.name, head.thresholds or {},
                    {(r.business_type, r.sla_key): Rule(r.workdays, r.assessed, r.title) for r in rows})
    db.cache["sla_rules"] = rules
    return rules


# ---------------------------------------------------------------------------------------------
# deadlines in working time


def deadline_after(db: Database, start: dt.datetime, workdays: int) -> tuple[dt.datetime, bool]:
    """End of the business day of the N-th working day after `start`'s local date."""
    result = calendar.add_workdays(db, start.astimezone(CHINA).date(), workdays)
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
    for level, fraction in zip(("prewarn_50", "prewarn_80"), rules.prewarn):
        rows.append((level, threshold_at(db, start, deadline, fraction)))
    rows.append(("overdue", deadline))
    rows.append(("supervise", deadline + rules.escalate_after))
    return [{"instance_id": instance_id, "task_id": f"sla:{clock_id}:{level}", "purpose": PURPOSE, "due_at": due,
             "payload": {"clock_id": clock_id, "level": level}} for level, due in rows]


# ---------------------------------------------------------------------------------------------
# clocks, inside engine commands (same transaction as the work items)


def start_step_clocks(conn: Connection, db: Database, *, instance_id: int, business_type: str | None,
                      items: list[dict[str, Any]], sla_keys: dict[str, str], now: dt.datetime) -> list[dict[str, Any]]:
    """Start a clock for every new work item whose task declares an SLA key; sets `due_at` on it.

    Returns the history events to append.
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
        clock_row = _start(conn, db, rules, rule, instance_id=instance_id, work_item_id=item["id"], scope="step",
                           sla_key=key, business_type=business_type, start=now)
        item["due_at"] = clock_row["deadline_at"]
        events.append(history.NewEvent("sla_started", now, task_id=item["id"], task_spec=item["task_spec"],
                                       payload=_event_payload(clock_row)))
    return events


def start_process_clock(conn: Connection, db: Database, *, instance_id: int, business_type: str,
                        started_at: dt.datetime, now: dt.datetime) -> list[history.NewEvent]:
    rules = active_rules(db)
    rule = rules.find(business_type, PROCESS_KEY) if rules else None
    if rule is None:
        return []
    clock_row = _start(conn, db, rules, rule, instance_id=instance_id, work_item_id=None, scope="process",
                       sla_key=PROCESS_KEY, business_type=business_type, start=started_at)
    return [history.NewEvent("sla_started", now, payload=_event_payload(clock_row))]


def _start(conn: Connection, db: Database, rules: RuleSet, rule: Rule, *, instance_id: int,
           work_item_id: str | None, scope: str, sla_key: str, business_type: str,
           start: dt.datetime) -> dict[str, Any]:
    deadline, provisional = deadline_after(db, start, rule.workdays)
    row = {"instance_id": instance_id, "work_item_id": work_item_id, "scope": scope, "sla_key": sla_key,
           "title": rule.title, "rule_set": rules.name, "business_type": business_type,
           "limit_workdays": rule.workdays, "assessed": rule.assessed, "started_at": start,
           "deadline_at": deadline, "provisional": provisional, "status": "running", "paused_at": None,
           "paused_workdays": 0, "ended_at": None}
    row["id"] = conn.execute(insert(sla_clock_t).values(**row).returning(sla_clock_t.c.id)).scalar_one()
    conn.execute(insert(timer_t), _threshold_rows(db, rules, row["id"], instance_id, start, deadline))
    return row


def _event_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {"clock_id": row["id"], "sla_key": row["sla_key"], "scope": row["scope"], "rule_set": row["rule_set"],
            "limit_workdays": row["limit_workdays"], "deadline": row["deadline_at"].isoformat(),
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


def _instance_head(conn: Connection, instance_id: int) -> Any:
    row = conn.execute(select(instance_t.c.id, instance_t.c.version, instance_t.c.event_seq, instance_t.c.last_hash,
                              instance_t.c.status).where(instance_t.c.id == instance_id)).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


def _append(conn: Connection, head: Any, events: list[history.NewEvent]) -> None:
    """Append events under the instance's version guard (the same guard engine commands use)."""
    from engine.core.errors import Conflict

    rows, seq, last = history.chain_rows(head.id, head.event_seq, head.last_hash, events)
    res = conn.execute(update(instance_t).where(and_(instance_t.c.id == head.id, instance_t.c.version == head.version))
                       .values(version=head.version + 1, event_seq=seq, last_hash=last))
    if res.rowcount != 1:
        raise Conflict("the case was changed by someone else at the same time; try again")
    history.append(conn, rows)


def pause(db: Database, instance_id: int, *, reason: str, actor: str, note: str = "") -> int:
    """Stop the clocks for customer-caused waiting; returns how many clocks were paused."""
    now = clock.now()
    with db.write() as conn:
        head = _instance_head(conn, instance_id)
        if head.status in ("completed", "cancelled"):
            raise InvalidState(f"instance {instance_id} has ended")
        count, events = pause_in(conn, instance_id, reason=reason, actor=actor, note=note, now=now)
        _append(conn, head, events)
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
        head = _instance_head(conn, instance_id)
        count, events = resume_in(conn, db, instance_id, actor=actor, now=now)
        _append(conn, head, events)
    return count


def resume_in(conn: Connection, db: Database, instance_id: int, *, actor: str | None, now: dt.datetime,
              strict: bool = True) -> tuple[int, list[history.NewEvent]]:
    """Resume inside an open transaction; returns the events to append."""
    rules = active_rules(db)
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
        deadline, provisional = (c.deadline_at, c.provisional) if days == 0 else _shift(db, c.deadline_at, days)
        conn.execute(update(sla_clock_t).where(sla_clock_t.c.id == c.id).values(
            status="running", paused_at=None, deadline_at=deadline, provisional=c.provisional or provisional,
            paused_workdays=c.paused_workdays + days))
        if c.work_item_id:
            conn.execute(update(work_item_t).where(work_item_t.c.id == c.work_item_id).values(due_at=deadline))
        ruleset = rules or RuleSet(c.rule_set, {})
        future = [r for r in _threshold_rows(db, ruleset, c.id, instance_id, c.started_at, deadline)
                  if r["due_at"] > now]
        _insert_timers(conn, future)
        moved.append({"clock_id": c.id, "workdays": days, "deadline": deadline.isoformat()})
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
    return calendar.workdays_between(db, a, b) if b > a else 0


def _shift(db: Database, deadline: dt.datetime, days: int) -> tuple[dt.datetime, bool]:
    result = calendar.add_workdays(db, deadline.astimezone(CHINA).date(), days)
    return dt.datetime.combine(result.date, CLOSE, tzinfo=CHINA).astimezone(dt.timezone.utc), result.provisional


# ---------------------------------------------------------------------------------------------
# recomputing (a changed rule, an imported calendar year)


def recompute(db: Database, *, instance_ids: list[int] | None = None, provisional_only: bool = False,
              actor: str = "system") -> int:
    """Recompute deadlines of running clocks from the current rules and calendar; returns how many moved."""
    rules = active_rules(db)
    now = clock.now()
    moved = 0
    with db.read() as conn:
        q = select(sla_clock_t).where(sla_clock_t.c.status == "running")
        if instance_ids is not None:
            q = q.where(sla_clock_t.c.instance_id.in_(instance_ids))
        if provisional_only:
            q = q.where(sla_clock_t.c.provisional)
        clocks = conn.execute(q).all()
    for c in clocks:
        rule = rules.find(c.business_type, c.sla_key) if (rules and not provisional_only) else None
        limit = rule.workdays if rule else c.limit_workdays
        deadline, provisional = deadline_after(db, c.started_at, limit + c.paused_workdays)
        if (deadline, provisional, limit) == (c.deadline_at, c.provisional, c.limit_workdays):
            continue
        with db.write() as conn:
            head = _instance_head(conn, c.instance_id)
            conn.execute(update(sla_clock_t).where(sla_clock_t.c.id == c.id).values(
                deadline_at=deadline, provisional=provisional, limit_workdays=limit))
            if c.work_item_id:
                conn.execute(update(work_item_t).where(work_item_t.c.id == c.work_item_id).values(due_at=deadline))
            conn.execute(delete(timer_t).where(timer_t.c.purpose == PURPOSE, timer_t.c.fired_at.is_(None),
                                               timer_t.c.task_id.like(f"sla:{c.id}:%")))
            ruleset = rules or RuleSet(c.rule_set, {})
            _insert_timers(conn, [r for r in _threshold_rows(db, ruleset, c.id, c.instance_id, c.started_at, deadline)
                                  if r["due_at"] > now])
            _append(conn, head, [history.NewEvent("sla_recomputed", now, actor=actor, task_id=c.work_item_id, payload={
                "clock_id": c.id, "from": c.deadline_at.isoformat(), "to": deadline.isoformat(),
                "limit_workdays": limit, "provisional": provisional})])
        moved += 1
    return moved


def _after_calendar_import(db: Database, year: int) -> None:
    recompute(db, provisional_only=True, actor="calendar-import")


calendar.after_import.append(_after_calendar_import)


# ---------------------------------------------------------------------------------------------
# firing thresholds (called by engine.core.timers for purpose 'sla')


_TEMPLATE = {"prewarn_50": ("预警", "pre_warning"), "prewarn_80": ("预警", "pre_warning"),
             "overdue": ("超期", "overdue"), "supervise": ("督办", "supervision")}


def fire(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
         worker: str) -> bool:
    """Raise one threshold's notice, exactly once: marked fired in the same transaction."""
    clock_id, level = payload["clock_id"], payload["level"]
    with db.write() as conn:
        marked = conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                              .values(fired_at=now)).rowcount
        if marked != 1:
            return False
        c = conn.execute(select(sla_clock_t).where(sla_clock_t.c.id == clock_id)).first()
        if c is None or c.status != "running":
            return False
        item = None
        if c.work_item_id:
            item = conn.execute(select(work_item_t.c.assignee, work_item_t.c.candidate_group, work_item_t.c.name)
                                .where(work_item_t.c.id == c.work_item_id)).first()
        user, group = _recipient(level, item)
        kind, template = _TEMPLATE[level]
        step_title = c.title or (item.name if item else c.sla_key)
        holder = (item.assignee or item.candidate_group) if item is not None else "—"
        number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
        body = templates.render(template, {
            "assignee": holder or "—", "application_no": number or f"#{instance_id}", "step": step_title,
            "percent": level[-2:] if level.startswith("prewarn") else "100",
            "deadline": c.deadline_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
            "team": (item.candidate_group if item is not None else None) or "—"})
        conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=c.work_item_id, clock_id=c.id, kind=kind,
            recipient_user=user, recipient_group=group, title=f"{kind}：{step_title}", body=body,
            requires_ack=(level == "supervise"), created_at=now))
        head = _instance_head(conn, instance_id)
        _append(conn, head, [history.NewEvent("sla_" + level, now, actor="scheduler", task_id=c.work_item_id,
                                              payload={"clock_id": c.id, "sla_key": c.sla_key, "worker": worker,
                                                       "to_user": user, "to_group": group})])
    return True


def _recipient(level: str, item: Any) -> tuple[str | None, str | None]:
    if level.startswith("prewarn"):
        if item is not None and item.assignee:
            return item.assignee, None
        return None, item.candidate_group if item is not None else "lead"
    if level == "overdue":
        return None, "lead"
    return None, "supervisor"


def reminder_rows(db: Database, instance_id: int, items: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """A reminder per new work item, due when it has waited the configured hours untouched."""
    rules = active_rules(db)
    hours = float(rules.thresholds.get("reminder_after_hours", 0)) if rules else 0
    if hours <= 0:
        return []
    due = now + dt.timedelta(hours=hours)
    return [{"instance_id": instance_id, "task_id": item["id"], "purpose": REMINDER, "due_at": due,
             "payload": {"work_item_id": item["id"]}} for item in items]


def fire_reminder(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
                  worker: str) -> bool:
    """Remind the holder (or the group) of a task still open; nothing if it was done meanwhile."""
    with db.write() as conn:
        if conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                        .values(fired_at=now)).rowcount != 1:
            return False
        item = conn.execute(select(work_item_t).where(work_item_t.c.id == payload["work_item_id"])).first()
        if item is None or item.status != "open":
            return False
        waited = now - item.created_at
        number = conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()
        body = templates.render("reminder", {"application_no": number or f"#{instance_id}", "step": item.name,
                                             "hours": f"{waited.total_seconds() / 3600:.0f}"})
        conn.execute(insert(notice_t).values(
            instance_id=instance_id, work_item_id=item.id, kind="提醒", recipient_user=item.assignee,
            recipient_group=None if item.assignee else item.candidate_group, title=f"提醒：{item.name}",
            body=body, created_at=now))
        _append(conn, _instance_head(conn, instance_id), [history.NewEvent(
            "task_reminded", now, actor="scheduler", task_id=item.id, task_spec=item.task_spec,
            payload={"to_user": item.assignee, "to_group": None if item.assignee else item.candidate_group,
                     "worker": worker})])
    return True


def acknowledge(db: Database, notice_id: int, *, actor: str) -> None:
    with db.write() as conn:
        res = conn.execute(update(notice_t).where(notice_t.c.id == notice_id, notice_t.c.acknowledged_at.is_(None))
                           .values(acknowledged_at=clock.now(), acknowledged_by=actor))
        if res.rowcount != 1:
            raise InvalidState(f"notice {notice_id} does not exist or was already acknowledged")


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


def get_notice(db: Database, notice_id: int) -> dict[str, Any] | None:
    with db.read() as conn:
        row = conn.execute(select(notice_t).where(notice_t.c.id == notice_id)).first()
    return dict(row._mapping) if row is not None else None


def notices(db: Database, *, user: str | None = None, groups: set[str] | None = None,
            open_only: bool = True) -> list[dict[str, Any]]:
    q = select(notice_t)
    conds = []
    if user is not None:
        conds.append(notice_t.c.recipient_user == user)
    if groups:
        conds.append(notice_t.c.recipient_group.in_(groups))
    if conds:
        from sqlalchemy import or_
        q = q.where(or_(*conds))
    if open_only:
        q = q.where(notice_t.c.acknowledged_at.is_(None))
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(notice_t.c.created_at, notice_t.c.id))]

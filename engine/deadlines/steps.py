"""Deadlines inside engine commands: the write hook that starts, stops and pauses SLA clocks for
what a step opened and closed, and the `workdays_before` script helper.

Both run in the command's own transaction or script engine; `engine.wiring` plugs them into the
core's `store.WRITE_HOOKS` and `step.SCRIPT_HELPERS`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from engine.core import anchors
from engine.core.db import Database
from engine.core.history import NewEvent
from engine.core.step import Step
from engine.core.store import Written
from engine.deadlines import calendar, calendar_watch, notices, sla


def on_write(conn: Connection, step: Step, written: Written) -> tuple[list[NewEvent], list[dict[str, Any]]]:
    """The clock events of this command and the reminder timers of the tasks it opened."""
    events = _clock_events(conn, step, written)
    if any(e.type in ("sla_started", "sla_resumed") and _provisional(e) for e in events):
        calendar_watch.raise_notices(conn, step.db, step.now)  # loud, once a day: never blocking
    timers = notices.reminder_rows(step.db, step.instance_id, written.new_items, step.now) if written.new_items else []
    return events, timers


def _clock_events(conn: Connection, step: Step, w: Written) -> list[NewEvent]:
    iid, now = step.instance_id, step.now
    events: list[NewEvent] = []
    if w.status in ("completed", "cancelled"):
        ended_normally = w.status == "completed" and not step.withdrawn
        return sla.close_clocks(conn, instance_id=iid, item_ids=None,
                                outcome="done" if ended_normally else "void", now=now)
    timed_done = {i for i in w.done if i in step.sla_before}
    timed_gone = {i for i in w.gone if i in step.sla_before}
    if timed_done:
        events += sla.close_clocks(conn, instance_id=iid, item_ids=timed_done, outcome="done", now=now)
    if timed_gone:
        events += sla.close_clocks(conn, instance_id=iid, item_ids=timed_gone, outcome="void", now=now)
    if sla.PROCESS_KEY in step.finished_property("slaEnd"):  # e.g. energizing ends the whole-process clock
        events += sla.close_process_clock(conn, instance_id=iid, now=now)
    if any(i in step.pause_before for i in w.done | w.gone):  # the customer's part is over
        events += sla.resume_in(conn, step.db, iid, actor=None, now=now, strict=False)[1]
    kind = w.business_type or step.business_type
    if w.business_type is None and step.business_type:
        events += sla.start_process_clock(conn, step.db, instance_id=iid, business_type=step.business_type,
                                          started_at=w.started_at or now, now=now)
    if w.new_items and step.sla_keys:
        events += sla.start_step_clocks(conn, step.db, instance_id=iid, business_type=kind, items=w.new_items,
                                        sla_keys=step.sla_keys, now=now, starts=clock_starts(conn, step, w))
    for reason in sorted(set(step.pauses.values())):  # a customer step opened: their time, not ours
        events += sla.pause_in(conn, iid, reason=reason, actor=None, now=now, strict=False)[1]
    return events


def clock_starts(conn: Connection, step: Step, w: Written) -> dict[str, tuple[dt.datetime, str]]:
    """The earlier starts of new assessed steps whose task names an anchor (`slaFrom`): the clock of
    装表接电 runs from inspection passed and contract signed, not from when 送电 opens."""
    starts = {}
    for item in w.new_items:
        spec = step.definition.task_info(step.task_by_id(item["id"])).properties.get("slaFrom")
        if item["id"] in step.sla_keys and spec:
            found = anchors.resolve(conn, step, step.task_by_id(item["id"]), spec)
            if found is not None and found[0] < step.now:
                starts[item["id"]] = found
    return starts


def _provisional(event: NewEvent) -> bool:
    if event.type == "sla_started":
        return bool(event.payload.get("provisional"))
    return any(c.get("provisional") for c in event.payload.get("clocks", []))


def workdays_before(db: Database) -> Callable[[Any, int], str]:
    """For scripts: the date N working days before `day` (ISO date or date), from the calendar;
    a year without official data counts Monday–Friday, as warnings are not assessed deadlines."""

    def helper(day: Any, n: int) -> str:
        current = dt.date.fromisoformat(day) if isinstance(day, str) else day
        if not isinstance(current, dt.date) or not isinstance(n, int) or not 0 <= n <= 250:
            raise ValueError("workdays_before(date, n) takes an ISO date and 0 ≤ n ≤ 250")
        while n > 0:
            current -= dt.timedelta(days=1)
            if calendar.is_workday(db, current, fallback=True):
                n -= 1
        return current.isoformat()

    return helper

"""After-sales (售后跟进营销): when a case ends, the customer manager follows it up once.

A finished case (a `new_connection` or `change` case that completed — archived and called back —
and was not withdrawn) gets one `after_sales` process of its own, whose one user task
(`follow_up_marketing`, the customer manager's lane) records the value-added services offered
(能效服务, 电费套餐, 充电桩 …) and the outcome. Its time limit is the `after_sales` row of the
active rule set (not an assessed step of the case; its own KPI in `engine.audit.kpi`).

How it starts, so that replay stays exact: the command that completes a case adds, through this
module's write hook (`store.WRITE_HOOKS`, which sees the case's data, unlike a case-end hook,
which also runs for cancellations and failed starts), a timer row (purpose `after_sales`) due at
once. The scheduler's pass fires it: the after-sales case is started with its own recorded
`instance_started` event (business key `SH-<case id>`), the timer is marked fired and the case's
chain gets an `after_sales_started` event. Neither case's replay re-runs the other; a start that
succeeded before a crash is found by its business key, so a case is followed up exactly once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, select, update

from engine.core import history, queries, runtime, store, worklist
from engine.core.actors import SYSTEM
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import instance_t, timer_t
from engine.core.step import Step

PROCESS_KEY = "after_sales"
PURPOSE = "after_sales"
TASK = "follow_up_marketing"
SLA_KEY = "after_sales"
#: the business type the after-sales cases carry: its rule (`*`/after_sales) applies, no whole-process clock
BUSINESS_TYPE = "after_sales"
#: the processes whose end opens a follow-up (called processes end too, but are not cases)
CASE_PROCESSES = ("new_connection", "change")
#: case data the follow-up shows the customer manager (read-only on its form)
CARRIED = ("customer_name", "mobile", "address", "capacity_text", "wechat_bound", "payment_method", "account_no")


def business_key(case_id: int) -> str:
    return f"SH-{case_id}"


def case_of(key: str | None) -> int | None:
    """The case a follow-up's business key names (None for any other key)."""
    if not key or not key.startswith("SH-") or not key[3:].isdigit():
        return None
    return int(key[3:])


def on_write(conn: Connection, step: Step, written: store.Written) -> tuple[list[history.NewEvent], list[dict[str, Any]]]:
    """Write hook: a case that completes now, not withdrawn, gets its follow-up's start timer."""
    if (step.instance_id is None or written.status != "completed" or step.wf.spec.name not in CASE_PROCESSES
            or step.withdrawn):
        return [], []
    return [], [{"instance_id": step.instance_id, "task_id": f"{PURPOSE}:{step.instance_id}", "purpose": PURPOSE,
                 "due_at": step.now, "payload": {"case_id": step.instance_id}}]


def start_data(case: queries.InstanceView, business_type: str | None = None) -> dict[str, Any]:
    """The follow-up's start data: who to call and what the case was (`business_type`: the case's
    column, or for cases with none, such as changes of use, the process key)."""
    data = case.data or {}
    out: dict[str, Any] = {k: data[k] for k in CARRIED if data.get(k) is not None}
    out.update(case_id=case.id, case_application_no=data.get("application_no") or case.business_key or f"#{case.id}",
               case_business_type=data.get("business_type") or business_type or case.key, business_type=BUSINESS_TYPE)
    return out


def _existing(db: Database, case_id: int) -> int | None:
    with db.read() as conn:
        return conn.execute(select(instance_t.c.id).where(instance_t.c.business_key == business_key(case_id))
                            .order_by(instance_t.c.id).limit(1)).scalar()


def fire_start(db: Database, timer_id: int, instance_id: int, payload: dict[str, Any], now: dt.datetime,
               worker: str) -> bool:
    """Start the case's follow-up (once); a withdrawn, cancelled or vanished case gets none."""
    with db.read() as conn:
        if conn.execute(select(timer_t.c.fired_at).where(timer_t.c.id == timer_id)).scalar() is not None:
            return False
    try:
        case = queries.get_instance(db, instance_id)
    except NotFound:
        case = None
    started = None
    if case is not None and case.status == "completed" and (case.data or {}).get("case_outcome") != "withdrawn":
        started = _existing(db, instance_id)
        if started is None:
            with db.read() as conn:
                kind = conn.execute(select(instance_t.c.business_type).where(instance_t.c.id == instance_id)).scalar()
            try:
                started = runtime.start_instance(db, PROCESS_KEY, start_data(case, kind), actor=SYSTEM,
                                                 business_key=business_key(instance_id)).instance_id
            except NotFound:  # the after-sales model is not deployed here: nothing to open
                started = None
    with db.write() as conn:
        if conn.execute(update(timer_t).where(timer_t.c.id == timer_id, timer_t.c.fired_at.is_(None))
                        .values(fired_at=now)).rowcount != 1:
            return False
        if started is not None:
            store.append_to_chain(conn, store.case_head(conn, instance_id), [history.NewEvent(
                "after_sales_started", now, actor="scheduler",
                payload={"after_sales_id": started, "business_key": business_key(instance_id), "worker": worker})])
    return started is not None


def open_follow_ups(db: Database, *, group: str | None = "manager") -> list[worklist.TaskRow]:
    """The customer managers' after-sales list: their work list narrowed to the follow-up task."""
    return worklist.items(db, worklist.TaskFilter(task_specs=(TASK,), candidate_group=group), sort="created")


@dataclass
class FollowUp:
    """One open follow-up as the customer manager's after-sales list shows it."""

    task: worklist.TaskRow
    case_id: int | None
    case_no: str | None  # the finished case's application number (its business key)
    finished_at: dt.datetime | None  # when the case ended


def follow_up_list(db: Database, where: worklist.TaskFilter | None = None) -> list[FollowUp]:
    """The open follow-ups `where` lets one see (the one work-list query), oldest due first, each with
    the case it follows up and when that case finished."""
    rows = worklist.items(db, replace(where or worklist.TaskFilter(), task_specs=(TASK,)), sort="due")
    cases = {r.id: r for r in _cases(db, {c for c in (case_of(t.business_key) for t in rows) if c is not None})}
    out = []
    for t in rows:
        case = cases.get(case_of(t.business_key))  # type: ignore[arg-type]
        out.append(FollowUp(t, case.id if case else case_of(t.business_key), case.business_key if case else None,
                            case.ended_at if case else None))
    return out


def _cases(db: Database, ids: set[int]) -> list[Any]:
    if not ids:
        return []
    with db.read() as conn:
        return list(conn.execute(select(instance_t.c.id, instance_t.c.business_key, instance_t.c.ended_at)
                                 .where(instance_t.c.id.in_(sorted(ids)))))

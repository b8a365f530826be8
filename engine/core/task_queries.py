"""Task-list queries for the staff pages: open work items joined with their case's search columns.

`runtime.list_work_items` answers the engine's own questions (what is open in this instance);
the staff pages also filter by the case's business type and by deadline, sort by due date, and
show who the case is for. One query does that here, plus the counts shown on the list tabs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from engine.core.db import Database
from engine.core.models import instance_t, work_item_t


@dataclass
class TaskRow:
    id: str
    instance_id: int
    task_spec: str
    name: str
    process_key: str
    candidate_group: str | None
    assignee: str | None
    priority: int
    created_at: dt.datetime
    due_at: dt.datetime | None
    business_key: str | None
    business_type: str | None
    customer_name: str | None
    customer_mobile: str | None
    channel: str | None
    milestone: str | None


_COLUMNS = (work_item_t.c.id, work_item_t.c.instance_id, work_item_t.c.task_spec, work_item_t.c.name,
            work_item_t.c.process_key, work_item_t.c.candidate_group, work_item_t.c.assignee,
            work_item_t.c.priority, work_item_t.c.created_at, work_item_t.c.due_at,
            instance_t.c.business_key, instance_t.c.business_type, instance_t.c.customer_name,
            instance_t.c.customer_mobile, instance_t.c.channel, instance_t.c.milestone)


def _conditions(*, assignee: str | None, groups: set[str] | frozenset[str] | None, unassigned: bool,
                business_type: str | None, overdue_at: dt.datetime | None,
                due_before: dt.datetime | None) -> list[Any]:
    conds: list[Any] = [work_item_t.c.status == "open"]
    if assignee is not None:
        conds.append(work_item_t.c.assignee == assignee)
    if groups is not None:
        conds.append(work_item_t.c.candidate_group.in_(sorted(groups)))
    if unassigned:
        conds.append(work_item_t.c.assignee.is_(None))
    if business_type:
        conds.append(instance_t.c.business_type == business_type)
    if overdue_at is not None:
        conds.append(and_(work_item_t.c.due_at.is_not(None), work_item_t.c.due_at < overdue_at))
    if due_before is not None:
        conds.append(and_(work_item_t.c.due_at.is_not(None), work_item_t.c.due_at <= due_before))
    return conds


def list_tasks(db: Database, *, assignee: str | None = None, groups: set[str] | frozenset[str] | None = None,
               unassigned: bool = False, business_type: str | None = None,
               overdue_at: dt.datetime | None = None, due_before: dt.datetime | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[TaskRow], int]:
    """Open work items matching every filter given, soonest deadline first; and how many match.

    `groups` restricts to those candidate groups, `unassigned` to items nobody has claimed,
    `overdue_at` to items whose deadline lies before that instant.
    """
    conds = _conditions(assignee=assignee, groups=groups, unassigned=unassigned, business_type=business_type,
                        overdue_at=overdue_at, due_before=due_before)
    base = select(*_COLUMNS).join(instance_t, instance_t.c.id == work_item_t.c.instance_id).where(*conds)
    order = (case((work_item_t.c.due_at.is_(None), 1), else_=0), work_item_t.c.due_at,
             work_item_t.c.priority.desc(), work_item_t.c.created_at, work_item_t.c.id)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(base.order_by(*order).limit(limit).offset(offset)).all()
    return [TaskRow(*r) for r in rows], total


def counts(db: Database, *, user: str, groups: set[str] | frozenset[str], now: dt.datetime) -> dict[str, int]:
    """Open items held by `user` ("mine"), unclaimed in their groups ("group"), and overdue among both."""
    mine = work_item_t.c.assignee == user
    group = and_(work_item_t.c.assignee.is_(None), work_item_t.c.candidate_group.in_(sorted(groups or {""})))
    overdue = and_(work_item_t.c.due_at.is_not(None), work_item_t.c.due_at < now)
    q = select(func.count().filter(mine), func.count().filter(group),
               func.count().filter(and_(or_(mine, group), overdue))).where(work_item_t.c.status == "open")
    with db.read() as conn:
        m, g, o = conn.execute(q).one()
    return {"mine": m or 0, "group": g or 0, "overdue": o or 0}

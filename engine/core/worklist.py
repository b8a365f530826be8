"""Work-list queries for the REST API (Camunda-like filters and sorting) and delegating a task.

`search` answers the task lists: who may see what is given as `visible_groups`/`visible_user`
(a staff member sees the tasks of their groups and the tasks they hold or did; pass `None` for
both to see everything, as auditors do). `delegate` hands an open task to another active member
of its candidate group; it is a history event (`task_delegated`) like claim and unclaim.
(The pages use `engine.core.task_queries`; this module belongs to the REST API.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from engine.core import clock, runtime
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import instance_t, work_item_t

SORTS = ("due", "-due", "priority", "-priority", "created", "-created")
STATUSES = ("open", "completed", "cancelled", "all")
#: Groups whose members may hand any task of a group they belong to to someone else.
LEADS = frozenset({"lead"})


@dataclass
class TaskSummary:
    item: runtime.WorkItemView
    business_key: str | None
    business_type: str | None
    customer_name: str | None
    instance_status: str


def _order(sort: str) -> list[Any]:
    w = work_item_t.c
    due_asc, due_desc = w.due_at.asc().nulls_last(), w.due_at.desc().nulls_last()
    first = {
        "due": [due_asc, w.priority.desc()],
        "-due": [due_desc, w.priority.desc()],
        "priority": [w.priority.desc(), due_asc],
        "-priority": [w.priority.asc(), due_asc],
        "created": [w.created_at.asc()],
        "-created": [w.created_at.desc()],
    }[sort]
    return [*first, w.created_at.asc(), w.id.asc()]


def search(db: Database, *, visible_groups: set[str] | frozenset[str] | None = None,
           visible_user: str | None = None, candidate_group: str | None = None, assignee: str | None = None,
           unassigned: bool | None = None, business_type: str | None = None, due_before: dt.datetime | None = None,
           overdue: bool | None = None, instance_id: int | None = None, status: str = "open", sort: str = "due",
           now: dt.datetime | None = None, limit: int = 50, offset: int = 0) -> tuple[list[TaskSummary], int]:
    """Tasks matching every given filter, one page of them, and how many match in all."""
    if sort not in SORTS:
        raise InvalidData("unknown sort", details={"sort": [f"use one of: {', '.join(SORTS)}"]})
    if status not in STATUSES:
        raise InvalidData("unknown status", details={"status": [f"use one of: {', '.join(STATUSES)}"]})
    w, i = work_item_t.c, instance_t.c
    conds: list[Any] = []
    if visible_groups is not None or visible_user is not None:
        seen = []
        if visible_groups:
            seen.append(w.candidate_group.in_(sorted(visible_groups)))
        if visible_user:
            seen.append(w.assignee == visible_user)
            seen.append(w.completed_by == visible_user)
        conds.append(or_(*seen) if seen else w.id.is_(None))
    if status != "all":
        conds.append(w.status == status)
    if candidate_group is not None:
        conds.append(w.candidate_group == candidate_group)
    if assignee is not None:
        conds.append(w.assignee == assignee)
    if unassigned is True:
        conds.append(w.assignee.is_(None))
    elif unassigned is False:
        conds.append(w.assignee.is_not(None))
    if business_type is not None:
        conds.append(i.business_type == business_type)
    if due_before is not None:
        conds.append(w.due_at <= due_before)
    if overdue is not None:
        at = now or clock.now()
        conds.append(w.due_at < at if overdue else or_(w.due_at.is_(None), w.due_at >= at))
    if instance_id is not None:
        conds.append(w.instance_id == instance_id)
    base = select(work_item_t, i.business_key, i.business_type, i.customer_name,
                  i.status.label("instance_status")).join(instance_t, i.id == w.instance_id).where(*conds)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(
            select(w.id).join(instance_t, i.id == w.instance_id).where(*conds).subquery())).scalar_one()
        rows = conn.execute(base.order_by(*_order(sort)).limit(limit).offset(offset)).all()
    return [TaskSummary(runtime._item_view(r), r.business_key, r.business_type, r.customer_name,
                        r.instance_status) for r in rows], total


def may_see(actor: runtime.Actor, item: runtime.WorkItemView, *, read_all: bool = False) -> bool:
    """Staff see their groups' tasks and the tasks they hold or did."""
    return (read_all or actor.system or (item.candidate_group is not None and item.candidate_group in actor.groups)
            or actor.name in (item.assignee, item.completed_by))


def delegate(db: Database, item_id: str, to_user: str, *, actor: runtime.Actor,
             note: str = "") -> runtime.WorkItemView:
    """Hand an open task to another member of its group (see `engine.core.runtime.delegate`)."""
    return runtime.delegate(db, item_id, to_user, actor=actor, note=note, leads=LEADS)

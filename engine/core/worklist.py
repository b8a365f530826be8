"""The work list: the one read model of work items, for the REST API, the staff pages, the CLI and the engine.

Every list of tasks is one `TaskFilter` over work items joined with their case's search columns:
`search` answers a page of it and how many match in all (REST lists, the pages' task lists),
`items` all of it for the engine's own questions (what is open in this case). Who may see what is
part of the filter (`visible_groups`/`visible_user`: a staff member sees the tasks of their groups
and the tasks they hold or did; `None` for both sees everything, as auditors do).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from engine.core import clock, keyset
from engine.core.actors import Actor
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.models import instance_t, work_item_t

SORTS = ("due", "-due", "priority", "-priority", "created", "-created", "follow_up")
#: `TaskFilter.text` and case search read at most this many characters.
TEXT_MAX = 100
STATUSES = ("open", "completed", "cancelled", "all")


@dataclass
class WorkItemView:
    id: str
    instance_id: int
    task_spec: str
    name: str
    candidate_group: str | None
    assignee: str | None
    status: str
    created_at: dt.datetime
    due_at: dt.datetime | None = None
    form_schema: str | None = None
    form_ui_schema: str | None = None
    lane: str | None = None
    process_key: str | None = None
    priority: int = 50
    completed_by: str | None = None
    completed_at: dt.datetime | None = None
    due_provisional: bool = False  # counted over a year with no official calendar (an estimate)
    follow_up_on: dt.date | None = None  # 跟进日期 its holder set


@dataclass
class TaskRow(WorkItemView):
    """A work item with the columns people find its case by, as every task list shows it."""

    business_key: str | None = None
    business_type: str | None = None
    customer_name: str | None = None
    customer_mobile: str | None = None
    channel: str | None = None
    milestone: str | None = None
    instance_status: str | None = None


@dataclass(frozen=True)
class TaskFilter:
    """Which work items: every field given narrows the list (`status="all"` for any status)."""

    status: str = "open"
    visible_groups: set[str] | frozenset[str] | None = None
    visible_user: str | None = None
    candidate_group: str | None = None
    assignee: str | None = None
    unassigned: bool | None = None
    business_type: str | None = None
    due_before: dt.datetime | None = None
    overdue: bool | None = None
    now: dt.datetime | None = None
    instance_id: int | None = None
    task_specs: tuple[str, ...] | None = None
    text: str | None = None  # part of the application number, customer name or mobile
    follow_up_by: dt.date | None = None  # a follow-up day on or before this day

    def conditions(self) -> list[Any]:
        if self.status not in STATUSES:
            raise InvalidData("unknown status", details={"status": [f"use one of: {', '.join(STATUSES)}"]})
        w, i = work_item_t.c, instance_t.c
        conds: list[Any] = [] if self.status == "all" else [w.status == self.status]
        if self.visible_groups is not None or self.visible_user is not None:
            seen = [w.candidate_group.in_(sorted(self.visible_groups))] if self.visible_groups else []
            if self.visible_user:
                seen.append(w.assignee == self.visible_user)
                if self.status != "open":  # an open item has no completer: an OR on it defeats every index
                    seen.append(w.completed_by == self.visible_user)
            conds.append(or_(*seen) if seen else w.id.is_(None))
        for column, value in ((w.candidate_group, self.candidate_group), (w.assignee, self.assignee),
                              (i.business_type, self.business_type), (w.instance_id, self.instance_id)):
            if value is not None:
                conds.append(column == value)
        if self.task_specs is not None:
            conds.append(w.task_spec.in_(self.task_specs))
        if self.unassigned is not None:
            conds.append(w.assignee.is_(None) if self.unassigned else w.assignee.is_not(None))
        if self.due_before is not None:
            conds.append(w.due_at <= self.due_before)
        if self.text:
            conds.append(case_matches(self.text))
        if self.follow_up_by is not None:
            conds.append(w.follow_up_on <= self.follow_up_by)
        if self.overdue is not None:
            at = self.now or clock.now()
            conds.append(w.due_at < at if self.overdue else or_(w.due_at.is_(None), w.due_at >= at))
        return conds


def case_matches(text: str) -> Any:
    """The case's application number, customer name or mobile contains `text` literally (`%`, `_`
    and `\\` match themselves): the one text search of the task lists and of case search."""
    like = "%" + text.strip()[:TEXT_MAX].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(*(c.like(like, escape="\\") for c in (instance_t.c.business_key, instance_t.c.customer_name,
                                                      instance_t.c.customer_mobile)))


_CASE_COLUMNS = (instance_t.c.business_key, instance_t.c.business_type, instance_t.c.customer_name,
                 instance_t.c.customer_mobile, instance_t.c.channel, instance_t.c.milestone,
                 instance_t.c.status.label("instance_status"))
_WORK_ITEM_KEYS = tuple(WorkItemView.__dataclass_fields__)
_ROW_KEYS = tuple(TaskRow.__dataclass_fields__)


#: each public sort (`SORTS`) as its keys; `None` is the engine's own order: priority, then age.
#: Every order ends with age and id, so it is total and a keyset cursor can resume it.
_SORT_KEYS: dict[str | None, tuple[tuple[str, bool], ...]] = {
    None: (("priority", True),),
    "due": (("due_at", False), ("priority", True)),
    "-due": (("due_at", True), ("priority", True)),
    "priority": (("priority", True), ("due_at", False)),
    "-priority": (("priority", False), ("due_at", False)),
    "created": (("created_at", False),),
    "-created": (("created_at", True),),
    "follow_up": (("follow_up_on", False), ("due_at", False)),
}
_KINDS: dict[str, type] = {"due_at": dt.datetime, "created_at": dt.datetime, "priority": int, "id": str,
                           "follow_up_on": dt.date}
_NULLABLE = {"due_at", "follow_up_on"}


def sort_keys(sort: str | None) -> list[keyset.Key]:
    """The keys of a sort, ties broken by age and id."""
    if sort not in _SORT_KEYS:
        raise InvalidData("unknown sort", details={"sort": [f"use one of: {', '.join(SORTS)}"]})
    named = (*_SORT_KEYS[sort], ("created_at", False), ("id", False))
    return [keyset.Key(work_item_t.c[name], desc, name in _NULLABLE, _KINDS[name]) for name, desc in named]


def _order(sort: str | None) -> list[Any]:
    return [k.order() for k in sort_keys(sort)]


def joined(*extra: Any) -> Select[Any]:
    """Work items with their case's search columns (and `extra` columns), the rows of `task_row`."""
    return select(work_item_t, *_CASE_COLUMNS, *extra).join(instance_t, instance_t.c.id == work_item_t.c.instance_id)


def item_view(r: Any) -> WorkItemView:
    """A work item row (or a row with the work item's columns) as the engine hands it out."""
    return WorkItemView(**{k: getattr(r, k) for k in _WORK_ITEM_KEYS})


def task_row(r: Any) -> TaskRow:
    """A row of the joined work-list statement."""
    return TaskRow(**{k: getattr(r, k) for k in _ROW_KEYS})


#: `search` counts matches up to this many (then answers this number, shown as "1000+"): counting
#: every open item of a big group on each page view costs more than the page.
COUNT_CAP = 1_000


def search(db: Database, where: TaskFilter = TaskFilter(), *, sort: str = "due", limit: int = 50,
           offset: int = 0, count_cap: int = COUNT_CAP, after: list[Any] | None = None) -> tuple[list[TaskRow], int]:
    """One page of the tasks matching `where`, and how many match in all (at most `count_cap`).
    `after` (from `decode_cursor`) starts the page after that row instead of at `offset`."""
    keys = sort_keys(sort)
    conds = where.conditions()
    counted = select(work_item_t.c.id).where(*conds)
    if where.business_type is not None or where.text:
        counted = counted.join(instance_t, instance_t.c.id == work_item_t.c.instance_id)
    counted = counted.limit(count_cap)
    page = joined().where(*conds)
    page = page.where(keyset.after(keys, after)) if after is not None else page.offset(offset)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(counted.subquery())).scalar_one()
        rows = conn.execute(page.order_by(*(k.order() for k in keys)).limit(limit)).all()
    return [task_row(r) for r in rows], total


def cursor_after(row: WorkItemView, sort: str, key: str | bytes) -> str:
    """The opaque cursor of the page after `row` in `sort`."""
    return keyset.encode(sort, [getattr(row, k.column.name) for k in sort_keys(sort)], key)


def decode_cursor(token: str, sort: str, key: str | bytes) -> list[Any]:
    """A cursor's key values for `search(after=...)`; `InvalidData` (422) if it is not one of ours for `sort`."""
    return keyset.decode(token, sort, sort_keys(sort), key)


def items(db: Database, where: TaskFilter, *, sort: str | None = None) -> list[TaskRow]:
    """Every task matching `where` (no paging), for the engine's own questions."""
    with db.read() as conn:
        return items_in(conn, where, sort=sort)


def items_in(conn: Connection, where: TaskFilter, *, sort: str | None = None) -> list[TaskRow]:
    """`items` inside a transaction the caller holds (a case read with its open tasks)."""
    return [task_row(r) for r in conn.execute(joined().where(*where.conditions()).order_by(*_order(sort)))]


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


def may_see(actor: Actor, item: WorkItemView, *, read_all: bool = False) -> bool:
    """Staff see their groups' tasks and the tasks they hold or did."""
    return (read_all or actor.system or (item.candidate_group is not None and item.candidate_group in actor.groups)
            or actor.name in (item.assignee, item.completed_by))

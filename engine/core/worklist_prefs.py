"""What people add to their work list: a follow-up day on a task (跟进日期) and named filters.

Neither touches a case's workflow: a follow-up day is a note on the work item for the work list to
filter and sort by (`worklist.TaskFilter.follow_up_by`, sort `follow_up`), and a saved filter is a
user's own set of list parameters, visible to and deletable by that user only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from engine.core import clock
from engine.core.actors import Actor
from engine.core.db import Database
from engine.core.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.core.models import saved_filter_t, work_item_t

#: The list parameters a saved filter keeps (anything else is dropped), each at most `VALUE_MAX` long.
FILTER_KEYS = ("scope", "type", "overdue", "q", "follow_up", "sort")
VALUE_MAX = 100
NAME_MAX = 60
#: Filters one user may keep.
PER_USER = 30


@dataclass(frozen=True)
class SavedFilterView:
    id: int
    name: str
    params: dict[str, str]
    created_at: dt.datetime


def set_follow_up(db: Database, item_id: str, day: dt.date | None, *, actor: Actor) -> None:
    """Set (or clear, with `None`) the day to come back to an open task: its holder, or a member of
    its group while nobody holds it."""
    with db.write() as conn:
        row = conn.execute(select(work_item_t.c.status, work_item_t.c.assignee, work_item_t.c.candidate_group,
                                  work_item_t.c.name).where(work_item_t.c.id == item_id)).first()
        if row is None:
            raise NotFound(f"no task {item_id}")
        if row.status != "open":
            raise Conflict(f"task '{row.name}' is no longer open")
        if not (row.assignee == actor.name or (row.assignee is None and actor.may_work_in(row.candidate_group))):
            raise Forbidden(f"you may not set a follow-up day on task '{row.name}'")
        conn.execute(update(work_item_t).where(work_item_t.c.id == item_id).values(follow_up_on=day))


def _clean_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(params[k])[:VALUE_MAX] for k in FILTER_KEYS if params.get(k) not in (None, "")}


def save_filter(db: Database, username: str, name: str, params: dict[str, Any]) -> SavedFilterView:
    """Keep `params` under `name` for `username`; the same name again replaces that filter."""
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidData("a filter needs a name", details={"name": [f"请填写筛选名称（1至{NAME_MAX}个字）"]})
    clean = _clean_params(params)
    now = clock.now()
    with db.write() as conn:
        t = saved_filter_t.c
        existing = conn.execute(select(t.id).where(t.username == username, t.name == name)).scalar()
        if existing is not None:
            conn.execute(update(saved_filter_t).where(t.id == existing).values(params=clean, created_at=now))
        else:
            have = conn.execute(select(func.count()).where(t.username == username)).scalar_one()
            if have >= PER_USER:
                raise InvalidData("too many saved filters",
                                  details={"name": [f"最多保存{PER_USER}个筛选，请先删除不用的"]})
            existing = conn.execute(insert(saved_filter_t).values(username=username, name=name, params=clean,
                                                                  created_at=now).returning(t.id)).scalar_one()
    return SavedFilterView(existing, name, clean, now)


def saved_filters(db: Database, username: str) -> list[SavedFilterView]:
    """The user's own filters, by name."""
    t = saved_filter_t.c
    with db.read() as conn:
        rows = conn.execute(select(saved_filter_t).where(t.username == username).order_by(t.name)).all()
    return [SavedFilterView(r.id, r.name, _clean_params(r.params or {}), r.created_at) for r in rows]


def get_filter(db: Database, username: str, filter_id: int) -> SavedFilterView:
    """One of the user's filters; another user's is `NotFound`, as if it did not exist."""
    found = next((f for f in saved_filters(db, username) if f.id == filter_id), None)
    if found is None:
        raise NotFound(f"no saved filter {filter_id}")
    return found


def delete_filter(db: Database, username: str, filter_id: int) -> None:
    """Delete one of the user's filters; another user's is `NotFound` and stays."""
    t = saved_filter_t.c
    with db.write() as conn:
        gone = conn.execute(delete(saved_filter_t).where(t.id == filter_id, t.username == username)).rowcount
    if gone != 1:
        raise NotFound(f"no saved filter {filter_id}")

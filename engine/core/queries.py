"""Reading cases and tasks for people: one task, one task with its form, one case, cases to search.

Lists of tasks are `engine.core.worklist`; these reads never step a workflow, they only restore
one to show its data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import bindparam, func, select

from engine.core import calls, definitions, form_options, worklist
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import definition_t, instance_t, work_item_t
from engine.core.worklist import TaskFilter, TaskRow, WorkItemView


@dataclass
class InstanceView:
    id: int
    definition_id: int
    key: str
    definition_version: int
    business_key: str | None
    status: str
    instance_version: int
    milestone: str | None
    error: dict[str, Any] | None
    started_at: dt.datetime
    started_by: str
    ended_at: dt.datetime | None
    data: dict[str, Any] = field(default_factory=dict)
    open_items: list[WorkItemView] = field(default_factory=list)


@dataclass
class TaskDetail:
    """One task as its page shows it: the row, the case version to complete against, its form, its data."""

    task: TaskRow
    instance_version: int
    form: dict[str, Any] | None
    ui_schema: dict[str, Any] | None
    data: dict[str, Any]
    #: the case's definition seen through its called versions (the task's names, lanes and forms)
    definition: definitions.Definition | None = None


_TASK_WITH_CASE = (worklist.joined(instance_t.c.version.label("instance_version"), instance_t.c.definition_id,
                                   instance_t.c.state)
                   .where(work_item_t.c.id == bindparam("b_id")))


def get_work_item(db: Database, item_id: str) -> WorkItemView:
    with db.read() as conn:
        r = conn.execute(select(work_item_t).where(work_item_t.c.id == item_id)).first()
    if r is None:
        raise NotFound(f"task {item_id} does not exist")
    return worklist.item_view(r)


def task_detail(db: Database, item_id: str, *,
                visible: Callable[[TaskRow], bool] = lambda _task: True) -> TaskDetail:
    """A task with its case's version, its form and the data it sees: one read transaction, one row.

    A task the caller may not see (`visible`) does not exist for them either: `NotFound`.
    """
    with db.session() as session, session.read() as conn:
        r = conn.execute(_TASK_WITH_CASE, {"b_id": item_id}).first()
        task = worklist.task_row(r) if r is not None else None
        if task is None or not visible(task):
            raise NotFound(f"task {item_id} does not exist")
        definition = definitions.load(db, r.definition_id)  # cached; else read in this transaction
    try:
        definition, data = _task_data(db, definition, r.state, item_id)
    except Exception:  # noqa: BLE001 — a finished case may no longer hold the task
        data = {}
    form = definition.forms.get(task.form_schema) if task.form_schema else None
    ui = definition.forms.get(task.form_ui_schema) if task.form_ui_schema else None
    if isinstance(form, dict):
        form = form_options.resolve(form, data)
    return TaskDetail(task, r.instance_version, form, ui, data, definition)


def task_data(db: Database, item_id: str) -> dict[str, Any]:
    """The data the task sees, restored from its case's state."""
    with db.read() as conn:
        r = conn.execute(select(instance_t.c.definition_id, instance_t.c.state)
                         .join(work_item_t, work_item_t.c.instance_id == instance_t.c.id)
                         .where(work_item_t.c.id == item_id)).first()
    if r is None:
        raise NotFound(f"task {item_id} does not exist")
    return _task_data(db, definitions.load(db, r.definition_id), r.state, item_id)[1]


def _task_data(db: Database, definition: definitions.Definition, state: bytes,
               item_id: str) -> tuple[definitions.Definition, dict[str, Any]]:
    """The task's data, and the definition seen through the called versions the case bound (its form)."""
    composed, wf = calls.restore(db, definition, state)
    task = wf.get_task_from_id(uuid.UUID(item_id))
    return composed, CODEC.to_jsonable(dict(task.data)) if task is not None else {}


def case_definition(db: Database, instance_id: int) -> definitions.Definition:
    """The case's definition seen through the called versions it bound: every task's name, form and
    lane, also of the called processes (a version alone holds only its own process)."""
    with db.read() as conn:
        row = conn.execute(select(instance_t.c.definition_id, instance_t.c.state)
                           .where(instance_t.c.id == instance_id)).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    definition = definitions.load(db, row.definition_id)
    return calls.restore(db, definition, row.state)[0] if row.state else definition


def get_instance(db: Database, instance_id: int, *, with_data: bool = True) -> InstanceView:
    with db.read() as conn:
        row = conn.execute(select(instance_t).where(instance_t.c.id == instance_id)).first()
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        items = worklist.items_in(conn, TaskFilter(instance_id=instance_id), sort="created")
    definition = definitions.load(db, row.definition_id)
    data: dict[str, Any] = {}
    if with_data and row.state:
        _composed, wf = calls.restore(db, definition, row.state)
        data = instance_data(wf)
    return InstanceView(id=row.id, definition_id=row.definition_id, key=definition.key,
                        definition_version=definition.version, business_key=row.business_key,
                        status=row.status, instance_version=row.version, milestone=row.milestone, error=row.error,
                        started_at=row.started_at, started_by=row.started_by, ended_at=row.ended_at,
                        data=data, open_items=[*items])


def instance_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The case data as people think of it: the workflow's data, else the latest task's."""
    if wf.is_completed():
        return CODEC.to_jsonable(wf.data)
    ready = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
    source = max(ready, key=lambda t: t.last_state_change) if ready else wf.last_task
    return CODEC.to_jsonable(dict(source.data) if source is not None else dict(wf.data))


@dataclass
class InstanceSummary:
    id: int
    key: str
    definition_version: int
    business_key: str | None
    business_type: str | None
    customer_name: str | None
    customer_mobile: str | None
    channel: str | None
    status: str
    milestone: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None


def list_instances(db: Database, *, query: str | None = None, status: str | None = None,
                   key: str | None = None, business_type: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[InstanceSummary], int]:
    """Cases for lists and search: `query` matches the application number, customer name or mobile."""
    q = select(instance_t.c.id, definition_t.c.key, definition_t.c.version, instance_t.c.business_key,
               instance_t.c.business_type, instance_t.c.customer_name, instance_t.c.customer_mobile,
               instance_t.c.channel, instance_t.c.status, instance_t.c.milestone, instance_t.c.started_at,
               instance_t.c.ended_at).join(definition_t, definition_t.c.id == instance_t.c.definition_id)
    conds = []
    if query:
        conds.append(worklist.case_matches(query))
    if status:
        conds.append(instance_t.c.status == status)
    if key:
        conds.append(definition_t.c.key == key)
    if business_type:
        conds.append(instance_t.c.business_type == business_type)
    q = q.where(*conds)
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        rows = conn.execute(q.order_by(instance_t.c.id.desc()).limit(limit).offset(offset)).all()
    return [InstanceSummary(*r) for r in rows], total

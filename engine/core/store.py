"""Reading a case for a command and writing what the command did, in one version-guarded transaction.

A command reads the instance row in a short read (`load`, `load_item`), steps the workflow in
memory (`engine.core.step`), then `save`s everything it caused — new state, work-list changes,
history events, timers, outbox rows — gated by `UPDATE process_instance … WHERE version=?`. A
concurrent command that got there first makes the guard match nothing, and the loser gets a
`Conflict` instead of overwriting the winner. Other packages join the write through the hooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import Connection, and_, bindparam, delete, exists, func, insert, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.core import calls, clock, definitions, history, worklist
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import Conflict, NotFound
from engine.core.history import NewEvent
from engine.core.models import event_t, instance_t, outbox_t, timer_t, work_item_t
from engine.core.step import CLOCK_TIMER, Step
from engine.core.worklist import WorkItemView

#: Called in the writing transaction of the command that ends a case (completed or cancelled),
#: as `hook(conn, instance_id, now) -> [NewEvent]`: packages that keep records per case (the
#: dispatch centre's appointments and works list) release them with the case, atomically.
#: Filled by `engine.wiring.install`, like `WRITE_HOOKS`.
CASE_END_HOOKS: list[Callable[[Connection, int, dt.datetime], list[NewEvent]]] = []


@dataclass
class Written:
    """What a command's write is about to apply, as write hooks see it."""

    status: str
    new_items: list[dict[str, Any]]
    done: set[str]
    gone: set[str]
    business_type: str | None
    started_at: dt.datetime | None


#: Called in the writing transaction of every command that steps the workflow, as
#: `hook(conn, step, written) -> (events, timer rows)`: the deadlines package starts, stops and
#: pauses its clocks here, so they commit (or not) with the step that caused them.
WRITE_HOOKS: list[Callable[[Connection, Step, Written], tuple[list[NewEvent], list[dict[str, Any]]]]] = []


@dataclass
class Outcome:
    """What a command did, without reading the instance back."""

    instance_id: int
    status: str
    instance_version: int
    new_items: list[WorkItemView] = field(default_factory=list)
    error: dict[str, Any] | None = None


# the hot statements are built once (building them costs more than SQLite takes to run them)
_UPDATE_INSTANCE = update(instance_t).where(instance_t.c.id == bindparam("b_id"),
                                            instance_t.c.version == bindparam("b_version"))
_COMPLETE_ITEM = update(work_item_t).where(work_item_t.c.id == bindparam("b_id"))
_INSERT_ITEMS = insert(work_item_t)
_INSERT_TIMERS = insert(timer_t)
_ITEM_WITH_INSTANCE = (
    worklist.joined(instance_t.c.state, instance_t.c.version.label("instance_version"), instance_t.c.definition_id,
                    instance_t.c.event_seq, instance_t.c.last_hash,
                    instance_t.c.business_type.label("instance_business_type"), instance_t.c.started_at)
    .where(work_item_t.c.id == bindparam("b_id")))
_INSTANCE_BY_ID = select(instance_t).where(instance_t.c.id == bindparam("b_id"))


def save(db: Database, step: Step, row: Any, primary: NewEvent, *, status: str | None = None,
          previous_status: str | None = None, **write_kw: Any) -> Outcome:
    """Finish the command's events and write it, guarded by the version read in `row`."""
    status = status or step.status()
    events = finish_events(step, primary, status, previous_status or row.status)
    with db.write() as conn:
        return write(conn, step, instance_version=row.version, event_seq=row.event_seq, last_hash=row.last_hash,
                      status=status, events=events, business_type=row.business_type, started_at=row.started_at,
                      business_key=row.business_key, **write_kw)


def finish_events(step: Step, primary: NewEvent, status: str, previous_status: str | None) -> list[NewEvent]:
    primary.payload["trail"] = step.trail()
    primary.payload["opened"] = [row["task_spec"] for row in step.work_changes()[0]]
    if step.called():
        primary.payload["called"] = step.called()
    events = [primary, *step.events]
    if step.error is not None and previous_status != "error":
        events.append(NewEvent("instance_error", step.now, payload=step.error,
                               task_id=step.error.get("task_id"), task_spec=step.error.get("task_spec")))
    if status == "completed" and previous_status != "completed":
        events.append(NewEvent("instance_completed", step.now))
    return events


def write(conn: Connection, step: Step, *, instance_version: int, event_seq: int, last_hash: str,
           status: str, events: list[NewEvent], completed_item: tuple[str, str] | None = None,
           fired_timers: list[int] | None = None, business_type: str | None = None,
           started_at: dt.datetime | None = None, business_key: str | None = None) -> Outcome:
    """Apply one command's writes; raises Conflict if someone else wrote the instance first."""
    iid = step.instance_id
    new_items, gone = step.work_changes()
    done: set[str] = set()
    if completed_item is not None:
        done.add(completed_item[0])
        gone.discard(completed_item[0])
    hook_timers: list[dict[str, Any]] = []
    written = Written(status, new_items, done, gone, business_type, started_at)
    for write_hook in WRITE_HOOKS:
        more_events, more_timers = write_hook(conn, step, written)
        events = events + more_events
        hook_timers += more_timers
    if status in ("completed", "cancelled"):
        for hook in CASE_END_HOOKS:
            events = events + hook(conn, iid, step.now)
    rows, seq, head = history.chain_rows(iid, event_seq, last_hash, events)
    values: dict[str, Any] = {"state": CODEC.dumps(step.wf), "version": instance_version + 1,
                              "event_seq": seq, "last_hash": head, "status": status,
                              "error": step.error if status == "error" else None}
    if status in ("completed", "cancelled"):
        values["ended_at"] = step.now
    milestone = _milestone(step)
    if milestone:
        values["milestone"] = milestone
    if business_type is None and step.business_type:
        values["business_type"] = step.business_type
    values.update(step.summary())
    if business_key is None and step.application_no:
        values["business_key"] = step.application_no
    res = conn.execute(_UPDATE_INSTANCE, {"b_id": iid, "b_version": instance_version, **values})
    if res.rowcount != 1:
        raise Conflict("the case was changed by someone else at the same time; reload and try again")
    if completed_item is not None:
        item_id, actor = completed_item
        conn.execute(_COMPLETE_ITEM, {"b_id": item_id, "status": "completed", "completed_at": step.now,
                                      "completed_by": actor, "assignee": actor})
    if gone:
        conn.execute(update(work_item_t).where(work_item_t.c.id.in_(gone))
                     .values(status="cancelled", completed_at=step.now))
    if new_items:
        conn.execute(_INSERT_ITEMS, new_items)
    step.new_items = new_items
    if fired_timers:
        res = conn.execute(update(timer_t).where(timer_t.c.id.in_(fired_timers), timer_t.c.fired_at.is_(None))
                           .values(fired_at=step.now))
        if res.rowcount != len(fired_timers):
            raise Conflict("a timer was fired by another scheduler at the same time")
    new_timers, gone_timers = step.timer_changes()
    new_timers += hook_timers
    if gone_timers:
        conn.execute(delete(timer_t).where(and_(timer_t.c.instance_id == iid, timer_t.c.purpose == CLOCK_TIMER,
                                                timer_t.c.fired_at.is_(None), timer_t.c.task_id.in_(gone_timers))))
    if new_timers:
        conn.execute(_INSERT_TIMERS, new_timers)
    if step.effects.outbox:
        queue_outbox(conn, step)
    for table, row in step.effects.rows:
        conn.execute(insert(table), row)
    history.append(conn, rows)
    return Outcome(iid, status, instance_version + 1, [WorkItemView(**{k: r[k] for k in _VIEW_KEYS}) for r in new_items],
                   step.error)


_VIEW_KEYS = ("id", "instance_id", "task_spec", "name", "candidate_group", "assignee", "status", "created_at",
              "due_at", "form_schema", "form_ui_schema", "lane", "process_key", "priority", "due_provisional")


def queue_outbox(conn: Connection, step: Step) -> None:
    """Queue the messages the step's services asked for, once per idempotency key (one statement)."""
    rows, seen = [], set()
    for message in step.effects.outbox:
        if message["idempotency_key"] not in seen:
            seen.add(message["idempotency_key"])
            rows.append({**message, "instance_id": step.instance_id, "status": "pending", "attempts": 0,
                         "created_at": step.now, "next_attempt_at": step.now})
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(outbox_t).on_conflict_do_nothing(index_elements=[outbox_t.c.idempotency_key]), rows)


def _milestone(step: Step) -> str | None:
    """The latest customer-visible milestone reached: a `milestone` property on a finished task."""
    reached = step.finished_property("milestone")
    return reached[-1] if reached else None


def load(db: Database, instance_id: int) -> tuple[Any, definitions.Definition, BpmnWorkflow]:
    """The instance row, its definition version and the restored workflow, for a command."""
    with db.read() as conn:
        row = conn.execute(_INSTANCE_BY_ID, {"b_id": instance_id}).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    definition, wf = calls.restore(db, definitions.load(db, row.definition_id), row.state)
    return row, definition, wf


def load_item(db: Database, item_id: str, session: Any = None) -> Any:
    """A work item with its instance's row (state, version, chain head), for a command on the task."""
    with (session or db).read() as conn:
        found = conn.execute(_ITEM_WITH_INSTANCE, {"b_id": item_id}).first()
    if found is None:
        raise NotFound(f"task {item_id} does not exist")
    return found


def case_head(conn: Connection, instance_id: int) -> Any:
    """The case's version, chain head and status, read to append events under its version guard."""
    row = conn.execute(select(instance_t.c.id, instance_t.c.version, instance_t.c.event_seq, instance_t.c.last_hash,
                              instance_t.c.status).where(instance_t.c.id == instance_id)).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


def append_to_chain(conn: Connection, head: Any, events: list[NewEvent]) -> None:
    """Append events a package records about a case (clocks, bookings, reports) to its chain, under
    the same version guard engine commands use, in `conn`'s transaction."""
    rows, seq, last = history.chain_rows(head.id, head.event_seq, head.last_hash, events)
    res = conn.execute(update(instance_t).where(and_(instance_t.c.id == head.id, instance_t.c.version == head.version))
                       .values(version=head.version + 1, event_seq=seq, last_hash=last))
    if res.rowcount != 1:
        raise Conflict("the case was changed by someone else at the same time; try again")
    history.append(conn, rows)


def save_events(db: Database, row: Any, events: list[NewEvent],
                item_values: dict[str, Any] | None = None, item_guard: Any = None) -> None:
    """Save a command that does not step the workflow (claim, unclaim, delegate): its events and its
    work-item change, under the same version guard."""
    iid = row.instance_id
    rows, seq, head = history.chain_rows(iid, row.event_seq, row.last_hash, events)
    guard = and_(instance_t.c.id == iid, instance_t.c.version == row.instance_version)
    head_values = {"version": row.instance_version + 1, "event_seq": seq, "last_hash": head}
    if db.is_postgres and item_values is not None and rows:
        _save_events_at_once(db, guard, head_values, rows, item_values, item_guard)
        return
    with db.write() as conn:
        res = conn.execute(update(instance_t).where(guard).values(**head_values))
        if res.rowcount != 1:
            raise Conflict("the case was changed by someone else at the same time; reload and try again")
        if item_values is not None:
            res = conn.execute(update(work_item_t).where(item_guard).values(**item_values))
            if res.rowcount != 1:
                raise Conflict("the task was changed by someone else at the same time")
        history.append(conn, rows)


def _save_events_at_once(db: Database, guard: Any, head_values: dict[str, Any], rows: list[dict[str, Any]],
                         item_values: dict[str, Any], item_guard: Any) -> None:
    """PostgreSQL: the same write as one statement in autocommit (one round trip instead of five).
    The instance guard also checks the item's, and the item and the events are written only if the
    instance row was: every work-item change moves the instance version, so a concurrent writer
    blocks on the row lock and then finds the version moved."""
    head = (update(instance_t).where(guard, exists(select(work_item_t.c.id).where(item_guard)))
            .values(**head_values).returning(instance_t.c.id).cte("head"))
    won = exists(select(head.c.id))
    item = update(work_item_t).where(item_guard, won).values(**item_values).returning(work_item_t.c.id).cte("item")
    columns = list(rows[0])
    chosen = [select(*(literal(r[c], event_t.c[c].type) for c in columns)).where(won) for r in rows]
    added = (insert(event_t).from_select(columns, chosen[0] if len(chosen) == 1 else union_all(*chosen))
             .returning(event_t.c.id).cte("added"))
    stmt = select(select(func.count()).select_from(head).scalar_subquery(),
                  select(func.count()).select_from(item).scalar_subquery()).add_cte(added)
    with db.single() as conn:
        heads, items = conn.execute(stmt).one()
    if heads != 1 or items != 1:
        raise Conflict("the case or the task was changed by someone else at the same time; reload and try again")


def close_timers(db: Database, timer_ids: list[int], worker: str, why: str) -> None:
    """Mark timers done without touching their case (it ended, or no longer waits on them)."""
    with db.write() as conn:
        conn.execute(update(timer_t).where(timer_t.c.id.in_(timer_ids), timer_t.c.fired_at.is_(None))
                     .values(fired_at=clock.now(), payload={"closed": why, "worker": worker}))

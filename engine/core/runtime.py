"""The engine commands: start, complete, claim, unclaim, delegate, retry, cancel, send a message, fire timers.

Every command is one transaction with an optimistic lock: it reads the instance row in a short
read, steps the workflow in memory (`engine.core.step`), then writes everything it caused in one
transaction gated on the instance version (`engine.core.store`). Reads live in
`engine.core.queries` and `engine.core.worklist`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow import TaskState
from sqlalchemy import and_, delete, insert

from engine.core import calls, clock, definitions, form_options, forms, history, store, users
from engine.core.actors import SYSTEM, Actor
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import Conflict, Forbidden, InvalidData, InvalidState, NotFound
from engine.core.history import NewEvent
from engine.core.models import instance_t, work_item_t
from engine.core.step import Step
from engine.core.store import Outcome
from engine.core.worklist import TaskRow, WorkItemView, task_row

#: A form's checks beyond its schema that need the case or the database (a booking that has room),
#: by form file; filled by `engine.wiring`. Each gets (db, instance id, the task's data with the
#: submission laid over it, now) and returns {field: [Chinese messages]}, empty when all is well:
#: a refused submission leaves the task open, as a schema error does.
FormCheck = Callable[[Database, int, dict[str, Any], dt.datetime], dict[str, list[str]]]
FORM_CHECKS: dict[str, FormCheck] = {}
#: Checks every staff form's submission goes through (plausible times, documents of this case),
#: filled by `engine.wiring`. Each gets (db, instance id, the submission alone — so earlier steps'
#: values are not judged again —, the task's data, now) and returns {field: [Chinese messages]}.
SubmissionCheck = Callable[[Database, int, dict[str, Any], dict[str, Any], dt.datetime], dict[str, list[str]]]
SUBMISSION_CHECKS: list[SubmissionCheck] = []

#: Whether the caller may see a work item; a task they may not see does not exist for them (NotFound).
Visible = Callable[[WorkItemView], bool]


@dataclass
class TaskNow(TaskRow):
    """A task as a claim, unclaim or delegation left it, built from the row the command read (no
    re-read, no workflow restored): the row, its case's new version and its definition version."""

    instance_version: int = 0
    definition_id: int = 0


def _load_visible(db: Database, item_id: str, visible: Visible | None, session: Any = None) -> Any:
    row = store.load_item(db, item_id, session)
    if visible is not None and not visible(task_row(row)):
        raise NotFound(f"task {item_id} does not exist")
    return row


def _now_as(row: Any, **changes: Any) -> TaskNow:
    task = task_row(row)
    return TaskNow(**{**task.__dict__, **changes, "instance_version": row.instance_version + 1,
                      "definition_id": row.definition_id})


def _command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command on one pooled connection (one checkout for its read and its write)."""

    @functools.wraps(fn)
    def run(db: Database, *args: Any, **kwargs: Any) -> Any:
        with db.session():
            return fn(db, *args, **kwargs)

    return run


@_command
def start_instance(db: Database, key: str, data: dict[str, Any] | None = None, *, actor: Actor = SYSTEM,
                   business_key: str | None = None, version: int | None = None) -> Outcome:
    """Start the latest (or a given) version of process `key` with `data` as its start data.

    Atomic: the instance row is reserved first (events, work items and service handlers need its
    id), and removed again if anything fails before the start is written — no orphan is left. A
    model that fails while running is not a failure to start: the case is written in `error`.
    """
    definition = definitions.load(db, definitions.latest_id(db, key, version))
    data = CODEC.to_jsonable(dict(data or {}))
    wf = calls.new_workflow(db, definition)
    with db.write() as conn:
        iid = conn.execute(insert(instance_t).values(
            definition_id=definition.id, business_key=business_key, status="running", state=b"",
            version=0, event_seq=0, last_hash=history.GENESIS, started_at=clock.now(),
            started_by=actor.name).returning(instance_t.c.id)).scalar_one()
    try:
        step = Step(db, definition, wf, instance_id=iid, business_key=business_key, actor=actor.name)
        step.start(data)
        primary = NewEvent("instance_started", step.now, actor=actor.name, payload={
            "key": definition.key, "version": definition.version, "definition_id": definition.id,
            "business_key": business_key, "data": data})
        status = step.status()
        events = store.finish_events(step, primary, status, None)
        with db.write() as conn:
            return store.write(conn, step, instance_version=0, event_seq=0, last_hash=history.GENESIS,
                               status=status, events=events, started_at=step.now, business_key=business_key)
    except BaseException:
        _unreserve(db, iid)
        raise


def _unreserve(db: Database, iid: int) -> None:
    """Remove a reserved instance row that was never written, and whatever handlers held for it."""
    with db.write() as conn:
        for hook in store.CASE_END_HOOKS:
            hook(conn, iid, clock.now())
        conn.execute(delete(instance_t).where(instance_t.c.id == iid, instance_t.c.version == 0))


def complete_task(db: Database, item_id: str, data: dict[str, Any] | None = None, *,
                  actor: Actor, instance_version: int | None = None, visible: Visible | None = None) -> Outcome:
    """Complete a human task with form data validated against its JSON Schema.

    With `instance_version` (read with the task), a case that changed since is a `Conflict`.
    """
    with db.session() as session:
        return _complete(db, session, item_id, data, actor, instance_version, visible)


def _complete(db: Database, session: Any, item_id: str, data: dict[str, Any] | None, actor: Actor,
              instance_version: int | None, visible: Visible | None) -> Outcome:
    row = _load_visible(db, item_id, visible, session)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open (it is {row.status})")
    if row.assignee and row.assignee != actor.name and not actor.system:
        raise Conflict(f"task '{row.name}' is held by {row.assignee}")
    if not row.assignee and not actor.may_work_in(row.candidate_group):
        raise Forbidden(f"task '{row.name}' belongs to group '{row.candidate_group}'")
    if instance_version is not None and instance_version != row.instance_version:
        raise Conflict("the case changed since you opened it; reload and try again")
    definition, wf = calls.restore(db, definitions.load(db, row.definition_id), row.state)
    step = Step(db, definition, wf, instance_id=row.instance_id, business_key=row.business_key, actor=actor.name)
    task = step.task_by_id(item_id)
    if not task.has_state(TaskState.READY):
        raise Conflict(f"task '{row.name}' is no longer open")
    clean = _validated(definition, row.form_schema, data or {}, task.data)
    _check_with_case(db, row, clean, task.data, step.now)
    step.run_human_task(task, clean)
    status = step.status()
    primary = NewEvent("task_completed", step.now, actor=actor.name, task_id=item_id,
                       task_spec=row.task_spec, payload={"data": clean})
    events = store.finish_events(step, primary, status, row.instance_status)
    with session.write() as conn:
        return store.write(conn, step, instance_version=row.instance_version, event_seq=row.event_seq,
                           last_hash=row.last_hash, status=status, events=events,
                           completed_item=(item_id, actor.name), business_type=row.instance_business_type,
                           started_at=row.started_at, business_key=row.business_key)


def _validated(definition: definitions.Definition, form_file: str | None, data: dict[str, Any],
               task_data: dict[str, Any]) -> dict[str, Any]:
    """The submission checked against the task's form (compiled once per version and form); a form
    whose choices come from task data is resolved against this task's data first, so only the
    values the person was offered pass."""
    if form_file is None:
        return CODEC.to_jsonable(dict(data)) if isinstance(data, dict) else {}
    schema = definition.forms.get(form_file)
    if schema is None:
        raise InvalidState(f"form '{form_file}' is missing from this process version")
    if form_options.has_options(schema):
        return forms.check(form_options.resolve(schema, task_data), data)
    compiled = definition.validators.get(form_file)
    if compiled is None:
        compiled = definition.validators[form_file] = forms.validator(schema)
    return forms.check(schema, data, compiled)


def _check_with_case(db: Database, row: Any, clean: dict[str, Any], task_data: dict[str, Any],
                     now: dt.datetime) -> None:
    check = FORM_CHECKS.get(row.form_schema or "")
    problems = check(db, row.instance_id, {**task_data, **clean}, now) if check else {}
    if row.form_schema:
        for each in SUBMISSION_CHECKS:
            for field, messages in each(db, row.instance_id, clean, task_data, now).items():
                problems.setdefault(field, []).extend(messages)
    if problems:
        raise InvalidData("the form has errors: " + "; ".join(m for ms in problems.values() for m in ms),
                          details=problems)


@_command
def claim(db: Database, item_id: str, *, actor: Actor, visible: Visible | None = None) -> TaskNow:
    row = _load_visible(db, item_id, visible)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open")
    if row.assignee == actor.name:
        return _unchanged(row)
    if row.assignee:
        raise Conflict(f"task '{row.name}' is already held by {row.assignee}")
    if not actor.may_work_in(row.candidate_group):
        raise Forbidden(f"task '{row.name}' belongs to group '{row.candidate_group}'")
    now = clock.now()
    store.save_events(db, row, [NewEvent("task_claimed", now, actor=actor.name, task_id=item_id, task_spec=row.task_spec)],
                {"assignee": actor.name, "claimed_at": now},
                and_(work_item_t.c.id == item_id, work_item_t.c.status == "open", work_item_t.c.assignee.is_(None)))
    return _now_as(row, assignee=actor.name)


@_command
def unclaim(db: Database, item_id: str, *, actor: Actor, visible: Visible | None = None) -> TaskNow:
    row = _load_visible(db, item_id, visible)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open")
    if row.assignee is None:
        return _unchanged(row)
    if row.assignee != actor.name and not actor.system:
        raise Forbidden(f"only {row.assignee} can give task '{row.name}' back")
    now = clock.now()
    store.save_events(db, row, [NewEvent("task_unclaimed", now, actor=actor.name, task_id=item_id,
                                   task_spec=row.task_spec, payload={"previous": row.assignee})],
                {"assignee": None, "claimed_at": None},
                and_(work_item_t.c.id == item_id, work_item_t.c.assignee == row.assignee))
    return _now_as(row, assignee=None)


def _unchanged(row: Any) -> TaskNow:
    return TaskNow(**{**task_row(row).__dict__, "instance_version": row.instance_version,
                      "definition_id": row.definition_id})


@_command
def delegate(db: Database, item_id: str, to_user: str, *, actor: Actor, note: str = "",
             leads: frozenset[str] = frozenset({"lead"}), visible: Visible | None = None) -> TaskNow:
    """Hand an open task to another active member of its candidate group.

    Allowed for the current holder, for a member of the group while nobody holds it, and for a
    team lead who is a member of the group. Recorded as `task_delegated`.
    """
    row = _load_visible(db, item_id, visible)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open")
    in_group = actor.may_work_in(row.candidate_group)
    is_lead = bool(actor.groups & leads)
    if not (actor.system or row.assignee == actor.name or (in_group and (row.assignee is None or is_lead))):
        if row.assignee and in_group:
            raise Conflict(f"task '{row.name}' is held by {row.assignee}")
        raise Forbidden(f"you may not hand on task '{row.name}'")
    target = users.get_user(db, to_user)
    if target is None or not target.active:
        raise InvalidData("unknown user", details={"assignee": [f"没有这个在岗用户：{to_user}"]})
    if row.candidate_group is None or row.candidate_group not in target.groups:
        raise InvalidData("not a member of the task's group",
                          details={"assignee": [f"{to_user} 不属于任务所在的组 {row.candidate_group}"]})
    if row.assignee == to_user:
        return _unchanged(row)
    now = clock.now()
    holder = work_item_t.c.assignee.is_(None) if row.assignee is None else work_item_t.c.assignee == row.assignee
    store.save_events(db, row, [NewEvent("task_delegated", now, actor=actor.name, task_id=item_id, task_spec=row.task_spec,
                                   payload={"from": row.assignee, "to": to_user, "note": note})],
                {"assignee": to_user, "claimed_at": now},
                and_(work_item_t.c.id == item_id, work_item_t.c.status == "open", holder))
    return _now_as(row, assignee=to_user)


@_command
def retry(db: Database, instance_id: int, *, actor: Actor) -> Outcome:
    """Run the failed task again (after the cause was fixed) and continue the case."""
    row, definition, wf = store.load(db, instance_id)
    if row.status != "error":
        raise InvalidState(f"instance {instance_id} is not in error (it is {row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    retried = step.retry_failed()
    primary = NewEvent("instance_retried", step.now, actor=actor.name, payload={"tasks": retried})
    return store.save(db, step, row, primary, previous_status="retrying")


@_command
def cancel(db: Database, instance_id: int, *, actor: Actor, reason: str) -> Outcome:
    row, definition, wf = store.load(db, instance_id)
    if row.status in ("completed", "cancelled"):
        raise InvalidState(f"instance {instance_id} has already ended ({row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    wf.cancel()
    primary = NewEvent("instance_cancelled", step.now, actor=actor.name, payload={"reason": reason})
    return store.save(db, step, row, primary, status="cancelled")


@_command
def send_message(db: Database, instance_id: int, name: str, payload: dict[str, Any] | None = None, *,
                 actor: Actor) -> Outcome:
    """Deliver a BPMN message (e.g. the customer's withdrawal) to a waiting instance."""
    row, definition, wf = store.load(db, instance_id)
    if row.status in ("completed", "cancelled"):
        raise InvalidState(f"instance {instance_id} has already ended ({row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    body = CODEC.to_jsonable(dict(payload or {}))
    step.deliver(name, body)
    primary = NewEvent("message_received", step.now, actor=actor.name, payload={"name": name, "payload": body})
    return store.save(db, step, row, primary)


def waiting_messages(db: Database, instance_id: int) -> list[str]:
    """Names of the messages the instance would accept right now."""
    _row, _definition, wf = store.load(db, instance_id)
    return sorted({e.name for e in wf.waiting_events() if e.event_type.endswith("MessageEventDefinition")})


@_command
def fire_timers(db: Database, instance_id: int, due: list[dt.datetime], *, timer_ids: list[int],
                worker: str = "scheduler") -> Outcome | None:
    """Let the workflow see that the clock passed its due timers, and mark them fired, atomically.

    Returns None when there was nothing left to fire (the case ended, is in error, or the timer's
    task is gone); the rows are then closed without touching the case.
    """
    row, definition, wf = store.load(db, instance_id)
    if row.status in ("completed", "cancelled", "error"):
        if row.status != "error":  # an errored case keeps its timers until it is retried
            store.close_timers(db, timer_ids, worker, "case ended")
        return None
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    step.advance()
    if not step.trail():
        store.close_timers(db, timer_ids, worker, "timer no longer waiting")
        return None
    primary = NewEvent("timer_fired", step.now, actor="scheduler",
                       payload={"due": [d.isoformat() for d in due], "worker": worker})
    return store.save(db, step, row, primary, fired_timers=timer_ids)

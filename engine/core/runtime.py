"""Running process instances: every engine command is one transaction with an optimistic lock.

A command reads the instance row in a short read, restores the workflow from the cached spec
objects, steps SpiffWorkflow in memory, then writes everything it caused in one transaction gated
on `version`: the new state, work-list changes, history events, timers and outbox rows. A
concurrent command that got there first makes the guard match nothing, and the loser gets a
`Conflict` instead of overwriting the winner.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from engine.core import clock, definitions, forms, history, services
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import Conflict, Forbidden, InvalidData, InvalidState, NotFound, ServiceError, YekuoError
from engine.core.history import NewEvent
from engine.core.models import counter_t, instance_t, outbox_t, timer_t, work_item_t
from engine.core.scripting.script_engine import make_script_engine

CLOCK_TIMER = "bpmn_timer"
#: Called in the writing transaction of the command that ends a case (completed or cancelled),
#: as `hook(conn, instance_id, now) -> [NewEvent]`: packages that keep records per case (the
#: dispatch centre's appointments and works list) release them with the case, atomically.
#: Filled by `engine.wiring.install`, like the other hooks here.
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
WRITE_HOOKS: list[Callable[[Connection, "Step", Written], tuple[list[NewEvent], list[dict[str, Any]]]]] = []
#: Script helpers that need the database, as `name: factory(db) -> function` (e.g. the
#: calendar's `workdays_before`); every step's script engine gets them.
SCRIPT_HELPERS: dict[str, Callable[[Database], Callable[..., Any]]] = {}
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR
_STATE_CODE = {TaskState.COMPLETED: "c", TaskState.CANCELLED: "x", TaskState.ERROR: "e"}


@dataclass(frozen=True)
class Actor:
    """Who asks for a command; the interfaces build it from the authenticated user."""

    name: str
    groups: frozenset[str] = frozenset()
    system: bool = False

    def may_work_in(self, group: str | None) -> bool:
        return self.system or (group is not None and group in self.groups)


SYSTEM = Actor("system", system=True)


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


@dataclass
class InstanceView:
    id: int
    definition_id: int
    key: str
    definition_version: int
    business_key: str | None
    status: str
    version: int
    milestone: str | None
    error: dict[str, Any] | None
    started_at: dt.datetime
    started_by: str
    ended_at: dt.datetime | None
    data: dict[str, Any] = field(default_factory=dict)
    open_items: list[WorkItemView] = field(default_factory=list)


@dataclass
class Outcome:
    """What a command did, without reading the instance back."""

    instance_id: int
    status: str
    version: int
    new_items: list[WorkItemView] = field(default_factory=list)
    error: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# one command in memory


class Step:
    """Everything one command does in memory between its read and its write."""

    def __init__(self, db: Database, definition: definitions.Definition, wf: BpmnWorkflow, *,
                 instance_id: int | None, business_key: str | None,
                 recorded_services: list[dict[str, Any]] | None = None) -> None:
        self.db = db
        self.definition = definition
        self.wf = wf
        self.instance_id = instance_id
        self.business_key = business_key
        self.now = clock.now()
        self.events: list[NewEvent] = []
        self.effects = services.Effects()
        self.error: dict[str, Any] | None = None
        self.recorded = list(recorded_services) if recorded_services is not None else None
        wf.script_engine = make_script_engine(service_caller=self._call_service,
                                              helpers={name: factory(db) for name, factory in SCRIPT_HELPERS.items()})
        self._before: dict[Any, int] = {}
        self._ready_before: set[str] = set()
        self.sla_before: dict[str, str] = {}
        self.pause_before: dict[str, str] = {}
        for t in _all_tasks(wf):
            self._before[t.id] = t.state
            if t.state == TaskState.READY and t.task_spec.manual:
                self._ready_before.add(str(t.id))
                props = definition.task_info(t).properties
                if props.get("slaKey"):
                    self.sla_before[str(t.id)] = props["slaKey"]
                if props.get("slaPause"):
                    self.pause_before[str(t.id)] = props["slaPause"]
        self.sla_keys: dict[str, str] = {}
        self.pauses: dict[str, str] = {}  # new work items that are customer time (`slaPause`)
        self._timers_before = waiting_timers(wf)
        self._after: _Scan | None = None
        self._work: tuple[list[dict[str, Any]], set[str]] | None = None
        self.new_items: list[dict[str, Any]] = []

    def scan(self) -> "_Scan":
        """One pass over the task tree after the command; call when the workflow is settled."""
        if self._after is None:
            finished, ready, error = [], {}, False
            before = self._before
            for t in _all_tasks(self.wf):
                state = t.state
                if state == TaskState.READY:
                    if t.task_spec.manual:
                        ready[str(t.id)] = t
                elif state & _FINISHED:
                    if state == TaskState.ERROR:
                        error = True
                    if before.get(t.id) != state and getattr(t.task_spec, "bpmn_id", None) is not None:
                        finished.append(t)
            finished.sort(key=lambda t: t.last_state_change)
            self._after = _Scan(self._trail_of(finished), ready, error)
        return self._after

    def _call_service(self, context: dict[str, Any], operation_name: str,
                      operation_params: dict[str, Any]) -> str:
        params = {k: v.get("value") if isinstance(v, dict) else v for k, v in operation_params.items()}
        params = CODEC.to_jsonable(params)
        if self.recorded is not None:
            return self._replay_service(operation_name, params)
        handler = services.get(operation_name)
        if handler is None:
            raise ServiceError(f"no handler is registered for service operator '{operation_name}'")
        call = services.ServiceCall(operator=operation_name, params=params, data=dict(context),
                                    instance_id=self.instance_id, business_key=self.business_key,
                                    now=self.now, effects=self.effects,
                                    allocate=lambda name: allocate(self.db, name), db=self.db)
        try:
            result = CODEC.to_jsonable(handler(call))
        except Exception as exc:  # recorded, then surfaced as the instance's error
            error = f"{type(exc).__name__}: {exc}"
            self.events.append(NewEvent("service_failed", self.now, payload={
                "operator": operation_name, "params": params, "error": error}))
            raise ServiceError(f"service '{operation_name}' failed: {error}") from exc
        self.events.append(NewEvent("service_called", self.now, payload={
            "operator": operation_name, "params": params, "result": result}))
        return json.dumps(result)

    def _replay_service(self, operation_name: str, params: dict[str, Any]) -> str:
        if not self.recorded:
            raise ServiceError(f"replay: service '{operation_name}' was not called in the recorded history")
        rec = self.recorded.pop(0)
        if rec["operator"] != operation_name:
            raise ServiceError(f"replay: expected service '{rec['operator']}', got '{operation_name}'")
        if "error" in rec:
            raise ServiceError(f"service '{operation_name}' failed: {rec['error']}")
        return json.dumps(rec["result"])

    def advance(self) -> None:
        """Run everything the engine can run; a failure becomes the instance's error, not a 500."""
        try:
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
        except (SpiffWorkflowException, YekuoError) as exc:
            self.error = describe_error(exc)

    # -- the inputs a command feeds the workflow (replay calls the same methods)
    def start(self, data: dict[str, Any]) -> None:
        for task in self.wf.get_tasks(state=TaskState.READY):
            task.set_data(**data)
        self.advance()

    def retry_failed(self) -> list[str]:
        """Re-run failed tasks: a human task keeps its submitted data, others start afresh."""
        retried = []
        for task in self.wf.get_tasks(state=TaskState.ERROR):
            retried.append(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)
            if task.task_spec.manual:
                task._set_state(TaskState.READY)
                try:
                    task.run()
                except (SpiffWorkflowException, YekuoError) as exc:
                    self.error = describe_error(exc)
            else:
                task.reset_branch(None)
        if self.error is None:
            self.advance()
        return retried

    def deliver(self, name: str, payload: dict[str, Any]) -> None:
        from SpiffWorkflow.bpmn import BpmnEvent
        from SpiffWorkflow.exceptions import WorkflowException
        from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition

        try:
            self.wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
        except WorkflowException:
            raise InvalidState(f"the case is not waiting for message '{name}' now") from None
        self.advance()

    def run_human_task(self, task: Any, data: dict[str, Any]) -> None:
        spec = task.task_spec
        try:
            if hasattr(spec, "add_data_from_form"):
                spec.add_data_from_form(task, data)
            else:
                task.set_data(**data)
            task.run()
        except (SpiffWorkflowException, YekuoError) as exc:
            self.error = describe_error(exc)
            return
        self.advance()

    # -- what changed
    def trail(self) -> list[list[Any]]:
        """The BPMN elements that finished in this command, in order: for history and replay."""
        return self.scan().trail

    def _trail_of(self, finished: list[Any]) -> list[list[Any]]:
        out = []
        for t in finished:
            entry = [t.task_spec.bpmn_id, _STATE_CODE.get(t.state, "?")]
            src = _bpmn_parent(t)
            if src is not None:
                entry.append(src)
            if t.workflow is not self.wf:
                if src is None:
                    entry.append(None)
                entry.append(t.workflow.spec.name)
            out.append(entry)
        return out

    @property
    def business_type(self) -> str | None:
        """The case's business type, once the application data says which."""
        scan = self.scan()
        sources = [*scan.ready.values(), self.wf.last_task] if self.wf.last_task else list(scan.ready.values())
        for task in sources:
            value = task.data.get("business_type") if task is not None else None
            if isinstance(value, str) and value:
                return value
        value = self.wf.data.get("business_type")
        return value if isinstance(value, str) and value else None

    def _latest_data(self) -> dict[str, Any]:
        scan = self.scan()
        task = next(iter(scan.ready.values()), None) or self.wf.last_task
        return task.data if task is not None else self.wf.data

    @property
    def application_no(self) -> str | None:
        """The application number the process generated (data key `application_no`)."""
        value = self._latest_data().get("application_no")
        return value[:64] if isinstance(value, str) and value else None

    @property
    def withdrawn(self) -> bool:
        """The customer withdrew: open deadlines are void, not missed."""
        return self._latest_data().get("case_outcome") == "withdrawn"

    def summary(self) -> dict[str, str]:
        """The fields people search cases by (name, mobile, channel), as the data now has them."""
        data = self._latest_data()
        out = {}
        for column, key, size in (("customer_name", "customer_name", 100), ("customer_mobile", "mobile", 20),
                                  ("channel", "channel", 20)):
            value = data.get(key)
            if isinstance(value, str) and value:
                out[column] = value[:size]
        return out

    def finished_property(self, name: str) -> list[str]:
        """Values of BPMN property `name` on the tasks completed in this command, in order."""
        values = []
        for entry in self.trail():
            if entry[1] != "c":
                continue
            process = entry[3] if len(entry) > 3 else self.wf.spec.name
            info = self.definition.tasks.get((process, entry[0]))
            if info and info.properties.get(name):
                values.append(info.properties[name])
        return values

    def status(self) -> str:
        scan = self.scan()
        if self.error is not None or scan.error:
            return "error"
        if self.wf.is_completed():
            return "completed"
        return "running" if scan.ready else "waiting"

    def work_changes(self) -> tuple[list[dict[str, Any]], set[str]]:
        """New READY human tasks as rows, and ids of items no longer READY (computed once)."""
        if self._work is None:
            self._work = self._work_changes()
        return self._work

    def _work_changes(self) -> tuple[list[dict[str, Any]], set[str]]:
        now_ready = self.scan().ready
        new_rows = []
        for tid, task in now_ready.items():
            if tid in self._ready_before:
                continue
            info = self.definition.task_info(task)
            if info.properties.get("slaKey"):
                self.sla_keys[tid] = info.properties["slaKey"]
            if info.properties.get("slaPause"):
                self.pauses[tid] = info.properties["slaPause"]
            new_rows.append({
                "id": tid, "instance_id": self.instance_id, "process_key": info.process,
                "due_at": _due_from(task, info.properties.get("dueFrom")),
                "task_spec": info.bpmn_id, "name": info.name, "lane": info.lane,
                "candidate_group": info.group, "assignee": None, "status": "open",
                "priority": int(info.properties.get("priority", 50) or 50),
                "form_schema": info.form_schema, "form_ui_schema": info.form_ui_schema,
                "created_at": self.now, "claimed_at": None,
                "completed_at": None, "completed_by": None})
        gone = self._ready_before - set(now_ready)
        return new_rows, gone

    def timer_changes(self) -> tuple[list[dict[str, Any]], set[str]]:
        after = waiting_timers(self.wf)
        new = [{"instance_id": self.instance_id, "task_id": tid, "purpose": CLOCK_TIMER,
                "due_at": due, "payload": None}
               for tid, due in after.items() if self._timers_before.get(tid) != due]
        # a timer that was due has fired (its row is marked by the firing command), not gone
        gone = {tid for tid, due in self._timers_before.items() if tid not in after and due > self.now}
        return new, gone

    def task_by_id(self, task_id: str) -> Any:
        import uuid
        try:
            task = self.wf.get_task_from_id(uuid.UUID(task_id))
        except Exception:
            task = None
        if task is None:
            raise Conflict("this task is no longer part of the case")
        return task


@dataclass
class _Scan:
    trail: list[list[Any]]
    ready: dict[str, Any]
    error: bool


def _all_tasks(wf: BpmnWorkflow) -> Iterator[Any]:
    yield from wf.tasks.values()
    for sp in wf.subprocesses.values():
        yield from sp.tasks.values()


def _due_from(task: Any, key: str | None) -> dt.datetime | None:
    """A work item's due time from case data named by the task's `dueFrom` property (e.g. the
    appointment's `job_due_at`); an SLA clock, where the step has one, overrides it."""
    value = task.data.get(key) if key else None
    if not isinstance(value, str):
        return None
    try:
        due = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return due.astimezone(dt.timezone.utc) if due.tzinfo else None


def _bpmn_parent(task: Any) -> str | None:
    parent = task.parent
    while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None


def waiting_timers(wf: BpmnWorkflow) -> dict[str, dt.datetime]:
    """Due instants of the timer events the workflow waits on, by task id."""
    out: dict[str, dt.datetime] = {}
    for task in list(wf.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition) or not task.has_state(TaskState.WAITING):
            continue
        value = definition.details(task).value
        if not isinstance(value, str):
            continue
        try:
            due = TimerEventDefinition.parse_time_or_duration(value)
        except Exception:
            continue
        if isinstance(due, dt.datetime):
            out[str(task.id)] = due.astimezone(dt.timezone.utc)
    return out


def describe_error(exc: BaseException) -> dict[str, Any]:
    task = getattr(exc, "task", None)
    message = str(exc) or type(exc).__name__
    notes = getattr(exc, "notes", None) or getattr(exc, "__notes__", None) or []
    cause = getattr(exc, "exception", None) or exc.__cause__
    if cause is not None and str(cause) and str(cause) not in message:
        message = f"{message}: {cause}"
    info: dict[str, Any] = {"message": message, "type": type(exc).__name__}
    if notes:
        info["notes"] = [str(n) for n in notes]
    if task is not None:
        info["task_id"] = str(task.id)
        info["task_spec"] = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
        info["task_name"] = getattr(task.task_spec, "bpmn_name", None)
    line = getattr(exc, "line_number", None)
    if line:
        info["line"] = line
    return info


def allocate(db: Database, name: str) -> int:
    """Next value of a named counter, in its own short transaction (gaps are allowed)."""
    with db.write() as conn:
        value = conn.execute(update(counter_t).where(counter_t.c.name == name)
                             .values(value=counter_t.c.value + 1).returning(counter_t.c.value)).scalar()
        if value is None:
            conn.execute(insert(counter_t).values(name=name, value=1))
            value = 1
    return value


# ---------------------------------------------------------------------------------------------
# writing a command: the hot statements are built once (building them costs more than SQLite
# takes to run them)

_UPDATE_INSTANCE = update(instance_t).where(instance_t.c.id == bindparam("b_id"),
                                            instance_t.c.version == bindparam("b_version"))
_COMPLETE_ITEM = update(work_item_t).where(work_item_t.c.id == bindparam("b_id"))
_INSERT_ITEMS = insert(work_item_t)
_INSERT_TIMERS = insert(timer_t)
_ITEM_WITH_INSTANCE = (
    select(work_item_t.c.id, work_item_t.c.instance_id, work_item_t.c.status, work_item_t.c.assignee,
           work_item_t.c.candidate_group, work_item_t.c.name, work_item_t.c.task_spec, work_item_t.c.form_schema,
           instance_t.c.state, instance_t.c.version.label("row_version"),
           instance_t.c.definition_id, instance_t.c.event_seq, instance_t.c.last_hash,
           instance_t.c.status.label("instance_status"), instance_t.c.business_key,
           instance_t.c.business_type.label("instance_business_type"), instance_t.c.started_at)
    .join(instance_t, instance_t.c.id == work_item_t.c.instance_id)
    .where(work_item_t.c.id == bindparam("b_id")))
_INSTANCE_BY_ID = select(instance_t).where(instance_t.c.id == bindparam("b_id"))


def _save(db: Database, step: Step, row: Any, primary: NewEvent, *, status: str | None = None,
          previous_status: str | None = None, **write_kw: Any) -> Outcome:
    """Finish the command's events and write it, guarded by the version read in `row`."""
    status = status or step.status()
    events = _finish_events(step, primary, status, previous_status or row.status)
    with db.write() as conn:
        return _write(conn, step, row_version=row.version, event_seq=row.event_seq, last_hash=row.last_hash,
                      status=status, events=events, business_type=row.business_type, started_at=row.started_at,
                      business_key=row.business_key, **write_kw)


def _finish_events(step: Step, primary: NewEvent, status: str, previous_status: str | None) -> list[NewEvent]:
    primary.payload["trail"] = step.trail()
    primary.payload["opened"] = [row["task_spec"] for row in step.work_changes()[0]]
    events = [primary, *step.events]
    if step.error is not None and previous_status != "error":
        events.append(NewEvent("instance_error", step.now, payload=step.error,
                               task_id=step.error.get("task_id"), task_spec=step.error.get("task_spec")))
    if status == "completed" and previous_status != "completed":
        events.append(NewEvent("instance_completed", step.now))
    return events


def _write(conn: Connection, step: Step, *, row_version: int, event_seq: int, last_hash: str,
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
    values: dict[str, Any] = {"state": CODEC.dumps(step.wf), "version": row_version + 1,
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
    res = conn.execute(_UPDATE_INSTANCE, {"b_id": iid, "b_version": row_version, **values})
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
        _queue_outbox(conn, step)
    for table, row in step.effects.rows:
        conn.execute(insert(table), row)
    history.append(conn, rows)
    return Outcome(iid, status, row_version + 1, [WorkItemView(**{k: r[k] for k in _VIEW_KEYS}) for r in new_items],
                   step.error)


_VIEW_KEYS = ("id", "instance_id", "task_spec", "name", "candidate_group", "assignee", "status", "created_at",
              "due_at", "form_schema", "form_ui_schema", "lane", "process_key", "priority")


def _queue_outbox(conn: Connection, step: Step) -> None:
    keys = [m["idempotency_key"] for m in step.effects.outbox]
    seen = set(conn.execute(select(outbox_t.c.idempotency_key).where(outbox_t.c.idempotency_key.in_(keys))).scalars())
    for message in step.effects.outbox:
        if message["idempotency_key"] in seen:
            continue
        seen.add(message["idempotency_key"])
        conn.execute(insert(outbox_t).values(**message, instance_id=step.instance_id, status="pending", attempts=0,
                                             created_at=step.now, next_attempt_at=step.now))


def _milestone(step: Step) -> str | None:
    """The latest customer-visible milestone reached: a `milestone` property on a finished task."""
    reached = step.finished_property("milestone")
    return reached[-1] if reached else None


# ---------------------------------------------------------------------------------------------
# commands


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
    """Start the latest (or a given) version of process `key` with `data` as its start data."""
    definition = definitions.load(db, definitions.latest_id(db, key, version))
    data = CODEC.to_jsonable(dict(data or {}))
    wf = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs))
    with db.write() as conn:  # reserve the id first: events and work items are keyed by it
        iid = conn.execute(insert(instance_t).values(
            definition_id=definition.id, business_key=business_key, status="running", state=b"",
            version=0, event_seq=0, last_hash=history.GENESIS, started_at=clock.now(),
            started_by=actor.name).returning(instance_t.c.id)).scalar_one()
    step = Step(db, definition, wf, instance_id=iid, business_key=business_key)
    step.start(data)
    primary = NewEvent("instance_started", step.now, actor=actor.name, payload={
        "key": definition.key, "version": definition.version, "definition_id": definition.id,
        "business_key": business_key, "data": data})
    status = step.status()
    events = _finish_events(step, primary, status, None)
    try:
        with db.write() as conn:
            return _write(conn, step, row_version=0, event_seq=0, last_hash=history.GENESIS,
                          status=status, events=events, started_at=step.now, business_key=business_key)
    except Exception:
        with db.write() as conn:
            conn.execute(delete(instance_t).where(instance_t.c.id == iid, instance_t.c.version == 0))
        raise


def _load_for_command(db: Database, instance_id: int) -> tuple[Any, definitions.Definition, BpmnWorkflow]:
    with db.read() as conn:
        row = conn.execute(_INSTANCE_BY_ID, {"b_id": instance_id}).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    definition = definitions.load(db, row.definition_id)
    wf = CODEC.loads(row.state, definition.spec, definition.subprocess_specs)
    return row, definition, wf


def _item_and_instance(db: Database, item_id: str, session: Any = None) -> tuple[Any, Any]:
    with (session or db).read() as conn:
        found = conn.execute(_ITEM_WITH_INSTANCE, {"b_id": item_id}).first()
    if found is None:
        raise NotFound(f"task {item_id} does not exist")
    return found, found


def complete_task(db: Database, item_id: str, data: dict[str, Any] | None = None, *,
                  actor: Actor, expected_version: int | None = None) -> Outcome:
    """Complete a human task with form data validated against its JSON Schema."""
    with db.session() as session:
        return _complete(db, session, item_id, data, actor, expected_version)


def _complete(db: Database, session: Any, item_id: str, data: dict[str, Any] | None, actor: Actor,
              expected_version: int | None) -> Outcome:
    row, _ = _item_and_instance(db, item_id, session)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open (it is {row.status})")
    if row.assignee and row.assignee != actor.name and not actor.system:
        raise Conflict(f"task '{row.name}' is held by {row.assignee}")
    if not row.assignee and not actor.may_work_in(row.candidate_group):
        raise Forbidden(f"task '{row.name}' belongs to group '{row.candidate_group}'")
    if expected_version is not None and expected_version != row.row_version:
        raise Conflict("the case changed since you opened it; reload and try again")
    definition = definitions.load(db, row.definition_id)
    clean = _validated(definition, row.form_schema, data or {})
    wf = CODEC.loads(row.state, definition.spec, definition.subprocess_specs)
    step = Step(db, definition, wf, instance_id=row.instance_id, business_key=row.business_key)
    task = step.task_by_id(item_id)
    if not task.has_state(TaskState.READY):
        raise Conflict(f"task '{row.name}' is no longer open")
    step.run_human_task(task, clean)
    status = step.status()
    primary = NewEvent("task_completed", step.now, actor=actor.name, task_id=item_id,
                       task_spec=row.task_spec, payload={"data": clean})
    events = _finish_events(step, primary, status, row.instance_status)
    with session.write() as conn:
        return _write(conn, step, row_version=row.row_version, event_seq=row.event_seq, last_hash=row.last_hash,
                      status=status, events=events, completed_item=(item_id, actor.name),
                      business_type=row.instance_business_type, started_at=row.started_at,
                      business_key=row.business_key)


def _validated(definition: definitions.Definition, form_file: str | None, data: dict[str, Any]) -> dict[str, Any]:
    if form_file is None:
        return CODEC.to_jsonable(dict(data)) if isinstance(data, dict) else {}
    schema = definition.forms.get(form_file)
    if schema is None:
        raise InvalidState(f"form '{form_file}' is missing from this process version")
    compiled = definition.validators.get(form_file)
    if compiled is None:
        compiled = definition.validators[form_file] = forms.validator(schema)
    return forms.check(schema, data, compiled)


def _chain_only(db: Database, row: Any, events: list[NewEvent],
                item_values: dict[str, Any] | None = None, item_guard: Any = None) -> None:
    """A command that appends history (and touches a work item) without stepping the workflow."""
    iid = row.instance_id
    rows, seq, head = history.chain_rows(iid, row.event_seq, row.last_hash, events)
    with db.write() as conn:
        res = conn.execute(update(instance_t).where(and_(instance_t.c.id == iid,
                                                         instance_t.c.version == row.row_version))
                           .values(version=row.row_version + 1, event_seq=seq, last_hash=head))
        if res.rowcount != 1:
            raise Conflict("the case was changed by someone else at the same time; reload and try again")
        if item_values is not None:
            res = conn.execute(update(work_item_t).where(item_guard).values(**item_values))
            if res.rowcount != 1:
                raise Conflict("the task was changed by someone else at the same time")
        history.append(conn, rows)


@_command
def claim(db: Database, item_id: str, *, actor: Actor) -> WorkItemView:
    row, _ = _item_and_instance(db, item_id)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open")
    if row.assignee == actor.name:
        return get_work_item(db, item_id)
    if row.assignee:
        raise Conflict(f"task '{row.name}' is already held by {row.assignee}")
    if not actor.may_work_in(row.candidate_group):
        raise Forbidden(f"task '{row.name}' belongs to group '{row.candidate_group}'")
    now = clock.now()
    _chain_only(db, row, [NewEvent("task_claimed", now, actor=actor.name, task_id=item_id, task_spec=row.task_spec)],
                {"assignee": actor.name, "claimed_at": now},
                and_(work_item_t.c.id == item_id, work_item_t.c.status == "open", work_item_t.c.assignee.is_(None)))
    return get_work_item(db, item_id)


@_command
def unclaim(db: Database, item_id: str, *, actor: Actor) -> WorkItemView:
    row, _ = _item_and_instance(db, item_id)
    if row.status != "open":
        raise Conflict(f"task '{row.name}' is no longer open")
    if row.assignee is None:
        return get_work_item(db, item_id)
    if row.assignee != actor.name and not actor.system:
        raise Forbidden(f"only {row.assignee} can give task '{row.name}' back")
    now = clock.now()
    _chain_only(db, row, [NewEvent("task_unclaimed", now, actor=actor.name, task_id=item_id,
                                   task_spec=row.task_spec, payload={"previous": row.assignee})],
                {"assignee": None, "claimed_at": None},
                and_(work_item_t.c.id == item_id, work_item_t.c.assignee == row.assignee))
    return get_work_item(db, item_id)


@_command
def delegate(db: Database, item_id: str, to_user: str, *, actor: Actor, note: str = "",
             leads: frozenset[str] = frozenset({"lead"})) -> WorkItemView:
    """Hand an open task to another active member of its candidate group.

    Allowed for the current holder, for a member of the group while nobody holds it, and for a
    team lead who is a member of the group. Recorded as `task_delegated`.
    """
    from engine.core import users

    row, _ = _item_and_instance(db, item_id)
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
        return get_work_item(db, item_id)
    now = clock.now()
    holder = work_item_t.c.assignee.is_(None) if row.assignee is None else work_item_t.c.assignee == row.assignee
    _chain_only(db, row, [NewEvent("task_delegated", now, actor=actor.name, task_id=item_id, task_spec=row.task_spec,
                                   payload={"from": row.assignee, "to": to_user, "note": note})],
                {"assignee": to_user, "claimed_at": now},
                and_(work_item_t.c.id == item_id, work_item_t.c.status == "open", holder))
    return get_work_item(db, item_id)


@_command
def retry(db: Database, instance_id: int, *, actor: Actor) -> Outcome:
    """Run the failed task again (after the cause was fixed) and continue the case."""
    row, definition, wf = _load_for_command(db, instance_id)
    if row.status != "error":
        raise InvalidState(f"instance {instance_id} is not in error (it is {row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    retried = step.retry_failed()
    primary = NewEvent("instance_retried", step.now, actor=actor.name, payload={"tasks": retried})
    return _save(db, step, row, primary, previous_status="retrying")


@_command
def cancel(db: Database, instance_id: int, *, actor: Actor, reason: str) -> Outcome:
    row, definition, wf = _load_for_command(db, instance_id)
    if row.status in ("completed", "cancelled"):
        raise InvalidState(f"instance {instance_id} has already ended ({row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    wf.cancel()
    primary = NewEvent("instance_cancelled", step.now, actor=actor.name, payload={"reason": reason})
    return _save(db, step, row, primary, status="cancelled")


@_command
def send_message(db: Database, instance_id: int, name: str, payload: dict[str, Any] | None = None, *,
                 actor: Actor) -> Outcome:
    """Deliver a BPMN message (e.g. the customer's withdrawal) to a waiting instance."""
    row, definition, wf = _load_for_command(db, instance_id)
    if row.status in ("completed", "cancelled"):
        raise InvalidState(f"instance {instance_id} has already ended ({row.status})")
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    body = CODEC.to_jsonable(dict(payload or {}))
    step.deliver(name, body)
    primary = NewEvent("message_received", step.now, actor=actor.name, payload={"name": name, "payload": body})
    return _save(db, step, row, primary)


def waiting_messages(db: Database, instance_id: int) -> list[str]:
    """Names of the messages the instance would accept right now."""
    _row, _definition, wf = _load_for_command(db, instance_id)
    return sorted({e.name for e in wf.waiting_events() if e.event_type.endswith("MessageEventDefinition")})


@_command
def fire_timers(db: Database, instance_id: int, due: list[dt.datetime], *, timer_ids: list[int],
                worker: str = "scheduler") -> Outcome | None:
    """Let the workflow see that the clock passed its due timers, and mark them fired, atomically.

    Returns None when there was nothing left to fire (the case ended, is in error, or the timer's
    task is gone); the rows are then closed without touching the case.
    """
    row, definition, wf = _load_for_command(db, instance_id)
    if row.status in ("completed", "cancelled", "error"):
        if row.status != "error":  # an errored case keeps its timers until it is retried
            _close_timers(db, timer_ids, worker, "case ended")
        return None
    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key)
    step.advance()
    if not step.trail():
        _close_timers(db, timer_ids, worker, "timer no longer waiting")
        return None
    primary = NewEvent("timer_fired", step.now, actor="scheduler",
                       payload={"due": [d.isoformat() for d in due], "worker": worker})
    return _save(db, step, row, primary, fired_timers=timer_ids)


def _close_timers(db: Database, timer_ids: list[int], worker: str, why: str) -> None:
    with db.write() as conn:
        conn.execute(update(timer_t).where(timer_t.c.id.in_(timer_ids), timer_t.c.fired_at.is_(None))
                     .values(fired_at=clock.now(), payload={"closed": why, "worker": worker}))


# ---------------------------------------------------------------------------------------------
# reads


def _item_view(r: Any) -> WorkItemView:
    return WorkItemView(id=r.id, instance_id=r.instance_id, task_spec=r.task_spec, name=r.name,
                        candidate_group=r.candidate_group, assignee=r.assignee, status=r.status,
                        created_at=r.created_at, due_at=r.due_at, form_schema=r.form_schema,
                        form_ui_schema=r.form_ui_schema, lane=r.lane, process_key=r.process_key,
                        priority=r.priority, completed_by=r.completed_by, completed_at=r.completed_at)


def get_work_item(db: Database, item_id: str) -> WorkItemView:
    with db.read() as conn:
        r = conn.execute(select(work_item_t).where(work_item_t.c.id == item_id)).first()
    if r is None:
        raise NotFound(f"task {item_id} does not exist")
    return _item_view(r)


def list_work_items(db: Database, *, candidate_groups: set[str] | None = None, assignee: str | None = None,
                    instance_id: int | None = None, status: str | None = "open",
                    limit: int = 200, offset: int = 0) -> list[WorkItemView]:
    q = select(work_item_t)
    if status:
        q = q.where(work_item_t.c.status == status)
    if candidate_groups is not None:
        q = q.where(work_item_t.c.candidate_group.in_(candidate_groups))
    if assignee is not None:
        q = q.where(work_item_t.c.assignee == assignee)
    if instance_id is not None:
        q = q.where(work_item_t.c.instance_id == instance_id)
    q = q.order_by(work_item_t.c.priority.desc(), work_item_t.c.created_at, work_item_t.c.id)
    with db.read() as conn:
        return [_item_view(r) for r in conn.execute(q.limit(limit).offset(offset))]


def get_instance(db: Database, instance_id: int, *, with_data: bool = True) -> InstanceView:
    with db.read() as conn:
        row = conn.execute(select(instance_t).where(instance_t.c.id == instance_id)).first()
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        items = [_item_view(r) for r in conn.execute(
            select(work_item_t).where(work_item_t.c.instance_id == instance_id, work_item_t.c.status == "open")
            .order_by(work_item_t.c.created_at, work_item_t.c.id))]
    definition = definitions.load(db, row.definition_id)
    data: dict[str, Any] = {}
    if with_data and row.state:
        wf = CODEC.loads(row.state, definition.spec, definition.subprocess_specs)
        data = instance_data(wf)
    return InstanceView(id=row.id, definition_id=row.definition_id, key=definition.key,
                        definition_version=definition.version, business_key=row.business_key,
                        status=row.status, version=row.version, milestone=row.milestone, error=row.error,
                        started_at=row.started_at, started_by=row.started_by, ended_at=row.ended_at,
                        data=data, open_items=items)


def instance_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The case data as people think of it: the workflow's data, else the latest task's."""
    if wf.is_completed():
        return CODEC.to_jsonable(wf.data)
    ready = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
    source = max(ready, key=lambda t: t.last_state_change) if ready else wf.last_task
    return CODEC.to_jsonable(dict(source.data) if source is not None else dict(wf.data))


def task_data(db: Database, item_id: str) -> dict[str, Any]:
    row, _ = _item_and_instance(db, item_id)
    definition = definitions.load(db, row.definition_id)
    wf = CODEC.loads(row.state, definition.spec, definition.subprocess_specs)
    import uuid
    task = wf.get_task_from_id(uuid.UUID(item_id))
    return CODEC.to_jsonable(dict(task.data)) if task is not None else {}


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
    from sqlalchemy import func, or_

    from engine.core.models import definition_t

    q = select(instance_t.c.id, definition_t.c.key, definition_t.c.version, instance_t.c.business_key,
               instance_t.c.business_type, instance_t.c.customer_name, instance_t.c.customer_mobile,
               instance_t.c.channel, instance_t.c.status, instance_t.c.milestone, instance_t.c.started_at,
               instance_t.c.ended_at).join(definition_t, definition_t.c.id == instance_t.c.definition_id)
    conds = []
    if query:
        like = "%" + query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"  # literal % _
        conds.append(or_(*(c.like(like, escape="\\") for c in (instance_t.c.business_key, instance_t.c.customer_name,
                                                                instance_t.c.customer_mobile))))
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

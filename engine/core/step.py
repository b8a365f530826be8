"""One command in memory: the restored workflow, what the command feeds it, and what changed.

A `Step` scans the task tree before and after the command, so new READY human tasks, the finished
elements (the trail) and added or removed timers are diffs in memory, never extra queries. The
commands (`engine.core.runtime`) and replay (`engine.audit.replay`) feed it the same inputs;
`engine.core.store` writes what it found.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition

from engine.core import calls, clock, counters, definitions, failures, services
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidState, ServiceError, YekuoError
from engine.core.history import NewEvent
from engine.core.scripting.helpers import step_helpers
from engine.core.scripting.script_engine import make_script_engine

#: The `purpose` of a timer row that stands for a BPMN timer event the workflow waits on.
CLOCK_TIMER = "bpmn_timer"
#: Script helpers that need the database, as `name: factory(db) -> function` (e.g. the
#: calendar's `workdays_before`); every step's script engine gets them. Filled by `engine.wiring`.
SCRIPT_HELPERS: dict[str, Callable[[Database], Callable[..., Any]]] = {}
#: How many engine tasks (scripts, gateways, events) one command may run before the case is stopped
#: in `error`: a loop that never waits for a person, a message or a timer would otherwise hold the
#: request (and the row lock) forever — or worse, SpiffWorkflow's task tree grows past Python's
#: recursion limit (~1000 deep), a gateway condition then fails silently and the default flow is
#: taken, so the case "completes" with a wrong outcome. Far above any step of the bundled models
#: (about 60 tasks at most).
STEP_BUDGET = 400
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR
_STATE_CODE = {TaskState.COMPLETED: "c", TaskState.CANCELLED: "x", TaskState.ERROR: "e"}


class Step:
    """Everything one command does in memory between its read and its write."""

    def __init__(self, db: Database, definition: definitions.Definition, wf: BpmnWorkflow, *,
                 instance_id: int | None, business_key: str | None,
                 recorded_services: list[dict[str, Any]] | None = None, actor: str | None = None) -> None:
        self.db = db
        self.actor = actor  # whose command this is: `get_current_user()` in scripts
        self.wf = wf
        self._bound: dict[str, int] | None = None
        self._definition = definition
        if isinstance(wf.subprocess_specs, calls.CalledSpecs):
            wf.subprocess_specs.fresh = {}  # replay steps one workflow through many commands
            wf.subprocess_specs._latest = None  # and "latest" is read anew by each command
        self.instance_id = instance_id
        self.business_key = business_key
        self.now = clock.now()
        self.events: list[NewEvent] = []
        self.effects = services.Effects()
        self.error: dict[str, Any] | None = None
        self.recorded = list(recorded_services) if recorded_services is not None else None
        helpers = {**step_helpers(self.now, lambda: self.actor),
                   **{name: factory(db) for name, factory in SCRIPT_HELPERS.items()}}
        wf.script_engine = make_script_engine(service_caller=self._call_service, helpers=helpers)
        self._before: dict[Any, int] = {}
        self._ready_before: set[str] = set()
        self.sla_before: dict[str, str] = {}
        self.pause_before: dict[str, str] = {}
        for t in _all_tasks(wf):
            self._before[t.id] = t.state
            if t.state == TaskState.READY and t.task_spec.manual:
                self._ready_before.add(str(t.id))
                props = self.definition.task_info(t).properties
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
        self.messages: list[str] = []  # messages delivered in this command (anchors may name them)

    @property
    def definition(self) -> definitions.Definition:
        """The case's definition seen through the called versions bound so far (a call binds mid-step)."""
        bound = calls.bindings_of(self.wf)
        if bound != self._bound:
            self._bound = bound
            self._definition = calls.compose(self.db, self._definition, bound)
        return self._definition

    @definition.setter
    def definition(self, value: definitions.Definition) -> None:
        self._definition, self._bound = value, None

    def called(self) -> dict[str, dict[str, Any]]:
        """The called versions this command bound (key -> version, definition id), for its event."""
        return dict(getattr(self.wf.subprocess_specs, "fresh", {}))

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
        self._guarded(self._engine_steps)

    def _engine_steps(self) -> None:
        self.wf.refresh_timers()
        self.wf.do_engine_steps(will_complete_task=_Budget(STEP_BUDGET))

    def _guarded(self, work: Callable[[], Any]) -> bool:
        """Run `work`; any exception becomes the step's error (True when it ran cleanly)."""
        try:
            work()
        except (SpiffWorkflowException, YekuoError) as exc:
            self.error = describe_error(exc)
        except Exception as exc:  # noqa: BLE001 - a bare TypeError from the library: the case's error, not a 500
            self.error = failures.describe_unexpected(exc)
        return self.error is None

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
                self._guarded(task.run)
            else:
                self._guarded(lambda task=task: task.reset_branch(None))
        if self.error is None:
            self.advance()
        return retried

    def deliver(self, name: str, payload: dict[str, Any]) -> None:
        try:
            self.wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
        except WorkflowException:
            raise InvalidState(f"the case is not waiting for message '{name}' now") from None
        self.messages.append(name)
        self.advance()

    def run_human_task(self, task: Any, data: dict[str, Any]) -> None:
        spec = task.task_spec

        def run() -> None:
            if hasattr(spec, "add_data_from_form"):
                spec.add_data_from_form(task, data)
            else:
                task.set_data(**data)
            task.run()

        if self._guarded(run):
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

    def case_data(self) -> dict[str, Any]:
        """The case data as the latest task holds it, for write hooks (read it, never change it)."""
        return self._latest_data()

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
                "due_at": _due_from(task, info.properties.get("dueFrom")), "due_provisional": False,
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


class StepBudgetExceeded(YekuoError):
    """The workflow ran more engine tasks in one command than `STEP_BUDGET` allows."""


class _Budget:
    """Counts the engine tasks one `do_engine_steps` runs; stops the run past the budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def __call__(self, task: Any) -> None:
        self.used += 1
        if self.used > self.limit:
            name = getattr(task.task_spec, "bpmn_name", None) or getattr(task.task_spec, "bpmn_id", None)
            exc = StepBudgetExceeded(
                f"the case ran {self.limit} automatic steps without waiting for a person, a message or a "
                f"timer (last: {name or task.task_spec.name}); the model probably loops without end — "
                "check the gateway conditions of the loop")
            exc.task = task  # type: ignore[attr-defined]  # located like SpiffWorkflow's own errors
            task._set_state(TaskState.ERROR)  # the case shows where it stopped; `retry` runs it again
            raise exc


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
        return counters.increment(conn, name)

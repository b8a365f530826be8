"""What one command changed, in the process scope it happened in (the called process or the parent).

A case that is inside called processes, or on parallel branches, has no single "case data": each
branch and each called process carries its own copy (SpiffWorkflow copies the caller's data into
a called process when it starts and back when it ends). Comparing "the newest task's data" before
and after a command therefore compares two different branches and shows unrelated fields as added
or removed. Camunda Cockpit's variable history avoids that by recording each change in the scope
(activity instance) that made it; here the same is done from the rebuilt workflow:

- the command's *origin* is the task its input acted on (the completed form, the fired timer, the
  caught message) — else the first task it finished;
- *before* is that task's data just before the command;
- *after* is the data where that task's own branch stands after the command, in the same process
  scope (the latest task among its successors there: the next user task, a waiting event, the
  called process's end).

So an event lists only what its own step, and the scripts and services that ran after it on the
same branch, changed; data that flows back into the caller when a called process ends belongs to
the caller's scope and is shown on the event in that scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow import TaskState

from engine.core.codec import CODEC

_REACHED = TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass
class Scope:
    """The process scope an event happened in, with that scope's data before and after it."""

    process: str  # the BPMN process id of the scope (a called process, or the main one)
    call_activity: str | None  # the call activity in the caller that runs it (None: the main process)
    task_spec: str | None  # the element the event acted on
    before: dict[str, Any]
    after: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"process": self.process, "call_activity": self.call_activity, "task_spec": self.task_spec}


def workflows(wf: Any) -> list[Any]:
    """The top workflow and every subworkflow (called process) it holds."""
    return [wf, *wf.subprocesses.values()]


def snapshot(wf: Any) -> dict[UUID, tuple[int, dict[str, Any]]]:
    """Every task's state and a copy of its data, taken before a command."""
    out: dict[UUID, tuple[int, dict[str, Any]]] = {}
    for w in workflows(wf):
        for task in w.tasks.values():
            out[task.id] = (task.state, CODEC.to_jsonable(dict(task.data)))
    return out


def _find(wf: Any, task_id: UUID) -> Any:
    for w in workflows(wf):
        task = w.tasks.get(task_id)
        if task is not None:
            return task
    return None


def origin(wf: Any, before: dict[UUID, tuple[int, dict[str, Any]]], task_spec: str | None) -> Any:
    """The task a command acted on: the named element that finished in it, else the first that did."""
    finished = []
    for w in workflows(wf):
        for task in w.tasks.values():
            was = before.get(task.id)
            if task.state in (TaskState.COMPLETED, TaskState.ERROR) and (was is None or was[0] != task.state) \
                    and task.task_spec.name not in ("Root",):
                finished.append(task)
    if task_spec:
        named = [t for t in finished if getattr(t.task_spec, "bpmn_id", None) == task_spec]
        if named:
            return min(named, key=lambda t: t.last_state_change)
    real = [t for t in finished if getattr(t.task_spec, "bpmn_id", None)]
    pool = [t for t in real if t.id in before] or real or finished
    return min(pool, key=lambda t: t.last_state_change) if pool else None


def _descendants(task: Any) -> list[Any]:
    out, stack = [], list(task.children)
    while stack:
        t = stack.pop()
        out.append(t)
        stack.extend(t.children)
    return out


def frontier(task: Any) -> Any:
    """Where `task`'s branch stands in its own scope: the latest reached task among its successors."""
    reached = [t for t in _descendants(task) if t.workflow is task.workflow and t.state & _REACHED]
    return max(reached, key=lambda t: t.last_state_change) if reached else task


def scope_of(task: Any) -> tuple[str, str | None]:
    """The process id a task runs in and the call activity (in its caller) that runs that process."""
    w = task.workflow
    parent = w.top_workflow.get_task_from_id(w.parent_task_id) if w.parent_task_id is not None else None
    return w.spec.name, (getattr(parent.task_spec, "bpmn_id", None) if parent is not None else None)


def change(wf: Any, before: dict[UUID, tuple[int, dict[str, Any]]], task_spec: str | None) -> Scope | None:
    """The scope and its data before and after the command that `before` was taken ahead of."""
    task = origin(wf, before, task_spec)
    if task is None:
        return None
    process, call = scope_of(task)
    was = before.get(task.id)
    data_before = was[1] if was is not None else {}
    data_after = CODEC.to_jsonable(dict(frontier(task).data))
    return Scope(process, call, getattr(task.task_spec, "bpmn_id", None), data_before, data_after)


def still(wf: Any, task_spec: str | None) -> Scope | None:
    """The scope of an event that changed no data (a claim, a service result): its task's, if open."""
    if not task_spec:
        return None
    for w in workflows(wf):
        for task in w.tasks.values():
            if getattr(task.task_spec, "bpmn_id", None) == task_spec and task.state & (
                    TaskState.READY | TaskState.STARTED | TaskState.WAITING):
                process, call = scope_of(task)
                data = CODEC.to_jsonable(dict(task.data))
                return Scope(process, call, task_spec, data, data)
    return None


def latest_data(wf: Any) -> dict[str, Any]:
    """The data of the latest task that has any: what a live case knows, never empty once started."""
    best = None
    for w in workflows(wf):
        for task in w.tasks.values():
            newer = best is None or task.last_state_change > best.last_state_change
            if task.data and task.state & _REACHED and newer:
                best = task
    return CODEC.to_jsonable(dict(best.data)) if best is not None else {}

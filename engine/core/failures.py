"""What to say when SpiffWorkflow fails with an exception that is not its own.

SpiffWorkflow raises `WorkflowException`s for what it expects (a script error, a missing
variable), but a model it accepted can still make it fail with a bare `TypeError` or `KeyError`
from deep inside (a multi-instance task whose input collection is missing, for one). Such a
failure must become the case's error like any other — with the element it happened on and a
sentence an analyst can act on — not an exception that aborts the command. The failing task is
found in the traceback (SpiffWorkflow passes it around as `my_task`), and marked ERROR so that
`retry` runs it again once the cause is fixed.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.task import Task

__all__ = ["describe_unexpected", "failing_task"]

_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR


def failing_task(exc: BaseException) -> Task | None:
    """The innermost SpiffWorkflow task on the traceback (`my_task`, else `task`), if any."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        local = tb.tb_frame.f_locals
        for name in ("my_task", "task"):
            if isinstance(local.get(name), Task):
                found = local[name]
                break
        tb = tb.tb_next
    return found


def _label(task: Task) -> str:
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None)
    return f"'{name}' ({bpmn_id})" if name and name != bpmn_id else f"'{bpmn_id}'"


def _hint(task: Task, exc: BaseException) -> str | None:
    """A sentence for failures whose cause is known from the model."""
    spec = task.task_spec
    if isinstance(spec, MultiInstanceTask) and isinstance(exc, TypeError):
        if spec.data_input is not None:
            name = spec.data_input.bpmn_id
            value = task.data.get(name)
            found = "missing from the case data" if name not in task.data else f"a {type(value).__name__}"
            return (f"its multi-instance input collection '{name}' is {found}; it must be a list or a "
                    "mapping (set it in the start data, a form or a script before this task)")
        if spec.cardinality:
            return (f"its loop cardinality {spec.cardinality!r} must give a whole number "
                    f"({type(exc).__name__}: {exc})")
    return None


def describe_unexpected(exc: BaseException) -> dict[str, Any]:
    """The case error for an exception SpiffWorkflow did not wrap; marks the failing task ERROR."""
    task = failing_task(exc)
    raw = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    info: dict[str, Any] = {"type": type(exc).__name__}
    if task is None:
        info["message"] = f"the engine failed while running the case ({raw})"
        return info
    hint = _hint(task, exc)
    info["message"] = f"element {_label(task)} failed: {hint or raw}"
    if hint:
        info["notes"] = [raw]
    info["task_id"] = str(task.id)
    info["task_spec"] = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
    info["task_name"] = getattr(task.task_spec, "bpmn_name", None)
    if not task.has_state(_FINISHED):
        task._set_state(TaskState.ERROR)
    return info

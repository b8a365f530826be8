"""The script engine SpiffWorkflow runs every workflow's code with, on the restricted environment.

Task data goes in and assigned variables come out as with SpiffWorkflow's `TaskDataEnvironment`,
but code is compiled by `policy`, runs against `guards` and `helpers`, and stops at its limits.

Where code runs is decided per compiled source, deliberately:

* **inline**, in the calling process, when `policy.is_inline` says it is small and call-free
  (`amount > 100 and business_type == "hv_single"`, a DMN cell, `"PT2H"`): nothing it can do costs
  more than a bounded number of guarded operations on at most `guards.INLINE_ITEMS` items, and
  a value that would grow past that re-runs the code in a worker. Cost ~2 µs a call.
* **in a worker process** (`worker`) for everything else — every script with a call, loop,
  comprehension or function, whichever place of the model it comes from (script tasks, pre/post
  scripts, conditions, timers, service parameters, multi-instance, DMN). The OS bounds its CPU
  time and memory; C-level work (`re_match` backtracking, `sum(lists, [])`, `b'x'.ljust(3e8)`,
  `str(huge)`) ends at the limit and the worker is replaced. Cost ~50–90 µs a call with up to
  1 KB of task data, ~130–160 µs with 20 KB (a pickle round trip each way).

Measured in `bench/scripts.py`; the numbers are in README.md ("Script limits").
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any, NoReturn

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.core.errors import ScriptError, ServiceError
from engine.core.scripting import runner, worker
from engine.core.scripting.guards import INLINE_GUARDS, SAFE_BUILTINS, Escalate
from engine.core.scripting.helpers import DEFAULT_HELPERS, HelperNamespace
from engine.core.scripting.policy import Compiled, compile_script

__all__ = ["RestrictedEnvironment", "ScriptEngine", "make_script_engine"]


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment semantics (task data in, assigned variables out) inside the sandbox.

    `helpers` are added to DEFAULT_HELPERS (a same-named helper replaces the default).
    `service_caller(context, operation_name, operation_params)` runs service tasks and must
    return a JSON string.
    """

    def __init__(self, helpers: dict[str, Any] | None = None, *, time_limit: float = 1.0,
                 service_caller: Callable[[dict, str, dict], str] | None = None, isolate_all: bool = False) -> None:
        merged = {**DEFAULT_HELPERS, **(helpers or {})}
        for name in merged:
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
                    or name.startswith("_"):
                raise ValueError(f"invalid helper name {name!r}: use an identifier not starting with '_'")
        if not time_limit > 0:
            raise ValueError("time_limit must be positive")
        super().__init__(merged)
        self.helpers = self.globals
        self.builtins = SAFE_BUILTINS
        self.time_limit = float(time_limit)
        self.service_caller = service_caller
        self.isolate_all = isolate_all  # send inline code to a worker too (benchmarks, tests)

    # ---- SpiffWorkflow's interface
    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        """Value of an expression; task data shadows nothing silently (see _check_shadowing)."""
        compiled = self._compiled(expression, "eval")
        external_context = external_context or {}
        self._check_shadowing(compiled.names, context)
        if compiled.inline and not self.isolate_all:
            scope = runner.scope_for(self.globals, context, external_context, INLINE_GUARDS)
            try:
                return runner.run_code(compiled.code, scope, "eval", self.time_limit)
            except Escalate:
                pass
        return self._in_worker(expression, "eval", context, external_context)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        """Run a script; variables it assigns (or deletes) are written back into `context`.

        Like TaskDataEnvironment, assignments made before an error are kept; helpers, builtins,
        guards, external context and callables (functions, lambdas) never reach task data, and
        values are stored as `runner.task_data_value` says (dates as ISO strings).
        """
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        compiled = self._compiled(script, "exec")
        if compiled.inline and not self.isolate_all:
            scope = runner.scope_for(self.globals, context, external_context, INLINE_GUARDS)
            try:
                runner.run_code(compiled.code, scope, "exec", self.time_limit)
            except Escalate:
                pass  # nothing was written back: the worker starts from the same data
            except BaseException:
                runner.write_back(scope, context, external_context, self.globals, strict=False)
                raise
            else:
                runner.write_back(scope, context, external_context, self.globals)
                return True
        return self._in_worker(script, "exec", context, external_context)

    def call_service(self, context: dict, operation_name: str, operation_params: dict, **kwargs: Any) -> str:
        """Delegate to the configured service caller (trusted code, not sandboxed)."""
        if self.service_caller is None:
            raise ServiceError(f"no service handler is configured for operation '{operation_name}'")
        result = self.service_caller(context, operation_name, operation_params)
        if not isinstance(result, str):
            raise ServiceError(f"service '{operation_name}' returned {type(result).__name__}, not a JSON string")
        return result

    def check_for_overwrite(self, context: dict, external_context: dict) -> None:
        """Fail clearly when task data would hide a helper (as TaskDataEnvironment does)."""
        clash = (set(self.globals) | set(external_context)) & set(context)
        if clash:
            raise ScriptError(
                "task data overwrites predefined helper(s); rename these variables or form fields: "
                + ", ".join(sorted(clash)))

    # ---- internals
    @staticmethod
    def _compiled(source: str, mode: str) -> Compiled:
        compiled = compile_script(source, mode)
        if compiled.error is not None:
            raise ScriptError(f"{'script' if mode == 'exec' else 'expression'} refused: {compiled.error}")
        return compiled

    def _check_shadowing(self, names: frozenset[str], context: dict) -> None:
        """An expression that reads a helper name also present in task data is ambiguous: refuse it.

        Unlike scripts, unrelated task data may share a helper's name (e.g. a form field `date`)
        so conditions that do not use the name keep working. Task data still wins over external
        context (data objects), as in TaskDataEnvironment.
        """
        clash = names & set(self.globals) & set(context)
        if clash:
            raise ScriptError(
                "task data overwrites predefined helper(s) used in this expression; rename these "
                "variables or form fields: " + ", ".join(sorted(clash)))

    def _in_worker(self, source: str, mode: str, context: dict, external_context: dict) -> Any:
        remote = []
        for name, value in self.globals.items():
            if isinstance(value, HelperNamespace):
                remote += [f"{name}.{attr}" for attr in vars(value)]
            elif DEFAULT_HELPERS.get(name) is not value:
                remote.append(name)
        request = ("run", source, mode, context, external_context, remote, self.time_limit)
        reply = worker.run(request, self.time_limit, self.globals)
        if reply[0] == "ok":
            if mode == "exec":
                context.clear()
                context.update(reply[2])
            return reply[1]
        _, exc, name, line, after = reply
        if after is not None:
            context.clear()
            context.update(after)
        if isinstance(exc, NameError) and name:
            exc.name = name
        _raise_at(exc, line)

def _raise_at(exc: BaseException, line: int) -> NoReturn:
    """Raise `exc` from a frame named like script code at `line`, so SpiffWorkflow's error shows
    the script's line number as it does for code run in this process."""
    if line > 0:
        code = compile("\n" * (line - 1) + "raise _error_", "<string>", "exec")
        exec(code, {"_error_": exc, "__builtins__": {}})  # noqa: S102 - our own one-line raise
    raise exc


class ScriptEngine(PythonScriptEngine):
    """PythonScriptEngine on a RestrictedEnvironment, with a working call_service.

    SpiffWorkflow 3.2.0's call_service turns every handler exception into
    NameError('script' is not defined); ours wraps the real exception in WorkflowTaskException
    with its message.
    """

    def __init__(self, environment: RestrictedEnvironment | None = None) -> None:
        super().__init__(environment=environment or RestrictedEnvironment())

    def call_service(self, task: Any, **kwargs: Any) -> str:
        try:
            return self.environment.call_service(task.data, **kwargs)
        except SpiffWorkflowException:
            raise
        except Exception as err:
            operation = kwargs.get("operation_name", "?")
            raise WorkflowTaskException(
                f"service '{operation}' failed: {type(err).__name__}: {err}", task=task, exception=err) from err


def make_script_engine(helpers: dict[str, Any] | None = None, *, time_limit: float = 1.0,
                       service_caller: Callable[[dict, str, dict], str] | None = None) -> ScriptEngine:
    """The engine every workflow gets (attach it again after each deserialize)."""
    return ScriptEngine(RestrictedEnvironment(helpers, time_limit=time_limit, service_caller=service_caller))

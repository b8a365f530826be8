"""The script engine SpiffWorkflow runs every workflow's code with, on the restricted environment.

Task data goes in and assigned variables come out as with SpiffWorkflow's `TaskDataEnvironment`,
but code is compiled by `policy`, runs against `guards` and `helpers`, and stops at its time limit.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable, Iterator
from time import monotonic
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.core.errors import ScriptError, ServiceError
from engine.core.scripting.guards import GUARDS, SAFE_BUILTINS
from engine.core.scripting.helpers import DEFAULT_HELPERS
from engine.core.scripting.policy import Compiled, compile_script

__all__ = ["RestrictedEnvironment", "ScriptEngine", "make_script_engine"]


class _TimeLimitExceeded(BaseException):
    """Raised by `_tick_`; a BaseException a script cannot name, so `except` cannot catch it."""


#: Scope names that are the sandbox's own, never task data.
_RESERVED = frozenset(GUARDS) | {"__builtins__", "_tick_"}


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment semantics (task data in, assigned variables out) inside the sandbox.

    `helpers` are added to DEFAULT_HELPERS (a same-named helper replaces the default).
    `service_caller(context, operation_name, operation_params)` runs service tasks and must
    return a JSON string.
    """

    def __init__(self, helpers: dict[str, Any] | None = None, *, time_limit: float = 1.0,
                 service_caller: Callable[[dict, str, dict], str] | None = None) -> None:
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

    # ---- SpiffWorkflow's interface
    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        """Value of an expression; task data shadows nothing silently (see _check_shadowing)."""
        compiled = self._compiled(expression, "eval")
        external_context = external_context or {}
        self._check_shadowing(compiled.names, context)
        scope = self._scope(context, external_context)
        return self._run(compiled.code, scope, "eval")

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        """Run a script; variables it assigns (or deletes) are written back into `context`.

        Like TaskDataEnvironment, assignments made before an error are kept; helpers, builtins,
        guards, external context and callables (functions, lambdas) never reach task data.
        """
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        compiled = self._compiled(script, "exec")
        scope = self._scope(context, external_context)
        try:
            return self._run(compiled.code, scope, "exec")
        finally:
            self._write_back(scope, context, external_context)

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

    def _scope(self, context: dict, external_context: dict) -> dict[str, Any]:
        scope: dict[str, Any] = dict(self.globals)
        scope.update(external_context)
        scope.update(context)
        scope.update(GUARDS)
        scope["__builtins__"] = SAFE_BUILTINS
        return scope

    def _run(self, code: types.CodeType | None, scope: dict[str, Any], mode: str) -> Any:
        deadline = monotonic() + self.time_limit

        def tick() -> bool:
            if monotonic() > deadline:
                raise _TimeLimitExceeded
            return True

        scope["_tick_"] = tick
        try:
            if mode == "eval":
                return eval(code, scope)  # noqa: S307 - restricted code object, guarded scope
            exec(code, scope)  # noqa: S102 - restricted code object, guarded scope
            return True
        except _TimeLimitExceeded as exc:
            error = ScriptError(f"script exceeded its time limit of {self.time_limit:g}s")
            raise error.with_traceback(exc.__traceback__) from None

    def _write_back(self, scope: dict[str, Any], context: dict, external_context: dict) -> None:
        """Copy the script's variables into task data, as TaskDataEnvironment's cleanup leaves them.

        Names of helpers and external context are dropped even if reassigned (upstream pops
        them too); so are callables and iterators (a generator would run its ticks later).
        """
        for key, value in scope.items():
            if key.startswith("_") or key in _RESERVED or key in self.globals or key in external_context:
                continue
            if callable(value) or isinstance(value, Iterator):
                context.pop(key, None)
                continue
            context[key] = value
        for key in [k for k in context if k not in scope and not k.startswith("_")]:
            del context[key]


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

"""Running one compiled piece of code against task data: the scope, the time tick, the write-back.

The same functions run in the web process (the inline path for small call-free expressions) and
in a sandbox worker (`worker`), so both give the same answers. The write-back also decides what a
script may leave in task data: JSON values, with dates and datetimes turned into ISO strings;
anything else (Decimal, bytes, set, …) is refused with the variable's name, because the state
could not be stored and the case would be stuck on a 500.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator
from time import monotonic
from typing import Any

from engine.core.errors import ScriptError
from engine.core.scripting.guards import GUARDS, SAFE_BUILTINS

#: Scope names that are the sandbox's own, never task data.
RESERVED = frozenset(GUARDS) | {"__builtins__", "_tick_"}


class TimeLimitExceeded(BaseException):
    """Raised by `_tick_`; a BaseException a script cannot name, so `except` cannot catch it."""


def scope_for(helpers: dict[str, Any], context: dict, external_context: dict,
              guards: dict[str, Any] = GUARDS) -> dict[str, Any]:
    """Helpers, then external context (data objects), then task data, then the guards."""
    scope: dict[str, Any] = dict(helpers)
    scope.update(external_context)
    scope.update(context)
    scope.update(guards)
    scope["__builtins__"] = SAFE_BUILTINS
    return scope


def run_code(code: types.CodeType | None, scope: dict[str, Any], mode: str, time_limit: float) -> Any:
    """eval/exec restricted code; loops and functions tick against `time_limit` seconds."""
    deadline = monotonic() + time_limit

    def tick() -> bool:
        if monotonic() > deadline:
            raise TimeLimitExceeded
        return True

    scope["_tick_"] = tick
    try:
        if mode == "eval":
            return eval(code, scope)
        exec(code, scope)  # noqa: S102 - restricted code object, guarded scope
        return True
    except TimeLimitExceeded as exc:
        error = ScriptError(f"script exceeded its time limit of {time_limit:g}s")
        raise error.with_traceback(exc.__traceback__) from None


def write_back(scope: dict[str, Any], context: dict, external_context: dict, helper_names: Any,
               *, strict: bool = True) -> None:
    """Copy the script's variables into task data, as TaskDataEnvironment's cleanup leaves them.

    Names of helpers and external context are dropped even if reassigned (upstream pops them too);
    so are callables and iterators (a generator would run its ticks later). Values become task
    data (`task_data_value`); with `strict` (the script succeeded) a value task data cannot hold is
    refused, otherwise (the script already failed) it is dropped so that error stays the one shown.
    """
    for key, value in scope.items():
        if key.startswith("_") or key in RESERVED or key in helper_names or key in external_context:
            continue
        if callable(value) or isinstance(value, Iterator):
            context.pop(key, None)
            continue
        try:
            context[key] = task_data_value(value, key)
        except ScriptError:
            context.pop(key, None)
            if strict:
                raise
    for key in [k for k in context if k not in scope and not k.startswith("_")]:
        del context[key]


_SCALARS = (str, int, float, bool, type(None))


def task_data_value(value: Any, name: str) -> Any:
    """`value` as task data stores it: JSON types, dates and datetimes as ISO strings.

    Returns `value` itself when nothing needed converting (the common case costs one walk).
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        changed = False
        for k, v in value.items():
            if not isinstance(k, str):
                raise ScriptError(f"variable '{name}' has a key {k!r} of type {type(k).__name__}; "
                                  "task data keys must be strings")
            new = task_data_value(v, f"{name}[{k!r}]")
            changed |= new is not v
            out[k] = new
        return out if changed else value
    if isinstance(value, (list, tuple)):
        items = [task_data_value(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if all(a is b for a, b in zip(items, value)):
            return value
        return items if isinstance(value, list) else tuple(items)
    hint = {"Decimal": "float(x) or str(x)", "set": "sorted(x)", "frozenset": "sorted(x)",
            "bytes": "x.decode()", "timedelta": "a number of days or seconds"}.get(type(value).__name__, "a JSON value")
    raise ScriptError(f"variable '{name}' holds a {type(value).__name__}, which task data cannot store "
                      f"(only JSON values; dates become ISO strings): use {hint}")

"""The script sandbox: every piece of Python in a process model runs here.

BPMN script tasks, pre/post scripts, gateway conditions, timer expressions, service-task
parameters, multi-instance expressions and DMN cells are Python that SpiffWorkflow hands to its
script engine. The stock `TaskDataEnvironment` runs them with plain `eval`/`exec` (a script can
``import os``), and passing `RestrictedPython.safe_globals` only trims builtins: without
`compile_restricted`, ``().__class__.__mro__[1].__subclasses__()`` still works. So here:

* Code is compiled by RestrictedPython (``compile_restricted_exec``/``_eval``) with a stricter
  policy (`_Policy`): no names or attributes starting with ``_``, no ``import``, ``class``,
  ``with``, ``finally``, bare ``except:``, ``print``, no calls to ``open``/``getattr``/``type``/
  ``globals``/``eval``/... and no ``.format``/``.format_map``/``.mro``/``.now``/``.today``/
  ``.utcnow`` attributes. Compiled code is cached per (source, mode) in an LRU.
* At run time attribute reads go through `_guarded_getattr` (same refusals, plus the frame and
  code attributes RestrictedPython lists), item writes only reach dicts, lists and sets, and the
  builtins are a small allowlist (`SAFE_BUILTINS`). Helpers (`DEFAULT_HELPERS`) are
  deterministic: no wall clock, no randomness.
* Time: the policy inserts a ``_tick_()`` call at the head of every loop body, function body,
  lambda and comprehension; it raises once the run is older than ``time_limit``. This is used
  instead of ``sys.settrace`` because CPython 3.11 emits no line event for the self-jump that
  ``while True: pass`` compiles to, and a tracer that hits RecursionError is silently removed.
  The tick exception derives from BaseException and is not reachable by name, and it re-fires on
  every later tick, so a script cannot swallow it and keep looping.
* Size: ``+``, ``*``, ``**``, ``<<`` and ``%`` (and their augmented forms) are rewritten into
  guarded calls that refuse sequences over `MAX_ITEMS` items and integers over `MAX_INT_BITS`
  bits; ``range`` is capped at `MAX_ITEMS`; ``str.join``/padding/``replace``/``expandtabs`` and
  ``list.extend`` check their result size; f-string format specs must be constant and small.

Not covered (defence in depth, not a jail; run workers under OS limits, e.g. RLIMIT_AS, if model
authors are not trusted):

* Memory in general: many small allocations inside the time limit (e.g. a list grown by
  ``append`` in a loop, dict/set comprehensions, ``sum(lists, [])``) are not counted.
* Long C-level calls cannot be interrupted: ``sorted``/``min``/``sum`` over big data, regex
  catastrophic backtracking in ``re_match``, Decimal arithmetic at huge precision.
* Host-dependent but clock-free methods stay reachable (``datetime.astimezone()`` without an
  argument, ``timestamp()`` of a naive datetime use the server's time zone).
* SpiffWorkflow's serializer stores ``datetime`` and ``timedelta`` but not ``date`` or
  ``Decimal``: scripts should store those as strings.
"""

from __future__ import annotations

import ast
import copy
import functools
import keyword
import math
import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any, NamedTuple

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from .errors import ScriptError, ServiceError

__all__ = [
    "DEFAULT_HELPERS",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "SAFE_BUILTINS",
    "RestrictedEnvironment",
    "ScriptEngine",
    "check_source",
    "make_script_engine",
]

#: Largest sequence (str/list/tuple/bytes/range) a guarded operation may produce.
MAX_ITEMS = 1_000_000
#: Largest integer (in bits, ~4,900 decimal digits) a guarded operation may produce.
MAX_INT_BITS = 16_384

#: SpiffWorkflow finds script line numbers by this traceback file name.
_FILENAME = "<string>"

#: Attributes refused everywhere, besides names starting with "_" and RestrictedPython's list of
#: frame/code/generator attributes: format strings can walk attributes, `mro()` reaches
#: `object`/`BaseException`, and now/today/utcnow read the wall clock.
_BLOCKED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "now", "today", "utcnow"}) | INSPECT_ATTRIBUTES

#: Builtins that must never be called; refused at compile time so deploy-time checks see them.
_FORBIDDEN_CALLS = frozenset({
    "open", "compile", "globals", "locals", "vars", "dir", "getattr", "setattr", "delattr",
    "hasattr", "type", "object", "super", "memoryview", "breakpoint", "input", "help", "exit",
    "quit", "iter", "next", "id", "format",
})


class _TimeLimitExceeded(BaseException):
    """Raised by `_tick_`; a BaseException a script cannot name, so `except` cannot catch it."""


# --------------------------------------------------------------------------------------------
# compile-time policy


_BINOP_GUARDS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_"}


def _call(name: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, where)
    return node


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus our refusals, size guards and time ticks."""

    # ---- refusals
    def visit_Import(self, node: ast.Import) -> Any:
        self.error(node, "import statements are not allowed; use the provided helpers")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, "import statements are not allowed; use the provided helpers")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_With(self, node: ast.With) -> Any:
        self.error(node, "'with' statements are not allowed")
        return node

    def visit_Try(self, node: ast.Try) -> Any:
        if node.finalbody:
            self.error(node, "'finally' is not allowed")
        for handler in node.handlers:
            if handler.type is None:
                self.error(handler, "a bare 'except:' is not allowed; name the exception (e.g. 'except ValueError:')")
        return super().visit_Try(node)

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in ("print", "printed"):
            self.error(node, f"'{node.id}' is not available in scripts")
            return node
        return super().visit_Name(node)

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in _FORBIDDEN_CALLS:
            self.error(node, f"'{node.func.id}()' is not available in scripts")
        return super().visit_Call(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr in _BLOCKED_ATTRIBUTES and node.attr not in INSPECT_ATTRIBUTES:
            self.error(node, f"'.{node.attr}' is not allowed in scripts" + (
                "; use an f-string" if node.attr.startswith("format") else ""))
        return super().visit_Attribute(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        spec = node.format_spec
        if spec is not None:
            parts = getattr(spec, "values", [spec])
            if not all(isinstance(p, ast.Constant) for p in parts):
                self.error(node, "f-string format specs must be constant")
            else:
                text = "".join(str(p.value) for p in parts)
                if any(int(n) > MAX_ITEMS for n in re.findall(r"\d+", text)):
                    self.error(node, f"f-string width/precision over {MAX_ITEMS} is not allowed")
        return super().visit_FormattedValue(node)

    # ---- size guards
    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        return _call(guard, [node.left, node.right], node) if guard else node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        """Also allow ``d[k] += v`` when `d` and `k` are plain names or constants (no double side effects)."""
        target = node.target
        if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                and isinstance(target.slice, (ast.Name, ast.Constant))):
            op = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.FloorDiv: "//=",
                  ast.Mod: "%=", ast.Pow: "**=", ast.BitOr: "|=", ast.BitAnd: "&=", ast.BitXor: "^=",
                  ast.LShift: "<<=", ast.RShift: ">>=", ast.MatMult: "@="}[type(node.op)]
            load = ast.Subscript(value=ast.Name(target.value.id, ast.Load()), slice=copy.deepcopy(target.slice),
                                 ctx=ast.Load())
            copy_locations(load, target)
            args = [ast.Constant(op), self.visit(load), self.visit(node.value)]
            assign = ast.Assign(targets=[self.visit(target)], value=_call("_inplacevar_", args, node))
            copy_locations(assign, node)
            return assign
        return super().visit_AugAssign(node)

    # ---- time ticks
    def _tick(self, where: ast.AST) -> ast.Expr:
        stmt = ast.Expr(_call("_tick_", [], where))
        copy_locations(stmt, where)
        return stmt

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = super().visit_For(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, self._tick(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        body = ast.BoolOp(op=ast.And(), values=[_call("_tick_", [], node), node.body])
        copy_locations(body, node)
        node.body = body
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, _call("_tick_", [], node.iter))
        return node


class _Compiled(NamedTuple):
    code: types.CodeType | None
    error: str | None
    names: frozenset[str]


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> _Compiled:
    """Compile once per (source, mode): the same gateway condition runs on every instance."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        return _Compiled(None, f"expected source text, got {type(source).__name__}", frozenset())
    text = source.strip() if mode == "eval" else source
    try:
        tree = ast.parse(text, _FILENAME, mode)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if mode == "exec" and exc.lineno else ""
        return _Compiled(None, f"{where}syntax error: {exc.msg}", frozenset())
    except (ValueError, RecursionError, MemoryError) as exc:
        return _Compiled(None, f"cannot parse: {type(exc).__name__}: {exc}".splitlines()[0], frozenset())
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, _FILENAME, policy=_Policy)
    except (RecursionError, MemoryError):
        return _Compiled(None, "the code is too deeply nested", frozenset())
    if result.errors:
        messages = []
        for err in result.errors:
            match = re.match(r"Line (\d+|None): (.*)", err, re.S)
            line, msg = (match.group(1), match.group(2)) if match else (None, err)
            msg = " ".join(msg.split())
            messages.append(f"line {line}: {msg}" if mode == "exec" and line not in (None, "None") else msg)
        return _Compiled(None, "; ".join(dict.fromkeys(messages)), frozenset())
    return _Compiled(result.code, None, frozenset(result.used_names))


def check_source(source: str, mode: str) -> str | None:
    """Deploy-time lint: a one-line reason the sandbox would refuse `source`, or None.

    `mode` is 'eval' (conditions, timer expressions, parameters) or 'exec' (scripts).
    """
    return _compile(source, mode).error


# --------------------------------------------------------------------------------------------
# run-time guards


def _refuse(message: str) -> ScriptError:
    return ScriptError(message)


def _check_items(n: int, what: str) -> None:
    if n > MAX_ITEMS:
        raise _refuse(f"{what} would have {n} items; the limit is {MAX_ITEMS}")


def _check_bits(n: int, what: str) -> None:
    if n > MAX_INT_BITS:
        raise _refuse(f"{what} would have about {n} bits; the limit is {MAX_INT_BITS}")


_SEQUENCES = (str, bytes, list, tuple)


def _guard_add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_items(len(a) + len(b), "the concatenation")
    return a + b


def _check_mul(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_items(len(a) * max(b, 0), "the repetition")
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_items(len(b) * max(a, 0), "the repetition")
    elif isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length(), "the product")


def _guard_mul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(a.bit_length() * b, "the power")


def _guard_pow(a: Any, b: Any) -> Any:
    _check_pow(a, b)
    return a ** b


def _check_lshift(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        _check_bits(a.bit_length() + b, "the shifted value")


def _guard_lshift(a: Any, b: Any) -> Any:
    _check_lshift(a, b)
    return a << b


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_mod(a: Any) -> None:
    if isinstance(a, (str, bytes)):
        text = a.decode("latin-1") if isinstance(a, bytes) else a
        for width, precision in _PERCENT_FIELD.findall(text.replace("%%", "")):
            for n in (width, precision):
                if n == "*":
                    raise _refuse("'*' widths in %-formatting are not allowed")
                if n:
                    _check_items(int(n), "the %-formatted field")


def _guard_mod(a: Any, b: Any) -> Any:
    _check_mod(a)
    return a % b


_INPLACE: dict[str, tuple[Callable[[Any, Any], None] | None, Callable[[Any, Any], Any]]] = {
    "+=": (lambda a, b: _check_items(len(a) + len(b), "the concatenation")
           if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES) else None, operator.iadd),
    "*=": (_check_mul, operator.imul),
    "**=": (_check_pow, operator.ipow),
    "<<=": (_check_lshift, operator.ilshift),
    "%=": (lambda a, b: _check_mod(a), operator.imod),
    "-=": (None, operator.isub),
    "/=": (None, operator.itruediv),
    "//=": (None, operator.ifloordiv),
    ">>=": (None, operator.irshift),
    "|=": (None, operator.ior),
    "&=": (None, operator.iand),
    "^=": (None, operator.ixor),
    "@=": (None, operator.imatmul),
}


def _inplacevar(op: str, a: Any, b: Any) -> Any:
    check, fn = _INPLACE[op]
    if check is not None:
        check(a, b)
    return fn(a, b)


def _limited_range(*args: int) -> range:
    """`range` with a size cap: ``for i in range(10**12)`` is refused before it starts."""
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_ITEMS + 1
    _check_items(n, "range()")
    return r


def _sized_str_method(s: str, name: str) -> Callable[..., Any]:
    method = getattr(s, name)

    def checked(*args: Any, **kwargs: Any) -> Any:
        if name == "join":
            parts = list(args[0]) if args else []
            _check_items(sum(len(p) if isinstance(p, str) else 0 for p in parts) + len(s) * max(len(parts) - 1, 0),
                         "str.join()")
            return method(parts, *args[1:], **kwargs)
        if name in ("ljust", "rjust", "center", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int):
                _check_items(width, f"str.{name}()")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                _check_items(len(s) + s.count("\t") * max(size, 0), "str.expandtabs()")
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            count = s.count(args[0]) if args[0] else len(s) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            _check_items(len(s) + count * max(len(args[1]) - len(args[0]), 0), "str.replace()")
        return method(*args, **kwargs)

    return checked


_SIZED_STR_METHODS = frozenset({"join", "ljust", "rjust", "center", "zfill", "expandtabs", "replace"})


def _guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """`a.b` in a script: no private or introspection attributes, no format strings, no clock."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in _BLOCKED_ATTRIBUTES:
        raise _refuse(f"attribute '{name}' is not accessible in scripts")
    if isinstance(obj, str) and name in _SIZED_STR_METHODS:
        return _sized_str_method(obj, name)
    if isinstance(obj, type) and (issubclass(obj, str) and name in _SIZED_STR_METHODS
                                  or issubclass(obj, list) and name == "extend"):
        raise _refuse(f"call '{name}' on a value, not on the type {obj.__name__}")
    if name == "extend" and isinstance(obj, list):
        def extend(items: Iterable[Any]) -> None:
            items = items if isinstance(items, (list, tuple, str, dict, set, range)) else list(items)
            _check_items(len(obj) + len(items), "list.extend()")
            obj.extend(items)
        return extend
    return getattr(obj, name, *default)


def _guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _guarded_write(obj: Any) -> Any:
    """Item/attribute writes (``d[k] = v``, ``del l[i]``) only reach plain containers."""
    if isinstance(obj, (dict, list, set)):
        return obj
    raise _refuse(f"objects of type {type(obj).__name__} cannot be modified in scripts")


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


#: The builtins a script sees. No type/getattr/vars/dir/open/__import__/eval/exec/compile/
#: globals/locals; a handful of exception classes so scripts can raise and catch plain errors.
SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False,
    "len": len, "min": min, "max": max, "sum": sum, "abs": abs, "round": round, "sorted": sorted,
    "any": any, "all": all, "str": str, "int": int, "float": float, "bool": bool, "list": list,
    "dict": dict, "set": set, "tuple": tuple, "range": _limited_range, "enumerate": enumerate,
    "zip": zip, "isinstance": isinstance,
    "Exception": Exception, "ValueError": ValueError, "TypeError": TypeError, "KeyError": KeyError,
    "IndexError": IndexError, "LookupError": LookupError, "ArithmeticError": ArithmeticError,
    "ZeroDivisionError": ZeroDivisionError,
}

_GUARDS: dict[str, Any] = {
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
    "_add_": _guard_add,
    "_mul_": _guard_mul,
    "_pow_": _guard_pow,
    "_lshift_": _guard_lshift,
    "_mod_": _guard_mod,
}


# --------------------------------------------------------------------------------------------
# helpers


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    raise TypeError(f"expected a date or an ISO date string, got {type(value).__name__}")


def parse_date(value: str) -> date:
    """An ISO date ('2026-03-01') or the date part of an ISO datetime."""
    return _as_date(value)


def parse_datetime(value: str) -> datetime:
    """An ISO datetime; include an offset ('+08:00'), naive values are taken as they are."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO datetime string, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def days_between(start: date | str, end: date | str) -> int:
    """Whole calendar days from `start` to `end` (negative if `end` is earlier)."""
    return (_as_date(end) - _as_date(start)).days


def re_match(pattern: str, value: str) -> bool:
    """True if `value` matches `pattern` at its start (Python `re.match`); returns no match object."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        raise TypeError("re_match(pattern, value) takes two strings")
    return re.match(pattern, value) is not None


def floor(x: float | Decimal) -> int:
    """Largest integer <= x."""
    return math.floor(x)


def ceil(x: float | Decimal) -> int:
    """Smallest integer >= x."""
    return math.ceil(x)


#: Deterministic helpers every script sees. `date`/`datetime` are the real classes (so values
#: compare and serialize normally); their now/today/utcnow are refused by the attribute guard.
DEFAULT_HELPERS: dict[str, Any] = {
    "Decimal": Decimal,
    "date": date,
    "datetime": datetime,
    "timedelta": timedelta,
    "parse_date": parse_date,
    "parse_datetime": parse_datetime,
    "days_between": days_between,
    "floor": floor,
    "ceil": ceil,
    "re_match": re_match,
}

_RESERVED = frozenset(_GUARDS) | {"__builtins__", "_tick_"}


# --------------------------------------------------------------------------------------------
# the environment and the engine


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
    def _compiled(source: str, mode: str) -> _Compiled:
        compiled = _compile(source, mode)
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
        scope.update(_GUARDS)
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

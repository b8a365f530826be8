"""Run-time guards: what compiled script code calls for attribute reads, writes and sized operations.

The policy rewrites ``a.b``, ``d[k] = v``, ``+``, ``*``, ``**``, ``<<``, ``%`` and augmented
assignments into calls of these; `GUARDS` is the table every script's scope receives, and
`SAFE_BUILTINS` the only builtins it sees.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)

from engine.core.errors import ScriptError
from engine.core.scripting.policy import BLOCKED_ATTRIBUTES, MAX_INT_BITS, MAX_ITEMS


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
    if name.startswith("_") or name in BLOCKED_ATTRIBUTES:
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

GUARDS: dict[str, Any] = {
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


# ---- the inline path: small call-free code in the calling process (see script_engine)

#: Sizes inline code may produce; anything larger re-runs the code in a worker.
INLINE_ITEMS = 10_000
INLINE_BITS = 2_048


class Escalate(BaseException):
    """Inline code reached something only a worker may do; not catchable by a script."""


def _inline_check(a: Any, b: Any, op: str) -> None:
    if op == "%":
        if isinstance(a, (str, bytes)):  # %-formatting can render any existing data: worker
            raise Escalate
        return
    if isinstance(a, _SEQUENCES) or isinstance(b, _SEQUENCES):
        n = (len(a) + len(b) if op == "+" and isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES)
             else len(a) * b if isinstance(a, _SEQUENCES) and isinstance(b, int)
             else len(b) * a if isinstance(b, _SEQUENCES) and isinstance(a, int) else 0)
        if n > INLINE_ITEMS:
            raise Escalate
    elif isinstance(a, int) and isinstance(b, int) and op != "+":
        bits = (a.bit_length() * b if op == "**" and b > 0 and abs(a) > 1 else a.bit_length() + b if op == "<<"
                else a.bit_length() + b.bit_length())
        if bits > INLINE_BITS:
            raise Escalate


def _inline(op: str, guard: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def check_then(a: Any, b: Any) -> Any:
        _inline_check(a, b, op)
        return guard(a, b)
    return check_then


#: GUARDS with tighter sizes that hand the code to a worker instead of refusing it.
INLINE_GUARDS: dict[str, Any] = {
    **GUARDS,
    "_add_": _inline("+", _guard_add),
    "_mul_": _inline("*", _guard_mul),
    "_pow_": _inline("**", _guard_pow),
    "_lshift_": _inline("<<", _guard_lshift),
    "_mod_": _inline("%", _guard_mod),
}

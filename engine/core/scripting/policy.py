"""What the sandbox lets a script be: the RestrictedPython policy, the compile cache, the limits.

Refusals happen at compile time wherever they can, so deploy-time checks (`check_source`) and run
time give the same answer; the policy also rewrites size-sensitive operators into guarded calls and
puts a time tick into every loop, function and comprehension (see the package docstring).
"""

from __future__ import annotations

import ast
import copy
import functools
import re
import types
from typing import Any, NamedTuple

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    RestrictingNodeTransformer,
    copy_locations,
)

#: Largest sequence (str/list/tuple/bytes/range) a guarded operation may produce.
MAX_ITEMS = 1_000_000
#: Largest integer (in bits, ~4,900 decimal digits) a guarded operation may produce.
MAX_INT_BITS = 16_384

#: SpiffWorkflow finds script line numbers by this traceback file name.
_FILENAME = "<string>"

#: Attributes refused everywhere, besides names starting with "_" and RestrictedPython's list of
#: frame/code/generator attributes: format strings can walk attributes, `mro()` reaches
#: `object`/`BaseException`, and now/today/utcnow read the wall clock.
BLOCKED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "now", "today", "utcnow"}) | INSPECT_ATTRIBUTES

#: Builtins that must never be called; refused at compile time so deploy-time checks see them.
_FORBIDDEN_CALLS = frozenset({
    "open", "compile", "globals", "locals", "vars", "dir", "getattr", "setattr", "delattr",
    "hasattr", "type", "object", "super", "memoryview", "breakpoint", "input", "help", "exit",
    "quit", "iter", "next", "id", "format",
})

_BINOP_GUARDS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_"}


def _call(name: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, where)
    return node


class Policy(RestrictingNodeTransformer):
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
        if node.attr in BLOCKED_ATTRIBUTES and node.attr not in INSPECT_ATTRIBUTES:
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


class Compiled(NamedTuple):
    """Compiled code, or why it was refused; `names` are the names it reads (for shadowing checks);
    `inline` says it is small and call-free enough to run in the calling process (`is_inline`)."""

    code: types.CodeType | None
    error: str | None
    names: frozenset[str]
    inline: bool = False


#: Largest syntax tree that may run inline.
MAX_INLINE_NODES = 200
_INLINE_NODES = (ast.Expression, ast.Module, ast.Expr, ast.Assign, ast.If, ast.Pass, ast.Name, ast.Constant,
                 ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Attribute, ast.Subscript,
                 ast.Slice, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Load, ast.Store, ast.operator,
                 ast.unaryop, ast.boolop, ast.cmpop)


def is_inline(tree: ast.AST) -> bool:
    """True for code whose cost is bounded without a worker: no calls, loops, comprehensions,
    functions, f-strings or unpacking, at most MAX_INLINE_NODES nodes, and assignments to plain
    names only (so a re-run in a worker sees the task data unchanged). Every operator that can
    grow a value is guarded with the smaller `guards.INLINE_ITEMS`/`INLINE_BITS`; past those the
    code moves to a worker. Gateway conditions, DMN cells and timer expressions are mostly this."""
    for count, node in enumerate(ast.walk(tree), 1):
        if count > MAX_INLINE_NODES or not isinstance(node, _INLINE_NODES):
            return False
        if isinstance(node, ast.Assign) and not all(isinstance(t, ast.Name) for t in node.targets):
            return False
        if isinstance(node, ast.Dict) and None in node.keys:
            return False
    return True


@functools.lru_cache(maxsize=2048)
def compile_script(source: str, mode: str) -> Compiled:
    """Compile once per (source, mode): the same gateway condition runs on every instance."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        return Compiled(None, f"expected source text, got {type(source).__name__}", frozenset())
    text = source.strip() if mode == "eval" else source
    try:
        tree = ast.parse(text, _FILENAME, mode)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if mode == "exec" and exc.lineno else ""
        return Compiled(None, f"{where}syntax error: {exc.msg}", frozenset())
    except (ValueError, RecursionError, MemoryError) as exc:
        return Compiled(None, f"cannot parse: {type(exc).__name__}: {exc}".splitlines()[0], frozenset())
    inline = is_inline(tree)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, _FILENAME, policy=Policy)
    except (RecursionError, MemoryError):
        return Compiled(None, "the code is too deeply nested", frozenset())
    if result.errors:
        messages = []
        for err in result.errors:
            match = re.match(r"Line (\d+|None): (.*)", err, re.DOTALL)
            line, msg = (match.group(1), match.group(2)) if match else (None, err)
            msg = " ".join(msg.split())
            messages.append(f"line {line}: {msg}" if mode == "exec" and line not in (None, "None") else msg)
        return Compiled(None, "; ".join(dict.fromkeys(messages)), frozenset())
    return Compiled(result.code, None, frozenset(result.used_names), inline)


def check_source(source: str, mode: str) -> str | None:
    """Deploy-time lint: a one-line reason the sandbox would refuse `source`, or None.

    `mode` is 'eval' (conditions, timer expressions, parameters) or 'exec' (scripts).
    """
    return compile_script(source, mode).error

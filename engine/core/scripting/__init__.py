"""The script sandbox: every piece of Python in a process model runs here.

`policy` compiles (and refuses), `guards` checks at run time, `helpers` are what scripts may call,
`script_engine` runs code for SpiffWorkflow; `script_engine.make_script_engine` is the entry point.

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

Where code runs (`script_engine`): small call-free code inline; everything else in a worker
process (`worker`) under RLIMIT_CPU/RLIMIT_AS, killed and replaced when it overruns, so long
C-level calls (regex backtracking, ``sum(lists, [])``) and big allocations end at the limits
without stalling the web process. `runner` is the part both share: the scope, the tick, and the
write-back, which stores dates and datetimes as ISO strings and refuses other non-JSON values.

Not covered:

* Host-dependent but clock-free methods stay reachable (``datetime.astimezone()`` without an
  argument, ``timestamp()`` of a naive datetime use the server's time zone).
* Values returned by expressions (not scripts) are not converted: a DMN output cell or a message
  payload that evaluates to a ``date`` reaches task data as one.
"""

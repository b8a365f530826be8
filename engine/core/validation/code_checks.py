"""Checks of the Python inside a process: scripts, conditions, parameters and timer expressions.

Each piece must compile and pass the sandbox's policy, with the line reported inside the BPMN
file; timer expressions are also evaluated on the forms' sample data, since SpiffWorkflow only
finds a bad timer when a case reaches it.
"""

from __future__ import annotations

import ast
import builtins
import re
from datetime import datetime
from typing import Any, Iterator

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.core.validation.context import ProcessCheck
from engine.core.validation.documents import NS, iter_bpmn, owner_id

TIMER_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}
_REFUSAL_LINE = re.compile(r"line (\d+): ")
#: `${…}` / `#{…}`: an expression written for Camunda (JUEL), which would never evaluate here.
JUEL = re.compile(r"[$#]\{")
#: An ISO 8601 duration, cycle or date written without quotes (`R/P1H`, `PT48H`, `2026-03-01T09:00`).
_BARE_ISO = re.compile(r"^(?:R\d*/)?P(?:\d|T\d)[\dYMWDTHS.,]*(?:/.*)?$|^R\d*/.+$|^\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-][\d:]+)?$",
                       re.I)


def juel_message(tag: str, text: str) -> str:
    """The one wording for a JUEL expression (the import normaliser and the condition check share it)."""
    return (f"{tag} {text.strip()!r} is a JUEL expression (Camunda); Yekuo evaluates Python: write e.g. "
            "amount > 100 or \"PT48H\"")


def code_items(el: etree._Element, exec_only: bool = False) -> Iterator[tuple[str, str, etree._Element, str]]:
    """(source, mode, node holding it, what) for every piece of Python in the process `el`."""
    for script in el.xpath(".//bpmn:scriptTask/bpmn:script", namespaces=NS):
        yield script.text or "", "exec", script, "script"
    for kind in ("preScript", "postScript"):
        for script in el.xpath(f".//spiffworkflow:{kind}", namespaces=NS):
            yield script.text or "", "exec", script, kind
    if exec_only:
        return
    for cond in el.xpath(".//bpmn:sequenceFlow/bpmn:conditionExpression", namespaces=NS):
        yield cond.text or "", "eval", cond, "condition"
    for param in el.xpath(".//spiffworkflow:serviceTaskOperator/spiffworkflow:parameter[@value]",
                          namespaces=NS):
        yield param.get("value"), "eval", param, f"parameter {param.get('id')!r}"
    for tag in ("loopCondition", "completionCondition", "loopCardinality"):
        for cond in el.xpath(f".//bpmn:{tag}", namespaces=NS):
            yield cond.text or "", "eval", cond, tag


class CodeChecks(ProcessCheck):
    """The code checks of one process (the behaviour round of `lints.Linter`)."""

    def scripts(self) -> None:
        for task in iter_bpmn(self.p.element, "scriptTask"):
            scripts = task.xpath("./bpmn:script", namespaces=NS)
            if not scripts or not (scripts[0].text or "").strip():
                self.add("script task has no script", task, task.get("id"))
        for src, mode, node, what in code_items(self.p.element):
            if src.strip():
                self.check_code(src, mode, node, what)

    def check_code(self, src: str, mode: str, node: etree._Element, what: str) -> str | None:
        """Syntax (with the line inside the file) first, then the sandbox's refusal; returns the code used."""
        from engine.core.scripting.policy import check_source

        code, first_line = _prepare(src, mode)
        if mode == "eval" and JUEL.search(code):
            self.add(juel_message(etree.QName(node).localname, code), node)
            return None
        try:
            compile(code, f"<{what}>", mode)
        except SyntaxError as exc:
            line = node.sourceline + first_line + (exc.lineno or 1) - 1
            self.problems.add(self.doc.name, f"{what} has a syntax error: {exc.msg}", owner_id(node), line)
            return None
        refusal = check_source(code, mode)
        if refusal:
            inner = _REFUSAL_LINE.match(refusal)  # exec refusals start "line N: "
            line = node.sourceline + first_line + (int(inner.group(1)) - 1 if inner else 0)
            self.problems.add(self.doc.name, f"{what} refused: {refusal}", owner_id(node), line)
            return None
        return code

    def timers(self) -> None:
        sample, declared = self.b.sample_context(self.p.key)
        for kind, what in TIMER_KINDS.items():
            for node in self.p.element.xpath(f".//bpmn:timerEventDefinition/bpmn:{kind}", namespaces=NS):
                self.check_timer(node, what, sample, declared)

    def check_timer(self, node: etree._Element, what: str, sample: dict, declared: set[str]) -> None:
        src = node.text or ""
        if not src.strip():
            self.add(f"timer has an empty {what} expression", node)
            return
        if _BARE_ISO.match(src.strip()):
            self.add(f"timer {what} {src.strip()} is not quoted: timer expressions are Python, so an ISO 8601 "
                     f"value is a string — write \"{src.strip()}\"", node)
            return
        code = self.check_code(src, "eval", node, "timer expression")
        if code is None:
            return
        free = _free_names(code) - self.b.env_names
        unknown = sorted(free - sample.keys() - declared)
        if unknown:
            names = " and ".join(repr(n) for n in unknown)
            self.add(f"timer expression uses {names}, which no form of this process provides "
                     "(quote literals: \"PT48H\")", node)
            return
        if free - sample.keys():
            return  # names set by scripts/services: no sample value to try
        try:
            value = self.b.environment().evaluate(code, dict(sample))
        except Exception as exc:  # noqa: BLE001 - any failure on sample data is a finding
            self.add(f"timer expression fails on the forms' sample data: {exc}", node)
            return
        message = _timer_value_problem(what, value)
        if message:
            self.add(message, node)


def _prepare(src: str, mode: str) -> tuple[str, int]:
    """Expressions lose surrounding whitespace (as `eval` does); scripts run as written."""
    if mode != "eval":
        return src, 0
    stripped = src.strip()
    return stripped, src[: len(src) - len(src.lstrip())].count("\n")


def assigned_names(src: str) -> set[str]:
    """Names a script sets; none for a script that does not parse (its syntax error is reported)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _free_names(code: str) -> set[str]:
    """Names an expression reads from its context (comprehension/lambda variables excluded)."""
    tree = ast.parse(code, mode="eval")
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.Lambda) for a in ast.walk(n.args)
              if isinstance(a, ast.arg)}
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loads - bound - set(dir(builtins))


def _timer_value_problem(what: str, value: Any) -> str | None:
    """None when SpiffWorkflow's timer module can use `value` for this kind of timer."""
    if not isinstance(value, str):
        return f"timer expression evaluates to {type(value).__name__} {value!r}, not an ISO 8601 {what} string"
    bad = f"timer expression evaluates to {value!r}, which is not an ISO 8601 {what}"
    try:
        if what == "duration":
            if not value.strip().upper().startswith("P") or not TimerEventDefinition.parse_iso_duration(value):
                return bad + " (like \"P2D\" or \"PT48H\")"
        elif what == "date":
            parsed = TimerEventDefinition.parse_time_or_duration(value)
            if not isinstance(parsed, datetime):
                return bad + " (like \"2026-03-01T09:00:00+08:00\")"
            if "W" not in value.upper() and datetime.fromisoformat(value).tzinfo is None:
                return f"timer date {value!r} has no UTC offset; write one, e.g. +08:00"
        else:
            if not value.strip().upper().startswith("R"):
                return bad + " (like \"R3/PT24H\")"
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - the parsers raise bare Exception/ValueError/AttributeError
        return bad
    return None

"""Parse and validate a deployment bundle before anything is stored.

SpiffWorkflow accepts a lot that only fails when an instance reaches it (an unquoted timer, a
script that imports ``os``, a task nobody can see) and silently ignores some of what it cannot
run. Deploy time is the cheapest moment to refuse such models, so `parse_bundle` collects
*every* problem with file, element id and line and raises one `DeployError`; only a clean bundle
yields `ParsedProcess` objects.

XML is parsed here with a hardened lxml parser (no DTD, no entities, no network) and the tree is
handed to SpiffWorkflow; the library never reads the bytes itself.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

from .errors import DeployError, Problem

__all__ = ["ParsedProcess", "parse_bundle"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
BUNDLE = "(bundle)"

#: Every BPMN flow node: anything of these kinds in an executable process must become a task spec.
FLOW_NODE_TAGS = frozenset(
    f"{{{BPMN_NS}}}{t}"
    for t in (
        "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
        "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
        "boundaryEvent", "exclusiveGateway", "inclusiveGateway", "parallelGateway",
        "eventBasedGateway", "complexGateway",
    )
)
OWNER_TAGS = FLOW_NODE_TAGS | {
    f"{{{BPMN_NS}}}{t}" for t in ("sequenceFlow", "lane", "process", "participant", "message", "dataObject")
}
SUBPROCESS_TAGS = frozenset(f"{{{BPMN_NS}}}{t}" for t in ("subProcess", "transaction", "adHocSubProcess"))
#: Tasks that wait for a person: without a lane nobody's work list would show them.
HUMAN_TASK_TAGS = frozenset(f"{{{BPMN_NS}}}{t}" for t in ("userTask", "manualTask"))
TIMER_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}

_XSD_LOCK = threading.Lock()  # the shared XMLSchema keeps one error log
_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_BAD_FORM_NAME = re.compile(r"[/\\\x00]|\.\.")
_REFUSAL_LINE = re.compile(r"line (\d+): ")
_LINE_COLUMN = re.compile(r", line \d+, column (\d+)$")
NO_DTD = "DOCTYPE/DTD and entity declarations are not allowed in BPMN or DMN files (XXE and entity-bomb risk)"


@dataclass
class ParsedProcess:
    """One executable process, ready to store: spec objects plus everything needed to rebuild them."""

    key: str
    name: str
    source_file: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    sources: dict[str, str]
    forms: dict[str, Any]
    lanes: dict[str, str]
    flows: list[dict]
    checksum: str


# --------------------------------------------------------------------------------------------
# Problem collection


class _Problems:
    """Ordered problem list; SpiffWorkflow's own complaints are dropped where a lint already spoke."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._located: set[tuple[str, str | None]] = set()

    def add(self, file: str, message: str, element: str | None = None, line: int | None = None,
            *, unless_located: bool = False) -> None:
        if unless_located and element and (file, element) in self._located:
            return
        self.items.append(Problem(file, message, element, line))
        self._located.add((file, element))

    def __bool__(self) -> bool:
        return bool(self.items)


# --------------------------------------------------------------------------------------------
# Documents: size, encoding, safe XML, XSD


@dataclass
class _Doc:
    name: str
    text: str
    root: etree._Element
    ids: dict[str, etree._Element] = field(default_factory=dict)

    def line_of(self, element_id: str | None) -> int | None:
        node = self.ids.get(element_id or "")
        return node.sourceline if node is not None else None


def _safe_parser() -> etree.XMLParser:
    """A parser that cannot read files or the network and never expands entities (XXE, bombs)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _load_doc(name: str, data: bytes | str, max_bytes: int, problems: _Problems) -> _Doc | None:
    """Size, UTF-8 and DTD checks, then a syntax-checked lxml tree; None when refused."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        problems.add(name, f"file is {len(data)} bytes, more than the limit of {max_bytes}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(name, f"file is not UTF-8 encoded (byte offset {exc.start})")
        return None
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    start = _PROLOG.match(body).end()
    if body.startswith(b"<!DOCTYPE", start):  # refused before libxml2 sees any entity
        problems.add(name, NO_DTD, line=body.count(b"\n", 0, start) + 1)
        return None
    try:
        root = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as exc:
        message = _LINE_COLUMN.sub(r" (column \1)", exc.msg or str(exc))
        problems.add(name, f"XML syntax error: {message}", line=exc.lineno or None)
        return None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or _has_entities(root):
        problems.add(name, NO_DTD, line=1)
        return None
    ids = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    return _Doc(name, text, root, ids)


def _has_entities(root: etree._Element) -> bool:
    return any(isinstance(node, etree._Entity) for node in root.iter())


def _xsd_problems(doc: _Doc, problems: _Problems) -> bool:
    """Validate against BPMN + spiffworkflow XSD, reporting every error (Spiff stops at the last)."""
    with _XSD_LOCK:
        VALIDATOR.preprocess(doc.root)
        schema = VALIDATOR.validator
        if schema.validate(doc.root.getroottree()):
            return True
        errors = [(e.line, e.message) for e in schema.error_log]
    for line, message in errors:
        problems.add(doc.name, f"BPMN schema violation: {_short(message)}", _id_at_line(doc, line), line or None)
    return False


def _short(message: str) -> str:
    return message.replace(f"{{{BPMN_NS}}}", "bpmn:").replace(f"{{{SPIFF_NS}}}", "spiffworkflow:")


def _id_at_line(doc: _Doc, line: int | None) -> str | None:
    """The id of the element starting on `line` (or its nearest ancestor with one)."""
    for el in doc.root.iter():
        if isinstance(el.tag, str) and el.sourceline == line:
            return _owner_id(el)
    return None


# --------------------------------------------------------------------------------------------
# Forms


class _Forms:
    """Loads each form file once; reference problems go to the BPMN, content problems to the form."""

    def __init__(self, forms_dir: Path, max_bytes: int, problems: _Problems) -> None:
        self.dir = Path(forms_dir)
        self.max_bytes = max_bytes
        self.problems = problems
        self.loaded: dict[str, Any] = {}
        self._failed: set[str] = set()
        self._missing: set[str] = set()

    def reference(self, name: str, is_schema: bool, doc: _Doc, element: str, line: int | None) -> Any:
        """Check one reference from a task; return the parsed form or None."""
        if not name or _BAD_FORM_NAME.search(name) or Path(name).name != name:
            self.problems.add(doc.name, f"form file name {name!r} must be a plain file name "
                              "(no path separators, no '..')", element, line)
            return None
        if name in self.loaded or name in self._failed:
            return self.loaded.get(name)
        path = self.dir / name
        if not path.is_file():
            self.problems.add(doc.name, f"form file {name!r} not found in the forms directory", element, line)
            return None
        form = self._load(name, path, is_schema)
        if form is None:
            self._failed.add(name)
        else:
            self.loaded[name] = form
        return form

    def _load(self, name: str, path: Path, is_schema: bool) -> Any:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.problems.add(name, f"form file cannot be read: {exc.strerror or exc}")
            return None
        if len(data) > self.max_bytes:
            self.problems.add(name, f"form file is {len(data)} bytes, more than the limit of {self.max_bytes}")
            return None
        try:
            form = json.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            self.problems.add(name, "form file is not UTF-8 encoded")
            return None
        except json.JSONDecodeError as exc:
            self.problems.add(name, f"form file is not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)
            return None
        if not isinstance(form, dict):
            self.problems.add(name, "form file must contain a JSON object")
            return None
        try:
            if is_schema and not self._schema_ok(name, form):
                return None
        except Exception as exc:  # noqa: BLE001 - e.g. an unresolvable $ref; jsonschema never fetches
            self.problems.add(name, f"form schema cannot be checked: {type(exc).__name__}: {exc}".splitlines()[0])
            return None
        return form

    def _schema_ok(self, name: str, schema: dict) -> bool:
        """The schema must pass its meta-schema, and each `examples` entry must pass the schema."""
        from jsonschema import exceptions, validators

        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except exceptions.SchemaError as exc:
            self.problems.add(name, f"form schema fails the JSON Schema meta-schema: {exc.message}",
                              _pointer(exc.path))
            return False
        examples = schema.get("examples", [])
        if not isinstance(examples, list):
            self.problems.add(name, "'examples' must be a list of sample form data", "/examples")
            return False
        validator = cls(schema, format_checker=_example_formats())
        ok = True
        for i, example in enumerate(examples):
            error = next(iter(sorted(validator.iter_errors(example), key=lambda e: list(e.path))), None)
            if error is not None:
                where = _pointer(error.path) or "/"
                self.problems.add(name, f"example {i} does not match its own schema at {where}: {error.message}",
                                  f"/examples/{i}")
                ok = False
        return ok


def _example_formats() -> Any:
    """Yekuo's formats (ID numbers, mobiles) checked on examples too — except "not in the past",
    or a deployment would start failing as its example dates age."""
    from jsonschema import FormatChecker

    from engine.core import formats

    checker = FormatChecker()
    formats.register(checker)
    checker.checks("date-not-past")(lambda value: True)
    return checker


def _pointer(path: Iterable[Any]) -> str | None:
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else None


# --------------------------------------------------------------------------------------------
# Per-process facts from the XML


@dataclass
class _Proc:
    """One bpmn:process element and what its XML says (lanes, forms, calls, flows...)."""

    key: str
    doc: _Doc
    element: etree._Element
    executable: bool
    lanes: dict[str, str] = field(default_factory=dict)
    forms: list[tuple[str, str | None]] = field(default_factory=list)   # (schema, variableName)
    ui_forms: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)
    broken_calls: bool = False   # a call activity names no usable process

    @property
    def name(self) -> str:
        return (self.element.get("name") or "").strip() or self.key

    def flows(self) -> list[dict]:
        return [
            {"id": f.get("id"), "process": self.key, "source": f.get("sourceRef"),
             "target": f.get("targetRef"), "name": f.get("name")}
            for f in _iter(self.element, "sequenceFlow")
        ]


def _iter(element: etree._Element, *local_names: str) -> Iterator[etree._Element]:
    tags = [f"{{{BPMN_NS}}}{n}" for n in local_names]
    return element.iter(*tags)


def _owner_id(node: etree._Element) -> str | None:
    """The id of the BPMN element a finding belongs to: the enclosing flow node, flow, lane or process.

    Inner elements may carry ids of their own (``spiffworkflow:parameter id="load_kw"``) that mean
    nothing to a modeller, so those are skipped; failing that, the nearest id at all.
    """
    fallback = None
    while node is not None:
        if node.get("id"):
            if node.tag in OWNER_TAGS:
                return node.get("id")
            fallback = fallback or node.get("id")
        node = node.getparent()
    return fallback


def _index_processes(docs: list[_Doc], problems: _Problems) -> tuple[dict[str, _Proc], set[str]]:
    """Map process id -> _Proc, refusing ids defined twice; return also the files to skip."""
    procs: dict[str, _Proc] = {}
    skip: set[str] = set()
    for doc in docs:
        for el in _iter(doc.root, "process"):
            key = el.get("id")
            if key in procs:
                problems.add(doc.name, f"process id {key!r} is already defined in {procs[key].doc.name}",
                             key, el.sourceline)
                skip.add(doc.name)
                continue
            procs[key] = _Proc(key, doc, el, el.get("isExecutable", "true") == "true")
    return procs, skip


# --------------------------------------------------------------------------------------------
# Lints on one executable process's XML


class _Linter:
    """XML-level checks of one process; needs nothing from SpiffWorkflow's parse."""

    def __init__(self, proc: _Proc, ctx: _Bundle) -> None:
        self.p = proc
        self.doc = proc.doc
        self.b = ctx
        self.problems = ctx.problems
        self.node_lanes = {
            ref.text.strip(): ref.getparent().get("name")
            for ref in proc.doc.root.iter(f"{{{BPMN_NS}}}flowNodeRef") if ref.text
        }

    def add(self, message: str, node: etree._Element, element: str | None = None) -> None:
        self.problems.add(self.doc.name, message, element or _owner_id(node), node.sourceline)

    def run_structure(self) -> None:
        """Checks whose results other processes' checks need (lanes, forms, calls, declared names)."""
        self.lanes()
        self.human_tasks()
        self.calls()
        self.services()
        self.decisions()
        self.declared_names()

    def run_behaviour(self) -> None:
        """Checks of code and flow: scripts, conditions, timers, gateways, unsupported nodes."""
        self.code()
        self.gateways()
        self.unsupported()
        self.timers()

    # ---- lanes and human tasks
    def lanes(self) -> None:
        for lane in _iter(self.p.element, "lane"):
            name = lane.get("name")
            if not (name or "").strip():
                self.add("lane has no name, so no group can be assigned", lane)
                continue
            group = self.b.group_for(name)
            if group is None:
                known = ", ".join(f"{code} ({label})" for code, label in self.b.groups.items())
                self.add(f"lane {name!r} matches no group; known: {known}", lane)
            else:
                self.p.lanes[name] = group

    def lane_of(self, node: etree._Element) -> str | None:
        """Lane as SpiffWorkflow computes it: own flowNodeRef, else the enclosing subprocess's."""
        while node is not None and node is not self.p.element:
            lane = self.node_lanes.get(node.get("id") or "")
            if lane is not None:
                return lane
            node = node.getparent()
            while node is not None and node is not self.p.element and node.tag not in SUBPROCESS_TAGS:
                node = node.getparent()
        return None

    def human_tasks(self) -> None:
        for task in self.p.element.iter(*HUMAN_TASK_TAGS):
            if self.lane_of(task) is None:
                self.add("task lies in no lane, so nobody would see it in a work list", task, task.get("id"))
            if task.tag == f"{{{BPMN_NS}}}userTask":
                self.user_task_forms(task)

    def user_task_forms(self, task: etree._Element) -> None:
        props = {
            p.get("name"): p
            for p in task.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                                namespaces=NS)
        }
        variable = task.xpath("string(./bpmn:extensionElements/spiffworkflow:variableName)", namespaces=NS)
        tid = task.get("id")
        schema_prop = props.get("formJsonSchemaFilename")
        if schema_prop is None or not (schema_prop.get("value") or "").strip():
            self.add("user task has no spiffworkflow property 'formJsonSchemaFilename'", task, tid)
        else:
            name = schema_prop.get("value").strip()
            self.b.forms.reference(name, True, self.doc, tid, schema_prop.sourceline)
            self.p.forms.append((name, variable.strip() or None))
        ui_prop = props.get("formUiSchemaFilename")
        if ui_prop is not None and (ui_prop.get("value") or "").strip():
            name = ui_prop.get("value").strip()
            self.b.forms.reference(name, False, self.doc, tid, ui_prop.sourceline)
            self.p.ui_forms.append(name)

    # ---- references to other things
    def calls(self) -> None:
        for call in _iter(self.p.element, "callActivity"):
            called = (call.get("calledElement") or "").strip()
            target = self.b.procs.get(called)
            if not target or not target.executable:
                self.p.broken_calls = True
            if not called:
                self.add("call activity has no calledElement", call, call.get("id"))
            elif target is None:
                self.add(f"calls process {called!r}, which no file of this deployment defines", call, call.get("id"))
            elif not target.executable:
                self.add(f"calls process {called!r}, which is not executable", call, call.get("id"))
            else:
                self.p.calls.append(called)

    def services(self) -> None:
        for task in _iter(self.p.element, "serviceTask"):
            ops = task.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
            if not ops:
                self.add("service task has no spiffworkflow:serviceTaskOperator", task, task.get("id"))
                continue
            name = ops[0].get("id")
            if name not in self.b.operators:
                known = ", ".join(sorted(self.b.operators)) or "none"
                self.add(f"unknown service operator {name!r}; registered: {known}", ops[0], task.get("id"))
            result = ops[0].get("resultVariable") or f"spiff__{task.get('id')}_result"
            self.p.declared.add(result)

    def decisions(self) -> None:
        for task in _iter(self.p.element, "businessRuleTask"):
            ref = task.xpath("./bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
            decision = (ref[0].text or "").strip() if ref else ""
            if decision not in self.b.decisions:
                known = ", ".join(sorted(self.b.decisions)) or "none"
                self.add(f"calledDecisionId {decision!r} matches no DMN decision; available: {known}",
                         ref[0] if ref else task, task.get("id"))
            else:
                self.p.decisions.append(decision)
                self.p.declared |= self.b.decision_outputs.get(decision, set())

    def declared_names(self) -> None:
        """Names the model itself puts into task data (no sample value, but not a typo)."""
        for src, _mode, _node, _what in self._code_items(exec_only=True):
            self.p.declared |= _assigned_names(src)
        self.p.declared |= {d.get("id") for d in _iter(self.p.element, "dataObject") if d.get("id")}
        for var in self.p.element.xpath(".//spiffworkflow:messageVariable", namespaces=NS):
            if var.text and var.text.strip():
                self.p.declared.add(var.text.strip())

    # ---- code
    def _code_items(self, exec_only: bool = False) -> Iterator[tuple[str, str, etree._Element, str]]:
        """(source, mode, node holding it, what) for every piece of Python in the process."""
        el = self.p.element
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

    def code(self) -> None:
        for task in _iter(self.p.element, "scriptTask"):
            scripts = task.xpath("./bpmn:script", namespaces=NS)
            if not scripts or not (scripts[0].text or "").strip():
                self.add("script task has no script", task, task.get("id"))
        for src, mode, node, what in self._code_items():
            if src.strip():
                self.check_code(src, mode, node, what)

    def check_code(self, src: str, mode: str, node: etree._Element, what: str) -> str | None:
        """Syntax (with the line inside the file) first, then the sandbox's refusal; returns the code used."""
        from engine.core.scripting import check_source

        code, first_line = _prepare(src, mode)
        try:
            compile(code, f"<{what}>", mode)
        except SyntaxError as exc:
            line = node.sourceline + first_line + (exc.lineno or 1) - 1
            self.problems.add(self.doc.name, f"{what} has a syntax error: {exc.msg}", _owner_id(node), line)
            return None
        refusal = check_source(code, mode)
        if refusal:
            inner = _REFUSAL_LINE.match(refusal)  # exec refusals start "line N: "
            line = node.sourceline + first_line + (int(inner.group(1)) - 1 if inner else 0)
            self.problems.add(self.doc.name, f"{what} refused: {refusal}", _owner_id(node), line)
            return None
        return code

    # ---- flow structure
    def gateways(self) -> None:
        outgoing: dict[str, list[etree._Element]] = {}
        for flow in _iter(self.p.element, "sequenceFlow"):
            outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        for gw in _iter(self.p.element, "exclusiveGateway", "inclusiveGateway"):
            flows = outgoing.get(gw.get("id"), [])
            if len(flows) < 2:
                continue
            for flow in flows:
                has_cond = flow.find(f"{{{BPMN_NS}}}conditionExpression") is not None
                if not has_cond and flow.get("id") != gw.get("default"):
                    self.add(f"flow leaves gateway {gw.get('id')!r} without a condition and is not its default; "
                             "add a condition or mark it as the default flow", flow, flow.get("id"))

    def unsupported(self) -> None:
        for node in self.p.element.iter():
            if node.tag in FLOW_NODE_TAGS and self.b.parser._get_parser_class(node.tag)[0] is None:
                tag = _short(node.tag)
                self.add(f"{tag} is not supported by SpiffWorkflow", node, node.get("id"))
                self.b.unsupported.add((self.doc.name, node.get("id")))

    # ---- timers
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


def _assigned_names(src: str) -> set[str]:
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


# --------------------------------------------------------------------------------------------
# The bundle


class _Bundle:
    """State shared by the checks of one `parse_bundle` call."""

    def __init__(self, forms_dir: Path, groups: dict[str, str], operators: set[str], max_bytes: int) -> None:
        self.problems = _Problems()
        self.forms = _Forms(forms_dir, max_bytes, self.problems)
        self.groups = groups
        self.operators = set(operators)
        self.max_bytes = max_bytes
        self.parser = SpiffBpmnParser(validator=VALIDATOR)
        self.procs: dict[str, _Proc] = {}
        self.dmn_docs: dict[str, _Doc] = {}        # decision id -> document
        self.decision_outputs: dict[str, set[str]] = {}
        self.unsupported: set[tuple[str, str]] = set()
        self._env = None
        self._env_names: set[str] | None = None

    @property
    def decisions(self) -> set[str]:
        return set(self.dmn_docs)

    def group_for(self, lane: str) -> str | None:
        name = lane.strip()
        for code, label in self.groups.items():
            if name in (code.strip(), (label or "").strip()):
                return code
        return None

    def environment(self) -> Any:
        if self._env is None:
            from engine.core.scripting import RestrictedEnvironment

            self._env = RestrictedEnvironment()
        return self._env

    @property
    def env_names(self) -> set[str]:
        """Helper names the sandbox provides, so timers may call them without a form field."""
        if self._env_names is None:
            self._env_names = _environment_names(self.environment())
        return self._env_names

    def executable(self) -> list[_Proc]:
        return [p for p in self.procs.values() if p.executable]

    def callers_closure(self, key: str) -> list[_Proc]:
        """`key` and every executable process that calls it, directly or not."""
        seen, todo = {key}, [key]
        while todo:
            target = todo.pop()
            for p in self.executable():
                if target in p.calls and p.key not in seen:
                    seen.add(p.key)
                    todo.append(p.key)
        return [self.procs[k] for k in seen]

    def callees_closure(self, key: str) -> list[_Proc]:
        """`key` and every process it calls, transitively, in a stable order."""
        order, todo = [], [key]
        while todo:
            k = todo.pop(0)
            if k in order or k not in self.procs:
                continue
            order.append(k)
            todo.extend(self.procs[k].calls)
        return [self.procs[k] for k in order]

    def sample_context(self, key: str) -> tuple[dict, set[str]]:
        """Merged first example of every form this process (or a caller) uses, plus declared names."""
        sample: dict[str, Any] = {}
        declared: set[str] = set()
        for proc in self.callers_closure(key):
            declared |= proc.declared
            for name, variable in proc.forms:
                example = _first_example(self.forms.loaded.get(name))
                if example is None:
                    continue
                if variable:
                    sample[variable] = example
                elif isinstance(example, dict):
                    sample.update(example)
        return sample, declared


def _first_example(schema: Any) -> Any:
    examples = schema.get("examples") if isinstance(schema, dict) else None
    return examples[0] if isinstance(examples, list) and examples else None


def _environment_names(env: Any) -> set[str]:
    """Best effort: whatever globals/helpers the restricted environment exposes."""
    names: set[str] = set()
    for attr in ("globals", "helpers", "_globals", "_helpers", "globals_", "builtins"):
        value = getattr(env, attr, None)
        if isinstance(value, dict):
            names |= {k for k in value if isinstance(k, str)}
            inner = value.get("__builtins__")
            if isinstance(inner, dict):
                names |= set(inner)
    return names


# --------------------------------------------------------------------------------------------
# SpiffWorkflow's parse


def _spiff_problem(b: _Bundle, exc: Exception, default: _Doc) -> None:
    """Turn a SpiffWorkflow exception into a located Problem (it rarely knows the line itself)."""
    if isinstance(exc, ValidationException):
        file = exc.file_name or default.name
        element = exc.id or None
        line = exc.line_number if isinstance(exc.line_number, int) and exc.line_number else None
        message = exc.args[0] if exc.args else str(exc)
    else:
        file, element, line, message = default.name, None, None, f"{type(exc).__name__}: {exc}"
    doc = _doc_named(b, file) or default
    if line is None and element:
        line = doc.line_of(element)
    b.problems.add(file, f"SpiffWorkflow: {message}", element, line, unless_located=True)


def _doc_named(b: _Bundle, name: str) -> _Doc | None:
    for proc in b.procs.values():
        if proc.doc.name == name:
            return proc.doc
    return next((d for d in b.dmn_docs.values() if d.name == name), None)


def _add_dmn(b: _Bundle, docs: list[_Doc]) -> None:
    for doc in docs:
        with _XSD_LOCK:
            try:
                b.parser.add_dmn_xml(doc.root, filename=doc.name)
            except ValidationException as exc:
                _spiff_problem(b, exc, doc)
                continue
        decision = doc.root.xpath("string(./*[local-name()='decision'][1]/@id)")
        if decision in b.dmn_docs:
            b.problems.add(doc.name, f"decision {decision!r} is already defined in {b.dmn_docs[decision].name}",
                           decision, doc.line_of(decision))
            continue
        b.dmn_docs[decision] = doc
        b.decision_outputs[decision] = {
            o for o in doc.root.xpath(".//*[local-name()='output']/@name") if o
        }


def _add_bpmn(b: _Bundle, docs: list[_Doc], skip: set[str]) -> None:
    for doc in docs:
        if doc.name in skip:
            continue
        try:
            with _XSD_LOCK:
                b.parser.add_bpmn_xml(doc.root.getroottree(), filename=doc.name)
        except Exception as exc:  # noqa: BLE001 - report, keep checking the other files
            _spiff_problem(b, exc, doc)


def _parse_specs(b: _Bundle) -> dict[str, tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]]:
    """get_spec once per executable process (a failed parse leaves a half-built spec behind)."""
    specs: dict[str, BpmnProcessSpec] = {}
    for proc in b.executable():
        if b.parser.get_process_parser(proc.key) is None:
            continue
        try:
            specs[proc.key] = b.parser.get_spec(proc.key)
        except Exception as exc:  # noqa: BLE001
            _spiff_problem(b, exc, proc.doc)
    result = {}
    for key, spec in specs.items():
        closure = b.callees_closure(key)
        if any(p.key not in specs or p.broken_calls for p in closure):
            continue  # a callee failed or is missing: already reported
        try:
            result[key] = (spec, b.parser.get_subprocess_specs(key))
        except Exception as exc:  # noqa: BLE001
            _spiff_problem(b, exc, b.procs[key].doc)
    return result


def _ignored_nodes(b: _Bundle, proc: _Proc, spec: BpmnProcessSpec, subs: dict[str, BpmnProcessSpec]) -> None:
    """Flow nodes with no task spec would never run: SpiffWorkflow drops them silently."""
    embedded = {n.get("id") for n in proc.element.iter(*SUBPROCESS_TAGS)}
    parsed = _bpmn_ids(spec)
    for sub_id in embedded:
        if sub_id in subs:
            parsed |= _bpmn_ids(subs[sub_id])
    ignored: set[etree._Element] = set()
    for node in proc.element.iter(*FLOW_NODE_TAGS):
        nid = node.get("id")
        if nid in parsed or (proc.doc.name, nid) in b.unsupported:
            continue
        ignored.add(node)
        if any(a in ignored for a in node.iterancestors()):
            continue  # inside an ignored subprocess: the subprocess is the finding
        b.problems.add(proc.doc.name, f"{_short(node.tag)} is not connected to the process flow, "
                       "so SpiffWorkflow would ignore it", nid, node.sourceline)


def _bpmn_ids(spec: BpmnProcessSpec) -> set[str]:
    return {getattr(ts, "bpmn_id", None) for ts in spec.task_specs.values()} - {None}


# --------------------------------------------------------------------------------------------
# Results


def _canonical_checksum(sources: dict[str, str], forms: dict[str, Any]) -> str:
    payload = json.dumps({"sources": sources, "forms": forms}, sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _result(b: _Bundle, proc: _Proc, spec: BpmnProcessSpec, subs: dict[str, BpmnProcessSpec]) -> ParsedProcess:
    closure = b.callees_closure(proc.key)
    sources: dict[str, str] = {}
    forms: dict[str, Any] = {}
    lanes: dict[str, str] = {}
    flows: list[dict] = []
    for p in closure:
        sources[p.doc.name] = p.doc.text
        for decision in p.decisions:
            sources[b.dmn_docs[decision].name] = b.dmn_docs[decision].text
        for name in [n for n, _ in p.forms] + p.ui_forms:
            forms[name] = b.forms.loaded[name]
        lanes.update(p.lanes)
        flows.extend(p.flows())
    return ParsedProcess(
        key=proc.key, name=proc.name, source_file=proc.doc.name, spec=spec, subprocess_specs=subs,
        sources=sources, forms=forms, lanes=lanes, flows=flows,
        checksum=_canonical_checksum(sources, forms),
    )


def _split_files(files: dict[str, bytes], dmn_files: dict[str, bytes] | None,
                 b: _Bundle) -> tuple[list[_Doc], list[_Doc]]:
    bpmn, dmn = [], []
    items = list(files.items()) + [(n, d) for n, d in (dmn_files or {}).items()]
    for i, (name, data) in enumerate(items):
        is_dmn = i >= len(files) or name.lower().endswith(".dmn")
        if not is_dmn and not name.lower().endswith((".bpmn", ".xml")):
            b.problems.add(name, "unsupported file type: expected .bpmn, .xml or .dmn")
            continue
        doc = _load_doc(name, data, b.max_bytes, b.problems)
        if doc is None:
            continue
        if not is_dmn and _xsd_problems(doc, b.problems):
            bpmn.append(doc)
        elif is_dmn:
            dmn.append(doc)
    return bpmn, dmn


def _in_reading_order(problems: list[Problem], names: list[str]) -> list[Problem]:
    """Bundle order by file, then by line, so a report reads top to bottom."""
    rank = {name: i for i, name in enumerate(names)}
    return sorted(problems, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0))


def parse_bundle(files: dict[str, bytes], *, forms_dir: Path, groups: dict[str, str],
                 operators: set[str], max_bytes: int = 5 * 1024 * 1024,
                 dmn_files: dict[str, bytes] | None = None) -> list[ParsedProcess]:
    """Raise DeployError listing EVERY problem found (not only the first); else one ParsedProcess per executable process.

    `files` maps file names to BPMN (``.bpmn``/``.xml``) or DMN (``.dmn``) bytes; `dmn_files` adds
    more decision tables. Lanes must name a group of `groups` (code -> display name), service tasks
    an operator in `operators`, user tasks a form in `forms_dir`.
    """
    b = _Bundle(Path(forms_dir), groups, operators, max_bytes)
    bpmn_docs, dmn_docs = _split_files(files, dmn_files, b)
    _add_dmn(b, dmn_docs)
    b.procs, skip = _index_processes(bpmn_docs, b.problems)
    linters = [_Linter(p, b) for p in b.executable()]
    for linter in linters:
        linter.run_structure()
    for linter in linters:
        linter.run_behaviour()
    _add_bpmn(b, bpmn_docs, skip)
    parsed = _parse_specs(b)
    for key, (spec, subs) in parsed.items():
        _ignored_nodes(b, b.procs[key], spec, subs)
    if not b.executable() and not b.problems:
        b.problems.add(BUNDLE, "the bundle contains no executable process")
    if b.problems:
        raise DeployError(_in_reading_order(b.problems.items, [*files, *(dmn_files or {})]))
    return [_result(b, p, *parsed[p.key]) for p in b.executable()]

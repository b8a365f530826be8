"""Reading BPMN and DMN bytes safely, and the problem list every check writes to.

XML is parsed here with a hardened lxml parser (no DTD, no entities, no network) and the tree is
handed to SpiffWorkflow; the library never reads the bytes itself.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Iterator

from lxml import etree
from SpiffWorkflow.spiff.parser import VALIDATOR

from engine.core.errors import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

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

#: SpiffWorkflow's shared XMLSchema keeps one error log, so schema checks and parses take turns.
XSD_LOCK = threading.Lock()
_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.S)
_DUPLICATE_ID = re.compile(r"attribute 'id': '([^']+)' is not a valid value of the atomic type 'xs:ID'")
_LINE_COLUMN = re.compile(r", line \d+, column (\d+)$")
NO_DTD = "DOCTYPE/DTD and entity declarations are not allowed in BPMN or DMN files (XXE and entity-bomb risk)"


class ProblemList:
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


@dataclass
class Doc:
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


def load_doc(name: str, data: bytes | str, max_bytes: int, problems: ProblemList) -> Doc | None:
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
    return Doc(name, text, root, ids)


def _has_entities(root: etree._Element) -> bool:
    return any(isinstance(node, etree._Entity) for node in root.iter())


def xsd_problems(doc: Doc, problems: ProblemList) -> bool:
    """Validate against BPMN + spiffworkflow XSD, reporting every error (Spiff stops at the last)."""
    with XSD_LOCK:
        VALIDATOR.preprocess(doc.root)
        schema = VALIDATOR.validator
        if schema.validate(doc.root.getroottree()):
            return True
        errors = [(e.line, e.message) for e in schema.error_log]
    errors = [(line, message) for line, message in errors if not _scoped_data_object(doc, message)]
    if not errors:
        return True
    for line, message in errors:
        duplicate = _DUPLICATE_ID.search(message)
        if duplicate:
            first = next((el.sourceline for el in doc.root.iter() if isinstance(el.tag, str)
                          and el.get("id") == duplicate.group(1)), None)
            problems.add(doc.name, f"id '{duplicate.group(1)}' is used by more than one element (first on line "
                         f"{first}); ids must be unique in a file — rename one (a data object in a subprocess "
                         "may have its own id)", duplicate.group(1), line or None)
            continue
        problems.add(doc.name, f"BPMN schema violation: {short_tag(message)}", id_at_line(doc, line), line or None)
    return False


def _scoped_data_object(doc: Doc, message: str) -> bool:
    """A data object id reused in another scope (process, subprocess) is its own variable there.

    XML Schema wants ids unique per file, but spiff-arena's modeler writes the same data object id in
    a process and in its subprocesses, and SpiffWorkflow keeps one data object per scope — so the
    schema's complaint is dropped for exactly that case (every holder a dataObject, no scope twice).
    """
    duplicate = _DUPLICATE_ID.search(message)
    if not duplicate:
        return False
    holders = [el for el in doc.root.iter() if isinstance(el.tag, str) and el.get("id") == duplicate.group(1)]
    scopes = [el.getparent() for el in holders]
    return (all(el.tag == f"{{{BPMN_NS}}}dataObject" for el in holders)
            and len({id(s) for s in scopes}) == len(scopes))


def short_tag(message: str) -> str:
    return message.replace(f"{{{BPMN_NS}}}", "bpmn:").replace(f"{{{SPIFF_NS}}}", "spiffworkflow:")


def id_at_line(doc: Doc, line: int | None) -> str | None:
    """The id of the element starting on `line` (or its nearest ancestor with one)."""
    for el in doc.root.iter():
        if isinstance(el.tag, str) and el.sourceline == line:
            return owner_id(el)
    return None


def iter_bpmn(element: etree._Element, *local_names: str) -> Iterator[etree._Element]:
    tags = [f"{{{BPMN_NS}}}{n}" for n in local_names]
    return element.iter(*tags)


def owner_id(node: etree._Element) -> str | None:
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

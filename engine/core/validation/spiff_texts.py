"""SpiffWorkflow's own complaints, reworded so an analyst can act on them and placed on their element.

The library's parse errors are written for developers: some carry no element or line ("Data Store
with name X has no implementation"), some print an lxml object ("Cannot resolve
dataOutputAssociation <Element … at 0x7f…>"), some are cut off ("Multiple outgoing flows are not
supported for tasks of type"). Each known text is matched here, the element it is about is found
in the file, and a sentence saying what to change replaces it. Unknown texts pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from engine.core.validation.documents import NS, Doc

#: (message, element id, line) as `ProblemList.add` takes them.
Located = tuple[str, "str | None", "int | None"]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _data_store(doc: Doc, found: re.Match[str], element: str | None, line: int | None) -> Located:
    name = _one_line(found.group(1))
    for store in doc.root.xpath("//bpmn:dataStore", namespaces=NS):
        if _one_line(store.get("name") or store.get("id") or "") == name:
            refs = doc.root.xpath("//bpmn:dataStoreReference[@dataStoreRef=$id]", namespaces=NS, id=store.get("id"))
            node = refs[0] if refs else store
            return (f"data store '{name}' cannot run: Yekuo has no data store implementations — keep the data in "
                    "the case (a data object or form fields) or read and write it through a service operator",
                    node.get("id"), node.sourceline)
    return f"data store '{name}' has no implementation in Yekuo", element, line


def _association(doc: Doc, found: re.Match[str], element: str | None, line: int | None) -> Located:
    kind = found.group(1)
    refs = {n.get("id") for n in doc.root.xpath(
        "//bpmn:dataObjectReference|//bpmn:dataStoreReference|//bpmn:dataObject|//bpmn:property"
        "|//bpmn:dataInput|//bpmn:dataOutput", namespaces=NS)}
    scope = doc.ids.get(element or "")
    nodes = (scope if scope is not None else doc.root).xpath(f".//bpmn:{kind}", namespaces=NS)
    nodes += [n for n in doc.root.xpath(f"//bpmn:{kind}", namespaces=NS) if n not in nodes]
    for assoc in nodes:
        for ref in assoc.xpath("./bpmn:sourceRef|./bpmn:targetRef", namespaces=NS):
            target = (ref.text or "").strip()
            if target not in refs:
                owner = assoc.getparent()
                return (f"{kind} {assoc.get('id') or ''} points to '{target}', which is no data object, "
                        "data store or property of this process: connect it to a data object reference",
                        owner.get("id"), assoc.sourceline)
    return f"{kind} cannot be resolved: connect it to a data object reference", element, line


def _outgoing(doc: Doc, found: re.Match[str], element: str | None, line: int | None) -> Located:
    node = doc.ids.get(element or "")
    flows = []
    if node is not None:
        flows = [(f.text or "").strip() for f in node.xpath("./bpmn:outgoing", namespaces=NS)]
    tag = etree.QName(node).localname if node is not None else "task"
    listed = f" ({', '.join(flows)})" if flows else ""
    return (f"{tag} has {len(flows) or 'several'} outgoing flows{listed}; this kind of task may have only one: "
            "put an exclusive or parallel gateway after it", element, line)


_REWRITES: list[tuple[re.Pattern[str], Callable[[Doc, re.Match[str], str | None, int | None], Located]]] = [
    (re.compile(r"^Data Store with name (.+) has no implementation", re.S), _data_store),
    (re.compile(r"^Cannot resolve (dataOutputAssociation|dataInputAssociation)\b"), _association),
    (re.compile(r"^Multiple outgoing flows are not supported"), _outgoing),
]


def reword(doc: Doc, message: str, element: str | None, line: int | None) -> Located:
    """A known SpiffWorkflow text as an actionable, located sentence; others unchanged (on one line)."""
    for pattern, rewrite in _REWRITES:
        found = pattern.match(message)
        if found:
            return rewrite(doc, found, element, line)
    return f"SpiffWorkflow: {_one_line(message)}", element, line

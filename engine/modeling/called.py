"""Called processes seen from the analyst's side: what a bundle calls, and who calls a process.

A deployed version holds only its own process (`engine.core.calls` binds called versions per case),
so a bundle that calls a process it does not carry is checked against the deployed version the
call would bind: that version's files and forms are read as *references* — checked with the
bundle, never stored again. Deploying a parent therefore never makes a version of a child.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from sqlalchemy import select

from engine.core import definitions
from engine.core.calls import PIN, pinned_version
from engine.core.db import Database
from engine.core.errors import NotFound, Problem
from engine.core.models import definition_t

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _root(data: bytes | str) -> etree._Element | None:
    try:
        return etree.fromstring(data.encode() if isinstance(data, str) else data, _PARSER)
    except etree.XMLSyntaxError:
        return None  # the bundle's own check reports it


def calls_in(root: etree._Element) -> list[tuple[str, str, str | None]]:
    """(call activity id, called key, calledVersion value or None) for every call activity."""
    out = []
    for node in root.iter(f"{{{BPMN_NS}}}callActivity"):
        pin = node.xpath(f".//*[local-name()='property' and namespace-uri()='{SPIFF_NS}' and @name='{PIN}']/@value")
        out.append((node.get("id") or "", node.get("calledElement") or "", pin[0] if pin else None))
    return out


def _defined(root: etree._Element) -> set[str]:
    return {p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id")}


def references(db: Database, files: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, Any], list[Problem]]:
    """The deployed files and forms of every process the bundle calls without carrying it.

    Follows the called versions' own calls too. A `calledVersion` that is not a version number
    or names a version never deployed is a problem on its call activity.
    """
    roots = {name: r for name, data in files.items() if name.lower().endswith((".bpmn", ".xml"))
             and (r := _root(data)) is not None}
    defined = set().union(*(_defined(r) for r in roots.values())) if roots else set()
    refs: dict[str, bytes] = {}
    forms: dict[str, Any] = {}
    problems: list[Problem] = []
    todo = [(name, r) for name, r in roots.items()]
    while todo:
        name, root = todo.pop(0)
        for element, key, pin in calls_in(root):
            if not key or key in defined:
                continue
            try:
                version = pinned_version(pin)
                found = definitions.load(db, definitions.latest_id(db, key, version))
            except ValueError:
                problems.append(Problem(name, f"{PIN} must be 'latest' or a version number, not {pin!r}", element))
                continue
            except NotFound as exc:
                if version is not None:
                    problems.append(Problem(name, f"{PIN} {version}: {exc}", element))
                continue  # an unknown process: the bundle's own check reports the call
            defined.add(key)
            main, own_forms = own_files(db, found.id)
            for file, text in main.items():
                if file not in files and file not in refs:
                    refs[file] = text.encode()
                    if (r := _root(text)) is not None and file.lower().endswith(".bpmn"):
                        defined |= _defined(r)
                        todo.append((file, r))
            for form, content in own_forms.items():
                forms.setdefault(form, content)
    return refs, forms, problems


def own_files(db: Database, definition_id: int) -> tuple[dict[str, str], dict[str, Any]]:
    """A version's main file and decision tables (older versions also kept copies of callees)."""
    with db.read() as conn:
        row = conn.execute(select(definition_t.c.source_file, definition_t.c.sources, definition_t.c.forms)
                           .where(definition_t.c.id == definition_id)).one()
    files = {n: t for n, t in row.sources.items() if n == row.source_file or n.lower().endswith(".dmn")}
    return files, dict(row.forms)


def used_by(db: Database, key: str) -> list[dict[str, Any]]:
    """The latest versions that call `key`: which call activity, bound to latest or pinned."""
    out = []
    for summary in definitions.list_definitions(db, latest_only=True):
        files, _forms = own_files(db, summary.id)
        for file, text in files.items():
            root = _root(text) if file.lower().endswith(".bpmn") else None
            for element, called, pin in calls_in(root) if root is not None else []:
                if called == key:
                    out.append({"key": summary.key, "version": summary.version, "name": summary.name,
                                "element": element, "binding": pin or "latest"})
    return out

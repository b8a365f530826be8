"""Parse and validate a deployment bundle before anything is stored.

SpiffWorkflow accepts a lot that only fails when an instance reaches it (an unquoted timer, a
script that imports ``os``, a task nobody can see) and silently ignores some of what it cannot
run. Deploy time is the cheapest moment to refuse such models, so `parse_bundle` collects
*every* problem with file, element id and line and raises one `DeployError`; only a clean bundle
yields `ParsedProcess` objects. The checks themselves live beside this module: `documents` (safe
XML, XSD), `form_files`, `lints` (lanes and references), `code_checks` (scripts and timers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.core.errors import DeployError, Problem
from engine.core.validation.context import BundleContext, ProcessXml, index_processes
from engine.core.validation.documents import (
    FLOW_NODE_TAGS,
    SUBPROCESS_TAGS,
    XSD_LOCK,
    Doc,
    id_at_line,
    load_doc,
    short_tag,
    xsd_problems,
)
from engine.core.validation.lints import Linter
from engine.core.validation.spiff_texts import reword

__all__ = ["ParsedProcess", "parse_bundle"]

BUNDLE = "(bundle)"


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


def _spiff_problem(b: BundleContext, exc: Exception, default: Doc) -> None:
    """Turn a SpiffWorkflow exception into a located Problem (it rarely knows the line itself)."""
    if isinstance(exc, ValidationException):
        file = exc.file_name or default.name
        element = exc.id or None
        line = exc.line_number if isinstance(exc.line_number, int) and exc.line_number else None
        message = exc.args[0] if exc.args else str(exc)
    else:
        file, element, line = default.name, None, None
        message = f"could not read this file ({type(exc).__name__}: {exc})"
    doc = _doc_named(b, file) or default
    if line is None and element:
        line = doc.line_of(element)
    elif line is not None and element is None:
        element = id_at_line(doc, line)
    message, element, line = reword(doc, message, element, line)
    b.problems.add(file, message, element, line, unless_located=True)


def _doc_named(b: BundleContext, name: str) -> Doc | None:
    for proc in b.procs.values():
        if proc.doc.name == name:
            return proc.doc
    return next((d for d in b.dmn_docs.values() if d.name == name), None)


def _not_dmn(b: BundleContext, doc: Doc) -> str | None:
    """Why `doc` cannot be a decision table file, checked before SpiffWorkflow indexes into it."""
    q = etree.QName(doc.root)
    if q.localname != "definitions" or q.namespace not in b.parser.dmn_schemas:
        known = ", ".join(sorted(b.parser.dmn_schemas))
        return (f"this is not a DMN file: its root element is <{q.localname}> in namespace "
                f"{q.namespace or '(none)'!r}; a DMN file starts with <definitions> in one of {known}")
    decisions = doc.root.xpath("./*[local-name()='decision']")
    if not any(d.get("id") for d in decisions):
        return "the DMN file defines no decision (a <decision id=…> element)"
    for decision in decisions:
        if not decision.xpath("./*[local-name()='decisionTable']"):
            return (f"decision {decision.get('id')!r} has no decision table: only decision tables can run "
                    "(literal expressions and requirement graphs cannot)")
    return None


def _add_dmn(b: BundleContext, docs: list[Doc]) -> None:
    for doc in docs:
        refusal = _not_dmn(b, doc)
        if refusal:
            node = next((d for d in doc.root if "decision table" in refusal and d.get("id") and d.get("id") in refusal),
                        doc.root)
            b.problems.add(doc.name, refusal, node.get("id"), node.sourceline)
            continue
        with XSD_LOCK:
            try:
                b.parser.add_dmn_xml(doc.root, filename=doc.name)
            except Exception as exc:  # noqa: BLE001 - any failure is this file's problem, located
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


def _add_bpmn(b: BundleContext, docs: list[Doc], skip: set[str]) -> None:
    for doc in docs:
        if doc.name in skip:
            continue
        try:
            with XSD_LOCK:
                b.parser.add_bpmn_xml(doc.root.getroottree(), filename=doc.name)
        except Exception as exc:  # noqa: BLE001 - report, keep checking the other files
            _spiff_problem(b, exc, doc)


def _parse_specs(b: BundleContext) -> dict[str, tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]]:
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


def _ignored_nodes(b: BundleContext, proc: ProcessXml, spec: BpmnProcessSpec, subs: dict[str, BpmnProcessSpec]) -> None:
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
        b.problems.add(proc.doc.name, f"{short_tag(node.tag)} is not connected to the process flow, "
                       "so SpiffWorkflow would ignore it", nid, node.sourceline)


def _bpmn_ids(spec: BpmnProcessSpec) -> set[str]:
    return {getattr(ts, "bpmn_id", None) for ts in spec.task_specs.values()} - {None}


def _canonical_checksum(sources: dict[str, str], forms: dict[str, Any]) -> str:
    payload = json.dumps({"sources": sources, "forms": forms}, sort_keys=True, ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _result(b: BundleContext, proc: ProcessXml, spec: BpmnProcessSpec, subs: dict[str, BpmnProcessSpec]) -> ParsedProcess:
    """The process on its own: the processes it calls are versions of their own, bound per case
    when the call starts (`engine.core.calls`), so neither their specs, files nor forms are kept here."""
    called = {p.key for p in b.callees_closure(proc.key)} - {proc.key}
    sources: dict[str, str] = {proc.doc.name: proc.doc.text}
    for decision in proc.decisions:
        sources[b.dmn_docs[decision].name] = b.dmn_docs[decision].text
    forms = {name: b.forms.loaded[name] for name in [n for n, _ in proc.forms] + proc.ui_forms}
    return ParsedProcess(
        key=proc.key, name=proc.name, source_file=proc.doc.name, spec=spec,
        subprocess_specs={n: s for n, s in subs.items() if n not in called},
        sources=sources, forms=forms, lanes=dict(proc.lanes), flows=list(proc.flows()),
        checksum=_canonical_checksum(sources, forms),
    )


def _split_files(files: dict[str, bytes], dmn_files: dict[str, bytes] | None,
                 b: BundleContext) -> tuple[list[Doc], list[Doc]]:
    bpmn, dmn = [], []
    items = list(files.items()) + [(n, d) for n, d in (dmn_files or {}).items()]
    for i, (name, data) in enumerate(items):
        is_dmn = i >= len(files) or name.lower().endswith(".dmn")
        if not is_dmn and not name.lower().endswith((".bpmn", ".xml")):
            b.problems.add(name, "unsupported file type: expected .bpmn, .xml or .dmn")
            continue
        doc = load_doc(name, data, b.max_bytes, b.problems)
        if doc is None:
            continue
        if not is_dmn and xsd_problems(doc, b.problems):
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
                 dmn_files: dict[str, bytes] | None = None,
                 references: dict[str, bytes] | None = None) -> list[ParsedProcess]:
    """Raise DeployError listing EVERY problem found (not only the first); else one ParsedProcess per executable process.

    `files` maps file names to BPMN (``.bpmn``/``.xml``) or DMN (``.dmn``) bytes; `dmn_files` adds
    more decision tables; `references` are deployed files of called processes the bundle does not
    carry — read so the calls resolve, checked, but never returned as processes to store. Lanes must name a group of `groups` (code -> display name), service tasks
    an operator in `operators`, user tasks a form in `forms_dir`.
    """
    b = BundleContext(Path(forms_dir), groups, operators, max_bytes)
    references = {n: d for n, d in (references or {}).items() if n not in files}
    bpmn_docs, dmn_docs = _split_files({**files, **references}, dmn_files, b)
    _add_dmn(b, dmn_docs)
    b.procs, skip = index_processes(bpmn_docs, b.problems)
    linters = [Linter(p, b) for p in b.executable()]
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
    return [_result(b, p, *parsed[p.key]) for p in b.executable() if p.doc.name not in references]

"""What the browser modeler needs from the engine: check without deploying, import, export.

The modeler edits a whole bundle — the BPMN files of a version (with the processes it calls and its
DMN tables) and the JSON-Schema forms it references — so `check` and `deploy` take files *and*
forms. Forms made in the browser exist nowhere on disk yet: they are laid over the server's forms
directory in a scratch directory, and the very same `validation.bundle.parse_bundle` that `yekuo deploy`
runs does the checking (no second set of rules to drift apart).

Import: files from Camunda Modeler (7 and 8) and spiff-arena are normalised first. What has no
meaning in Yekuo but changes nothing when dropped (modeler bookkeeping, async flags, history TTL)
is removed with a note; what would silently not run (Java delegates, Camunda forms, listeners,
JUEL expressions, Zeebe task definitions) is refused on its element with the reason and the
Yekuo way to do it. Files that need no change are passed through byte for byte, so re-deploying a
bundled model keeps its checksum.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select

from engine.core import definitions, services
from engine.core.db import Database
from engine.core.errors import DeployError, InvalidData, Problem
from engine.core.models import definition_t
from engine.core.validation.bundle import ParsedProcess, parse_bundle
from engine.core.validation.code_checks import JUEL, juel_message
from engine.core.validation.lints import plain_tasks_in_no_lane
from engine.modeling import arena, called

__all__ = ["CheckResult", "ImportResult", "check", "check_form", "deploy", "export_bpmn", "export_zip",
           "normalize", "read_zip", "validate", "version_sources"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
_FORM_NAME = re.compile(r"^[^/\\\x00]{1,200}\.json$")
#: UI-schema file names: Yekuo's `x.uischema.json`, spiff-arena's `x-uischema.json`.
_UI_NAME = re.compile(r"[.\-_]uischema\.json$")
_QNAME_PREFIX = re.compile(r"^([A-Za-z_][\w.-]*):[A-Za-z_]")

#: Camunda 7 attributes with no effect on what a Yekuo case does: dropped, with a note.
CAMUNDA_IGNORED_ATTRS = {
    "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority", "historyTimeToLive",
    "versionTag", "isStartableInTasklist", "candidateStarterGroups", "candidateStarterUsers", "async",
    "failedJobRetryTimeCycle", "dueDate", "followUpDate", "priority",
}
#: Camunda 7 attributes that carry behaviour Yekuo cannot run: refused, with what to do instead.
CAMUNDA_REFUSED_ATTRS = {
    "class": "runs a Java class (JavaDelegate); Yekuo calls registered service operators instead — choose one "
             "as spiffworkflow:serviceTaskOperator",
    "delegateExpression": "names a Java delegate bean; choose a registered service operator instead",
    "expression": "is a JUEL expression evaluated by Camunda; use a service operator or a Python script task",
    "type": "is an external-task / connector type; choose a registered service operator instead",
    "topic": "is a Camunda external-task topic; choose a registered service operator instead",
    "formKey": "is a Camunda form reference; Yekuo renders JSON-Schema forms: choose one for this key at import "
               "(form map 'key=form.schema.json') or set the property formJsonSchemaFilename",
    "formRef": "is a Camunda form reference; Yekuo renders JSON-Schema forms: choose one for this key at import "
               "(form map 'key=form.schema.json') or set the property formJsonSchemaFilename",
    "assignee": "assigns the task in Camunda; in Yekuo the task's lane decides the group — put the task in a lane",
    "candidateGroups": "assigns the task in Camunda; in Yekuo the task's lane decides the group — put the task "
                       "in a lane",
    "candidateUsers": "assigns the task in Camunda; in Yekuo the task's lane decides the group",
    "resultVariable": "stores a Camunda script/expression result; in Yekuo assign the variable inside the "
                      "Python script",
    "calledElementBinding": "selects a Camunda call-activity binding; Yekuo always calls the deployed process",
    "decisionRef": "calls a Camunda DMN decision; use spiffworkflow:calledDecisionId",
    "initiator": "stores the Camunda starter; Yekuo records who started a case itself",
}
#: Camunda 7 extension elements: converted (properties), dropped (harmless) or refused.
CAMUNDA_REFUSED_ELEMENTS = {
    "formData": "Camunda generated forms do not exist in Yekuo; choose a JSON-Schema form for this task at import "
                "(form map 'task id=form.schema.json') or set formJsonSchemaFilename",
    "formField": "Camunda generated forms do not exist in Yekuo; set formJsonSchemaFilename to a JSON-Schema form",
    "inputOutput": "Camunda input/output mappings would not run; map data in a Python pre-/post-script",
    "executionListener": "Camunda execution listeners (Java/JUEL) would not run; use a script or service task",
    "taskListener": "Camunda task listeners (Java/JUEL) would not run; use a script or service task",
    "connector": "Camunda connectors would not run; choose a registered service operator",
    "in": "Camunda call-activity variable mappings would not run; the called process sees the caller's data",
    "out": "Camunda call-activity variable mappings would not run; the caller gets the called process's data",
    "field": "Camunda field injection belongs to a Java delegate; choose a registered service operator",
}
CAMUNDA_IGNORED_ELEMENTS = {"failedJobRetryTimeCycle"}
ZEEBE_REASON = ("is Camunda 8 (Zeebe) configuration, which Yekuo cannot run: use spiffworkflow:serviceTaskOperator "
                "for job workers, formJsonSchemaFilename for forms and lanes for assignment")
#: spiff-arena extension elements newer than SpiffWorkflow 3.2's schema, with no effect on execution here.
SPIFF_IGNORED_ELEMENTS = {"allowGuest", "guestConfirmation", "signalButtonLabel", "isMatchingCorrelation"}
NON_PYTHON = "Yekuo runs scripts as restricted Python; this script is {fmt!r}: rewrite it in Python"


# ------------------------------------------------------------------------------------------------
# results


@dataclass
class CheckResult:
    """The outcome of a dry validation: every problem located, and what each process would become."""

    ok: bool
    problems: list[Problem]
    notes: list[Problem] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)  # key, name, version it would get, changed
    files: dict[str, bytes] = field(default_factory=dict)  # as they would be deployed (after import)


@dataclass
class ImportResult:
    """Normalised files (only those that needed a change are rewritten), notes and refusals."""

    files: dict[str, bytes]
    notes: list[Problem] = field(default_factory=list)
    form_map: dict[str, str] = field(default_factory=dict)  # Camunda form key or task id → chosen form
    problems: list[Problem] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# import: Camunda / spiff-arena files


def _owner(node: etree._Element) -> str | None:
    while node is not None:
        if isinstance(node.tag, str) and node.get("id") and etree.QName(node).namespace == BPMN_NS:
            return node.get("id")
        node = node.getparent()
    return None


def normalize(files: dict[str, bytes | str], form_map: dict[str, str] | None = None) -> ImportResult:
    """Make foreign BPMN files deployable where that changes no behaviour; refuse the rest per element.

    `form_map` gives Camunda user tasks the JSON-Schema form the importer chose: by form key
    (`camunda:formKey`/`formRef`) or, for a generated form (`camunda:formData`), by the task's id.
    """
    out = ImportResult(files={})
    out.form_map = dict(form_map or {})
    for name, data in files.items():
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if not name.lower().endswith((".bpmn", ".xml")):
            out.files[name] = raw
            continue
        try:
            root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        except etree.XMLSyntaxError:
            out.files[name] = raw  # validation reports the syntax error with its line
            continue
        changed = _normalize_tree(name, root, out)
        if changed:
            out.files[name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        else:
            out.files[name] = raw
        if root.find(f"{{{BPMNDI_NS}}}BPMNDiagram") is None and root.find(f".//{{{BPMN_NS}}}process") is not None:
            out.notes.append(Problem(name, "the file has no diagram (BPMN DI): it can be deployed, but the "
                                           "modeler and the case page cannot draw it"))
    return out


def _normalize_tree(name: str, root: etree._Element, out: ImportResult) -> bool:
    changed = False
    if etree.QName(root).namespace not in (BPMN_NS, None) and etree.QName(root).localname == "definitions":
        out.problems.append(Problem(name, f"the root element is in namespace {etree.QName(root).namespace!r}; "
                                          f"BPMN 2.0 files use {BPMN_NS!r}", line=root.sourceline))
        return False
    dropped_attrs: dict[str, set[str]] = {}
    for node in list(root.iter()):
        if not isinstance(node.tag, str):
            continue
        for attr in list(node.attrib):
            q = etree.QName(attr)
            if q.namespace == MODELER_NS:
                del node.attrib[attr]
                changed = True
            elif q.namespace == CAMUNDA_NS:
                if q.localname in ("formKey", "formRef") and _chosen_form(name, node, node.get(attr), out):
                    del node.attrib[attr]
                    changed = True
                elif q.localname in CAMUNDA_REFUSED_ATTRS:
                    out.problems.append(Problem(name, f"camunda:{q.localname} {CAMUNDA_REFUSED_ATTRS[q.localname]}",
                                                _owner(node), node.sourceline))
                else:
                    dropped_attrs.setdefault(q.localname, set()).add(_owner(node) or "")
                    del node.attrib[attr]
                    changed = True
            elif q.namespace == ZEEBE_NS:
                out.problems.append(Problem(name, f"zeebe:{q.localname} {ZEEBE_REASON}", _owner(node), node.sourceline))
        _foreign_expressions(name, node, out)
    for node in list(root.iter(f"{{{CAMUNDA_NS}}}*", f"{{{ZEEBE_NS}}}*")):
        if node.getparent() is None:
            continue
        q = etree.QName(node)
        if q.namespace == ZEEBE_NS:
            if etree.QName(node.getparent()).namespace != ZEEBE_NS:
                out.problems.append(Problem(name, f"zeebe:{q.localname} {ZEEBE_REASON}", _owner(node), node.sourceline))
            continue
        parent_ns = etree.QName(node.getparent()).namespace
        if parent_ns == CAMUNDA_NS and q.localname not in ("properties",):
            continue  # reported with its parent
        if q.localname == "properties":
            changed |= _convert_properties(name, node, out)
        elif q.localname == "formData" and _chosen_form(name, _task_of(node), _owner(node), out):
            _remove(node)
            changed = True
        elif q.localname in CAMUNDA_REFUSED_ELEMENTS:
            out.problems.append(Problem(name, f"camunda:{q.localname}: {CAMUNDA_REFUSED_ELEMENTS[q.localname]}",
                                        _owner(node), node.sourceline))
        elif q.localname in CAMUNDA_IGNORED_ELEMENTS:
            dropped_attrs.setdefault(q.localname, set()).add(_owner(node) or "")
            _remove(node)
            changed = True
        else:
            out.problems.append(Problem(name, f"camunda:{q.localname} has no meaning in Yekuo and would be ignored; "
                                              "remove it", _owner(node), node.sourceline))
    changed |= _escalation_codes(name, root, out)
    for node in list(root.iter(f"{{{SPIFF_NS}}}*")):
        if etree.QName(node).localname in SPIFF_IGNORED_ELEMENTS:
            out.notes.append(Problem(name, f"spiffworkflow:{etree.QName(node).localname} (spiff-arena) has no effect "
                                           "in Yekuo and was removed", _owner(node), node.sourceline))
            _remove(node)
            changed = True
    for attr, owners in sorted(dropped_attrs.items()):
        where = ", ".join(sorted(o for o in owners if o)) or None
        out.notes.append(Problem(name, f"camunda:{attr} has no effect in Yekuo and was removed"
                                       + (f" (on {where})" if where else "")))
    for ext in root.iter(f"{{{BPMN_NS}}}extensionElements"):
        if len(ext) == 0 and not (ext.text or "").strip():
            _remove(ext)
            changed = True
    if changed:
        etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": SPIFF_NS},
                                 keep_ns_prefixes=sorted(_prefixes_in_values(root)))
    return changed


def _foreign_expressions(name: str, node: etree._Element, out: ImportResult) -> None:
    """Scripts in another language and JUEL expressions would not run here: refused where they are."""
    q = etree.QName(node)
    if q.namespace != BPMN_NS:
        return
    if q.localname == "scriptTask":
        fmt = (node.get("scriptFormat") or "").strip().lower()
        if fmt and fmt not in ("python", "python3", "text/x-python"):
            out.problems.append(Problem(name, NON_PYTHON.format(fmt=fmt), _owner(node), node.sourceline))
    if q.localname in ("conditionExpression", "timeDate", "timeDuration", "timeCycle", "loopCardinality",
                       "completionCondition") and JUEL.search(node.text or ""):
        out.problems.append(Problem(name, juel_message(q.localname, node.text), _owner(node), node.sourceline))


def _task_of(node: etree._Element) -> etree._Element:
    """The BPMN element an extension belongs to (the user task around `camunda:formData`)."""
    while node.getparent() is not None and (etree.QName(node).namespace != BPMN_NS
                                            or etree.QName(node).localname == "extensionElements"):
        node = node.getparent()
    return node


def _chosen_form(name: str, task: etree._Element, key: str | None, out: ImportResult) -> bool:
    """Give a Camunda user task the form the importer chose for its form key (or its id); False if none."""
    form = out.form_map.get((key or "").strip())
    if not form:
        return False
    ext = task.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is None:
        ext = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        task.insert(0, ext)
    props = ext.find(f"{{{SPIFF_NS}}}properties")
    if props is None:
        props = etree.SubElement(ext, f"{{{SPIFF_NS}}}properties", nsmap={"spiffworkflow": SPIFF_NS})
    for prop in props.findall(f"{{{SPIFF_NS}}}property"):
        if prop.get("name") == "formJsonSchemaFilename":
            props.remove(prop)
    etree.SubElement(props, f"{{{SPIFF_NS}}}property", name="formJsonSchemaFilename", value=form)
    out.notes.append(Problem(name, f"Camunda form {key!r} replaced by the chosen form {form!r}", task.get("id"),
                             task.sourceline))
    return True


def _escalation_codes(name: str, root: etree._Element, out: ImportResult) -> bool:
    """spiff-arena writes an escalation's code as `errorCode`; BPMN (and SpiffWorkflow) read `escalationCode`."""
    changed = False
    for node in root.iter(f"{{{BPMN_NS}}}escalation"):
        code = node.attrib.pop("errorCode", None)
        if code is None:
            continue
        changed = True
        if node.get("escalationCode") is None:
            node.set("escalationCode", code)
        out.notes.append(Problem(name, f"errorCode={code!r} on an escalation (as spiff-arena writes it) was read as "
                                       "its escalationCode", node.get("id"), node.sourceline))
    return changed


def _prefixes_in_values(root: etree._Element) -> set[str]:
    """Namespace prefixes used inside attribute values and texts (QNames like structureRef="feel:string").

    lxml only sees prefixes of element and attribute names, so without this a declaration still in
    use would be removed and the schema would refuse the value.
    """
    declared = {p for node in root.iter() if isinstance(node.tag, str) for p in node.nsmap if p}
    found = set()
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for value in [*node.attrib.values(), node.text or ""]:
            match = _QNAME_PREFIX.match(value.strip())
            if match and match.group(1) in declared:
                found.add(match.group(1))
    return found


def _remove(node: etree._Element) -> None:
    """Remove an element, keeping the whitespace that followed it in its place."""
    parent = node.getparent()
    if parent is None:
        return
    prev = node.getprevious()
    if node.tail and prev is not None:
        prev.tail = node.tail
    elif node.tail:
        parent.text = (parent.text or "") if (parent.text or "").strip() else node.tail
    parent.remove(node)


def _convert_properties(name: str, node: etree._Element, out: ImportResult) -> bool:
    """camunda:properties → spiffworkflow:properties (same name/value pairs: forms, slaKey… set in Camunda Modeler)."""
    ext = node.getparent()
    target = ext.find(f"{{{SPIFF_NS}}}properties")
    if target is None:
        target = etree.SubElement(ext, f"{{{SPIFF_NS}}}properties", nsmap={"spiffworkflow": SPIFF_NS})
    for prop in node.findall(f"{{{CAMUNDA_NS}}}property"):
        etree.SubElement(target, f"{{{SPIFF_NS}}}property", name=prop.get("name", ""), value=prop.get("value", ""))
    out.notes.append(Problem(name, "camunda:properties converted to spiffworkflow:properties", _owner(node),
                             node.sourceline))
    _remove(node)
    return True


def read_zip(data: bytes, *, max_files: int = 200, max_bytes: int = 20 * 1024 * 1024) -> tuple[dict[str, bytes], dict[str, Any]]:
    """An exported (or hand-made) zip → (BPMN/DMN files, forms); directories inside are ignored."""
    files: dict[str, bytes] = {}
    forms: dict[str, Any] = {}
    for base, content in arena.zip_entries(data, max_files=max_files, max_bytes=max_bytes).items():
        if base.lower().endswith((".bpmn", ".dmn")):
            files[base] = content
        elif _FORM_NAME.match(base) and base != "manifest.json":
            try:
                forms[base] = json.loads(content.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidData(f"form {base} in the zip is not valid JSON",
                                  details={"files": [f"{base}: {exc}"]}) from None
    return files, forms


# ------------------------------------------------------------------------------------------------
# check and deploy


@contextmanager
def forms_overlay(forms_dir: Path, forms: dict[str, Any] | None) -> Iterator[Path]:
    """The server's forms directory with the bundle's own forms laid over it (a scratch copy)."""
    if not forms:
        yield Path(forms_dir)
        return
    for name in forms:
        if not _FORM_NAME.match(name) or ".." in name:
            raise InvalidData(f"form file name {name!r} must be a plain name ending in .json",
                              details={"forms": [name]})
    with tempfile.TemporaryDirectory(prefix="yekuo-forms-") as tmp:
        target = Path(tmp)
        if Path(forms_dir).is_dir():
            for path in Path(forms_dir).glob("*.json"):
                shutil.copyfile(path, target / path.name)
        for name, content in forms.items():
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=2)
            (target / name).write_text(text, encoding="utf-8")
        yield target


def validate(db: Database, files: dict[str, bytes | str], *, forms_dir: Path, forms: dict[str, Any] | None = None,
             max_bytes: int = 5 * 1024 * 1024,
             lane_map: dict[str, str] | None = None,
             form_map: dict[str, str] | None = None) -> tuple[CheckResult, list[ParsedProcess]]:
    """The one validator of every way in — `yekuo deploy`, the API's check and deploy, the modeler's import.

    Foreign files are normalised (`normalize`), every form sent as text is checked on its own, and
    the bundle goes through `parse_bundle` with the forms laid over `forms_dir` — a form that is
    not valid JSON is reported without hiding the BPMN's problems. Never raises for bad content:
    the problems come back located, together with what would be stored if there were none.
    An import passes its `lane_map` (spiff-arena lanes, Camunda candidate groups → groups; `arena`)
    and its `form_map` (Camunda forms → JSON-Schema forms; `normalize`).
    """
    mapped: list[Problem] = []
    if lane_map is not None:
        raw = {n: d.encode("utf-8") if isinstance(d, str) else d for n, d in files.items()}
        files, lane_notes, mapped = arena.map_lanes(raw, lane_map, definitions.group_names(db))
    imported = normalize(files, form_map)
    if lane_map is not None:  # the lane map already said why a candidate group could not be placed
        imported.notes[:0] = lane_notes
        imported.problems = [p for p in imported.problems if not p.message.startswith("camunda:candidateGroups")]
    problems = mapped + imported.problems
    for name, content in (forms or {}).items():
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        problems += [p for p in check_form(name, text) if p not in problems]
    parsed: list[ParsedProcess] = []
    if files:
        refs, ref_forms, ref_problems = called.references(db, imported.files)
        problems += ref_problems
        # a called version's stored forms only fill in names the server's forms and the bundle lack
        overlay = {n: c for n, c in ref_forms.items() if not (Path(forms_dir) / n).exists()}
        with forms_overlay(forms_dir, {**overlay, **(forms or {})} or None) as fdir:
            try:
                parsed = parse_bundle(imported.files, forms_dir=fdir, groups=definitions.group_names(db),
                                      operators=services.operators(), max_bytes=max_bytes, references=refs)
            except DeployError as exc:
                problems += [p for p in exc.problems if p not in problems]
    problems = _original_lines(problems, files, imported.files)
    imported.notes += _lane_less_tasks(imported.files)
    result = CheckResult(not problems, problems, imported.notes, files=imported.files)
    if problems:
        return result, []
    latest = definitions.latest_checksums(db)
    for proc in parsed:
        version, checksum = latest.get(proc.key, (0, ""))
        changed = checksum != proc.checksum
        result.processes.append({"key": proc.key, "name": proc.name, "changed": changed,
                                 "version": version + 1 if changed else version})
    return result, parsed


def _original_lines(problems: list[Problem], given: dict[str, bytes | str],
                    normalised: dict[str, bytes]) -> list[Problem]:
    """Lines as in the file the analyst has: the normaliser's removals shift the lines of what it rewrote.

    A finding on a rewritten file is moved to the line its element (by id, or the element starting on
    the reported line) has in the original; findings the normaliser itself made already are.
    """
    rewritten = {n for n, data in given.items() if n in normalised
                 and normalised[n] != (data.encode("utf-8") if isinstance(data, str) else data)}
    if not rewritten:
        return problems
    maps: dict[str, tuple[dict[str, int], dict[int, str]]] = {}
    for name in rewritten:
        raw = given[name].encode("utf-8") if isinstance(given[name], str) else given[name]
        maps[name] = (_id_lines(raw), {line: i for i, line in _id_lines(normalised[name]).items()})
    out = []
    for p in problems:
        if p.file in maps:
            original, by_new_line = maps[p.file]
            element = p.element if p.element in original else by_new_line.get(p.line or -1)
            if element in original:
                p = dataclasses.replace(p, line=original[element])
        out.append(p)
    return out


def _lane_less_tasks(files: dict[str, bytes]) -> list[Problem]:
    notes = []
    for name, data in files.items():
        if not name.lower().endswith((".bpmn", ".xml")):
            continue
        try:
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        except etree.XMLSyntaxError:
            continue
        for task in plain_tasks_in_no_lane(root):
            notes.append(Problem(name, "plain task (no type) waits for a person but lies in no lane: only "
                                       "supervisors will see it and nobody can claim it — make it a user task in "
                                       "a lane, or a script or service task", task.get("id"), task.sourceline))
    return notes


def _id_lines(data: bytes) -> dict[str, int]:
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return {}
    lines: dict[str, int] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") and el.sourceline:
            lines.setdefault(el.get("id"), el.sourceline)
    return lines


def check(db: Database, files: dict[str, bytes | str], *, forms_dir: Path, forms: dict[str, Any] | None = None,
          max_bytes: int = 5 * 1024 * 1024, lane_map: dict[str, str] | None = None,
          form_map: dict[str, str] | None = None) -> CheckResult:
    """Everything a deployment would say about this bundle, without storing anything."""
    return validate(db, files, forms_dir=forms_dir, forms=forms, max_bytes=max_bytes, lane_map=lane_map,
                    form_map=form_map)[0]


def check_form(name: str, text: str) -> list[Problem]:
    """One form file on its own: JSON syntax, an object, the JSON Schema meta-schema, its examples."""
    from engine.core.validation.documents import ProblemList
    from engine.core.validation.form_files import FormFiles

    if not _FORM_NAME.match(name) or ".." in name:
        return [Problem(name, "form file name must be a plain name ending in .json")]
    problems = ProblemList()
    with tempfile.TemporaryDirectory(prefix="yekuo-form-") as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        FormFiles(Path(tmp), 1024 * 1024, problems).load_file(name, path, not _UI_NAME.search(name))
    return list(problems.items)


def deploy(db: Database, files: dict[str, bytes | str], *, forms_dir: Path, forms: dict[str, Any] | None = None,
           actor: str, note: str, max_bytes: int = 5 * 1024 * 1024, require_note: bool = True,
           lane_map: dict[str, str] | None = None,
           form_map: dict[str, str] | None = None) -> list[definitions.DeployResult]:
    """Validate (`validate`, as every way in does) and store each changed process as a new version.

    The modeler and the API require a change note for a new version; `yekuo deploy` does not.
    """
    result, parsed = validate(db, files, forms_dir=forms_dir, forms=forms, max_bytes=max_bytes, lane_map=lane_map,
                              form_map=form_map)
    if result.problems:
        raise DeployError(result.problems)
    return definitions.store_versions(db, parsed, actor=actor, note=note, require_note=require_note)


# ------------------------------------------------------------------------------------------------
# versions and export


def version_sources(db: Database, definition_id: int) -> dict[str, Any]:
    """What the modeler opens: the version's files, forms, main file and who/when/why."""
    with db.read() as conn:
        row = conn.execute(select(definition_t).where(definition_t.c.id == definition_id)).first()
    if row is None:
        from engine.core.errors import NotFound

        raise NotFound(f"process definition {definition_id} does not exist")
    # only the process's own file and decision tables: what it calls are versions of their own
    # (versions deployed before bindings also kept copies of them, which must not be redeployed)
    own = {n: t for n, t in row.sources.items() if n == row.source_file or n.lower().endswith(".dmn")}
    return {"id": row.id, "key": row.key, "version": row.version, "name": row.name, "main": row.source_file,
            "files": own, "forms": dict(row.forms), "deployed_at": row.deployed_at,
            "deployed_by": row.deployed_by, "note": row.note}


def export_bpmn(db: Database, definition_id: int) -> tuple[str, str]:
    """(file name, XML text) of the version's main BPMN file, exactly as deployed."""
    src = version_sources(db, definition_id)
    return src["main"], src["files"][src["main"]]


def export_zip(db: Database, definition_id: int) -> tuple[str, bytes]:
    """(zip name, bytes): every file of the version (called processes, DMN), its forms, a manifest.

    Unzipped, `yekuo deploy` (or the modeler's import) takes it back as it is.
    """
    src = version_sources(db, definition_id)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in sorted(src["files"].items()):
            zf.writestr(f"bpmn/{name}", text)
        for name, form in sorted(src["forms"].items()):
            zf.writestr(f"forms/{name}", json.dumps(form, ensure_ascii=False, indent=2) + "\n")
        manifest = {"key": src["key"], "version": src["version"], "name": src["name"], "main": src["main"],
                    "deployed_at": src["deployed_at"].isoformat() if src["deployed_at"] else None,
                    "deployed_by": src["deployed_by"], "note": src["note"]}
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return f"{src['key']}-v{src['version']}.zip", buf.getvalue()


def service_operators() -> list[str]:
    """Registered handler names, for the modeler's operator choice."""
    return sorted(services.operators())


def sla_keys(db: Database) -> list[dict[str, Any]]:
    """Time-limit keys of the active rule set (key, title, working days), for the modeler's choice."""
    from engine.deadlines import rule_sets

    rules = rule_sets.active_rules(db)
    seen: dict[str, dict[str, Any]] = {}
    if rules is not None:
        for (business_type, key), rule in sorted(rules.rules.items()):
            entry = seen.setdefault(key, {"key": key, "title": rule.title, "limits": []})
            entry["limits"].append(f"{business_type}: {rule.workdays}")
    return list(seen.values())

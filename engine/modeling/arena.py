"""Importing spiff-arena process models, and the lane → group mapping chosen at import.

A spiff-arena process model is a folder (or a zip of one): `process_model.json` (display name,
primary file and process), BPMN and DMN files, and JSON files — the forms user tasks name in
`formJsonSchemaFilename` (`*-schema.json`) and `formUiSchemaFilename` (`*-uischema.json`). Lanes
there are named after spiff-arena groups, which mean nothing here, so the importer chooses a Yekuo
group per lane (`Lane A=clerk`); the lane is renamed to the group's code, so the deployed BPMN says
who works on each task. Camunda 7's `camunda:candidateGroups` goes through the same map: the task
is put into a lane of that group. What the map cannot place stays refused, located.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from engine.core.errors import InvalidData, Problem

__all__ = ["ArenaModel", "LANE_MAP", "map_lanes", "parse_form_map", "parse_lane_map", "read_folder", "read_model", "read_zip"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
#: Where problems with the lane map itself are reported (it is no file of the bundle).
LANE_MAP = "(lane map)"
_FORM_PROPS = ("formJsonSchemaFilename", "formUiSchemaFilename")
_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_MAX_FILES, _MAX_BYTES = 200, 20 * 1024 * 1024


@dataclass
class ArenaModel:
    """A process model as read: BPMN/DMN files, the forms its tasks name, its metadata, problems."""

    files: dict[str, bytes]
    forms: dict[str, Any]
    meta: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


def parse_lane_map(text: str | None) -> dict[str, str]:
    """`"Lane A=clerk, Lane B=reviewer"` → {"Lane A": "clerk", "Lane B": "reviewer"}."""
    return _pairs(text, "lane_map", "Lane name=group")


def parse_form_map(text: str | None) -> dict[str, str]:
    """`"approve=approval.schema.json, Task_1=offer.schema.json"`: a Camunda form key, or a user task's id
    (for its generated form), → the JSON-Schema form it gets in Yekuo."""
    return _pairs(text, "form_map", "form key or task id=form.schema.json")


def _pairs(text: str | None, field_name: str, shape: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            what = field_name.replace("_", " ")
            raise InvalidData(f"{what} entry {part.strip()!r} must read '{shape}'",
                              details={field_name: [part.strip()]})
        out[key.strip()] = value.strip()
    return out


def read_folder(path: Path) -> ArenaModel:
    """A process-model folder on disk (only its own files; sub-folders are other models)."""
    if not (path / "process_model.json").is_file():
        raise InvalidData(f"{path} has no process_model.json: not a spiff-arena process model",
                          details={"path": [str(path)]})
    return read_model({p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()})


def read_zip(data: bytes) -> ArenaModel:
    """A zip of one process-model folder (at the top or inside one directory)."""
    return read_model(zip_entries(data))


def zip_entries(data: bytes, *, max_files: int = _MAX_FILES, max_bytes: int = _MAX_BYTES) -> dict[str, bytes]:
    """A zip's files by base name (directories flattened), refused when not a zip or too large."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidData("the upload is not a zip file", details={"files": ["not a zip file"]}) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > max_files or sum(i.file_size for i in infos) > max_bytes:
            raise InvalidData("the zip file is too large", details={"files": ["too many or too large files"]})
        return {i.filename.rsplit("/", 1)[-1]: archive.read(i) for i in infos}


def is_arena_zip(data: bytes) -> bool:
    """True when a zip holds a spiff-arena process model (a `process_model.json`)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(n.rsplit("/", 1)[-1] == "process_model.json" for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


def read_model(raw: dict[str, bytes]) -> ArenaModel:
    """The model's files by name: BPMN and DMN kept, forms taken as the tasks name them."""
    model = ArenaModel(files={}, forms={}, meta=_meta(raw, []))
    model.problems = model.meta.pop("_problems")
    model.files = {n: d for n, d in raw.items() if n.lower().endswith((".bpmn", ".dmn"))}
    primary = model.meta.get("primary_file_name")
    if primary and primary not in model.files:
        model.problems.append(Problem("process_model.json", f"primary_file_name {primary!r} is not in the folder"))
    for name, data in model.files.items():
        for form, element, line in _form_references(name, data):
            if form in model.forms:
                continue
            if form not in raw:
                model.problems.append(Problem(name, f"form file {form!r} is not in the process model folder",
                                              element, line))
                continue
            try:
                model.forms[form] = json.loads(raw[form].decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                model.problems.append(Problem(form, f"form file is not valid JSON: {exc}".splitlines()[0]))
    unused = sorted(n for n in raw if n.endswith(".json") and n not in model.forms and n != "process_model.json")
    if unused:
        model.notes.append(Problem("process_model.json", "not imported (no task names them): " + ", ".join(unused)))
    return model


def _meta(raw: dict[str, bytes], problems: list[Problem]) -> dict[str, Any]:
    meta: Any = {}
    try:
        meta = json.loads(raw.get("process_model.json", b"{}").decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(Problem("process_model.json", f"not valid JSON: {exc}".splitlines()[0]))
    if not isinstance(meta, dict):
        problems.append(Problem("process_model.json", "must contain a JSON object"))
        meta = {}
    return {**meta, "_problems": problems}


def _form_references(name: str, data: bytes) -> list[tuple[str, str | None, int | None]]:
    """(form file, task id, line) of every form a BPMN file's tasks name."""
    if not name.lower().endswith(".bpmn"):
        return []
    try:
        root = etree.fromstring(data, _XML)
    except etree.XMLSyntaxError:
        return []  # validation reports it with its line
    out = []
    for prop in root.iter(f"{{{SPIFF_NS}}}property"):
        value = (prop.get("value") or "").strip()
        if prop.get("name") in _FORM_PROPS and value:
            task = next((a for a in prop.iterancestors() if a.get("id")), None)
            out.append((value, task.get("id") if task is not None else None, prop.sourceline))
    return out


# ------------------------------------------------------------------------------------------------
# lane → group


@dataclass
class _Mapping:
    lane_map: dict[str, str]
    groups: dict[str, str]
    notes: list[Problem]
    problems: list[Problem]
    used: set[str] = field(default_factory=set)

    def group(self, name: str) -> str | None:
        """The group code a lane (or candidate group) name stands for: mapped, or a group's own name."""
        target = self.lane_map.get(name.strip(), name.strip())
        for code, label in self.groups.items():
            if target in (code, (label or "").strip()):
                return code
        return None


def map_lanes(files: dict[str, bytes], lane_map: dict[str, str],
              groups: dict[str, str]) -> tuple[dict[str, bytes], list[Problem], list[Problem]]:
    """Apply the import's lane map: (files, notes, problems). Unchanged files stay byte for byte."""
    m = _Mapping(lane_map, groups, [], [])
    known = ", ".join(sorted(groups))
    for lane, group in lane_map.items():
        if m.group(group) is None:
            m.problems.append(Problem(LANE_MAP, f"lane {lane!r} is mapped to {group!r}, which is no group; "
                                                f"known: {known}"))
    out: dict[str, bytes] = {}
    for name, data in files.items():
        out[name] = data
        if not name.lower().endswith((".bpmn", ".xml")):
            continue
        try:
            root = etree.fromstring(data, _XML)
        except etree.XMLSyntaxError:
            continue
        changed = _rename_lanes(name, root, m) | _place_candidate_groups(name, root, m)
        if changed:
            out[name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for lane in sorted(set(lane_map) - m.used):
        m.problems.append(Problem(LANE_MAP, f"lane {lane!r} is in the lane map but no file has a lane of that name"))
    return out, m.notes, m.problems


def _rename_lanes(name: str, root: etree._Element, m: _Mapping) -> bool:
    changed = False
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        title = (lane.get("name") or "").strip()
        if title not in m.lane_map:
            continue
        m.used.add(title)
        code = m.group(title)
        if code is not None and code != title:
            lane.set("name", code)
            m.notes.append(Problem(name, f"lane {title!r} → group {code!r}", lane.get("id"), lane.sourceline))
            changed = True
    return changed


def _place_candidate_groups(name: str, root: etree._Element, m: _Mapping) -> bool:
    """Camunda 7: a task's single candidate group becomes its lane (created when missing)."""
    attr = f"{{{CAMUNDA_NS}}}candidateGroups"
    changed = False
    for task in root.xpath("//*[@camunda:candidateGroups]", namespaces={"camunda": CAMUNDA_NS}):
        wanted = {m.group(g) for g in task.get(attr).split(",") if g.strip()}
        m.used |= {g.strip() for g in task.get(attr).split(",")} & set(m.lane_map)
        if None in wanted or len(wanted) != 1:
            m.problems.append(Problem(name, f"camunda:candidateGroups {task.get(attr)!r} must map to exactly one "
                                            "group (add it to the lane map)", task.get("id"), task.sourceline))
            continue
        code = wanted.pop()
        process = next(a for a in task.iterancestors(f"{{{BPMN_NS}}}process"))
        current = _lane_of(process, task.get("id"))
        if current is not None and m.group(current.get("name") or "") != code:
            m.problems.append(Problem(name, f"camunda:candidateGroups says {code!r} but the task lies in lane "
                                            f"{current.get('name')!r}", task.get("id"), task.sourceline))
            continue
        if current is None:
            lane = _lane_for(process, code)
            etree.SubElement(lane, f"{{{BPMN_NS}}}flowNodeRef").text = task.get("id")
        del task.attrib[attr]
        m.notes.append(Problem(name, f"camunda:candidateGroups → lane of group {code!r}", task.get("id"),
                               task.sourceline))
        changed = True
    return changed


def _lane_of(process: etree._Element, task_id: str | None) -> etree._Element | None:
    for ref in process.iter(f"{{{BPMN_NS}}}flowNodeRef"):
        if (ref.text or "").strip() == task_id:
            return ref.getparent()
    return None


def _lane_for(process: etree._Element, code: str) -> etree._Element:
    lane_set = process.find(f"{{{BPMN_NS}}}laneSet")
    if lane_set is None:
        lane_set = etree.Element(f"{{{BPMN_NS}}}laneSet", id=f"LaneSet_{process.get('id')}")
        head = ("documentation", "extensionElements", "auditing", "monitoring", "ioSpecification", "ioBinding",
                "property")
        at = 0
        while at < len(process) and isinstance(process[at].tag, str) and etree.QName(process[at]).localname in head:
            at += 1
        process.insert(at, lane_set)
    for lane in lane_set.findall(f"{{{BPMN_NS}}}lane"):
        if lane.get("name") == code:
            return lane
    return etree.SubElement(lane_set, f"{{{BPMN_NS}}}lane", id=f"Lane_{code}", name=code)

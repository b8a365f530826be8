"""Read-only diagram views: the BPMN XML of a definition and where an instance has been.

The instance page draws each process a case went through (the main process and every called
process it entered) and marks on it what finished, what is open now and which sequence flows were
taken. "Finished" comes from the history: each command's primary event carries the `trail` of
BPMN elements that finished during it (`[id, c|x|e, from-id, subprocess]`, see `step.Step`), so
counts survive loops and repeated call activities. "Open now" comes from the stored workflow state:
READY and STARTED tasks are active (a user task to do, a call activity running), WAITING ones are
waiting (a timer, a message, an armed boundary event, a join waiting for its other branches).

Nothing here writes; the XML is the exact text deployed with the definition version.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from lxml import etree
from SpiffWorkflow import TaskState
from sqlalchemy import select

from engine.core import calls, definitions
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import definition_t, event_t, instance_t

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_ACTIVE = TaskState.READY | TaskState.STARTED


@dataclass
class ProcessDiagram:
    """One process's diagram with an instance's path on it (element and flow ids of that process)."""

    process: str
    name: str
    file: str
    xml: str
    completed: dict[str, int] = field(default_factory=dict)  # element id -> times it finished normally
    failed: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    flows: dict[str, int] = field(default_factory=dict)  # sequence flow id -> times taken

    def to_dict(self) -> dict[str, Any]:
        return {"process": self.process, "name": self.name, "file": self.file, "xml": self.xml,
                "completed": self.completed, "failed": self.failed, "active": self.active,
                "waiting": self.waiting, "flows": self.flows}


@dataclass(frozen=True)
class _Sources:
    main: str
    files: dict[str, str]  # file name -> XML text
    processes: dict[str, tuple[str, str]]  # process id -> (file name, process name)


def _sources(db: Database, definition_id: int, called: tuple[int, ...] = ()) -> _Sources:
    """The BPMN files of a version and of the called versions a case bound (`called`)."""
    key = ("diagram-sources", definition_id, called)
    found = db.cache.get(key)
    if found is not None:
        return found
    with db.read() as conn:
        row = conn.execute(select(definition_t.c.key, definition_t.c.sources)
                           .where(definition_t.c.id == definition_id)).first()
        more = conn.execute(select(definition_t.c.sources).where(definition_t.c.id.in_(called))).scalars().all()
    if row is None:
        raise NotFound(f"process definition {definition_id} does not exist")
    files = {name: text for name, text in (row.sources or {}).items() if name.endswith(".bpmn")}
    for sources in more:
        files.update({name: text for name, text in (sources or {}).items() if name.endswith(".bpmn")})
    processes: dict[str, tuple[str, str]] = {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    for name, text in files.items():
        root = etree.fromstring(text.encode(), parser)
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            processes.setdefault(proc.get("id"), (name, proc.get("name") or proc.get("id")))
    found = _Sources(row.key, files, processes)
    db.cache[key] = found
    return found


def definition_xml(db: Database, definition_id: int, process: str | None = None) -> str:
    """The BPMN XML (as deployed) of the definition's main process, or of one process it calls.

    A called process is a version of its own: unless the definition still carries a copy (versions
    deployed before bindings), it is the newest deployed version of the called key that it calls.
    """
    src = _sources(db, definition_id)
    process = process or src.main
    if process not in src.processes and _calls(db, src, process):
        src = _sources(db, definitions.latest_id(db, process))
    if process not in src.processes:
        raise NotFound(f"process '{process}' is not part of definition {definition_id}")
    return src.files[src.processes[process][0]]


def _calls(db: Database, src: _Sources, key: str) -> bool:
    """Whether the process calls `key`, directly or through the newest versions of what it calls."""
    seen, todo = {src.main}, [src]
    while todo:
        called = {m for text in todo.pop().files.values() for m in re.findall(r'calledElement="([^"]+)"', text)}
        if key in called:
            return True
        for other in called - seen:
            seen.add(other)
            try:
                todo.append(_sources(db, definitions.latest_id(db, other)))
            except NotFound:
                continue
    return False


def process_sources(db: Database, definition_id: int) -> list[tuple[str, str, str]]:
    """(process id, name, XML) of every process the definition's files hold, the main one first."""
    src = _sources(db, definition_id)
    order = [src.main, *sorted(p for p in src.processes if p != src.main)]
    return [(p, src.processes[p][1], src.files[src.processes[p][0]]) for p in order if p in src.processes]


def instance_diagrams(db: Database, instance_id: int) -> list[ProcessDiagram]:
    """The main process first, then each called process the case entered, in order of entry."""
    with db.read() as conn:
        row = conn.execute(select(instance_t.c.definition_id, instance_t.c.state)
                           .where(instance_t.c.id == instance_id)).first()
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        payloads = conn.execute(select(event_t.c.payload).where(event_t.c.instance_id == instance_id)
                                .order_by(event_t.c.seq)).scalars().all()
    definition = definitions.load(db, row.definition_id)
    wf = None
    if row.state:
        definition, wf = calls.restore(db, definition, row.state)
    return path_diagrams(db, definition, payloads, wf)


def path_diagrams(db: Database, definition: definitions.Definition, payloads: list[str],
                  wf: Any | None) -> list[ProcessDiagram]:
    """The path of event payloads (their trails, in order) and what `wf` has open, per process.

    Shared by the case page (all events, the stored state) and time travel (events up to one
    seq, the workflow replay rebuilt at that event).
    """
    src = _sources(db, definition.id, tuple(sorted(definition.called.values())))
    flow_ids: dict[tuple[str, str, str], str] = {}
    for f in definition.meta.get("flows", []):
        flow_ids.setdefault((f["process"], f["source"], f["target"]), f["id"])

    order: list[str] = [src.main]
    completed: dict[str, Counter[str]] = {}
    flows: dict[str, Counter[str]] = {}
    failed: dict[str, set[str]] = {}

    def seen(process: str) -> None:
        if process not in order:
            order.append(process)

    for text in payloads:
        trail = orjson.loads(text).get("trail") if '"trail"' in text else None
        for entry in trail or []:
            element, code = entry[0], entry[1]
            source = entry[2] if len(entry) > 2 else None
            process = entry[3] if len(entry) > 3 and entry[3] else src.main
            seen(process)
            if code == "c":
                completed.setdefault(process, Counter())[element] += 1
            elif code == "e":
                failed.setdefault(process, set()).add(element)
            if source is not None and code in ("c", "e"):
                flow = flow_ids.get((process, source, element))
                if flow:
                    flows.setdefault(process, Counter())[flow] += 1

    active: dict[str, list[str]] = {}
    waiting: dict[str, list[str]] = {}
    if wf is not None:
        for task in [*wf.tasks.values(), *(t for sp in wf.subprocesses.values() for t in sp.tasks.values())]:
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            process = task.workflow.spec.name
            if task.state & _ACTIVE:
                target = active
            elif task.state == TaskState.WAITING:
                target = waiting
            elif task.state == TaskState.ERROR:
                failed.setdefault(process, set()).add(bpmn_id)
                seen(process)
                continue
            else:
                continue
            seen(process)
            ids = target.setdefault(process, [])
            if bpmn_id not in ids:
                ids.append(bpmn_id)
                source = _bpmn_parent(task)  # the token that reached an open element took this flow
                flow = flow_ids.get((process, source, bpmn_id)) if source else None
                if flow and not flows.get(process, {}).get(flow):
                    flows.setdefault(process, Counter())[flow] += 1

    out = []
    for process in order:
        if process not in src.processes:
            continue
        file, name = src.processes[process]
        out.append(ProcessDiagram(process=process, name=name, file=file, xml=src.files[file],
                                  completed=dict(completed.get(process, {})),
                                  failed=sorted(failed.get(process, set())),
                                  active=active.get(process, []), waiting=waiting.get(process, []),
                                  flows=dict(flows.get(process, {}))))
    return out


def _bpmn_parent(task: Any) -> str | None:
    parent = task.parent
    while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None

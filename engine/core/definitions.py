"""Deployed process definitions: immutable versions, spec stored once, restored once per process.

Deploying identical content again returns the latest version unchanged (idempotent); changed
content becomes version + 1. Running instances keep the version they started on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from engine.core import clock, services
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import Conflict, DeployError, InvalidData, NotFound, Problem
from engine.core.models import definition_t, group_t


@dataclass(frozen=True)
class DeployResult:
    key: str
    version: int
    definition_id: int
    name: str
    created: bool

    def __str__(self) -> str:
        state = "deployed" if self.created else "unchanged"
        return f"{self.key} version {self.version} ({state})"


@dataclass
class TaskInfo:
    """What the work list needs to know about one task spec, read once at load time."""

    bpmn_id: str
    name: str
    process: str
    lane: str | None
    group: str | None
    form_schema: str | None
    form_ui_schema: str | None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Definition:
    id: int
    key: str
    version: int
    name: str
    checksum: str
    forms: dict[str, Any]
    meta: dict[str, Any]
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    tasks: dict[tuple[str, str], TaskInfo]
    validators: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict)  # lookups other modules build once per version
    called: dict[str, int] = field(default_factory=dict)  # merged: called key -> bound definition id

    def task_info(self, task: Any) -> TaskInfo:
        return self.tasks[(task.workflow.spec.name, task.task_spec.name)]


def collect_files(paths: list[Path]) -> dict[str, bytes]:
    """BPMN and DMN files named on the command line, directories expanded."""
    files: dict[str, bytes] = {}
    for path in paths:
        found = sorted(p for p in path.rglob("*") if p.suffix in (".bpmn", ".dmn")) if path.is_dir() else [path]
        if path.is_dir() and not found:
            raise DeployError([Problem(str(path), "no .bpmn or .dmn files in this directory")])
        for p in found:
            if not p.exists():
                raise DeployError([Problem(str(p), "no such file")])
            if p.name in files:
                raise DeployError([Problem(str(p), f"two files are named {p.name}; file names must be unique")])
            files[p.name] = p.read_bytes()
    return files


def group_names(db: Database) -> dict[str, str]:
    with db.read() as conn:
        return {r.code: r.name for r in conn.execute(select(group_t.c.code, group_t.c.name))}


def deploy_files(db: Database, files: dict[str, bytes], *, forms_dir: Path, actor: str = "system",
                 note: str = "", max_bytes: int = 5 * 1024 * 1024, require_note: bool = False) -> list[DeployResult]:
    """Validate the bundle, then store each executable process as a new version if it changed.

    With `require_note`, a bundle that would create a version is refused without a change note
    (the modeler and the API say why each version exists); re-deploying identical content is not.
    """
    from engine.core.validation.bundle import parse_bundle

    parsed = parse_bundle(files, forms_dir=forms_dir, groups=group_names(db),
                          operators=services.operators(), max_bytes=max_bytes)
    return store_versions(db, parsed, actor=actor, note=note, require_note=require_note)


def store_versions(db: Database, parsed: list[Any], *, actor: str, note: str,
                   require_note: bool = False) -> list[DeployResult]:
    """Store each parsed (validated) process as a new version if its content changed."""
    if require_note and not note.strip():
        latest = latest_checksums(db)
        if any(latest.get(proc.key, (0, ""))[1] != proc.checksum for proc in parsed):
            raise InvalidData("a change note is required to deploy a new version",
                              details={"note": ["写明这一版改了什么、为什么改 (a change note is required)"]})
    results = []
    for proc in parsed:
        results.append(_store(db, proc, actor, note))
    return results


def deploy_paths(db: Database, paths: list[Path], *, forms_dir: Path, actor: str = "system",
                 note: str = "", max_bytes: int = 5 * 1024 * 1024) -> list[DeployResult]:
    return deploy_files(db, collect_files(paths), forms_dir=forms_dir, actor=actor, note=note,
                        max_bytes=max_bytes)


def latest_checksums(db: Database) -> dict[str, tuple[int, str]]:
    """key -> (latest version, its checksum): whether a bundle would make a new version, and which."""
    with db.read() as conn:
        rows = conn.execute(select(definition_t.c.key, definition_t.c.version, definition_t.c.checksum)
                            .order_by(definition_t.c.key, definition_t.c.version)).all()
    return {r.key: (r.version, r.checksum) for r in rows}


def _store(db: Database, proc: Any, actor: str, note: str) -> DeployResult:
    meta = {"lanes": proc.lanes, "flows": proc.flows, "tasks": _task_meta(proc)}
    for _attempt in range(3):
        with db.write() as conn:
            latest = conn.execute(
                select(definition_t.c.id, definition_t.c.version, definition_t.c.checksum)
                .where(definition_t.c.key == proc.key)
                .order_by(definition_t.c.version.desc()).limit(1)).first()
            if latest is not None and latest.checksum == proc.checksum:
                return DeployResult(proc.key, latest.version, latest.id, proc.name, False)
            version = (latest.version if latest else 0) + 1
            try:
                new_id = conn.execute(insert(definition_t).values(
                    key=proc.key, version=version, checksum=proc.checksum, name=proc.name,
                    source_file=proc.source_file, sources=proc.sources, forms=proc.forms, meta=meta,
                    spec=CODEC.dump_specs(proc.spec, proc.subprocess_specs),
                    deployed_at=clock.now(), deployed_by=actor, note=note,
                ).returning(definition_t.c.id)).scalar_one()
            except IntegrityError:
                continue  # a concurrent deploy took this version number; look again
            return DeployResult(proc.key, version, new_id, proc.name, True)
    raise Conflict(f"could not deploy {proc.key}: concurrent deployments kept taking the version")


def _task_meta(proc: Any) -> dict[str, Any]:
    out = {}
    for spec in [proc.spec, *proc.subprocess_specs.values()]:
        for ts in spec.task_specs.values():
            if getattr(ts, "bpmn_id", None) is None:
                continue
            props = dict((getattr(ts, "extensions", None) or {}).get("properties", {}))
            out[f"{spec.name}:{ts.bpmn_id}"] = {
                "name": ts.bpmn_name or ts.bpmn_id, "lane": ts.lane,
                "type": type(ts).__name__, "properties": props,
            }
    return out


def load(db: Database, definition_id: int) -> Definition:
    """The definition with its spec objects, restored once and cached (specs are read-only)."""
    cache_key = ("definition", definition_id)
    found = db.cache.get(cache_key)
    if found is not None:
        return found
    with db.read() as conn:
        row = conn.execute(select(definition_t).where(definition_t.c.id == definition_id)).first()
    if row is None:
        raise NotFound(f"process definition {definition_id} does not exist")
    spec, subs = CODEC.load_specs(row.spec)
    lanes = row.meta.get("lanes", {})
    tasks: dict[tuple[str, str], TaskInfo] = {}
    for s in [spec, *subs.values()]:
        for ts in s.task_specs.values():
            props = dict((getattr(ts, "extensions", None) or {}).get("properties", {}))
            bpmn_id = getattr(ts, "bpmn_id", None)
            tasks[(s.name, ts.name)] = TaskInfo(
                bpmn_id=bpmn_id or ts.name,
                name=getattr(ts, "bpmn_name", None) or bpmn_id or ts.name,
                process=s.name, lane=getattr(ts, "lane", None),
                group=lanes.get(getattr(ts, "lane", None) or ""),
                form_schema=props.get("formJsonSchemaFilename"),
                form_ui_schema=props.get("formUiSchemaFilename"), properties=props)
    definition = Definition(id=row.id, key=row.key, version=row.version, name=row.name,
                            checksum=row.checksum, forms=row.forms, meta=row.meta, spec=spec,
                            subprocess_specs=subs, tasks=tasks)
    db.cache[cache_key] = definition
    return definition


def merged(base: Definition, called: list[Definition]) -> Definition:
    """`base` seen through the called versions one case bound: their tasks, forms, lanes and flows too.

    The called versions come first, so the caller's own forms win a name both use.
    """
    tasks: dict[tuple[str, str], TaskInfo] = {}
    forms: dict[str, Any] = {}
    lanes: dict[str, str] = {}
    flows: list[dict] = []
    subs = dict(base.subprocess_specs)
    for d in [*called, base]:
        tasks.update(d.tasks)
        forms.update(d.forms)
        lanes.update(d.meta.get("lanes", {}))
        flows.extend(d.meta.get("flows", []))
    for d in called:
        subs.update(d.subprocess_specs)
        subs[d.key] = d.spec
    meta = {**base.meta, "lanes": lanes, "flows": flows,
            "tasks": {k: v for d in [*called, base] for k, v in d.meta.get("tasks", {}).items()}}
    return Definition(id=base.id, key=base.key, version=base.version, name=base.name, checksum=base.checksum,
                      forms=forms, meta=meta, spec=base.spec, subprocess_specs=subs, tasks=tasks,
                      called={d.key: d.id for d in called})


def latest_ids(db: Database) -> dict[str, int]:
    """key -> id of its newest version, in one statement (a command binding several calls reads it once)."""
    newest = (select(definition_t.c.key, func.max(definition_t.c.version).label("v"))
              .group_by(definition_t.c.key).subquery())
    with db.read() as conn:
        rows = conn.execute(select(definition_t.c.key, definition_t.c.id).join(
            newest, (newest.c.key == definition_t.c.key) & (newest.c.v == definition_t.c.version))).all()
    return {r.key: r.id for r in rows}


def latest_id(db: Database, key: str, version: int | None = None) -> int:
    with db.read() as conn:
        q = select(definition_t.c.id).where(definition_t.c.key == key)
        if version is not None:
            q = q.where(definition_t.c.version == version)
        else:
            q = q.order_by(definition_t.c.version.desc()).limit(1)
        found = conn.execute(q).scalar()
    if found is None:
        what = f"version {version} of " if version else ""
        raise NotFound(f"no {what}process '{key}' is deployed")
    return found


@dataclass
class DefinitionSummary:
    id: int
    key: str
    version: int
    name: str
    deployed_at: dt.datetime
    deployed_by: str
    note: str


def list_definitions(db: Database, *, latest_only: bool = False) -> list[DefinitionSummary]:
    cols = (definition_t.c.id, definition_t.c.key, definition_t.c.version, definition_t.c.name,
            definition_t.c.deployed_at, definition_t.c.deployed_by, definition_t.c.note)
    q = select(*cols)
    if latest_only:
        newest = (select(definition_t.c.key, func.max(definition_t.c.version).label("v"))
                  .group_by(definition_t.c.key).subquery())
        q = q.join(newest, (newest.c.key == definition_t.c.key) & (newest.c.v == definition_t.c.version))
    with db.read() as conn:
        rows = conn.execute(q.order_by(definition_t.c.key, definition_t.c.version)).all()
    return [DefinitionSummary(*r) for r in rows]

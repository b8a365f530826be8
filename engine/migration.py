"""Moving running cases to a new version of their process, and comparing versions.

Analysts change the diagram; cases already running stay on their version unless someone moves
them. `check` (the dry run) says for each case whether it can move and why not; `migrate` moves
it as one engine command with an `instance_migrated` event naming both versions and the analyst;
`revert` moves it back while nothing else has happened on it since. The alignment of old and new
elements is SpiffWorkflow's (`SpecDiff`: by BPMN id, then by position in the flow).

A case cannot move when: it has ended; an element it is at now (a ready or waiting task, or an
active call activity's process) does not exist in the new version; or a subprocess it is inside
was dropped from the new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from sqlalchemy import func, select, update

from engine import definitions, history
from engine.codec import CODEC
from engine.db import Database
from engine.errors import InvalidState, NotFound
from engine.models import definition_t, instance_t, work_item_t

_OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass
class ElementChange:
    process: str
    element: str
    name: str
    change: str  # added | removed | changed
    fields: list[str] = field(default_factory=list)


@dataclass
class VersionDiff:
    key: str
    from_version: int
    to_version: int
    changes: list[ElementChange]
    running: dict[int, int]

    def by_kind(self, kind: str) -> list[str]:
        return sorted(c.element for c in self.changes if c.change == kind)


def _bpmn(spec: Any) -> str | None:
    return getattr(spec, "bpmn_id", None)


def _spec_changes(process: str, original: Any, new: Any) -> list[ElementChange]:
    """What an analyst sees as changed: elements compared by BPMN id (a new id is an added step,
    even where SpiffWorkflow's migration would align it with an old one by position)."""
    old = {_bpmn(ts): ts for ts in original.task_specs.values() if _bpmn(ts)}
    now = {_bpmn(ts): ts for ts in new.task_specs.values() if _bpmn(ts)}
    out = [ElementChange(process, i, now[i].bpmn_name or i, "added") for i in sorted(set(now) - set(old))]
    out += [ElementChange(process, i, old[i].bpmn_name or i, "removed") for i in sorted(set(old) - set(now))]
    for i in sorted(set(old) & set(now)):
        a, b = CODEC.registry.convert(old[i]), CODEC.registry.convert(now[i])
        fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if fields:
            out.append(ElementChange(process, i, now[i].bpmn_name or i, "changed", fields))
    return out


def diff_versions(db: Database, key: str, from_version: int, to_version: int) -> VersionDiff:
    """Elements added, removed and changed between two versions of a process, and who runs where."""
    old = definitions.load(db, definitions.latest_id(db, key, from_version))
    new = definitions.load(db, definitions.latest_id(db, key, to_version))
    changes = _spec_changes(key, old.spec, new.spec)
    for name, spec in old.subprocess_specs.items():
        if name in new.subprocess_specs:
            changes += _spec_changes(name, spec, new.subprocess_specs[name])
    return VersionDiff(key, from_version, to_version, changes, running_counts(db, key))


def running_counts(db: Database, key: str) -> dict[int, int]:
    """Cases not yet ended, per version of the process."""
    with db.read() as conn:
        rows = conn.execute(select(definition_t.c.version, func.count()).join(
            instance_t, instance_t.c.definition_id == definition_t.c.id).where(
            definition_t.c.key == key, instance_t.c.status.notin_(("completed", "cancelled")))
            .group_by(definition_t.c.version)).all()
    return {v: n for v, n in rows}


@dataclass
class MigrationCheck:
    instance_id: int
    can_migrate: bool
    from_version: int
    to_version: int
    reasons: list[str] = field(default_factory=list)


def _blockers(wf: Any, new: definitions.Definition) -> list[str]:
    top, subs = diff_workflow(CODEC.registry, wf, new.spec, new.subprocess_specs)
    reasons = []
    for task in top.removed:
        if task.has_state(_OPEN) and _bpmn(task.task_spec):
            reasons.append(f"its current step '{task.task_spec.bpmn_name or _bpmn(task.task_spec)}' "
                           f"({_bpmn(task.task_spec)}) is not in the new version")
    for sp_id, sp_diff in subs.items():
        sp = wf.subprocesses[sp_id]
        if sp_diff is None:
            if not sp.completed:
                reasons.append(f"it is inside '{sp.spec.name}', which the new version no longer calls")
            continue
        for task in sp_diff.removed:
            if task.has_state(_OPEN) and _bpmn(task.task_spec):
                reasons.append(f"its current step '{task.task_spec.bpmn_name or _bpmn(task.task_spec)}' "
                               f"in '{sp.spec.name}' is not in the new version")
    return reasons


def check(db: Database, instance_ids: list[int], to_version: int | None = None) -> list[MigrationCheck]:
    """The dry run: which cases can move to `to_version` (default: the latest) and why not."""
    from engine.runtime import _load_for_command

    out = []
    for iid in instance_ids:
        row, current, wf = _load_for_command(db, iid)
        target = definitions.load(db, definitions.latest_id(db, current.key, to_version))
        result = MigrationCheck(iid, False, current.version, target.version)
        if row.status in ("completed", "cancelled"):
            result.reasons.append(f"the case has ended ({row.status})")
        elif target.id == current.id:
            result.reasons.append(f"the case is already on version {target.version}")
        else:
            result.reasons = _blockers(wf, target)
        result.can_migrate = not result.reasons
        out.append(result)
    return out


def _move(wf: Any, target: definitions.Definition) -> list[str]:
    """Re-point every task at the new version's specs; returns the ids of dropped tasks."""
    top, subs = diff_workflow(CODEC.registry, wf, target.spec, target.subprocess_specs)
    dropped = migrate_workflow(top, wf, target.spec)
    for sp_id, sp_diff in subs.items():
        if sp_diff is not None:
            sp = wf.subprocesses[sp_id]
            dropped += migrate_workflow(sp_diff, sp, target.subprocess_specs[sp.spec.name])
    wf.subprocess_specs = dict(target.subprocess_specs)
    return [str(t.id) for t in dropped]


def migrate(db: Database, instance_id: int, to_version: int | None = None, *, actor: str,
            note: str = "") -> Any:
    """Move one case to another version of its process (one command, one audit event)."""
    from engine.runtime import _load_for_command

    with db.session():
        row, current, wf = _load_for_command(db, instance_id)
        target = definitions.load(db, definitions.latest_id(db, current.key, to_version))
        [verdict] = check(db, [instance_id], target.version)
        if not verdict.can_migrate:
            raise InvalidState(f"case {instance_id} cannot move to version {target.version}: "
                               + "; ".join(verdict.reasons), details=verdict.reasons)
        return _migrate_command(db, row, wf, current, target, actor=actor, note=note, event="instance_migrated")


def _migrate_command(db: Database, row: Any, wf: Any, current: definitions.Definition,
                     target: definitions.Definition, *, actor: str, note: str, event: str) -> Any:
    from engine.history import NewEvent
    from engine.runtime import Step, _save

    step = Step(db, current, wf, instance_id=row.id, business_key=row.business_key)
    dropped = _move(wf, target)
    step.definition = target
    step.advance()
    primary = NewEvent(event, step.now, actor=actor, payload={
        "from_definition_id": current.id, "from_version": current.version,
        "to_definition_id": target.id, "to_version": target.version, "dropped_tasks": dropped, "note": note})
    with db.write() as conn:
        outcome = _save(db, step, row, primary)
        conn.execute(update(instance_t).where(instance_t.c.id == row.id).values(definition_id=target.id))
        for item_id, task in step.scan().ready.items():  # names, lanes and forms may differ in the new version
            info = target.task_info(task)
            conn.execute(update(work_item_t).where(work_item_t.c.id == item_id, work_item_t.c.status == "open")
                         .values(name=info.name, task_spec=info.bpmn_id, lane=info.lane, candidate_group=info.group,
                                 form_schema=info.form_schema, form_ui_schema=info.form_ui_schema))
    return outcome


def revert(db: Database, instance_id: int, *, actor: str) -> Any:
    """Undo the last migration while nothing has happened on the case since."""
    from engine.runtime import _load_for_command

    with db.session(), db.read() as conn:
        last = conn.execute(select(history.event_t).where(history.event_t.c.instance_id == instance_id)
                            .order_by(history.event_t.c.seq.desc()).limit(1)).first()
    if last is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    if last.type != "instance_migrated":
        raise InvalidState("the case has moved on since it was migrated (or never was); it cannot be reverted")
    payload = history.payload_of(last)
    with db.session():
        row, current, wf = _load_for_command(db, instance_id)
        previous = definitions.load(db, payload["from_definition_id"])
        reasons = _blockers(wf, previous)
        if reasons:
            raise InvalidState("cannot revert: " + "; ".join(reasons), details=reasons)
        return _migrate_command(db, row, wf, current, previous, actor=actor, note=f"revert of event {last.seq}",
                                event="instance_migration_reverted")

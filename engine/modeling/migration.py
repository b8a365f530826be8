"""Moving running cases to a new version of their process, and comparing versions.

Analysts change the diagram; cases already running stay on their version unless someone moves
them. `check` (the dry run) says for each case whether it can move and why not; `migrate` moves
it as one engine command with an `instance_migrated` event naming both versions and the analyst;
`revert` moves it back while nothing else has happened on it since. The alignment of old and new
elements is SpiffWorkflow's (`SpecDiff`: by BPMN id, then by position in the flow).

A case cannot move when: it has ended; it is already on the target version; an element it is at
now (a ready or waiting task, or an active call activity's process) does not exist in the new
version; or a subprocess it is inside was dropped from the new version.

What moving does to a case: open work items take the new version's name, lane/group and forms;
a timer the case already waits on is re-evaluated with the new expression, counted from the
migration (its old row is dropped); SLA clocks already running keep the limit they froze when the
step opened (a changed `slaKey` applies from the next step that opens).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from sqlalchemy import delete, func, select, update

from engine.core import calls, definitions, history, store
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import InvalidState, NotFound
from engine.core.models import definition_t, instance_t, timer_t, work_item_t
from engine.core.step import CLOCK_TIMER, Step, waiting_timers

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
    top, subs = diff_workflow(CODEC.registry, wf, new.spec, _target_specs(wf, new))
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
    out = []
    for iid in instance_ids:
        row, current, wf = store.load(db, iid)
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


def _target_specs(wf: Any, target: definitions.Definition) -> dict[str, Any]:
    """The target's own subprocess specs, with the called versions the case bound kept as they are."""
    specs = dict(target.subprocess_specs)
    for key in calls.bindings_of(wf):
        specs[key] = dict.__getitem__(wf.subprocess_specs, key)
    return specs


def _move(wf: Any, target: definitions.Definition) -> list[str]:
    """Re-point every task at the new version's specs; returns the ids of dropped tasks."""
    specs = _target_specs(wf, target)
    top, subs = diff_workflow(CODEC.registry, wf, target.spec, specs)
    dropped = migrate_workflow(top, wf, target.spec)
    for sp_id, sp_diff in subs.items():
        if sp_diff is not None:
            sp = wf.subprocesses[sp_id]
            dropped += migrate_workflow(sp_diff, sp, specs[sp.spec.name])
    if isinstance(wf.subprocess_specs, calls.CalledSpecs):
        wf.subprocess_specs.top = target.spec
        wf.subprocess_specs.update(specs)
    else:
        wf.subprocess_specs = specs
    return [str(t.id) for t in dropped]


def migrate(db: Database, instance_id: int, to_version: int | None = None, *, actor: str,
            note: str = "") -> Any:
    """Move one case to another version of its process (one command, one audit event)."""
    with db.session():
        row, current, wf = store.load(db, instance_id)
        target = definitions.load(db, definitions.latest_id(db, current.key, to_version))
        [verdict] = check(db, [instance_id], target.version)
        if not verdict.can_migrate:
            raise InvalidState(f"case {instance_id} cannot move to version {target.version}: "
                               + "; ".join(verdict.reasons), details=verdict.reasons)
        return _migrate_command(db, row, wf, current, target, actor=actor, note=note, event="instance_migrated")


def _migrate_command(db: Database, row: Any, wf: Any, current: definitions.Definition,
                     target: definitions.Definition, *, actor: str, note: str, event: str) -> Any:
    from engine.core.history import NewEvent

    step = Step(db, current, wf, instance_id=row.id, business_key=row.business_key)
    dropped = _move(wf, target)
    step.definition = target
    step.advance()
    primary = NewEvent(event, step.now, actor=actor, payload={
        "from_definition_id": current.id, "from_version": current.version,
        "to_definition_id": target.id, "to_version": target.version, "dropped_tasks": dropped, "note": note})
    with db.write() as conn:
        outcome = store.save(db, step, row, primary)
        conn.execute(update(instance_t).where(instance_t.c.id == row.id).values(definition_id=target.id))
        _drop_stale_timers(conn, row.id, wf)
        for item_id, task in step.scan().ready.items():  # names, lanes and forms may differ in the new version
            info = target.task_info(task)
            conn.execute(update(work_item_t).where(work_item_t.c.id == item_id, work_item_t.c.status == "open")
                         .values(name=info.name, task_spec=info.bpmn_id, lane=info.lane, candidate_group=info.group,
                                 form_schema=info.form_schema, form_ui_schema=info.form_ui_schema))
    return outcome


def _drop_stale_timers(conn: Any, instance_id: int, wf: Any) -> None:
    """A timer the case waits on is re-evaluated against the new version (a changed expression gives
    a new due time, counted from the migration); the row with the old due time must go, or the
    scheduler would wake the case for nothing."""
    waiting = waiting_timers(wf)
    rows = conn.execute(select(timer_t.c.id, timer_t.c.task_id, timer_t.c.due_at).where(
        timer_t.c.instance_id == instance_id, timer_t.c.purpose == CLOCK_TIMER, timer_t.c.fired_at.is_(None))).all()
    stale = [r.id for r in rows if waiting.get(r.task_id) != _utc(r.due_at)]
    if stale:
        conn.execute(delete(timer_t).where(timer_t.c.id.in_(stale)))


def _utc(value: Any) -> Any:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc) if value is not None else None


def revert(db: Database, instance_id: int, *, actor: str) -> Any:
    """Undo the last migration while nothing has happened on the case since."""
    with db.session(), db.read() as conn:
        last = conn.execute(select(history.event_t).where(history.event_t.c.instance_id == instance_id)
                            .order_by(history.event_t.c.seq.desc()).limit(1)).first()
    if last is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    if last.type != "instance_migrated":
        raise InvalidState("the case has moved on since it was migrated (or never was); it cannot be reverted")
    payload = history.payload_of(last)
    with db.session():
        row, current, wf = store.load(db, instance_id)
        previous = definitions.load(db, payload["from_definition_id"])
        reasons = _blockers(wf, previous)
        if reasons:
            raise InvalidState("cannot revert: " + "; ".join(reasons), details=reasons)
        return _migrate_command(db, row, wf, current, previous, actor=actor, note=f"revert of event {last.seq}",
                                event="instance_migration_reverted")


# ------------------------------------------------------------------------------------------------
# what the modeler's pages need: versions with counts, choosing cases, moving many


@dataclass
class VersionInfo:
    id: int
    key: str
    version: int
    name: str
    deployed_at: Any
    deployed_by: str
    note: str
    running: int


def versions(db: Database, key: str) -> list[VersionInfo]:
    """Every version of `key`, newest first, with who deployed it, when, why, and its running cases."""
    counts = running_counts(db, key)
    found = [d for d in definitions.list_definitions(db) if d.key == key]
    if not found:
        raise NotFound(f"no process '{key}' is deployed")
    return [VersionInfo(d.id, d.key, d.version, d.name, d.deployed_at, d.deployed_by, d.note, counts.get(d.version, 0))
            for d in sorted(found, key=lambda d: d.version, reverse=True)]


def select_instances(db: Database, key: str, from_version: int, *, ids: list[int] | None = None,
                     status: str | None = None, at_step: str | None = None, query: str | None = None,
                     limit: int = 1000) -> list[int]:
    """Cases of `key` on `from_version` that have not ended: the given ids, or those matching a filter
    (status, an open step, application number / customer), or all of them."""
    from sqlalchemy import or_

    q = (select(instance_t.c.id).join(definition_t, definition_t.c.id == instance_t.c.definition_id)
         .where(definition_t.c.key == key, definition_t.c.version == from_version,
                instance_t.c.status.notin_(("completed", "cancelled"))))
    if ids is not None:
        q = q.where(instance_t.c.id.in_(ids))
    if status:
        q = q.where(instance_t.c.status == status)
    if query:
        like = f"%{query.strip()}%"
        q = q.where(or_(instance_t.c.business_key.like(like), instance_t.c.customer_name.like(like)))
    if at_step:
        q = q.where(instance_t.c.id.in_(select(work_item_t.c.instance_id).where(
            work_item_t.c.task_spec == at_step, work_item_t.c.status == "open")))
    with db.read() as conn:
        return list(conn.execute(q.order_by(instance_t.c.id).limit(limit)).scalars())


@dataclass
class MigrationResult:
    instance_id: int
    migrated: bool
    from_version: int
    to_version: int
    reasons: list[str] = field(default_factory=list)


def migrate_many(db: Database, instance_ids: list[int], to_version: int | None = None, *, actor: str,
                 note: str = "") -> list[MigrationResult]:
    """Move each case that can move (one command and one audit event each); report the others with
    their reasons. A case that changed between the dry run and now is re-checked, not forced."""
    out = []
    for verdict in check(db, instance_ids, to_version):
        result = MigrationResult(verdict.instance_id, False, verdict.from_version, verdict.to_version,
                                 list(verdict.reasons))
        if verdict.can_migrate:
            try:
                migrate(db, verdict.instance_id, verdict.to_version, actor=actor, note=note)
                result.migrated = True
            except (InvalidState, NotFound) as exc:
                result.reasons = list(exc.details or [exc.message]) if isinstance(exc.details, list) else [exc.message]
        out.append(result)
    return out


def last_migration(db: Database, instance_id: int) -> dict[str, Any] | None:
    """The case's last event if it is a migration (then it can still be reverted), else None."""
    with db.read() as conn:
        last = conn.execute(select(history.event_t).where(history.event_t.c.instance_id == instance_id)
                            .order_by(history.event_t.c.seq.desc()).limit(1)).first()
    if last is None or last.type != "instance_migrated":
        return None
    return {"seq": last.seq, "at": last.at, "actor": last.actor, **history.payload_of(last)}


@dataclass
class RunningCase:
    id: int
    business_key: str | None
    customer_name: str | None
    status: str
    started_at: Any
    steps: list[tuple[str, str]]  # (BPMN id, name) of the open work items


def running_cases(db: Database, key: str, version: int, *, limit: int = 500) -> list[RunningCase]:
    """Cases on one version that have not ended, with their open steps (for choosing what to migrate)."""
    ids = select_instances(db, key, version, limit=limit)
    if not ids:
        return []
    with db.read() as conn:
        rows = conn.execute(select(instance_t.c.id, instance_t.c.business_key, instance_t.c.customer_name,
                                   instance_t.c.status, instance_t.c.started_at)
                            .where(instance_t.c.id.in_(ids)).order_by(instance_t.c.id)).all()
        items = conn.execute(select(work_item_t.c.instance_id, work_item_t.c.task_spec, work_item_t.c.name)
                             .where(work_item_t.c.instance_id.in_(ids), work_item_t.c.status == "open")
                             .order_by(work_item_t.c.created_at)).all()
    steps: dict[int, list[tuple[str, str]]] = {}
    for item in items:
        steps.setdefault(item.instance_id, []).append((item.task_spec, item.name))
    return [RunningCase(r.id, r.business_key, r.customer_name, r.status, r.started_at, steps.get(r.id, []))
            for r in rows]

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

Called processes (`engine.core.calls`) are versions of their own: a case *inside* a called
process (say design_review, called from hv_project) runs the version it bound when the call
started. Counting, choosing, the dry run, moving and reverting by the called key work on those
cases the same way: only that called process's tasks are re-pointed, the case's main version and
its other bindings stay, and the event names the called key (`called_key`) so replay moves the
same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, diff_workflow, migrate_workflow
from sqlalchemy import and_, delete, func, or_, select, update

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
    kind: str = "element"  # element | flow (a sequence flow) | form (a form file; `element` is its name)


@dataclass
class VersionDiff:
    key: str
    from_version: int
    to_version: int
    changes: list[ElementChange]
    running: dict[int, int]

    def by_kind(self, kind: str, of: str = "element") -> list[str]:
        """Flow nodes with that change (flows and forms: `by_kind(..., "flow")` / `"form"`)."""
        return sorted(c.element for c in self.changes if c.change == kind and c.kind == of)


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
    changes += _flow_changes(_flows(db, old.id), _flows(db, new.id))
    changes += _form_changes(old.forms, new.forms)
    return VersionDiff(key, from_version, to_version, changes, running_counts(db, key))


_FLOW_XPATH = "//*[local-name()='sequenceFlow']"


def _flows(db: Database, definition_id: int) -> dict[str, dict[str, Any]]:
    """The sequence flows of a version's own BPMN file: id -> process, name, source, target, condition
    (SpiffWorkflow keeps no flow objects, so the diff reads the deployed file)."""
    from engine.modeling.called import own_files

    files, _forms = own_files(db, definition_id)
    out: dict[str, dict[str, Any]] = {}
    for name, text in files.items():
        root = _xml(text) if name.lower().endswith((".bpmn", ".xml")) else None
        for flow in root.xpath(_FLOW_XPATH) if root is not None else []:
            cond = flow.xpath("./*[local-name()='conditionExpression']/text()")
            parent = flow.getparent()
            out[flow.get("id") or ""] = {"process": parent.get("id") if parent is not None else "",
                                         "name": flow.get("name") or "", "source": flow.get("sourceRef") or "",
                                         "target": flow.get("targetRef") or "",
                                         "condition": (cond[0].strip() if cond else "")}
    return out


def _xml(text: str) -> Any:
    from lxml import etree

    try:
        return etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


def _flow_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[ElementChange]:
    def label(f: dict[str, Any]) -> str:
        return f["name"] or f"{f['source']} → {f['target']}"

    out = [ElementChange(new[i]["process"], i, label(new[i]), "added", kind="flow") for i in sorted(set(new) - set(old))]
    out += [ElementChange(old[i]["process"], i, label(old[i]), "removed", kind="flow") for i in sorted(set(old) - set(new))]
    for i in sorted(set(old) & set(new)):
        fields = [k for k in ("name", "source", "target", "condition") if old[i][k] != new[i][k]]
        if fields:
            out.append(ElementChange(new[i]["process"], i, label(new[i]), "changed", fields, kind="flow"))
    return out


def _form_changes(old: dict[str, Any], new: dict[str, Any]) -> list[ElementChange]:
    """Form files added, removed or changed (top-level keys that differ, `properties` by field name)."""
    out = [ElementChange("", n, n, "added", kind="form") for n in sorted(set(new) - set(old))]
    out += [ElementChange("", n, n, "removed", kind="form") for n in sorted(set(old) - set(new))]
    for n in sorted(set(old) & set(new)):
        a, b = old[n], new[n]
        if a == b:
            continue
        fields = ["…"]
        if isinstance(a, dict) and isinstance(b, dict):
            fields = sorted(k for k in set(a) | set(b) if k != "properties" and a.get(k) != b.get(k))
            pa, pb = a.get("properties") or {}, b.get("properties") or {}
            if isinstance(pa, dict) and isinstance(pb, dict):
                fields += [f"properties.{k}" for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
        out.append(ElementChange("", n, n, "changed", fields, kind="form"))
    return out


def running_counts(db: Database, key: str, inside: dict[int, int] | None = None) -> dict[int, int]:
    """Cases not yet ended, per version of the process: started on it, or inside it as a called process."""
    with db.read() as conn:
        rows = conn.execute(select(definition_t.c.version, func.count()).join(
            instance_t, instance_t.c.definition_id == definition_t.c.id).where(
            definition_t.c.key == key, instance_t.c.status.notin_(_ENDED))
            .group_by(definition_t.c.version)).all()
    counts = {v: n for v, n in rows}
    by_id = _version_ids(db, key)
    for definition_id in (called_cases(db, key) if inside is None else inside).values():
        if definition_id in by_id:
            counts[by_id[definition_id]] = counts.get(by_id[definition_id], 0) + 1
    return counts


_ENDED = ("completed", "cancelled")


def _version_ids(db: Database, key: str) -> dict[int, int]:
    """definition id -> version number, for every version of `key`."""
    with db.read() as conn:
        return dict(conn.execute(select(definition_t.c.id, definition_t.c.version).where(definition_t.c.key == key)).all())


def called_cases_all(db: Database) -> dict[str, dict[int, int]]:
    """For every called key: the cases not yet ended that are inside it now (instance id -> the
    definition id of the version they bound). The bindings live in the stored state, read without
    restoring the workflow; one pass serves every key (the modeler's index)."""
    with db.read() as conn:
        rows = conn.execute(select(instance_t.c.id, instance_t.c.state)
                            .where(instance_t.c.status.notin_(_ENDED))).all()
    out: dict[str, dict[int, int]] = {}
    for row in rows:
        try:
            bound, inside = CODEC.called_inside(row.state)
        except Exception:  # noqa: BLE001 — an empty or unreadable state is inside nothing; the page must still show
            continue
        for key in inside & set(bound):
            out.setdefault(key, {})[row.id] = int(bound[key])
    return out


def called_cases(db: Database, key: str) -> dict[int, int]:
    """Cases not yet ended that are inside called process `key` now -> the definition id they bound."""
    return called_cases_all(db).get(key, {})


@dataclass
class MigrationCheck:
    instance_id: int
    can_migrate: bool
    from_version: int
    to_version: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """One case's move: the specs it will run on and what to record."""

    main: definitions.Definition  # the case's main version after the move
    top: Any  # spec of the top-level workflow
    specs: dict[str, Any]  # subprocess specs after the move
    from_id: int  # the moved process's definition ids and versions (main or called)
    to_id: int
    from_version: int
    to_version: int
    called_key: str | None = None  # set when the move is of a called process


def _plan(db: Database, wf: Any, current: definitions.Definition, key: str | None,
          to_version: int | None = None, to_id: int | None = None) -> _Plan:
    """The move of the case's main process (`key` None or its own key) or of the called process `key`."""
    if key is None or key == current.key:
        target = definitions.load(db, to_id if to_id is not None else definitions.latest_id(db, current.key, to_version))
        return _Plan(target, target.spec, _target_specs(wf, target), current.id, target.id, current.version,
                     target.version)
    bound = calls.bindings_of(wf).get(key)
    if bound is None:
        raise InvalidState(f"the case has not entered the called process '{key}'")
    called = definitions.load(db, to_id if to_id is not None else definitions.latest_id(db, key, to_version))
    if called.key != key:
        raise InvalidState(f"definition {called.id} is not a version of '{key}'")
    specs = {name: dict.__getitem__(wf.subprocess_specs, name) for name in dict.keys(wf.subprocess_specs)}
    for sub, spec in called.subprocess_specs.items():  # versions deployed before bindings carry copies
        specs.setdefault(sub, spec)
    specs[key] = called.spec
    return _Plan(definitions.load(db, current.id), wf.spec, specs, bound, called.id,
                 definitions.load(db, bound).version, called.version, key)


def _diffs(wf: Any, plan: _Plan) -> tuple[Any, dict[str, Any]]:
    """The workflow diffs of a move: of the whole case, or only of the called process's subworkflows."""
    if plan.called_key is None:
        return diff_workflow(CODEC.registry, wf, plan.top, plan.specs)
    spec = plan.specs[plan.called_key]
    return None, {sp_id: WorkflowDiff(sp, SpecDiff(CODEC.registry, sp.spec, spec))
                  for sp_id, sp in wf.subprocesses.items() if sp.spec.name == plan.called_key}


def _blockers(wf: Any, plan: _Plan) -> list[str]:
    top, subs = _diffs(wf, plan)
    reasons = []
    for task in top.removed if top is not None else []:
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


def check(db: Database, instance_ids: list[int], to_version: int | None = None, *,
          key: str | None = None) -> list[MigrationCheck]:
    """The dry run: which cases can move to `to_version` (default: the latest) and why not. With
    `key` naming a process the cases call, the move is of that called process."""
    out = []
    for iid in instance_ids:
        row, current, wf = store.load(db, iid)
        try:
            plan = _plan(db, wf, current, key, to_version)
        except InvalidState as exc:
            out.append(MigrationCheck(iid, False, 0, to_version or 0, [exc.message]))
            continue
        result = MigrationCheck(iid, False, plan.from_version, plan.to_version)
        if row.status in _ENDED:
            result.reasons.append(f"the case has ended ({row.status})")
        elif plan.to_id == plan.from_id:
            result.reasons.append(f"the case is already on version {plan.to_version}")
        else:
            result.reasons = _blockers(wf, plan)
        result.can_migrate = not result.reasons
        out.append(result)
    return out


def _target_specs(wf: Any, target: definitions.Definition) -> dict[str, Any]:
    """The target's own subprocess specs, with the called versions the case bound kept as they are."""
    specs = dict(target.subprocess_specs)
    for key in calls.bindings_of(wf):
        specs[key] = dict.__getitem__(wf.subprocess_specs, key)
    return specs


def _move(wf: Any, plan: _Plan) -> list[str]:
    """Re-point every task at the new version's specs; returns the ids of dropped tasks."""
    top, subs = _diffs(wf, plan)
    dropped = migrate_workflow(top, wf, plan.top) if top is not None else []
    for sp_id, sp_diff in subs.items():
        if sp_diff is not None:
            sp = wf.subprocesses[sp_id]
            dropped += migrate_workflow(sp_diff, sp, plan.specs[sp.spec.name])
    if isinstance(wf.subprocess_specs, calls.CalledSpecs):
        wf.subprocess_specs.top = plan.top
        wf.subprocess_specs.update(plan.specs)
        if plan.called_key is not None:
            wf.subprocess_specs.bindings[plan.called_key] = plan.to_id
    else:
        wf.subprocess_specs = plan.specs
    return [str(t.id) for t in dropped]


def replay_move(db: Database, step: Step, payload: dict[str, Any]) -> definitions.Definition:
    """Replay: move the workflow as the recorded migration event did; returns the main version."""
    plan = _plan(db, step.wf, step.definition, payload.get("called_key"), to_id=payload["to_definition_id"])
    _move(step.wf, plan)
    step.definition = plan.main
    step.advance()
    return plan.main


def migrate(db: Database, instance_id: int, to_version: int | None = None, *, actor: str,
            note: str = "", key: str | None = None) -> Any:
    """Move one case to another version of its process, or of the called process `key` it is
    inside (one command, one audit event)."""
    with db.session():
        row, current, wf = store.load(db, instance_id)
        plan = _plan(db, wf, current, key, to_version)
        [verdict] = check(db, [instance_id], plan.to_version, key=key)
        if not verdict.can_migrate:
            raise InvalidState(f"case {instance_id} cannot move to version {plan.to_version}: "
                               + "; ".join(verdict.reasons), details=verdict.reasons)
        return _migrate_command(db, row, wf, current, plan, actor=actor, note=note, event="instance_migrated")


def _migrate_command(db: Database, row: Any, wf: Any, current: definitions.Definition, plan: _Plan, *,
                     actor: str, note: str, event: str) -> Any:
    from engine.core.history import NewEvent

    step = Step(db, current, wf, instance_id=row.id, business_key=row.business_key)
    dropped = _move(wf, plan)
    step.definition = plan.main
    step.advance()
    payload = {"from_definition_id": plan.from_id, "from_version": plan.from_version,
               "to_definition_id": plan.to_id, "to_version": plan.to_version, "dropped_tasks": dropped, "note": note}
    if plan.called_key is not None:
        payload["called_key"] = plan.called_key
        payload["called_name"] = definitions.load(db, plan.to_id).name
    primary = NewEvent(event, step.now, actor=actor, payload=payload)
    with db.write() as conn:
        outcome = store.save(db, step, row, primary)
        if plan.called_key is None:
            conn.execute(update(instance_t).where(instance_t.c.id == row.id).values(definition_id=plan.main.id))
        _drop_stale_timers(conn, row.id, wf)
        for item_id, task in step.scan().ready.items():  # names, lanes and forms may differ in the new version
            info = step.definition.task_info(task)
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
        plan = _plan(db, wf, current, payload.get("called_key"), to_id=payload["from_definition_id"])
        reasons = _blockers(wf, plan)
        if reasons:
            raise InvalidState("cannot revert: " + "; ".join(reasons), details=reasons)
        return _migrate_command(db, row, wf, current, plan, actor=actor, note=f"revert of event {last.seq}",
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


def versions(db: Database, key: str, inside: dict[int, int] | None = None) -> list[VersionInfo]:
    """Every version of `key`, newest first, with who deployed it, when, why, and its running cases
    (those inside it as a called process included; `inside` from `called_cases_all` saves a pass)."""
    counts = running_counts(db, key, inside)
    found = [d for d in definitions.list_definitions(db) if d.key == key]
    if not found:
        raise NotFound(f"no process '{key}' is deployed")
    return [VersionInfo(d.id, d.key, d.version, d.name, d.deployed_at, d.deployed_by, d.note, counts.get(d.version, 0))
            for d in sorted(found, key=lambda d: d.version, reverse=True)]


def select_instances(db: Database, key: str, from_version: int, *, ids: list[int] | None = None,
                     status: str | None = None, at_step: str | None = None, query: str | None = None,
                     limit: int = 1000) -> list[int]:
    """Cases of `key` on `from_version` that have not ended: the given ids, or those matching a filter
    (status, an open step, application number / customer), or all of them. Cases inside `key` as
    a called process on that version count as its cases."""
    by_id = _version_ids(db, key)
    inside = [iid for iid, did in called_cases(db, key).items() if by_id.get(did) == from_version]
    q = (select(instance_t.c.id).join(definition_t, definition_t.c.id == instance_t.c.definition_id)
         .where(instance_t.c.status.notin_(_ENDED),
                or_(and_(definition_t.c.key == key, definition_t.c.version == from_version),
                    instance_t.c.id.in_(inside))))
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
                 note: str = "", key: str | None = None) -> list[MigrationResult]:
    """Move each case that can move (one command and one audit event each); report the others with
    their reasons. A case that changed between the dry run and now is re-checked, not forced."""
    out = []
    for verdict in check(db, instance_ids, to_version, key=key):
        result = MigrationResult(verdict.instance_id, False, verdict.from_version, verdict.to_version,
                                 list(verdict.reasons))
        if verdict.can_migrate:
            try:
                migrate(db, verdict.instance_id, verdict.to_version, actor=actor, note=note, key=key)
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

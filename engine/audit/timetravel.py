"""Time travel: a case as it stood right after one of its history events.

The state at event N is rebuilt by replaying the recorded inputs up to N (`replay.rebuild`), not
by guessing from the events' `opened` lists: loops, call activities, boundary timers, joins and
cancellations then behave exactly as the engine made them behave, and each step on the way is
still compared with its record (a divergence is reported with the state). The diagram path comes
from the trails of events 1..N, as the case page draws "now" (`diagrams.path_diagrams`).

An event that is not an input (a claim, a service result, an SLA event) belongs to the command of
the input before it: the state "as of" it is that command's result, and it changed no data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow import TaskState
from sqlalchemy import func, select

from engine.audit import diagrams, replay, scopes
from engine.core import history
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import event_t, instance_t


@dataclass
class OpenTask:
    task_spec: str
    name: str
    process: str
    group: str | None
    assignee: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AsOf:
    """The case right after event `seq`."""

    instance_id: int
    seq: int
    last_seq: int
    event: dict[str, Any]
    status: str
    open_tasks: list[OpenTask]
    data: dict[str, Any]
    data_before: dict[str, Any]
    changes: dict[str, dict[str, Any]]  # key -> {"before", "after"} (absent side: None + flag)
    diagrams: list[diagrams.ProcessDiagram]
    replay_ok: bool
    divergence: dict[str, Any] | None = None
    definition_id: int = 0
    scope: dict[str, Any] | None = None  # the process scope the event happened in (scopes.Scope.to_dict)

    def to_dict(self, *, with_xml: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("diagrams", "open_tasks")}
        out["open_tasks"] = [t.to_dict() for t in self.open_tasks]
        out["diagrams"] = [_diagram_dict(d, with_xml) for d in self.diagrams]
        return out


def _diagram_dict(d: diagrams.ProcessDiagram, with_xml: bool) -> dict[str, Any]:
    out = d.to_dict()
    if not with_xml:
        out.pop("xml")
    return out


def event_dict(row: Any) -> dict[str, Any]:
    return {"seq": row.seq, "type": row.type, "at": row.at, "actor": row.actor, "task_id": row.task_id,
            "task_spec": row.task_spec, "payload": history.payload_of(row), "hash": row.hash}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What changed between two versions of the case data, by top-level key."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        if key not in after:
            out[key] = {"change": "removed", "before": before[key], "after": None}
        elif key not in before:
            out[key] = {"change": "added", "before": None, "after": after[key]}
        elif before[key] != after[key]:
            out[key] = {"change": "changed", "before": before[key], "after": after[key]}
    return out


def as_of(db: Database, instance_id: int, seq: int) -> AsOf:
    """The case right after event `seq`: diagram path with counts, open tasks, data and its change."""
    with db.read() as conn:
        last = conn.execute(select(instance_t.c.event_seq).where(instance_t.c.id == instance_id)).scalar()
        if last is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        found = conn.execute(select(func.count()).select_from(event_t).where(
            event_t.c.instance_id == instance_id, event_t.c.seq == seq)).scalar()
    if not found:
        raise NotFound(f"process instance {instance_id} has no event {seq} (it has {last})")
    rebuilt = replay.rebuild(db, instance_id, until_seq=seq)
    upto = [e for e in rebuilt.events if e.seq <= seq]
    wf = rebuilt.workflow
    definition = rebuilt.definition
    report = rebuilt.report
    scope = rebuilt.scope
    if scope is not None:  # in the scope the event happened in (scopes): only what it changed there
        data, before = scope.after, scope.before
    else:
        data = _data(wf)
        if not data and report.final["status"] not in ("completed", "cancelled"):
            data = scopes.latest_data(wf)  # a live case always has data to show
        before = rebuilt.data_before if upto[-1].type in replay.INPUTS else data
    paths = diagrams.path_diagrams(db, definition, [e.payload for e in upto], wf)
    return AsOf(instance_id=instance_id, seq=seq, last_seq=last, event=event_dict(upto[-1]),
                status=report.final["status"], open_tasks=_open_tasks(wf, definition, upto),
                data=data, data_before=before, changes=diff(before, data),
                diagrams=paths, replay_ok=report.ok,
                divergence=report.to_dict().get("divergence"), definition_id=definition.id,
                scope=scope.to_dict() if scope is not None else None)


def _data(wf: Any) -> dict[str, Any]:
    from engine.core.queries import instance_data

    try:
        return instance_data(wf)
    except Exception:  # a workflow not started yet has no task data to show
        return CODEC.to_jsonable(dict(wf.data))


def _open_tasks(wf: Any, definition: Any, events: list[Any]) -> list[OpenTask]:
    """READY human tasks of the rebuilt workflow; the holder from the claims recorded up to then."""
    holder: dict[str, str | None] = defaultdict(lambda: None)
    for ev in events:
        if ev.type == "task_claimed" and ev.task_spec:
            holder[ev.task_spec] = ev.actor
        elif ev.type == "task_delegated" and ev.task_spec:
            holder[ev.task_spec] = history.payload_of(ev).get("to") or ev.actor
        elif ev.type in ("task_unclaimed", "task_completed") and ev.task_spec:
            holder[ev.task_spec] = None
    out = []
    for task in wf.get_tasks(state=TaskState.READY, manual=True):
        info = definition.task_info(task)
        out.append(OpenTask(task_spec=info.bpmn_id, name=info.name, process=info.process, group=info.group,
                            assignee=holder[info.bpmn_id]))
    return sorted(out, key=lambda t: (t.process, t.task_spec))

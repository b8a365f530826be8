"""Deterministic replay: rebuild a case from its definition version and its recorded inputs.

The history holds every external input in order (start data, completed forms, timer firings,
messages, retries, cancellation) and every service result. Replay starts a fresh workflow from the
same definition version, feeds those inputs in order with the engine clock set to each event's
recorded time, answers service tasks from the recorded results (nothing is called again), and
checks at every command that the same BPMN elements finished, the same errors happened, and at the
end that status, open tasks, case data and SLA deadlines equal what is stored. The first difference
is reported with the event it happened at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import select

from engine.audit import scopes
from engine.core import calls, clock, definitions, history
from engine.core.codec import CODEC
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import instance_t, sla_clock_t, work_item_t
from engine.deadlines import sla

INPUTS = {"instance_started", "task_completed", "timer_fired", "message_received", "instance_retried",
          "instance_cancelled", "instance_migrated", "instance_migration_reverted"}
SERVICE_EVENTS = {"service_called", "service_failed"}


@dataclass
class Divergence:
    seq: int | None
    what: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else "final state"
        return f"{where}: {self.what} differs — recorded {self.expected!r}, replay {self.got!r}"


@dataclass
class ReplayReport:
    instance_id: int
    events: int
    inputs: int
    ok: bool
    divergence: Divergence | None = None
    final: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.ok:
            return (f"instance {self.instance_id}: replayed {self.inputs} inputs of {self.events} events; "
                    f"trail, data, status, open tasks and deadlines match")
        return f"instance {self.instance_id}: DIVERGES at {self.divergence}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instance_id": self.instance_id, "events": self.events, "inputs": self.inputs,
                               "ok": self.ok, "final": self.final}
        if self.divergence is not None:
            d = self.divergence
            out["divergence"] = {"seq": d.seq, "what": d.what, "expected": CODEC.to_jsonable(d.expected),
                                 "got": CODEC.to_jsonable(d.got), "message": str(d)}
        return out


class _Diverged(Exception):
    def __init__(self, divergence: Divergence) -> None:
        self.divergence = divergence


@dataclass
class Rebuilt:
    """A case rebuilt by replay up to some event: the workflow then and the data just before it."""

    report: ReplayReport
    workflow: BpmnWorkflow
    definition: Any
    events: list[Any]
    data_before: dict[str, Any]
    scope: Any = None  # scopes.Scope of event `until_seq`: what it changed where it happened


def replay(db: Database, instance_id: int) -> ReplayReport:
    """Re-run one case from its history and compare it with what is stored."""
    return rebuild(db, instance_id).report


def rebuild(db: Database, instance_id: int, until_seq: int | None = None) -> Rebuilt:
    """Replay the inputs up to event `until_seq` (all of them when None) and keep the workflow.

    With `until_seq` the final comparison with the stored state is skipped (the case has moved
    on since); every step up to there is still compared with its record, so a divergence before
    that event is reported. `data_before` is the case data just before that event's input (equal
    to the data after it when the event is not an input: its command's input came earlier).
    """
    from engine.core.queries import instance_data
    from engine.core.step import Step

    with db.read() as conn:
        row = conn.execute(select(instance_t).where(instance_t.c.id == instance_id)).first()
        if row is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        events = list(history.events_of(conn, instance_id))
        open_items = sorted(conn.execute(select(work_item_t.c.task_spec).where(
            work_item_t.c.instance_id == instance_id, work_item_t.c.status == "open")).scalars())
        clocks = {c.id: c for c in conn.execute(select(sla_clock_t).where(sla_clock_t.c.instance_id == instance_id))}
    first = history.payload_of(events[0]) if events else {}
    definition = definitions.load(db, first.get("definition_id", row.definition_id))
    report = ReplayReport(instance_id, len(events), 0, True)
    wf = calls.new_workflow(db, definition, recorded=_called(events))
    deadlines = _DeadlineCheck(db, clocks)
    data_before: dict[str, Any] | None = None
    scope = None
    try:
        for i, ev in enumerate(events):
            if until_seq is not None and ev.seq > until_seq:
                break
            at_target = until_seq is not None and ev.seq == until_seq
            if at_target:
                data_before = instance_data(wf) if ev.type != "instance_started" else {}
                taken = scopes.snapshot(wf) if ev.type in INPUTS else None
            if ev.type in INPUTS:
                group = _group_after(events, i)
                with clock.using(clock.FixedClock(ev.at)):
                    step = Step(db, definition, wf, instance_id=instance_id, business_key=row.business_key,
                                recorded_services=[_service_record(e) for e in group if e.type in SERVICE_EVENTS],
                                actor=ev.actor)
                    if ev.type in ("instance_migrated", "instance_migration_reverted"):
                        definition = _migrate(db, step, history.payload_of(ev))
                    else:
                        _apply(step, ev)
                _compare_step(step, ev, group)
                report.inputs += 1
                if at_target and taken is not None:
                    scope = scopes.change(wf, taken, ev.task_spec)
            elif ev.type.startswith("sla_"):
                deadlines.feed(ev)
            if at_target and ev.type not in INPUTS:
                scope = scopes.still(wf, ev.task_spec)
        if until_seq is None:
            _compare_final(db, wf, row, definition, open_items, instance_data)
            deadlines.finish()
    except _Diverged as exc:
        report.ok, report.divergence = False, exc.divergence
    seen = [e for e in events if until_seq is None or e.seq <= until_seq]
    cancelled = any(e.type == "instance_cancelled" for e in seen)
    report.final = {"status": "cancelled" if cancelled else _status(wf), "open_tasks": _ready_specs(wf)}
    if data_before is None:
        data_before = instance_data(wf) if seen else {}
    return Rebuilt(report, wf, calls.compose(db, definition, calls.bindings_of(wf)), events, data_before, scope)


def _called(events: list[Any]) -> dict[str, int]:
    """The called versions the case bound, as its history records them (the first binding of a key)."""
    recorded: dict[str, int] = {}
    for ev in events:
        for key, bound in (history.payload_of(ev).get("called") or {}).items():
            recorded.setdefault(key, bound["definition_id"])
    return recorded


def _group_after(events: list[Any], i: int) -> list[Any]:
    """The events a command recorded after its input (service results, errors, completion)."""
    group = []
    for ev in events[i + 1:]:
        if ev.type in INPUTS or ev.type in ("task_claimed", "task_unclaimed"):
            break
        group.append(ev)
    return group


def _service_record(ev: Any) -> dict[str, Any]:
    payload = history.payload_of(ev)
    record = {"operator": payload["operator"]}
    if ev.type == "service_failed":
        record["error"] = payload["error"]
    else:
        record["result"] = payload["result"]
    return record


def _migrate(db: Database, step: Any, payload: dict[str, Any]) -> Any:
    """Move the replayed workflow to the version the case was moved to, as the migration did
    (of its main process, or of the called process the event names)."""
    from engine.modeling.migration import replay_move

    return replay_move(db, step, payload)


def _apply(step: Any, ev: Any) -> None:
    payload = history.payload_of(ev)
    if ev.type == "instance_started":
        step.start(payload.get("data", {}))
    elif ev.type == "task_completed":
        step.run_human_task(_find_task(step.wf, ev), payload.get("data", {}))
    elif ev.type == "timer_fired":
        step.advance()
    elif ev.type == "message_received":
        step.deliver(payload["name"], payload.get("payload", {}))
    elif ev.type == "instance_retried":
        step.retry_failed()
    elif ev.type == "instance_cancelled":
        step.wf.cancel()


def _find_task(wf: BpmnWorkflow, ev: Any) -> Any:
    ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True)
             if getattr(t.task_spec, "bpmn_id", None) == ev.task_spec]
    if not ready:
        raise _Diverged(Divergence(ev.seq, "task to complete", ev.task_spec,
                                   sorted(_ready_specs(wf)) or "no open task"))
    return ready[0]


def _compare_step(step: Any, ev: Any, group: list[Any]) -> None:
    recorded = history.payload_of(ev).get("trail")
    got = step.trail()
    if recorded is not None and got != recorded:
        raise _Diverged(Divergence(ev.seq, "elements finished by this input", recorded, got))
    opened = history.payload_of(ev).get("opened")
    got_opened = [row["task_spec"] for row in step.work_changes()[0]]
    if opened is not None and sorted(opened) != sorted(got_opened):
        raise _Diverged(Divergence(ev.seq, "tasks opened by this input", opened, got_opened))
    called = history.payload_of(ev).get("called") or {}
    if called != step.called():
        raise _Diverged(Divergence(ev.seq, "called versions bound by this input", called, step.called()))
    errors = [history.payload_of(e).get("message") for e in group if e.type == "instance_error"]
    if errors and (step.error or {}).get("message") != errors[0]:
        raise _Diverged(Divergence(ev.seq, "error", errors[0], (step.error or {}).get("message")))
    if not errors and step.error is not None and ev.type != "instance_retried":
        raise _Diverged(Divergence(ev.seq, "error", None, step.error.get("message")))
    if any(e.type == "instance_completed" for e in group) and not step.wf.is_completed():
        raise _Diverged(Divergence(ev.seq, "completion", "completed", _status(step.wf)))


def _ready_specs(wf: BpmnWorkflow) -> list[str]:
    return sorted(getattr(t.task_spec, "bpmn_id", None) or t.task_spec.name
                  for t in wf.get_tasks(state=TaskState.READY, manual=True))


def _status(wf: BpmnWorkflow) -> str:
    if wf.get_tasks(state=TaskState.ERROR):
        return "error"
    if wf.is_completed():
        return "completed"
    return "running" if wf.get_tasks(state=TaskState.READY, manual=True) else "waiting"


def _compare_final(db: Database, wf: BpmnWorkflow, row: Any, definition: Any, open_items: list[str],
                   instance_data: Any) -> None:
    status = "cancelled" if row.status == "cancelled" else _status(wf)
    if status != row.status:
        raise _Diverged(Divergence(None, "status", row.status, status))
    if _ready_specs(wf) != open_items:
        raise _Diverged(Divergence(None, "open tasks", open_items, _ready_specs(wf)))
    stored = calls.restore(db, definition, row.state)[1]
    expected, got = instance_data(stored), instance_data(wf)
    if expected != got:
        keys = sorted(k for k in set(expected) | set(got) if expected.get(k) != got.get(k))
        raise _Diverged(Divergence(None, f"case data ({', '.join(keys[:5])})",
                                   {k: expected.get(k) for k in keys[:5]}, {k: got.get(k) for k in keys[:5]}))


class _DeadlineCheck:
    """Recomputes every SLA deadline from the recorded starts, pauses and rule limits."""

    def __init__(self, db: Database, clocks: dict[int, Any]) -> None:
        self.db = db
        self.clocks = clocks
        self.state: dict[int, dict[str, Any]] = {}

    def feed(self, ev: Any) -> None:
        p = history.payload_of(ev)
        cid = p.get("clock_id")
        if ev.type == "sla_started":
            start = self.clocks[cid].started_at if cid in self.clocks else ev.at
            deadline, provisional = self._deadline(start, p["limit_workdays"], p.get("provisional", False),
                                                   p["deadline"])
            self._expect(ev.seq, "deadline", p["deadline"], deadline, provisional)
            self.state[cid] = {"start": start, "deadline": deadline, "paused": 0, "status": "running"}
        elif ev.type == "sla_resumed":
            for moved in p.get("clocks", []):
                st = self.state.get(moved["clock_id"])
                if st is None:
                    continue
                st["paused"] += moved["workdays"]
                shifted = st["deadline"] if moved["workdays"] == 0 else sla.shift_deadline(self.db, st["deadline"], moved["workdays"])[0]
                if moved.get("provisional"):  # counted Monday–Friday then; an imported year recounts it
                    shifted = dt.datetime.fromisoformat(moved["deadline"])
                self._expect(ev.seq, "deadline after pause", moved["deadline"], shifted, False)
                st["deadline"] = shifted
        elif ev.type == "sla_recomputed" and cid in self.state:
            st = self.state[cid]
            st["deadline"] = dt.datetime.fromisoformat(p["to"])
        elif ev.type == "sla_stopped" and cid in self.state:
            st = self.state[cid]
            status = p["status"] if p["status"] == "void" else ("met" if ev.at <= st["deadline"] else "missed")
            if status != p["status"]:
                raise _Diverged(Divergence(ev.seq, f"outcome of clock {cid}", p["status"], status))
            st["status"] = status

    def _deadline(self, start: dt.datetime, limit: int, provisional: bool,
                  recorded: str) -> tuple[dt.datetime, bool]:
        """A provisional deadline was counted Monday–Friday over a year since imported (its
        `sla_recomputed` event follows): the record stands; any other is recounted."""
        if provisional:
            return dt.datetime.fromisoformat(recorded), True
        return sla.deadline_after(self.db, start, limit)

    def _expect(self, seq: int, what: str, recorded: str, got: dt.datetime, provisional: bool) -> None:
        if dt.datetime.fromisoformat(recorded) != got:
            raise _Diverged(Divergence(seq, what, recorded, got.isoformat()))

    def finish(self) -> None:
        for cid, st in self.state.items():
            stored = self.clocks.get(cid)
            if stored is None:
                raise _Diverged(Divergence(None, f"clock {cid}", "a stored clock", "none"))
            if stored.deadline_at != st["deadline"]:
                raise _Diverged(Divergence(None, f"deadline of clock {cid}", stored.deadline_at.isoformat(),
                                           st["deadline"].isoformat()))
            if stored.status != st["status"] and not (stored.status == "paused" and st["status"] == "running"):
                raise _Diverged(Divergence(None, f"status of clock {cid}", stored.status, st["status"]))

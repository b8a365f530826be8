"""The call centre (话务平台): call tasks out; call results and the field workers' phone reports in.

Out: each call-back (回访) that opens — a field job's 作业回访 or the case's own 回访 — and each
urging (催办: the arrival 催办 of a field job, a 95598 urging) becomes a `call_task` for the call
centre, kept in `call_task` and queued through the outbox with the step (or the timer, or the
inbound call) that caused it.
In: a `call_result` names its task: answered (satisfaction 1–5, problems) completes the call-back's
open task exactly as the dispatcher's form would, so the call-back register gets it; unreached
keeps the call-back open and is called again per `RETRY_RULE` — after the last unreached attempt the
call-back is recorded as unreached. Duration and recording reference stay on the task. A result for
a task already answered (repeated, or overtaken by a later attempt) changes nothing. A
`field_report` (the two phone calls: arrival, completion) moves the field job exactly like the
`/field` page (`engine.dispatch.field`); a completion that overtakes its arrival is answered 409, so
the peer sends it again once the arrival is in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from engine.connectors import outbound
from engine.core import actors, clock, history, runtime, store
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, InvalidState, NotFound
from engine.core.models import call_task_t, instance_t, outbox_t, work_item_t
from engine.core.step import Step
from engine.dispatch import appointments, field
from engine.messages.outbox import CANCELLED, PENDING

SYSTEM = "callcenter"
ACTOR = actors.Actor(f"system:{SYSTEM}", system=True)
#: The user tasks whose opening asks the call centre to call the customer back.
CALLBACK_SPECS = ("job_callback", "callback")
OPEN, ANSWERED, UNREACHED = "open", "answered", "unreached"
#: A call-back done on the form (or gone with its case) before the call centre reported a result.
CLOSED = "closed"


@dataclass(frozen=True)
class RetryRule:
    """An unreached call is tried again after `after`, `attempts` calls in all; then it counts as unreached."""

    attempts: int = 3
    after: dt.timedelta = dt.timedelta(hours=2)


RETRY_RULE = RetryRule()


# -- out ------------------------------------------------------------------------------------------


def on_write(conn: Connection, step: Step, written: store.Written) -> None:
    """A call task for each call-back task the step opened; call tasks of call-backs the step finished
    another way (the dispatcher's form, a cancelled case) are closed, so a late result changes nothing."""
    finished = _callbacks_among(step, written.done | written.gone)
    if finished and step.actor != ACTOR.name:  # a call result records its own outcome on the call task
        closed = conn.execute(select(call_task_t.c.task_no).where(
            call_task_t.c.work_item_id.in_(finished), call_task_t.c.status == OPEN)).scalars().all()
        if closed:
            conn.execute(update(call_task_t).where(call_task_t.c.task_no.in_(closed))
                         .values(status=CLOSED, result_at=step.now))
            keys = [outbound.message_key(SYSTEM, step.instance_id, f"call:{no}") for no in closed]
            conn.execute(update(outbox_t).where(outbox_t.c.idempotency_key.in_(keys), outbox_t.c.status == PENDING)
                         .values(status=CANCELLED, last_error="the call-back was done before the call"))
    items = [i for i in written.new_items if i.get("task_spec") in CALLBACK_SPECS]
    if not items:
        return
    data = step.case_data()
    customer = {k: data.get(k) for k in ("customer_name", "mobile", "address")}
    for item in items:
        open_call(conn, "callback", step.instance_id, step.business_key or step.application_no, step.now,
                  work_item_id=item["id"], subject=item.get("name"), **customer)


def _callbacks_among(step: Step, item_ids: set[str]) -> list[str]:
    """The finished work items that were call-backs, read from the workflow in memory (no query, so
    a step that finishes any other task costs no statement here); an item no longer in the tree
    (its case cancelled) is kept, to be safe."""
    out = []
    for item_id in sorted(item_ids):
        try:
            task = step.wf.get_task_from_id(uuid.UUID(item_id))
        except Exception:  # noqa: BLE001 - gone from the tree, or not a task id
            task = None
        if task is None or getattr(task.task_spec, "bpmn_id", None) in CALLBACK_SPECS:
            out.append(item_id)
    return out


def on_urging(conn: Connection, urging: dict[str, Any]) -> None:
    """A call task for an urging (`field.URGING_HOOKS`, and 95598's urgings): who to call and why."""
    open_call(conn, "urging", urging.get("instance_id"), urging.get("application_no"), urging["at"],
              notice_id=urging["notice_id"], subject=urging.get("title"), text=urging.get("body"),
              callee=urging.get("callee"), mobile=urging.get("mobile"))


def open_call(conn: Connection, kind: str, instance_id: int | None, number: str | None, now: dt.datetime, *,
              attempt: int = 1, work_item_id: str | None = None, notice_id: int | None = None,
              not_before: dt.datetime | None = None, **fields: Any) -> str:
    """Record call task `attempt` of a call-back or an urging and queue it for the call centre."""
    task_no = f"{kind[:2].upper()}-{work_item_id or f'N{notice_id}'}-{attempt}"
    if conn.execute(select(call_task_t.c.id).where(call_task_t.c.task_no == task_no)).first() is None:
        conn.execute(insert(call_task_t).values(
            task_no=task_no, kind=kind, instance_id=instance_id, work_item_id=work_item_id, notice_id=notice_id,
            attempt=attempt, status=OPEN, created_at=now))
        outbound.queue(conn, SYSTEM, "call_task", f"call:{task_no}", instance_id=instance_id, number=number, now=now,
                       not_before=not_before, task_no=task_no, call_kind=kind, attempt=attempt,
                       **{k: v for k, v in fields.items() if v is not None})
    return task_no


# -- in: call results -------------------------------------------------------------------------------


def receive_result(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int | None]:
    """Apply one call's result to its task and, for a call-back, to the call-back's open task."""
    result = _checked_result(payload)
    with db.read() as conn:
        task = conn.execute(select(call_task_t).where(call_task_t.c.task_no == result["task_no"])).first()
    if task is None:
        raise InvalidData(f"no call task {result['task_no']}", details={"task_no": ["unknown call task"]})
    out = {"task_no": task.task_no, "instance_id": task.instance_id, "applied": False}
    if task.status != OPEN:
        return {**out, "status": task.status}, task.instance_id
    answered = result["result"] == ANSWERED
    last = task.attempt >= RETRY_RULE.attempts
    recorded = False
    if task.kind == "callback" and (answered or last):
        recorded = _record_callback(db, task.work_item_id, result, reachable=answered)
    now = clock.now()
    with db.write() as conn:
        changed = conn.execute(update(call_task_t).where(call_task_t.c.id == task.id, call_task_t.c.status == OPEN)
                               .values(status=result["result"], satisfaction=result["satisfaction"],
                                       duration_s=result["duration_s"], recording_ref=result["recording_ref"],
                                       called_at=result["called_at"], result_at=now)).rowcount
        if not changed:
            return {**out, "status": "already recorded"}, task.instance_id
        next_no = None
        if not answered and not last and (task.kind == "urging" or _still_open(conn, task.work_item_id)):
            next_no = open_call(conn, task.kind, task.instance_id, _number(conn, task.instance_id), now,
                                attempt=task.attempt + 1, work_item_id=task.work_item_id, notice_id=task.notice_id,
                                not_before=now + RETRY_RULE.after)
        if task.instance_id is not None:
            store.append_to_chain(conn, store.case_head(conn, task.instance_id), [history.NewEvent(
                "call_result", now, actor=ACTOR.name,
                payload={"task_no": task.task_no, "kind": task.kind, "attempt": task.attempt,
                         "result": result["result"], "satisfaction": result["satisfaction"],
                         "duration_s": result["duration_s"], "recording_ref": result["recording_ref"],
                         "message_id": message_id, "next_call": next_no})])
    return {**out, "applied": True, "status": result["result"], "callback_recorded": recorded,
            "next_call": next_no}, task.instance_id


def _record_callback(db: Database, item_id: str | None, result: dict[str, Any], *, reachable: bool) -> bool:
    """Complete the call-back's task if it is still open (the dispatcher may have called first)."""
    with db.read() as conn:
        if item_id is None or not _still_open(conn, item_id):
            return False
    data: dict[str, Any] = {"called_at": result["called_at"].astimezone(CHINA).isoformat(), "reachable": reachable,
                            "problems": result["problems"] if reachable else ""}
    if reachable and result["satisfaction"] is not None:
        data["satisfaction"] = result["satisfaction"]
    try:
        runtime.complete_task(db, item_id, data, actor=ACTOR)
    except (InvalidState, NotFound):
        return False  # completed meanwhile by hand
    return True


def _still_open(conn: Connection, item_id: str | None) -> bool:
    return item_id is not None and conn.execute(select(func.count()).select_from(work_item_t).where(
        work_item_t.c.id == item_id, work_item_t.c.status == "open")).scalar() == 1


def _number(conn: Connection, instance_id: int | None) -> str | None:
    if instance_id is None:
        return None
    return conn.execute(select(instance_t.c.business_key).where(instance_t.c.id == instance_id)).scalar()


def _checked_result(payload: dict[str, Any]) -> dict[str, Any]:
    task_no, outcome = payload.get("task_no"), payload.get("result")
    if not isinstance(task_no, str) or not 0 < len(task_no) <= 60:
        raise InvalidData("task_no is required", details={"task_no": ["1–60 characters"]})
    if outcome not in (ANSWERED, UNREACHED):
        raise InvalidData("result must be answered or unreached", details={"result": ["answered | unreached"]})
    score = payload.get("satisfaction")
    if outcome == UNREACHED:
        score = None
    elif score is not None and (not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5):
        raise InvalidData("satisfaction must be 1 to 5", details={"satisfaction": ["1–5"]})
    duration = payload.get("duration_s", 0)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration <= 86400:
        raise InvalidData("duration_s must be 0 to 86400 seconds", details={"duration_s": ["0–86400"]})
    recording, problems = payload.get("recording_ref"), payload.get("problems") or ""
    if recording is not None and (not isinstance(recording, str) or len(recording) > 200):
        raise InvalidData("recording_ref is too long", details={"recording_ref": ["≤ 200 characters"]})
    if not isinstance(problems, str) or len(problems) > 1000:
        raise InvalidData("problems is too long", details={"problems": ["≤ 1000 characters"]})
    return {"task_no": task_no, "result": outcome, "satisfaction": score, "duration_s": duration,
            "recording_ref": recording, "problems": problems.strip(), "called_at": _instant(payload, "called_at")}


def _instant(payload: dict[str, Any], key: str) -> dt.datetime:
    value = payload.get(key)
    if value is None:
        return clock.now()
    try:
        found = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        found = None
    if found is None or found.tzinfo is None:
        raise InvalidData(f"{key} must be an ISO time with its offset", details={key: ["ISO 8601"]})
    return found


# -- in: the field workers' two phone calls --------------------------------------------------------


def receive_field_report(db: Database, payload: dict[str, Any], message_id: str) -> tuple[dict[str, Any], int]:
    """The arrival or completion call of a field job, applied as the `/field` page applies it."""
    job_no, report = payload.get("job_no"), payload.get("report")
    if not isinstance(job_no, str) or not 0 < len(job_no) <= 32:
        raise InvalidData("job_no is required", details={"job_no": ["1–32 characters"]})
    if report not in ("arrival", "completion"):
        raise InvalidData("report must be arrival or completion", details={"report": ["arrival | completion"]})
    at = _instant(payload, "at")
    view = appointments.get(db, job_no)
    done = ("arrived", "completed") if report == "arrival" else ("completed",)
    if view.status in done:
        return {"job_no": job_no, "report": report, "applied": False, "status": view.status}, view.instance_id
    try:
        if report == "arrival":
            field.report_arrival(db, job_no, actor=ACTOR, arrived_at=at)
        else:
            summary = payload.get("work_summary") or "电话报完工"
            if not isinstance(summary, str) or len(summary) > 2000:
                raise InvalidData("work_summary is too long", details={"work_summary": ["≤ 2000 characters"]})
            field.report_completion(db, job_no, actor=ACTOR, work_summary=summary,
                                    customer_signed=bool(payload.get("customer_signed")), completed_at=at)
    except InvalidState as exc:  # not waiting for this report yet (it overtook the one before): retry
        raise Conflict(f"job {job_no} cannot take the {report} report now; send it again later") from exc
    return {"job_no": job_no, "report": report, "applied": True}, view.instance_id


def calls(db: Database, *, instance_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Call tasks and their results, newest first (for operators and tests)."""
    q = select(call_task_t).order_by(call_task_t.c.id.desc()).limit(limit)
    if instance_id is not None:
        q = q.where(call_task_t.c.instance_id == instance_id)
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


INBOUND = {"call_result": receive_result, "field_report": receive_field_report}

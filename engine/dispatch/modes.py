"""Dispatch modes: per area and job type, field jobs are booked by the centre (`central`, the
default) or by the team itself (`self`: the team lead books and assigns their own jobs).

A supervisor switches a mode with a reason. Every switch is an event on the dispatch-mode chain
(`dispatch_mode_event`), hash-linked exactly like a case's history (`history.chain_hash`, with
instance id 0), so `verify` finds an edited, deleted or reordered switch.

The booking task of the field job (`book_appointment`, 预约上门, in the dispatcher's lane) follows
the mode: `on_write` (a core write hook, installed by `engine.wiring`) offers it to the team leads
instead of the dispatchers when its area and job type are self-dispatched, and records that on
the case's chain (`booking_routed`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.core import clock, history
from engine.core.db import Database
from engine.core.errors import Conflict, InvalidData, InvalidState
from engine.core.history import NewEvent
from engine.core.models import dispatch_mode_event_t, dispatch_mode_t
from engine.core.step import Step
from engine.core.store import Written
from engine.dispatch.capacity import JOB_TYPES
from engine.dispatch.teams import AREAS

CENTRAL, SELF = "central", "self"
MODES = {CENTRAL: "调度中心统一派工", SELF: "班组自主派工"}
#: Who is offered the booking task in each mode.
BOOKING_GROUP = {CENTRAL: "dispatcher", SELF: "lead"}
BOOKING_TASK = "book_appointment"
EVENT = "dispatch_mode_switched"
MAX_REASON = 500
CHAIN_ID = 0  # the instance id the chain's hashes are computed with (no case has id 0)


@dataclass
class ModeView:
    area: str
    job_type: str
    mode: str
    changed_at: dt.datetime | None
    changed_by: str | None
    reason: str

    @property
    def area_text(self) -> str:
        return AREAS.get(self.area, self.area)

    @property
    def job_type_text(self) -> str:
        return JOB_TYPES.get(self.job_type, self.job_type)

    @property
    def mode_text(self) -> str:
        return MODES[self.mode]


def _check(area: str, job_type: str) -> None:
    problems = {}
    if area not in AREAS:
        problems["area"] = ["区域须为 urban（城区）或 rural（农村）"]
    if job_type not in JOB_TYPES:
        problems["job_type"] = ["作业类型须为 survey、install 或 verify"]
    if problems:
        raise InvalidData("unknown area or job type", details=problems)


def mode_in(conn: Connection, area: str, job_type: str) -> str:
    found = conn.execute(select(dispatch_mode_t.c.mode).where(dispatch_mode_t.c.area == area,
                                                              dispatch_mode_t.c.job_type == job_type)).scalar()
    return found or CENTRAL


def list_modes(db: Database) -> list[ModeView]:
    """Every area × job type with its mode (central where never switched)."""
    with db.read() as conn:
        rows = {(r.area, r.job_type): r for r in conn.execute(select(dispatch_mode_t))}
    out = []
    for area in AREAS:
        for job_type in JOB_TYPES:
            r = rows.get((area, job_type))
            out.append(ModeView(area, job_type, r.mode if r else CENTRAL, r.changed_at if r else None,
                                r.changed_by if r else None, r.reason if r else ""))
    return out


def switch(db: Database, area: str, job_type: str, mode: str, *, reason: Any, actor: str) -> ModeView:
    """Switch a mode; the reason is required and the switch goes on the chain in the same transaction."""
    _check(area, job_type)
    if mode not in MODES:
        raise InvalidData("unknown dispatch mode", details={"mode": ["派工方式须为 central 或 self"]})
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise InvalidData("a reason is required", details={"reason": ["请填写切换原因"]})
    if len(text) > MAX_REASON:
        raise InvalidData("the reason is too long", details={"reason": [f"原因不能超过{MAX_REASON}字"]})
    now = clock.now()
    try:
        with db.write() as conn:
            previous = mode_in(conn, area, job_type)
            if previous == mode:
                raise InvalidState(f"{area}/{job_type} is already {mode}")
            values = {"mode": mode, "changed_at": now, "changed_by": actor, "reason": text}
            if conn.execute(update(dispatch_mode_t).where(dispatch_mode_t.c.area == area,
                                                          dispatch_mode_t.c.job_type == job_type)
                            .values(**values)).rowcount == 0:
                conn.execute(insert(dispatch_mode_t).values(area=area, job_type=job_type, **values))
            _append(conn, NewEvent(EVENT, now, actor=actor, payload={
                "area": area, "job_type": job_type, "mode": mode, "previous": previous, "reason": text}))
    except IntegrityError:
        raise Conflict("the dispatch mode was switched by someone else at the same time; try again") from None
    return ModeView(area, job_type, mode, now, actor, text)


def _append(conn: Connection, event: NewEvent) -> None:
    last = conn.execute(select(dispatch_mode_event_t.c.seq, dispatch_mode_event_t.c.hash)
                        .order_by(dispatch_mode_event_t.c.seq.desc()).limit(1)).first()
    rows, _, _ = history.chain_rows(CHAIN_ID, last.seq if last else 0, last.hash if last else history.GENESIS,
                                    [event])
    for row in rows:
        conn.execute(insert(dispatch_mode_event_t).values(
            seq=row["seq"], type=row["type"], at=row["at"], actor=row["actor"], payload=row["payload"],
            prev_hash=row["prev_hash"], hash=row["hash"]))


def switches(db: Database) -> list[dict[str, Any]]:
    """The chain of switches, newest first."""
    with db.read() as conn:
        rows = conn.execute(select(dispatch_mode_event_t).order_by(dispatch_mode_event_t.c.seq.desc())).all()
    return [{"seq": r.seq, "at": r.at, "actor": r.actor, **history.payload_of(r), "hash": r.hash} for r in rows]


def verify(db: Database) -> history.ChainReport:
    """Recompute the switch chain from its first event, and check that each mode in force is what
    its newest switch says (so a deleted last switch shows too)."""
    with db.read() as conn:
        rows = conn.execute(select(dispatch_mode_event_t).order_by(dispatch_mode_event_t.c.seq)).all()
        current = conn.execute(select(dispatch_mode_t)).all()
    wrapped = [SimpleNamespace(instance_id=CHAIN_ID, seq=r.seq, type=r.type, at=r.at, actor=r.actor, task_id=None,
                               task_spec=None, payload=r.payload, prev_hash=r.prev_hash, hash=r.hash) for r in rows]
    report = history.verify_rows(CHAIN_ID, wrapped)
    if not report.ok:
        return report
    newest = {}
    for r in rows:
        p = history.payload_of(r)
        newest[(p.get("area"), p.get("job_type"))] = (r.seq, p.get("mode"), p.get("reason"), r.actor)
    for c in current:
        found = newest.get((c.area, c.job_type))
        if found is None or found[1:] != (c.mode, c.reason, c.changed_by):
            return history.ChainReport(CHAIN_ID, report.events, False, found[0] if found else report.events + 1,
                                       f"does not match the mode in force for {c.area}/{c.job_type}")
    return report


# ---------------------------------------------------------------------------------------------
# the booking task follows the mode


def on_write(conn: Connection, step: Step, written: Written) -> tuple[list[NewEvent], list[dict[str, Any]]]:
    """Offer a new booking task to the team leads when its area and job type are self-dispatched."""
    events: list[NewEvent] = []
    for item in written.new_items:
        if item.get("task_spec") != BOOKING_TASK:
            continue
        data = step.task_by_id(item["id"]).data
        area, job_type = data.get("area") or "urban", data.get("job_kind")
        if mode_in(conn, area, job_type) != SELF:
            continue
        item["candidate_group"] = BOOKING_GROUP[SELF]
        events.append(NewEvent("booking_routed", step.now, task_id=item["id"], task_spec=BOOKING_TASK,
                               payload={"area": area, "job_type": job_type, "mode": SELF,
                                        "group": BOOKING_GROUP[SELF]}))
    return events, []

"""Firing due timers exactly once, from any number of scheduler processes.

A pass claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers) with a
lease, fires each instance's due timers in one engine command, and marks the rows fired inside
that same command's transaction. A crash between claim and fire leaves a lease that expires, so
the timer fires later — never twice, never lost. Oldest first, so catch-up after downtime keeps
order.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, update

from engine.core import clock, runtime, step
from engine.core.db import Database
from engine.core.errors import Conflict
from engine.core.models import timer_t

log = logging.getLogger("yekuo.timers")
LEASE = dt.timedelta(minutes=5)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class FireReport:
    fired: int = 0
    instances: int = 0
    conflicts: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"fired {self.fired} timer(s) on {self.instances} instance(s)" + (
            f", {len(self.failed)} failed" if self.failed else "")


@dataclass(frozen=True)
class Claimed:
    id: int
    instance_id: int
    due_at: dt.datetime
    purpose: str
    payload: dict | None


def claim_due(db: Database, now: dt.datetime, worker: str, limit: int = 100) -> list[Claimed]:
    """Lease up to `limit` due timers to `worker`, oldest first."""
    free = or_(timer_t.c.claimed_until.is_(None), timer_t.c.claimed_until < now)
    pick = (select(timer_t.c.id).where(and_(timer_t.c.fired_at.is_(None), timer_t.c.due_at < now, free))
            .order_by(timer_t.c.due_at, timer_t.c.id).limit(limit))
    if db.is_postgres:
        pick = pick.with_for_update(skip_locked=True)
    with db.write() as conn:
        rows = conn.execute(update(timer_t).where(timer_t.c.id.in_(pick.scalar_subquery()))
                            .values(claimed_by=worker, claimed_until=now + LEASE)
                            .returning(timer_t.c.id, timer_t.c.instance_id, timer_t.c.due_at, timer_t.c.purpose,
                                       timer_t.c.payload)).all()
    return sorted((Claimed(*r) for r in rows), key=lambda c: (c.due_at, c.id))


def fire_due(db: Database, now: dt.datetime | None = None, *, worker: str | None = None,
             batch: int = 100, max_batches: int | None = None) -> FireReport:
    """Fire everything due before `now` (default: the engine clock), then return."""
    worker = worker or worker_name()
    report = FireReport()
    at = now or clock.now()
    batches = 0
    with clock.using(clock.FixedClock(at)):
        while max_batches is None or batches < max_batches:
            fire_batch = _batch_in_one_transaction if db.is_postgres else _batch_with_leases
            if not fire_batch(db, at, worker, batch, report):
                break
            batches += 1
    return report


def _groups(claimed: list[Claimed]) -> list[tuple[int | None, list[Claimed]]]:
    """BPMN timers grouped per instance (one command each), then the other purposes one by one."""
    by_instance: dict[int, list[Claimed]] = defaultdict(list)
    others = []
    for c in claimed:
        if c.purpose == step.CLOCK_TIMER:
            by_instance[c.instance_id].append(c)
        else:
            others.append(c)
    return [(iid, group) for iid, group in by_instance.items()] + [(None, [c]) for c in others]


def _fire_group(db: Database, iid: int | None, group: list[Claimed], at: dt.datetime, worker: str,
                report: FireReport) -> None:
    if iid is not None:
        _fire_instance(db, iid, [(c.id, c.due_at) for c in group], worker, report)
    else:
        _fire_other(db, group[0], at, worker, report)


def _batch_with_leases(db: Database, at: dt.datetime, worker: str, batch: int, report: FireReport) -> bool:
    """SQLite: lease a batch, then one transaction per instance (writers queue, so keep them short)."""
    claimed = claim_due(db, at, worker, batch)
    for iid, group in _groups(claimed):
        _fire_group(db, iid, group, at, worker, report)
    return bool(claimed)


# PostgreSQL keeps up to 64 subtransactions per backend in shared memory; past that every snapshot
# in the cluster gets slow, so a batch stays below it.
SAVEPOINTS_PER_BATCH = 50


def _fire_in_savepoint(db: Database, conn: Any, iid: int | None, group: list[Claimed], at: dt.datetime,
                       worker: str, report: FireReport) -> bool:
    """One group's command inside a savepoint; a conflict rolls it back and tries again."""
    for _attempt in range(3):
        savepoint = conn.begin_nested()
        try:
            if iid is not None:
                outcome = runtime.fire_timers(db, iid, [c.due_at for c in group], timer_ids=[c.id for c in group],
                                              worker=worker)
                fired = len(group) if outcome is not None else 0
                report.instances += outcome is not None
            else:
                handler = HANDLERS.get(group[0].purpose)
                if handler is None:
                    raise LookupError(f"no handler for timer purpose '{group[0].purpose}'")
                fired = 1 if handler(db, group[0].id, group[0].instance_id, group[0].payload or {}, at, worker) else 0
        except Conflict:
            savepoint.rollback()
            report.conflicts += 1
            continue
        except Exception as exc:  # the rows are parked for a lease period and retried later
            savepoint.rollback()
            log.exception("firing timers %s failed", [c.id for c in group])
            report.failed.append(f"timers {[c.id for c in group]}: {exc}")
            return False
        savepoint.commit()
        report.fired += fired
        return True
    report.failed.append(f"timers {[c.id for c in group]}: kept conflicting with other commands")
    return False


def _batch_in_one_transaction(db: Database, at: dt.datetime, worker: str, batch: int,
                              report: FireReport) -> bool:
    """PostgreSQL: claim with FOR UPDATE SKIP LOCKED and fire the whole batch in one transaction,
    each instance in its own savepoint. The row locks are the claim (another worker skips them; a
    crash releases them with nothing committed), and one commit per batch instead of one per timer
    is what makes thousands of due timers an affair of seconds."""
    free = or_(timer_t.c.claimed_until.is_(None), timer_t.c.claimed_until < at)
    pick = (select(timer_t.c.id, timer_t.c.instance_id, timer_t.c.due_at, timer_t.c.purpose, timer_t.c.payload)
            .where(and_(timer_t.c.fired_at.is_(None), timer_t.c.due_at < at, free))
            .order_by(timer_t.c.due_at, timer_t.c.id).limit(min(batch, SAVEPOINTS_PER_BATCH))
            .with_for_update(skip_locked=True))
    with db.session() as session, session.conn.begin():
        claimed = [Claimed(*r) for r in session.conn.execute(pick)]
        for iid, group in _groups(claimed):
            if not _fire_in_savepoint(db, session.conn, iid, group, at, worker, report):
                # park the rows for a lease period, or this pass would pick them up again at once
                session.conn.execute(update(timer_t).where(timer_t.c.id.in_([c.id for c in group]))
                                     .values(claimed_by=worker, claimed_until=at + LEASE))
    return bool(claimed)


def _fire_other(db: Database, c: Claimed, at: dt.datetime, worker: str, report: FireReport) -> None:
    handler = HANDLERS.get(c.purpose)
    if handler is None:
        report.failed.append(f"timer {c.id}: no handler for purpose '{c.purpose}'")
        return
    for _attempt in range(5):
        try:
            if handler(db, c.id, c.instance_id, c.payload or {}, at, worker):
                report.fired += 1
            return
        except Conflict:
            report.conflicts += 1
        except Exception as exc:  # the lease expires and a later pass retries
            log.exception("firing timer %s failed", c.id)
            report.failed.append(f"timer {c.id}: {exc}")
            return
    report.failed.append(f"timer {c.id}: kept conflicting with other commands")


#: Timers other than BPMN timers, by purpose (SLA thresholds, reminders, the dispatch centre's
#: 催办 and follow-ups): `handler(db, timer_id, instance_id, payload, now, worker) -> bool`.
#: Filled by `engine.wiring.install`.
HANDLERS: dict[str, Any] = {}


def _fire_instance(db: Database, iid: int, timers: list[tuple[int, dt.datetime]], worker: str,
                   report: FireReport) -> None:
    ids = [t for t, _ in timers]
    for _attempt in range(5):
        try:
            outcome = runtime.fire_timers(db, iid, [d for _, d in timers], timer_ids=ids, worker=worker)
        except Conflict:
            report.conflicts += 1
            continue  # a user command won the race; fire again on the fresh state
        except Exception as exc:  # keep the pass going; the lease expires and a later pass retries
            log.exception("firing timers of instance %s failed", iid)
            report.failed.append(f"instance {iid}: {exc}")
            return
        if outcome is not None:
            report.fired += len(ids)
            report.instances += 1
        return
    report.failed.append(f"instance {iid}: kept conflicting with other commands")


def pending(db: Database) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(select(timer_t).where(timer_t.c.fired_at.is_(None)).order_by(timer_t.c.due_at)).all()
    return [dict(r._mapping) for r in rows]

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

from sqlalchemy import and_, or_, select, update

from engine import clock, runtime
from engine.db import Database
from engine.errors import Conflict
from engine.models import timer_t

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


def claim_due(db: Database, now: dt.datetime, worker: str, limit: int = 100) -> list[tuple[int, int, dt.datetime]]:
    """Lease up to `limit` due timers to `worker`; returns (timer id, instance id, due)."""
    free = or_(timer_t.c.claimed_until.is_(None), timer_t.c.claimed_until < now)
    pick = (select(timer_t.c.id).where(and_(timer_t.c.fired_at.is_(None), timer_t.c.due_at < now, free))
            .order_by(timer_t.c.due_at, timer_t.c.id).limit(limit))
    if db.is_postgres:
        pick = pick.with_for_update(skip_locked=True)
    with db.write() as conn:
        rows = conn.execute(update(timer_t).where(timer_t.c.id.in_(pick.scalar_subquery()))
                            .values(claimed_by=worker, claimed_until=now + LEASE)
                            .returning(timer_t.c.id, timer_t.c.instance_id, timer_t.c.due_at)).all()
    return sorted(((r.id, r.instance_id, r.due_at) for r in rows), key=lambda r: (r[2], r[0]))


def fire_due(db: Database, now: dt.datetime | None = None, *, worker: str | None = None,
             batch: int = 100, max_batches: int | None = None) -> FireReport:
    """Fire everything due before `now` (default: the engine clock), then return."""
    worker = worker or worker_name()
    report = FireReport()
    at = now or clock.now()
    batches = 0
    with clock.using(clock.FixedClock(at)):
        while max_batches is None or batches < max_batches:
            claimed = claim_due(db, at, worker, batch)
            if not claimed:
                break
            batches += 1
            by_instance: dict[int, list[tuple[int, dt.datetime]]] = defaultdict(list)
            for timer_id, iid, due in claimed:
                by_instance[iid].append((timer_id, due))
            for iid, timers in by_instance.items():
                _fire_instance(db, iid, timers, worker, report)
    return report


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

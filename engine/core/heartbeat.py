"""Scheduler heartbeats: each scheduler process notes every pass, so health checks can tell whether
timers, deadlines and the outbox are being worked at all (a web layout without a scheduler runs
cases, but nothing time-driven happens)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from engine.core import clock
from engine.core.counters import upsert
from engine.core.db import Database
from engine.core.models import scheduler_beat_t


def beat(db: Database, worker: str, now: dt.datetime | None = None) -> None:
    """Record that `worker` ran a pass now (one row per scheduler process)."""
    at = now or clock.now()
    with db.write() as conn:
        stmt = upsert(conn, scheduler_beat_t).values(worker=worker[:120], beat_at=at)
        conn.execute(stmt.on_conflict_do_update(index_elements=[scheduler_beat_t.c.worker], set_={"beat_at": at}))


def last_beat(db: Database) -> dt.datetime | None:
    """The latest pass of any scheduler, or None if none has ever run against this database."""
    with db.read() as conn:
        return conn.execute(select(func.max(scheduler_beat_t.c.beat_at))).scalar()

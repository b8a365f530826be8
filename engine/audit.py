"""Checking the history: every instance's hash chain, against the head its row records."""

from __future__ import annotations

from sqlalchemy import select

from engine import history
from engine.db import Database
from engine.errors import NotFound
from engine.models import event_t, instance_t


def verify(db: Database, instance_id: int | None = None) -> list[history.ChainReport]:
    """One report per instance (or for one instance); `ok` is False from the first bad event."""
    with db.read() as conn:
        q = select(instance_t.c.id, instance_t.c.event_seq, instance_t.c.last_hash)
        if instance_id is not None:
            q = q.where(instance_t.c.id == instance_id)
        heads = {r.id: (r.event_seq, r.last_hash) for r in conn.execute(q.order_by(instance_t.c.id))}
        if instance_id is not None and not heads:
            raise NotFound(f"process instance {instance_id} does not exist")
        eq = select(event_t).order_by(event_t.c.instance_id, event_t.c.seq)
        if instance_id is not None:
            eq = eq.where(event_t.c.instance_id == instance_id)
        by_instance: dict[int, list] = {}
        for row in conn.execute(eq):
            by_instance.setdefault(row.instance_id, []).append(row)
    reports = []
    for iid in sorted(set(heads) | set(by_instance)):
        reports.append(history.verify_rows(iid, by_instance.get(iid, []), heads.get(iid, (0, history.GENESIS))))
    return reports

"""Checking the history: every instance's hash chain, against the head its row records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.core import clock, history
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.models import event_t, instance_t, rule_audit_t


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


def verify_rules(db: Database) -> history.ChainReport:
    """The chain of rule-set changes (`rule_versions`), checked like a case's (reported as instance 0)."""
    from types import SimpleNamespace

    with db.read() as conn:
        rows = [SimpleNamespace(instance_id=0, task_id=None, task_spec=None, **r._mapping)
                for r in conn.execute(select(rule_audit_t).order_by(rule_audit_t.c.seq))]
    return history.verify_rows(0, rows)


def events(db: Database, instance_id: int, *, types: list[str] | None = None,
           actor: str | None = None) -> tuple[list[Any], int]:
    """The case's events in order, narrowed to `types` and/or one `actor`; also the unfiltered count.

    Filtering happens in SQL; the chain is verified separately (`verify`) over all events.
    """
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(event_t)
                             .where(event_t.c.instance_id == instance_id)).scalar_one()
        if not total and conn.execute(select(instance_t.c.id).where(instance_t.c.id == instance_id)).first() is None:
            raise NotFound(f"process instance {instance_id} does not exist")
        q = select(event_t).where(event_t.c.instance_id == instance_id)
        if types:
            q = q.where(event_t.c.type.in_(types))
        if actor:
            q = q.where(event_t.c.actor == actor)
        return list(conn.execute(q.order_by(event_t.c.seq))), total


def actors_and_types(db: Database, instance_id: int) -> tuple[list[str], list[str]]:
    """The distinct actors and event types of a case (for filter choices)."""
    with db.read() as conn:
        rows = conn.execute(select(event_t.c.actor, event_t.c.type).where(event_t.c.instance_id == instance_id)
                            .distinct()).all()
    return sorted({r.actor for r in rows if r.actor}), sorted({r.type for r in rows})


def document_refs(value: Any) -> list[str]:
    """Every uploaded-document reference (`{"ref": "att-…"}`) anywhere in the case data, in order."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            ref = v.get("ref")
            if isinstance(ref, str) and ref.startswith("att-") and ref not in found:
                found.append(ref)
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return found


def case_file(db: Database, instance_id: int) -> dict[str, Any]:
    """One application's full record: data, history, deadlines, documents, replay and chain verdicts.

    Everything an auditor files for a case, in one JSON-able document; the replay and the chain
    check run now, so the file says whether the record it contains still holds.
    """
    from engine.audit import replay
    from engine.core import queries
    from engine.deadlines import sla
    from engine.intake import documents

    inst = queries.get_instance(db, instance_id)
    [chain] = verify(db, instance_id)
    rows, _ = events(db, instance_id)
    evs = [{"seq": r.seq, "type": r.type, "at": r.at, "actor": r.actor, "task_id": r.task_id,
            "task_spec": r.task_spec, "payload": history.payload_of(r), "hash": r.hash} for r in rows]
    refs = document_refs([inst.data, *(e["payload"].get("data") for e in evs if e["type"] == "task_completed")])
    found = documents.find(db, refs)
    docs = [{"ref": ref, "found": ref in found,
             **({k: getattr(found[ref], k) for k in ("filename", "content_type", "size", "sha256",
                                                       "uploaded_by", "uploaded_at")} if ref in found else {})}
            for ref in refs]
    rep = replay.replay(db, instance_id).to_dict()
    rep.setdefault("divergence", None)
    return {
        "format": "yekuo-case-file/1",
        "generated_at": clock.now(),
        "instance": {"id": inst.id, "key": inst.key, "definition_version": inst.definition_version,
                     "business_key": inst.business_key, "status": inst.status, "milestone": inst.milestone,
                     "started_at": inst.started_at, "started_by": inst.started_by, "ended_at": inst.ended_at,
                     "error": inst.error},
        "data": inst.data,
        "open_tasks": [{"id": i.id, "task_spec": i.task_spec, "name": i.name, "candidate_group": i.candidate_group,
                        "assignee": i.assignee, "due_at": i.due_at} for i in inst.open_items],
        "deadlines": [dict(c.__dict__) for c in sla.clocks_of(db, instance_id)],
        "documents": docs,
        "history": evs,
        "replay": rep,
        "chain": {"ok": chain.ok, "events": chain.events, "first_bad_seq": chain.first_bad_seq,
                  "reason": chain.reason, "message": str(chain)},
    }

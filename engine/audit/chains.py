"""Checking the history: every instance's hash chain, against the head its row records; the case
file an auditor exports, and checking such a file offline (`yekuo audit verify --file`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
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
            "task_spec": r.task_spec, "payload": history.payload_of(r), "prev_hash": r.prev_hash, "hash": r.hash}
           for r in rows]
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
                  "reason": chain.reason, "message": str(chain), "head_seq": len(rows),
                  "head_hash": rows[-1].hash if rows else history.GENESIS},
        "hashing": HASHING,
    }


#: How the file's hashes are made, written into every exported case file so anyone can check it.
HASHING = {
    "algorithm": "SHA-256",
    "genesis": history.GENESIS,
    "event_hash": "hash = hex(SHA-256(prev_hash ‖ H ‖ P)), where prev_hash is the previous event's hash as "
                  "64 ASCII hex digits (the first event's is the genesis, 64 zeros); H is the compact JSON "
                  "array [instance.id, seq, type, at, actor, task_id, task_spec] (no spaces, non-ASCII as "
                  "UTF-8, `at` in UTC as ISO-8601 with microseconds and +00:00); P is the payload as "
                  "canonical JSON: keys sorted, no whitespace, UTF-8, non-ASCII not escaped.",
    "chain": "each event's prev_hash equals the hash of the event before it; the last event's hash is the "
             "case's chain head (chain.head_hash), which the signed daily anchor records",
    "document": "integrity.document_sha256 is SHA-256 over the canonical JSON (as P above) of this whole "
                "file with integrity.document_sha256 removed",
}


def _plain(value: Any) -> Any:
    """The JSON form of a case file: datetimes and dates as ISO-8601 text."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _document_digest(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "integrity"}
    body["integrity"] = {k: v for k, v in (doc.get("integrity") or {}).items() if k != "document_sha256"}
    return hashlib.sha256(history.canonical(body).encode()).hexdigest()


def export(db: Database, instance_id: int) -> dict[str, Any]:
    """The case file as JSON to hand out: every event with prev_hash and hash, the hashing rules, and a
    digest of the whole document, so `verify_file` can check it without the database."""
    doc = orjson.loads(orjson.dumps(_plain(case_file(db, instance_id)), default=str))
    doc["integrity"] = {"algorithm": "SHA-256"}
    doc["integrity"]["document_sha256"] = _document_digest(doc)
    return doc


@dataclass
class FileReport:
    ok: bool
    events: int
    problems: list[str]

    def __str__(self) -> str:
        if self.ok:
            return f"case file intact: {self.events} event(s), chain and document digest verified"
        return "case file NOT intact: " + "; ".join(self.problems)


def verify_file(doc: Any) -> FileReport:
    """Check an exported case file offline: the event chain, its head, and the document digest."""
    problems: list[str] = []
    if not (isinstance(doc, dict) and isinstance(doc.get("history"), list) and isinstance(doc.get("instance"), dict)):
        return FileReport(False, 0, ["not a Yekuo case file (no instance or history)"])
    instance_id = doc["instance"].get("id")
    rows = []
    for i, ev in enumerate(doc["history"]):
        try:
            rows.append(SimpleNamespace(
                instance_id=instance_id, seq=ev["seq"], type=ev["type"], at=dt.datetime.fromisoformat(ev["at"]),
                actor=ev.get("actor"), task_id=ev.get("task_id"), task_spec=ev.get("task_spec"),
                payload=history.canonical(ev["payload"]), prev_hash=ev["prev_hash"], hash=ev["hash"]))
        except (KeyError, TypeError, ValueError) as exc:
            return FileReport(False, i, [f"history entry {i + 1} is malformed ({type(exc).__name__}: {exc})"])
    chain = (doc.get("chain") or {})
    head = (chain.get("head_seq"), chain.get("head_hash")) if "head_hash" in chain else None
    report = history.verify_rows(instance_id, rows, head)
    if not report.ok:
        problems.append(f"event {report.first_bad_seq} {report.reason}")
    integrity = doc.get("integrity") or {}
    if integrity.get("document_sha256") != _document_digest(doc):
        problems.append("the document digest does not match: the file was changed after export")
    return FileReport(not problems, len(rows), problems)

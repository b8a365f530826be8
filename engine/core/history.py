"""The append-only, hash-chained history of each instance.

Each event's hash is SHA-256 over the previous hash and a canonical JSON rendering of the event's
fields (payload included, as the exact text stored). Editing, deleting, inserting or reordering an
event therefore breaks the chain from that event on. The chain alone does not stop someone with
write access from rewriting a whole chain consistently; anchoring chain heads is documented in
docs/architecture.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from engine.core.models import event_t

GENESIS = "0" * 64


@dataclass
class NewEvent:
    """An event that a command will append (seq and hashes are assigned at write time)."""

    type: str
    at: dt.datetime
    actor: str | None = None
    task_id: str | None = None
    task_spec: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def canonical(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def chain_hash(prev_hash: str, instance_id: int, seq: int, type_: str, at: dt.datetime,
               actor: str | None, task_id: str | None, task_spec: str | None, payload_text: str) -> str:
    head = orjson.dumps([instance_id, seq, type_, _iso(at), actor, task_id, task_spec])
    h = hashlib.sha256(prev_hash.encode())
    h.update(head)
    h.update(payload_text.encode())
    return h.hexdigest()


def chain_rows(instance_id: int, start_seq: int, prev_hash: str,
               events: Iterable[NewEvent]) -> tuple[list[dict[str, Any]], int, str]:
    """Rows ready to insert, plus the new (last seq, last hash) for the instance row."""
    rows = []
    seq = start_seq
    for ev in events:
        seq += 1
        text = canonical(ev.payload)
        digest = chain_hash(prev_hash, instance_id, seq, ev.type, ev.at, ev.actor, ev.task_id,
                            ev.task_spec, text)
        rows.append({"instance_id": instance_id, "seq": seq, "type": ev.type, "at": ev.at,
                     "actor": ev.actor, "task_id": ev.task_id, "task_spec": ev.task_spec,
                     "payload": text, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    return rows, seq, prev_hash


_INSERT = insert(event_t)


def append(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_INSERT, rows)


@dataclass
class ChainReport:
    instance_id: int
    events: int
    ok: bool
    first_bad_seq: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"instance {self.instance_id}: {self.events} events, chain intact"
        return f"instance {self.instance_id}: event {self.first_bad_seq} {self.reason}"


def verify_rows(instance_id: int, rows: Iterable[Any], head: tuple[int, str] | None = None) -> ChainReport:
    """Check one instance's events in seq order; `head` is (event_seq, last_hash) from its row."""
    prev, expected_seq, n = GENESIS, 1, 0
    for r in rows:
        n += 1
        if r.seq != expected_seq:
            return ChainReport(instance_id, n, False, expected_seq,
                               f"is missing or out of order (found seq {r.seq} in its place)")
        if r.prev_hash != prev:
            return ChainReport(instance_id, n, False, r.seq, "does not link to the event before it")
        digest = chain_hash(prev, r.instance_id, r.seq, r.type, r.at, r.actor, r.task_id,
                            r.task_spec, r.payload)
        if digest != r.hash:
            return ChainReport(instance_id, n, False, r.seq, "was altered (hash mismatch)")
        prev, expected_seq = r.hash, expected_seq + 1
    if head is not None:
        last_seq, last_hash = head
        if n < last_seq:
            return ChainReport(instance_id, n, False, n + 1,
                               f"is missing: the chain ends at {n} but the instance records {last_seq} events")
        if n > last_seq:
            return ChainReport(instance_id, n, False, last_seq + 1,
                               f"was added after the instance's last recorded event ({last_seq})")
        if n and prev != last_hash:
            return ChainReport(instance_id, n, False, n, "does not match the chain head the instance records")
    return ChainReport(instance_id, n, True)


def events_of(conn: Connection, instance_id: int) -> Iterator[Any]:
    yield from conn.execute(select(event_t).where(event_t.c.instance_id == instance_id)
                            .order_by(event_t.c.seq))


def payload_of(row: Any) -> dict[str, Any]:
    return orjson.loads(row.payload)

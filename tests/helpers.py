"""Small drivers shared by the engine tests."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lxml import etree

from engine.core import actors, runtime, store, worklist
from engine.core.db import Database

ALL_GROUPS = frozenset({"clerk", "dispatcher", "surveyor", "manager", "reviewer", "metering", "lead"})


def actor(name: str = "tester", *groups: str) -> actors.Actor:
    return actors.Actor(name, frozenset(groups) if groups else ALL_GROUPS)


def open_items(db: Database, instance_id: int) -> dict[str, worklist.WorkItemView]:
    return {i.task_spec: i for i in worklist.items(db, worklist.TaskFilter(instance_id=instance_id))}


def complete(db: Database, instance_id: int, spec: str, data: dict[str, Any] | None = None,
             who: actors.Actor | None = None) -> store.Outcome:
    items = open_items(db, instance_id)
    assert spec in items, f"{spec} is not open; open: {sorted(items)}"
    return runtime.complete_task(db, items[spec].id, data or {}, actor=who or actor())


ACCEPT = {"customer_name": "张三", "capacity_kw": 250, "phone": "13800138000", "address": "幸福路 1 号"}


def drive_engine_model(db: Database, instance_id: int, *, doc_rounds: int = 0, design_rounds: int = 0) -> None:
    """Walk the engine test model from acceptance to the end."""
    complete(db, instance_id, "accept", ACCEPT)
    complete(db, instance_id, "verify_identity")
    for _ in range(doc_rounds):
        complete(db, instance_id, "check_docs", {"docs_complete": False})
        complete(db, instance_id, "request_docs")
    complete(db, instance_id, "check_docs", {"docs_complete": True})
    for spec in ("schedule_survey", "confirm_appointment", "perform_survey", "record_survey",
                 "draft_scheme", "approve_scheme", "reply_scheme"):
        complete(db, instance_id, spec)
    for _ in range(design_rounds):
        complete(db, instance_id, "design_review", {"approved": False})
        complete(db, instance_id, "revise_design")
    complete(db, instance_id, "design_review", {"approved": True})
    for spec in ("sign_contract", "prepare_meter", "collect_fee", "inspection", "install_meter",
                 "energize", "archive", "callback"):
        complete(db, instance_id, spec)


def clone_waiting_instances(db: Database, template_id: int, n: int) -> list[int]:
    """N copies of an instance's state and pending BPMN timers, made in SQL (set-up for load tests).

    Every task id in the state is replaced by a fresh one per copy, as SpiffWorkflow has already
    created (with ids) the tasks a firing timer will make ready.
    """
    import re
    import uuid

    from sqlalchemy import insert, select

    from engine.core.codec import compress, decompress
    from engine.core.models import instance_t, timer_t

    uuid_re = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    with db.write() as conn:
        template = conn.execute(select(instance_t).where(instance_t.c.id == template_id)).one()
        pending = conn.execute(select(timer_t).where(timer_t.c.instance_id == template_id,
                                                     timer_t.c.fired_at.is_(None))).all()
        raw = decompress(template.state)
        cols = {c.name: getattr(template, c.name) for c in instance_t.columns if c.name != "id"}
        ids: list[int] = []
        timers: list[dict[str, Any]] = []
        for start in range(0, n, 500):
            rows, maps = [], []
            for _ in range(min(500, n - start)):
                mapping: dict[bytes, bytes] = {}
                state = uuid_re.sub(lambda m: mapping.setdefault(m.group(0), str(uuid.uuid4()).encode()), raw)
                rows.append(dict(cols, state=compress(state), business_key=f"C{uuid.uuid4().hex[:12]}"))
                maps.append(mapping)
            new_ids = conn.execute(insert(instance_t).returning(instance_t.c.id, sort_by_parameter_order=True),
                                   rows).scalars().all()
            for iid, mapping in zip(new_ids, maps):
                timers += [{"instance_id": iid, "task_id": mapping[t.task_id.encode()].decode(), "purpose": t.purpose,
                            "due_at": t.due_at, "payload": t.payload} for t in pending]
            ids += new_ids
        conn.execute(insert(timer_t), timers)
    return ids


def xml_signatures(xml: bytes | str) -> Counter:
    """Every element of a BPMN file with its owner id, tag, attributes and text: what a modeler's
    open-and-save must keep (bpmn-js drops `cancelActivity="true"`, the default, so it is ignored)."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    out: Counter = Counter()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        owner = el
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        attrs = {k: v for k, v in el.attrib.items() if not (k == "cancelActivity" and v == "true")}
        out[(owner.get("id") if owner is not None else None, el.tag, tuple(sorted(attrs.items())),
             (el.text or "").strip())] += 1
    return out

"""Anchors catch what the chain alone cannot: a whole chain rewritten consistently."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from engine.audit import anchor, chains as audit
from engine.core import history, runtime
from engine.core.models import event_t, instance_t
from tests.helpers import ACCEPT, complete

KEY = b"kept-outside-the-database"


@pytest.fixture
def cases(db, engine_model):
    a = runtime.start_instance(db, "engine_model").instance_id
    complete(db, a, "accept", ACCEPT)
    b = runtime.start_instance(db, "engine_model").instance_id
    return a, b


def _rewrite_chain(db, iid):
    """What an attacker with database access can do: edit an event and re-hash everything after it."""
    with db.write() as conn:
        rows = list(history.events_of(conn, iid))
        prev = history.GENESIS
        for r in rows:
            payload = r.payload.replace("张三", "王五")
            digest = history.chain_hash(prev, iid, r.seq, r.type, r.at, r.actor, r.task_id, r.task_spec, payload)
            conn.execute(update(event_t).where(event_t.c.id == r.id).values(payload=payload, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(instance_t).where(instance_t.c.id == iid).values(last_hash=prev))


def test_anchor_holds_then_catches_a_consistent_rewrite(db, cases, tmp_path):
    a, b = cases
    doc = anchor.create(db, KEY)
    path = anchor.write(doc, tmp_path)
    assert doc["instances"] == 2 and json.loads(path.read_text())["digest"] == doc["digest"]
    assert anchor.check(db, anchor.load(path), KEY).ok
    _rewrite_chain(db, a)
    assert all(r.ok for r in audit.verify(db))  # the chain alone cannot tell
    result = anchor.check(db, anchor.load(path), KEY)
    assert not result.ok and result.problems == [f"instance {a}: event 2 was rewritten after the anchor"]


def test_events_after_the_anchor_are_fine(db, cases):
    a, _ = cases
    doc = anchor.create(db, KEY)
    complete(db, a, "verify_identity")
    assert anchor.check(db, doc, KEY).ok


def test_forged_anchor_files_are_refused(db, cases):
    doc = anchor.create(db, KEY)
    assert not anchor.check(db, doc, b"another key").ok
    forged = dict(doc, heads=[h[:2] + ["0" * 64] for h in doc["heads"]])
    assert anchor.check(db, forged, KEY).problems == ["the list of heads does not match the anchored digest"]
    with pytest.raises(anchor.AnchorError):
        anchor.check(db, {"format": "something else"}, KEY)
    with pytest.raises(anchor.AnchorError, match="YEKUO_ANCHOR_KEY"):
        anchor.create(db, b"")


def test_deleted_anchored_event_is_reported(db, cases):
    a, _ = cases
    doc = anchor.create(db, KEY)
    with db.write() as conn:
        last = conn.execute(select(instance_t.c.event_seq).where(instance_t.c.id == a)).scalar()
        conn.execute(event_t.delete().where(event_t.c.instance_id == a, event_t.c.seq == last))
    assert anchor.check(db, doc, KEY).problems == [f"instance {a}: event {last} is gone"]


def test_anchor_files_are_never_overwritten(db, cases, tmp_path):
    doc = anchor.create(db, KEY)
    anchor.write(doc, tmp_path)
    with pytest.raises(FileExistsError):
        anchor.write(doc, tmp_path)

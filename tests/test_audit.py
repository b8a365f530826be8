"""Tamper evidence: any edit, deletion, insertion or reordering of history is found and named."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert, select, update

from engine.audit import chains as audit
from engine.core import history, runtime
from engine.core.models import event_t
from tests.helpers import ACCEPT, complete


@pytest.fixture
def case(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})
    other = runtime.start_instance(db, "engine_model").instance_id
    return iid, other


def _event(db, iid, seq):
    with db.read() as conn:
        return conn.execute(select(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == seq)).one()


def _verdict(db, iid):
    [report] = audit.verify(db, iid)
    return report


def test_untouched_chains_verify(db, case):
    reports = audit.verify(db)
    assert len(reports) == 2 and all(r.ok for r in reports)
    assert reports[0].events == 4


def test_edited_payload_is_detected_at_that_event(db, case):
    iid, other = case
    with db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 2)
                     .values(payload=_event(db, iid, 2).payload.replace("张三", "李四")))
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 2) and "altered" in report.reason
    assert _verdict(db, other).ok


def test_edit_with_recomputed_hash_breaks_the_next_link(db, case):
    iid, _ = case
    row = _event(db, iid, 2)
    text = row.payload.replace("张三", "李四")
    forged = history.chain_hash(row.prev_hash, iid, 2, row.type, row.at, row.actor, row.task_id, row.task_spec, text)
    with db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.id == row.id).values(payload=text, hash=forged))
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 3) and "does not link" in report.reason


def test_edited_actor_or_time_is_detected(db, case):
    iid, _ = case
    with db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 3).values(actor="someone"))
    assert _verdict(db, iid).first_bad_seq == 3


def test_deleted_event_is_detected(db, case):
    iid, _ = case
    with db.write() as conn:
        conn.execute(delete(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 2))
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_deleted_last_event_is_detected_against_the_head(db, case):
    iid, _ = case
    with db.write() as conn:
        conn.execute(delete(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 4))
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 4) and "missing" in report.reason


def test_inserted_event_is_detected(db, case):
    iid, _ = case
    last = _event(db, iid, 4)
    rows, _, _ = history.chain_rows(iid, 4, last.hash, [history.NewEvent("task_completed", last.at, actor="ghost")])
    with db.write() as conn:
        conn.execute(insert(event_t), rows)
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 5) and "added" in report.reason


def test_reordered_events_are_detected(db, case):
    iid, _ = case
    with db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 2).values(seq=-2))
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 3).values(seq=2))
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == -2).values(seq=3))
    report = _verdict(db, iid)
    assert (report.ok, report.first_bad_seq) == (False, 2)

"""BPMN timers: persisted due times, fired once by `fire_due`, also with several workers."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from engine.core import runtime, step, timers
from engine.core.models import event_t, timer_t
from tests.helpers import ACCEPT, complete, open_items


def _to_schedule(db, iid):
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})


def test_boundary_timer_is_stored_with_its_due_time(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    _to_schedule(db, iid)
    [row] = timers.pending(db)
    assert row["instance_id"] == iid and row["purpose"] == step.CLOCK_TIMER
    assert row["due_at"] == clock.now() + dt.timedelta(days=2)


def test_nothing_fires_before_it_is_due(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    _to_schedule(db, iid)
    report = timers.fire_due(db, clock.now() + dt.timedelta(days=2))  # due == now: not yet past
    assert report.fired == 0
    assert "chase_survey" not in open_items(db, iid)


def test_due_timer_fires_once_and_opens_the_reminder_task(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    _to_schedule(db, iid)
    later = clock.now() + dt.timedelta(days=2, minutes=1)
    assert timers.fire_due(db, later).fired == 1
    items = open_items(db, iid)
    assert set(items) == {"schedule_survey", "chase_survey"}  # non-interrupting
    assert items["chase_survey"].candidate_group == "lead"
    assert timers.fire_due(db, later + dt.timedelta(days=5)).fired == 0
    with db.read() as conn:
        fired = conn.execute(select(event_t.c.at, event_t.c.payload).where(
            event_t.c.instance_id == iid, event_t.c.type == "timer_fired")).all()
    assert len(fired) == 1 and fired[0].at == later


def test_completing_the_task_removes_its_pending_timer(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    _to_schedule(db, iid)
    complete(db, iid, "schedule_survey")
    assert timers.pending(db) == []
    assert timers.fire_due(db, clock.now() + dt.timedelta(days=30)).fired == 0


def test_catch_up_after_downtime_fires_everything_once_oldest_first(db, engine_model, clock):
    ids = []
    for hour in range(5):
        clock.set(dt.datetime(2026, 3, 2, 1 + hour, tzinfo=dt.timezone.utc))
        iid = runtime.start_instance(db, "engine_model").instance_id
        _to_schedule(db, iid)
        ids.append(iid)
    report = timers.fire_due(db, dt.datetime(2026, 3, 20, tzinfo=dt.timezone.utc), batch=2)
    assert (report.fired, report.instances) == (5, 5)
    with db.read() as conn:
        order = list(conn.execute(select(timer_t.c.instance_id).order_by(timer_t.c.fired_at, timer_t.c.id)).scalars())
    assert sorted(order) == sorted(ids)
    assert timers.fire_due(db, dt.datetime(2026, 3, 21, tzinfo=dt.timezone.utc)).fired == 0


def test_two_workers_fire_each_timer_exactly_once(db, engine_model, clock):
    n = 12
    for _ in range(n):
        _to_schedule(db, runtime.start_instance(db, "engine_model").instance_id)
    at = clock.now() + dt.timedelta(days=3)
    reports = []

    def work(name):
        reports.append(timers.fire_due(db, at, worker=name, batch=3))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.fired for r in reports) == n
    with db.read() as conn:
        fired_events = conn.execute(select(func.count()).select_from(event_t).where(event_t.c.type == "timer_fired")).scalar()
        unfired = conn.execute(select(func.count()).select_from(timer_t).where(timer_t.c.fired_at.is_(None))).scalar()
    assert (fired_events, unfired) == (n, 0)


def test_an_expired_lease_is_taken_over(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    _to_schedule(db, iid)
    at = clock.now() + dt.timedelta(days=3)
    claimed = timers.claim_due(db, at, "crashed-worker")  # claims, then dies before firing
    assert len(claimed) == 1
    assert timers.fire_due(db, at, worker="other").fired == 0  # the lease still holds
    assert timers.fire_due(db, at + timers.LEASE + dt.timedelta(seconds=1), worker="other").fired == 1
    assert "chase_survey" in open_items(db, iid)


def test_a_failing_timer_is_parked_and_the_rest_still_fire(db, engine_model, clock, monkeypatch):
    from sqlalchemy import insert

    ids = []
    for _ in range(3):
        iid = runtime.start_instance(db, "engine_model").instance_id
        _to_schedule(db, iid)
        ids.append(iid)

    def boom(*_args):
        raise RuntimeError("notice service unreachable")

    monkeypatch.setitem(timers.HANDLERS, "test_boom", boom)
    with db.write() as conn:
        conn.execute(insert(timer_t).values(instance_id=ids[0], task_id="boom", purpose="test_boom",
                                            due_at=clock.now(), payload={}))
    at = clock.now() + dt.timedelta(days=3)
    report = timers.fire_due(db, at)
    assert report.fired == 3 and len(report.failed) == 1 and "notice service unreachable" in report.failed[0]
    assert all("chase_survey" in open_items(db, iid) for iid in ids)
    with db.read() as conn:
        parked = conn.execute(select(timer_t).where(timer_t.c.purpose == "test_boom")).one()
    assert parked.fired_at is None and parked.claimed_until == at + timers.LEASE  # retried after the lease
    assert timers.fire_due(db, at).fired == 0  # not hammered again in the same minute

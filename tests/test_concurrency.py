"""Optimistic locking with real threads: exactly one of several concurrent commands wins."""

from __future__ import annotations

import threading

import pytest

from engine.audit import chains as audit
from engine.core import queries, runtime
from engine.core.errors import Conflict
from tests.helpers import ACCEPT, actor, open_items

THREADS = 6


def _race(fn, n=THREADS):
    barrier = threading.Barrier(n)
    results: list = []

    def run(i):
        barrier.wait()
        try:
            results.append(("ok", fn(i)))
        except Conflict as exc:
            results.append(("conflict", exc))
        except Exception as exc:  # anything else is a bug the test reports
            results.append(("error", exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("rounds", [3])
def test_same_task_completed_concurrently_has_one_winner(db, engine_model, rounds):
    for _ in range(rounds):
        iid = runtime.start_instance(db, "engine_model").instance_id
        item = open_items(db, iid)["accept"]
        results = _race(lambda i: runtime.complete_task(db, item.id, ACCEPT, actor=actor(f"user{i}")))
        kinds = sorted(k for k, _ in results)
        assert kinds.count("ok") == 1, results
        assert kinds.count("conflict") == THREADS - 1, results
        assert set(open_items(db, iid)) == {"verify_identity"}
        assert all(r.ok for r in audit.verify(db, iid))


def test_concurrent_claims_have_one_winner(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    item = open_items(db, iid)["accept"]
    results = _race(lambda i: runtime.claim(db, item.id, actor=actor(f"clerk{i}", "clerk")))
    winners = [v for k, v in results if k == "ok"]
    assert len(winners) == 1 and [k for k, _ in results].count("conflict") == THREADS - 1
    assert queries.get_work_item(db, item.id).assignee == winners[0].assignee


def test_commands_on_different_instances_do_not_conflict(db, engine_model):
    ids = [runtime.start_instance(db, "engine_model").instance_id for _ in range(THREADS)]
    items = [open_items(db, iid)["accept"] for iid in ids]
    results = _race(lambda i: runtime.complete_task(db, items[i].id, ACCEPT, actor=actor()))
    assert [k for k, _ in results] == ["ok"] * THREADS, [repr(v) for k, v in results if k != "ok"]


def test_state_serialization_is_thread_safe(db, engine_model):
    """SpiffWorkflow's registry flips a mode flag while serializing; each thread needs its own."""
    import datetime as dt

    from engine.core import definitions
    from engine.core.codec import CODEC

    iid = runtime.start_instance(db, "engine_model", {"at": dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc),
                                                      "amount": 1.5}).instance_id
    definition = definitions.load(db, queries.get_instance(db, iid).definition_id)
    with db.read() as conn:
        from sqlalchemy import select

        from engine.core.models import instance_t

        blob = conn.execute(select(instance_t.c.state).where(instance_t.c.id == iid)).scalar()
    expected = CODEC.dumps(CODEC.loads(blob, definition.spec, definition.subprocess_specs))
    results = _race(lambda i: {CODEC.dumps(CODEC.loads(blob, definition.spec, definition.subprocess_specs))
                               for _ in range(100)}, n=4)
    assert [k for k, _ in results] == ["ok"] * 4
    assert all(v == {expected} for _, v in results)

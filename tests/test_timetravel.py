"""Time travel: a case as of any of its events, rebuilt by replay, on real cases of the bundled models."""

from __future__ import annotations

import pytest

from engine.audit import chains as audit
from engine.audit import diagrams, timetravel
from engine.core import queries
from engine.core.errors import NotFound
from tests.process_helpers import deploy, run


@pytest.fixture
def models(db, clock):
    return deploy(db)


def _main(found):
    return found.diagrams[0] if hasattr(found, "diagrams") else found[0]


def _by_process(ds):
    return {d.process: d for d in ds}


def test_as_of_the_last_event_is_the_case_now(db, clock, models):
    case = run("lv_res_surveyed_overdue", db, clock)  # a boundary timer fired, a second field job
    inst = queries.get_instance(db, case.iid)
    rows, total = audit.events(db, case.iid)
    found = timetravel.as_of(db, case.iid, total)
    assert found.replay_ok and found.seq == found.last_seq == total
    assert found.status == inst.status
    assert found.data == inst.data
    assert [t.task_spec for t in found.open_tasks] == sorted(i.task_spec for i in inst.open_items)
    now = _by_process(diagrams.instance_diagrams(db, case.iid))
    then = _by_process(found.diagrams)
    assert set(now) == set(then)
    for process, d in now.items():
        t = then[process]
        assert (t.completed, t.flows, sorted(t.active), sorted(t.waiting), t.failed) == \
               (d.completed, d.flows, sorted(d.active), sorted(d.waiting), d.failed), process


def test_as_of_the_first_events_shows_only_the_first_tasks(db, clock, models):
    case = run("lv_res_merged", db, clock)
    first = timetravel.as_of(db, case.iid, 1)
    assert first.event["type"] == "instance_started"
    assert [t.task_spec for t in first.open_tasks] == ["accept"]
    main = _main(first)
    assert main.active == ["accept"] and "accept" not in main.completed
    assert all(n == 1 for n in main.completed.values())
    assert first.status == "running"
    # the acceptance: what the clerk entered appears as changes, and the next tasks open
    rows, _ = audit.events(db, case.iid, types=["task_completed"])
    accept = rows[0]
    assert accept.task_spec == "accept"
    after = timetravel.as_of(db, case.iid, accept.seq)
    assert after.changes["customer_name"]["change"] == "added"
    assert after.changes["customer_name"]["after"] == after.data["customer_name"]
    assert "customer_name" not in after.data_before
    assert _main(after).completed["accept"] == 1
    assert "accept" not in [t.task_spec for t in after.open_tasks]
    assert after.open_tasks and after.status == "running"


def test_a_loop_shows_counts_above_one_and_earlier_events_show_fewer(db, clock, models):
    case = run("hv_dual_important", db, clock)  # design rejected once: reviewed twice
    rows, total = audit.events(db, case.iid, types=["task_completed"])
    reviews = [r.seq for r in rows if r.task_spec == "review_design"]
    assert len(reviews) == 2

    def count(seq):
        found = timetravel.as_of(db, case.iid, seq)
        return sum(d.completed.get("review_design", 0) for d in found.diagrams)

    assert count(reviews[0]) == 1
    assert count(reviews[1]) == 2
    assert count(reviews[0] - 1) == 0
    between = timetravel.as_of(db, case.iid, reviews[0])
    assert "review_design" not in [t.task_spec for t in between.open_tasks]  # back to the customer first


def test_a_non_input_event_changes_no_data_and_a_withdrawal_closes_everything(db, clock, models):
    case = run("withdraw_during_lv", db, clock)
    rows, total = audit.events(db, case.iid)
    claims_or_sla = [r for r in rows if r.type.startswith("sla_") or r.type == "service_called"]
    assert claims_or_sla
    quiet = timetravel.as_of(db, case.iid, claims_or_sla[0].seq)
    assert quiet.changes == {}
    last = timetravel.as_of(db, case.iid, total)
    assert last.open_tasks == [] and last.status == queries.get_instance(db, case.iid).status


def test_unknown_instance_or_event(db, clock, models):
    case = run("withdraw_at_accept", db, clock)
    with pytest.raises(NotFound):
        timetravel.as_of(db, case.iid, 999)
    with pytest.raises(NotFound):
        timetravel.as_of(db, 424242, 1)
    with pytest.raises(NotFound):
        audit.events(db, 424242)


def test_history_filters_by_type_and_actor(db, clock, models):
    case = run("lv_res_merged", db, clock)
    everything, total = audit.events(db, case.iid)
    done, total2 = audit.events(db, case.iid, types=["task_completed"])
    assert total == total2 == len(everything)
    assert done and {r.type for r in done} == {"task_completed"}
    clerk, _ = audit.events(db, case.iid, actor="demo-clerk")
    assert clerk and {r.actor for r in clerk} == {"demo-clerk"}
    both, _ = audit.events(db, case.iid, types=["task_completed", "instance_started"], actor="demo-clerk")
    assert {r.type for r in both} == {"task_completed"}
    actors, types = audit.actors_and_types(db, case.iid)
    assert "demo-clerk" in actors and "instance_started" in types


def test_diff():
    assert timetravel.diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"change": "changed", "before": 2, "after": 3},
        "c": {"change": "added", "before": None, "after": 4}}
    assert timetravel.diff({"x": 1}, {}) == {"x": {"change": "removed", "before": 1, "after": None}}

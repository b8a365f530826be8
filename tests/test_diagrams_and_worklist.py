"""The read modules behind the staff pages: `engine.audit.diagrams` (a case's path on its diagrams) and
`engine.core.worklist` (work lists with case columns, filters and counts), on both backends."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.audit import diagrams
from engine.core import actors, queries, runtime, worklist
from engine.core import clock as engine_clock
from engine.core.db import Database
from engine.core.errors import NotFound
from engine.core.worklist import TaskFilter
from engine.deadlines import rule_versions
from tests.process_helpers import complete, deploy, drive, example, start_case


@pytest.fixture
def bundled(calendar_db: Database, clock: engine_clock.FixedClock) -> Database:
    rule_versions.seed_rule_sets(calendar_db)
    deploy(calendar_db)
    return calendar_db


def test_diagram_marks_the_path_taken_and_what_is_open(bundled: Database) -> None:
    iid = start_case(bundled)
    complete(bundled, iid, "accept")
    found = {d.process: d for d in diagrams.instance_diagrams(bundled, iid)}
    assert list(found)[0] == "new_connection"
    main = found["new_connection"]
    assert main.file == "new_connection.bpmn" and "<bpmn:process id=\"new_connection\"" in main.xml
    for element in ("start", "accept", "assign_number", "classify_type", "notify_accepted", "split", "route_gw"):
        assert main.completed.get(element) == 1, element
    assert "lv_delivery" in main.active and "hv_delivery" not in main.active
    assert "join" in main.waiting  # the parallel join waits for the delivery branch
    assert main.flows.get("Flow_start_accept") == 1
    assert main.flows.get("Flow_route_gw_lv_delivery") == 1  # taken by the token now in lv_delivery
    assert "Flow_route_gw_hv_delivery" not in main.flows
    assert "hv_delivery" not in found  # never entered
    assert found["contract"].active == ["sign_standard"]
    assert found["lv_delivery"].active == ["contract"]


def test_diagram_counts_repeated_elements(bundled: Database) -> None:
    iid = start_case(bundled)
    drive(bundled, iid, until="do_install")
    field_job = {d.process: d for d in diagrams.instance_diagrams(bundled, iid)}["field_job"]
    assert field_job.completed["book_appointment"] == 1
    assert field_job.active == ["do_install"]


def test_definition_xml_and_unknown_processes(bundled: Database) -> None:
    iid = start_case(bundled)
    inst = queries.get_instance(bundled, iid, with_data=False)
    assert "<bpmn:process id=\"new_connection\"" in diagrams.definition_xml(bundled, inst.definition_id)
    assert "<bpmn:process id=\"field_job\"" in diagrams.definition_xml(bundled, inst.definition_id, "field_job")
    with pytest.raises(NotFound):
        diagrams.definition_xml(bundled, inst.definition_id, "no_such_process")
    with pytest.raises(NotFound):
        diagrams.instance_diagrams(bundled, 999_999)


def test_worklist_filter_sort_and_count(bundled: Database, clock: engine_clock.FixedClock) -> None:
    resident = start_case(bundled)
    high_voltage = start_case(bundled)
    drive(bundled, high_voltage, {"accept": example("accept", 2)}, until="reply_scheme")
    complete(bundled, resident, "accept")
    waiting = start_case(bundled)  # still at acceptance, no business type yet

    clerk_rows, total = worklist.search(bundled, TaskFilter(visible_groups={"clerk"}, unassigned=True))
    assert total == 2 and {r.instance_id for r in clerk_rows} == {resident, waiting}
    assert {r.task_spec for r in clerk_rows} == {"sign_standard", "accept"}
    row = next(r for r in clerk_rows if r.instance_id == resident)
    assert row.business_type == "lv_res" and row.customer_name == "张伟" and row.business_key

    rows, _ = worklist.search(bundled, TaskFilter(visible_groups={"clerk", "manager"}, business_type="hv_dual"))
    assert [(r.instance_id, r.task_spec) for r in rows] == [(high_voltage, "reply_scheme")]
    due = rows[0].due_at
    assert due is not None

    everything, total = worklist.search(bundled)
    assert total == 3 and everything[0].due_at == due  # deadlines first

    assert worklist.search(bundled, TaskFilter(overdue=True, now=clock.now()))[1] == 0
    later = due + dt.timedelta(hours=1)
    assert [r.instance_id for r in worklist.search(bundled, TaskFilter(overdue=True, now=later))[0]] == [high_voltage]
    assert worklist.search(bundled, TaskFilter(due_before=due))[1] == 1

    manager = actors.Actor("mgr", frozenset({"manager"}))
    runtime.claim(bundled, rows[0].id, actor=manager)
    assert worklist.search(bundled, TaskFilter(assignee="mgr"))[1] == 1
    assert worklist.counts(bundled, user="mgr", groups={"manager"}, now=later) == \
        {"mine": 1, "group": 0, "overdue": 1}
    assert worklist.counts(bundled, user="someone", groups={"clerk"}, now=clock.now()) == \
        {"mine": 0, "group": 2, "overdue": 0}
    assert worklist.counts(bundled, user="nobody", groups=frozenset(), now=clock.now()) == \
        {"mine": 0, "group": 0, "overdue": 0}

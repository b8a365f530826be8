"""Replay re-runs recorded histories and must reproduce trail, data, status and deadlines."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from engine.audit import replay
from engine.core import definitions, runtime, services, timers
from engine.core.models import event_t
from engine.deadlines import calendar_import, rule_versions, sla
from tests.conftest import ENGINE_MODEL
from tests.helpers import ACCEPT, actor, complete, drive_engine_model, open_items
from tests.test_sla import TEST_RULES, at, start_case


def _ok(db, iid):
    report = replay.replay(db, iid)
    assert report.ok, str(report)
    return report


def test_a_full_run_with_loops_replays_exactly(db, engine_model):
    iid = runtime.start_instance(db, "engine_model", {"channel": "app"}).instance_id
    drive_engine_model(db, iid, doc_rounds=1, design_rounds=2)
    report = _ok(db, iid)
    assert report.inputs == 1 + 19 + 2 + 4 and report.final["status"] == "completed"


def test_a_running_case_with_a_timer_and_claims_replays(db, engine_model, clock):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})
    item = open_items(db, iid)["schedule_survey"]
    runtime.claim(db, item.id, actor=actor("li", "dispatcher"))
    runtime.unclaim(db, item.id, actor=actor("li", "dispatcher"))
    timers.fire_due(db, clock.now() + dt.timedelta(days=3))
    complete(db, iid, "chase_survey")
    report = _ok(db, iid)
    assert report.final["open_tasks"] == ["schedule_survey"]


def test_errors_retries_and_service_results_replay(db, clock):
    state = {"fail": True}

    def flaky(call):
        if state["fail"]:
            raise RuntimeError("billing system down")
        return {"ok": True}

    services.register("test/flaky", flaky)
    try:
        definitions.deploy_paths(db, [ENGINE_MODEL / "service_retry.bpmn"], forms_dir=ENGINE_MODEL / "forms")
        iid = runtime.start_instance(db, "service_retry", {"amount": 100, "parts": 4}).instance_id
        state["fail"] = False
        runtime.retry(db, iid, actor=actor("ops"))
        _ok(db, iid)
        state["fail"] = True  # replay never calls the handler: the recorded result is used
        _ok(db, iid)
    finally:
        services.unregister("test/flaky")


def test_cancelled_case_replays(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    runtime.cancel(db, iid, actor=actor("supervisor"), reason="withdrawn")
    assert _ok(db, iid).final["status"] == "cancelled"


def test_deadlines_with_pauses_replay(db, clock):
    calendar_import.seed_from_package(db)
    rule_versions.load_rule_set(db, TEST_RULES, activate=True)
    definitions.deploy_paths(db, [ENGINE_MODEL / "sla_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    iid = start_case(db, clock, at(2026, 2, 13))
    clock.set(at(2026, 2, 24))
    sla.pause(db, iid, reason="customer_documents", actor="li")
    clock.set(at(2026, 2, 27))
    sla.resume(db, iid, actor="li")
    timers.fire_due(db, at(2026, 3, 10))
    clock.set(at(2026, 3, 11))
    complete(db, iid, "scheme")
    _ok(db, iid)


def test_a_forged_input_is_found_at_its_event(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})
    with db.write() as conn:  # someone rewrites what the clerk entered (the chain check flags it too)
        conn.execute(update(event_t).where(event_t.c.instance_id == iid, event_t.c.seq == 4)
                     .values(payload='{"data":{"docs_complete":false},"opened":["schedule_survey"],'
                                     '"trail":[["check_docs","c","verify_identity"],["docs_ok","c","check_docs"]]}'))
    report = replay.replay(db, iid)
    assert not report.ok and report.divergence.seq == 4
    assert report.divergence.what == "tasks opened by this input"
    assert (report.divergence.expected, report.divergence.got) == (["schedule_survey"], ["request_docs"])


def test_a_tampered_state_is_found_in_the_final_comparison(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    with db.write() as conn:
        from engine.core.models import work_item_t

        conn.execute(update(work_item_t).where(work_item_t.c.instance_id == iid, work_item_t.c.status == "open")
                     .values(status="completed"))
    report = replay.replay(db, iid)
    assert not report.ok and report.divergence.what == "open tasks"


def test_unknown_instance(db):
    from engine.core.errors import NotFound

    with pytest.raises(NotFound):
        replay.replay(db, 12345)

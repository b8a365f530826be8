"""Running instances: work lists, form validation, claims, status, errors and retries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.audit import chains as audit
from engine.core import definitions, history, queries, runtime, services, worklist
from engine.core.errors import Conflict, Forbidden, InvalidData, InvalidState, NotFound
from engine.core.models import event_t, work_item_t
from tests.conftest import ENGINE_MODEL
from tests.helpers import ACCEPT, actor, complete, drive_engine_model, open_items


def test_start_creates_the_first_work_item_in_the_lane_group(db, engine_model):
    out = runtime.start_instance(db, "engine_model", {"channel": "counter"}, business_key="YK-1")
    assert out.status == "running"
    [item] = out.new_items
    assert (item.task_spec, item.name, item.candidate_group) == ("accept", "受理申请", "clerk")
    assert item.form_schema == "accept.schema.json"
    inst = queries.get_instance(db, out.instance_id)
    assert inst.business_key == "YK-1" and inst.data["channel"] == "counter"
    assert [i.task_spec for i in inst.open_items] == ["accept"]


def test_work_list_filters_by_group_assignee_and_instance(db, engine_model):
    a = runtime.start_instance(db, "engine_model").instance_id
    b = runtime.start_instance(db, "engine_model").instance_id
    assert {i.instance_id for i in worklist.items(db, worklist.TaskFilter(visible_groups={"clerk"}))} == {a, b}
    assert worklist.items(db, worklist.TaskFilter(visible_groups={"surveyor"})) == []
    item = open_items(db, a)["accept"]
    runtime.claim(db, item.id, actor=actor("li", "clerk"))
    assert [i.id for i in worklist.items(db, worklist.TaskFilter(assignee="li"))] == [item.id]
    assert [i.instance_id for i in worklist.items(db, worklist.TaskFilter(instance_id=b))] == [b]


def test_invalid_form_data_is_refused_with_per_field_messages(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    item = open_items(db, iid)["accept"]
    with pytest.raises(InvalidData) as err:
        runtime.complete_task(db, item.id, {"customer_name": "", "capacity_kw": -5, "phone": "12345"},
                              actor=actor())
    details = err.value.details
    assert set(details) == {"customer_name", "capacity_kw", "phone"}
    assert details["phone"] == ["请输入 11 位手机号码"]
    assert open_items(db, iid)["accept"].status == "open"  # nothing was lost or half-done


def test_missing_required_field_is_named(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    with pytest.raises(InvalidData) as err:
        runtime.complete_task(db, open_items(db, iid)["accept"].id, {"customer_name": "王五", "phone": "13900000000"},
                              actor=actor())
    assert err.value.details == {"capacity_kw": ["此项为必填项"]}


def test_only_declared_properties_enter_the_workflow(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", {**ACCEPT, "is_admin": True, "__class__": "x"})
    data = queries.get_instance(db, iid).data
    assert data["customer_name"] == "张三"
    assert "is_admin" not in data and "__class__" not in data


def test_completing_twice_gives_conflict(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    item = open_items(db, iid)["accept"]
    runtime.complete_task(db, item.id, ACCEPT, actor=actor())
    with pytest.raises(Conflict, match="no longer open"):
        runtime.complete_task(db, item.id, ACCEPT, actor=actor())


def test_stale_version_gives_conflict(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    seen = queries.get_instance(db, iid).instance_version
    item = open_items(db, iid)["accept"]
    runtime.claim(db, item.id, actor=actor("li", "clerk"))  # the case moved on since it was opened
    with pytest.raises(Conflict, match="changed since you opened it"):
        runtime.complete_task(db, item.id, ACCEPT, actor=actor("li", "clerk"), instance_version=seen)


def test_claims_respect_groups_and_holders(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    item = open_items(db, iid)["accept"]
    with pytest.raises(Forbidden):
        runtime.claim(db, item.id, actor=actor("zhao", "surveyor"))
    with pytest.raises(Forbidden):
        runtime.complete_task(db, item.id, ACCEPT, actor=actor("zhao", "surveyor"))
    runtime.claim(db, item.id, actor=actor("li", "clerk"))
    with pytest.raises(Conflict, match="held by li"):
        runtime.claim(db, item.id, actor=actor("wang", "clerk"))
    with pytest.raises(Conflict, match="held by li"):
        runtime.complete_task(db, item.id, ACCEPT, actor=actor("wang", "clerk"))
    with pytest.raises(Forbidden):
        runtime.unclaim(db, item.id, actor=actor("wang", "clerk"))
    runtime.unclaim(db, item.id, actor=actor("li", "clerk"))
    runtime.complete_task(db, item.id, ACCEPT, actor=actor("wang", "clerk"))
    done = queries.get_work_item(db, item.id)
    assert (done.status, done.completed_by) == ("completed", "wang")


def test_full_run_with_loops_and_parallel_split_completes(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    drive_engine_model(db, iid, doc_rounds=2, design_rounds=1)
    inst = queries.get_instance(db, iid)
    assert inst.status == "completed" and inst.ended_at is not None
    assert inst.open_items == []
    assert inst.data["voltage"] == "hv"  # the script task classified 250 kW
    [report] = audit.verify(db, iid)
    assert report.ok, str(report)
    with db.read() as conn:
        types = [r.type for r in conn.execute(select(event_t.c.type).where(event_t.c.instance_id == iid)
                                              .order_by(event_t.c.seq))]
    assert types[0] == "instance_started" and types[-1] == "instance_completed"
    # 19 tasks on the straight path (not chase_survey, request_docs, revise_design), 2 per loop pass
    assert types.count("task_completed") == 19 + 2 * 2 + 1 * 2


def test_history_records_inputs_actors_and_the_path(db, engine_model):
    iid = runtime.start_instance(db, "engine_model", {"channel": "app"}).instance_id
    complete(db, iid, "accept", ACCEPT, who=actor("li", "clerk"))
    with db.read() as conn:
        rows = list(history.events_of(conn, iid))
    started, accepted = rows[0], rows[1]
    assert history.payload_of(started)["data"] == {"channel": "app"}
    assert (accepted.type, accepted.actor, accepted.task_spec) == ("task_completed", "li", "accept")
    payload = history.payload_of(accepted)
    assert payload["data"]["capacity_kw"] == 250
    assert ["accept", "c", "start"] in payload["trail"]
    assert accepted.prev_hash == started.hash


def test_parallel_branches_are_all_open_and_join_waits(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})
    for spec in ("schedule_survey", "confirm_appointment", "perform_survey", "record_survey", "draft_scheme",
                 "approve_scheme", "reply_scheme"):
        complete(db, iid, spec)
    complete(db, iid, "design_review", {"approved": True})
    assert set(open_items(db, iid)) == {"sign_contract", "prepare_meter", "collect_fee"}
    complete(db, iid, "prepare_meter")
    complete(db, iid, "sign_contract")
    assert set(open_items(db, iid)) == {"collect_fee"}
    complete(db, iid, "collect_fee")
    assert set(open_items(db, iid)) == {"inspection"}


def test_unknown_ids_are_not_found(db, engine_model):
    with pytest.raises(NotFound):
        queries.get_instance(db, 999)
    with pytest.raises(NotFound):
        runtime.complete_task(db, "no-such-task", {}, actor=actor())
    with pytest.raises(NotFound):
        runtime.start_instance(db, "no_such_process")


def test_cancel_closes_open_work(db, engine_model):
    iid = runtime.start_instance(db, "engine_model").instance_id
    out = runtime.cancel(db, iid, actor=actor("supervisor"), reason="customer withdrew")
    assert out.status == "cancelled"
    assert worklist.items(db, worklist.TaskFilter(instance_id=iid)) == []
    with db.read() as conn:
        statuses = set(conn.execute(select(work_item_t.c.status).where(work_item_t.c.instance_id == iid)).scalars())
    assert statuses == {"cancelled"}
    with pytest.raises(InvalidState):
        runtime.cancel(db, iid, actor=actor("supervisor"), reason="again")


@pytest.fixture
def flaky_service():
    state = {"fail": True, "calls": 0}

    def handler(call):
        state["calls"] += 1
        if state["fail"]:
            raise RuntimeError("gateway timeout from the billing system")
        return {"ok": True, "amount": call.params["amount"]}

    services.register("test/flaky", handler)
    yield state
    services.unregister("test/flaky")


@pytest.fixture
def retry_model(db, clock, flaky_service):
    [result] = definitions.deploy_paths(db, [ENGINE_MODEL / "service_retry.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    return result


def test_failing_service_puts_instance_in_error_and_retry_resumes(db, retry_model, flaky_service):
    out = runtime.start_instance(db, "service_retry", {"amount": 100, "parts": 4})
    assert out.status == "error"
    inst = queries.get_instance(db, out.instance_id)
    assert "gateway timeout from the billing system" in inst.error["message"]
    assert inst.error["task_spec"] == "flaky"
    assert inst.data["application"]["number"].startswith("YK20260302-")
    flaky_service["fail"] = False
    again = runtime.retry(db, out.instance_id, actor=actor("ops"))
    assert again.status == "running"
    inst = queries.get_instance(db, out.instance_id)
    assert inst.error is None and inst.data["share"] == 25
    assert inst.data["flaky_result"] == {"ok": True, "amount": 100}
    with db.read() as conn:
        types = [r.type for r in history.events_of(conn, out.instance_id)]
    assert types == ["instance_started", "service_called", "service_failed", "instance_error",
                     "instance_retried", "service_called"]
    assert all(r.ok for r in audit.verify(db, out.instance_id))


def test_failing_script_is_visible_and_retry_keeps_it_in_error(db, retry_model, flaky_service):
    flaky_service["fail"] = False
    out = runtime.start_instance(db, "service_retry", {"amount": 100, "parts": 0})
    inst = queries.get_instance(db, out.instance_id)
    assert inst.status == "error"
    assert inst.error["task_spec"] == "divide" and "ZeroDivisionError" in inst.error["message"]
    again = runtime.retry(db, out.instance_id, actor=actor("ops"))
    assert again.status == "error"
    with pytest.raises(InvalidState):
        runtime.retry(db, runtime.start_instance(db, "service_retry", {"amount": 1, "parts": 1}).instance_id,
                      actor=actor("ops"))


def test_milestone_follows_the_task_property(db, retry_model, flaky_service):
    flaky_service["fail"] = False
    iid = runtime.start_instance(db, "service_retry", {"amount": 10, "parts": 2}).instance_id
    assert queries.get_instance(db, iid).milestone is None
    complete(db, iid, "review", {"comment": "ok"}, who=actor("li", "clerk"))
    inst = queries.get_instance(db, iid)
    assert inst.status == "completed" and inst.milestone == "复核"


def test_a_crash_while_writing_loses_nothing(db, engine_model, monkeypatch):
    iid = runtime.start_instance(db, "engine_model").instance_id
    before = queries.get_instance(db, iid)
    item = open_items(db, iid)["accept"]

    def boom(conn, rows):
        raise OSError("disk full")

    monkeypatch.setattr(history, "append", boom)
    with pytest.raises(OSError):
        runtime.complete_task(db, item.id, ACCEPT, actor=actor())
    monkeypatch.undo()
    after = queries.get_instance(db, iid)
    assert (after.instance_version, after.status) == (before.instance_version, before.status)
    assert [i.task_spec for i in after.open_items] == ["accept"]
    assert all(r.ok for r in audit.verify(db, iid))
    runtime.complete_task(db, item.id, ACCEPT, actor=actor())
    assert set(open_items(db, iid)) == {"verify_identity"}


def test_cases_can_be_found_by_number_name_or_mobile(db, engine_model):
    a = runtime.start_instance(db, "engine_model", {"channel": "wechat"}, business_key="YK20260302-0001").instance_id
    b = runtime.start_instance(db, "engine_model", business_key="YK20260302-0002").instance_id
    complete(db, a, "accept", {**ACCEPT, "customer_name": "李四"})
    found, total = queries.list_instances(db, query="李四")
    assert total == 1 and found[0].id == a and found[0].channel == "wechat"
    assert [i.id for i in queries.list_instances(db, query="0002")[0]] == [b]
    assert {i.id for i in queries.list_instances(db, status="running")[0]} == {a, b}
    assert queries.list_instances(db, query="nobody")[1] == 0


def test_states_written_by_the_first_zlib_codec_still_load():
    import zlib

    from engine.core.codec import compress, decompress

    raw = b'{"tasks": {}}' * 50
    assert decompress(zlib.compress(raw, 1)) == raw
    assert decompress(compress(raw)) == raw and len(compress(raw)) < len(raw) // 10

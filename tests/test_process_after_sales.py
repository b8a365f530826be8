"""After-sales and the customer manager: a follow-up opens once per finished case (never for a
withdrawn one), every field job is called back (installation included), the case's own 回访 has a
key of its own, and the customer manager hears of each job twice (dispatch, completion)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.audit import replay
from engine.core import history, queries, timers, worklist
from engine.core.models import event_t, notice_t, outbox_t, timer_t
from engine.dispatch import after_sales, appointments, field
from tests.process_helpers import SCENARIOS, START, deploy, drive, example, fire_at, run


@pytest.fixture
def models(db, clock):
    return deploy(db)


def _after_sales_cases(db) -> list[queries.InstanceView]:
    found = queries.list_instances(db, query=None)
    rows = found[0] if isinstance(found, tuple) else found
    return [queries.get_instance(db, r.id) for r in rows if queries.get_instance(db, r.id, with_data=False).key
            == after_sales.PROCESS_KEY]


def _settle(db, clock, iid) -> timers.FireReport:
    """The scheduler's next pass after the case ended (twice: a second pass must change nothing)."""
    ended = queries.get_instance(db, iid, with_data=False).ended_at or clock.now()
    first = fire_at(db, clock, ended + dt.timedelta(minutes=1))
    fire_at(db, clock, ended + dt.timedelta(minutes=2))
    return first


def test_a_finished_case_opens_one_follow_up_for_the_customer_manager(db, clock, models):
    case = run("lv_res_merged", db, clock)
    inst = case.instance(db)
    with db.read() as conn:
        [timer] = conn.execute(select(timer_t).where(timer_t.c.purpose == after_sales.PURPOSE)).all()
    assert (timer.instance_id, timer.fired_at) == (case.iid, None)
    assert after_sales._existing(db, case.iid) is None  # opened by the scheduler's pass, not inside the command

    _settle(db, clock, case.iid)
    [follow] = _after_sales_cases(db)
    assert follow.business_key == after_sales.business_key(case.iid) == f"SH-{case.iid}"
    assert (follow.data["case_id"], follow.data["case_application_no"], follow.data["customer_name"]) == (
        case.iid, inst.data["application_no"], inst.data["customer_name"])
    assert follow.data["wechat_bound"] is True and follow.data["payment_method"] == "prepaid"  # from 客户服务登记
    [item] = after_sales.open_follow_ups(db)
    assert (item.instance_id, item.task_spec, item.candidate_group) == (follow.id, "follow_up_marketing", "manager")
    assert after_sales.open_follow_ups(db, group="clerk") == []
    with db.read() as conn:
        [event] = conn.execute(select(event_t).where(event_t.c.instance_id == case.iid,
                                                     event_t.c.type == "after_sales_started")).all()
    assert history.payload_of(event)["after_sales_id"] == follow.id
    assert replay.replay(db, case.iid).ok and replay.replay(db, follow.id).ok

    drive(db, follow.id, {"follow_up_marketing": example("after-sales", 1)})
    done = queries.get_instance(db, follow.id)
    assert done.status == "completed" and done.data["outcome"] == "accepted"
    assert after_sales.open_follow_ups(db) == []
    assert replay.replay(db, follow.id).ok
    # the follow-up's own end opens nothing further
    fire_at(db, clock, clock.now() + dt.timedelta(minutes=5))
    assert len(_after_sales_cases(db)) == 1


def test_a_finished_change_case_is_followed_up_too(db, clock, models):
    case = run("change_rename", db, clock)
    _settle(db, clock, case.iid)
    [follow] = _after_sales_cases(db)
    assert follow.data["case_id"] == case.iid and follow.data["case_business_type"] == "change"


@pytest.mark.parametrize("scenario", ["withdraw_at_accept", "withdraw_during_lv", "withdraw_during_hv"])
def test_withdrawn_cases_get_no_follow_up(db, clock, models, scenario):
    case = run(scenario, db, clock)
    _settle(db, clock, case.iid)
    assert _after_sales_cases(db) == []
    with db.read() as conn:
        assert conn.execute(select(timer_t).where(timer_t.c.purpose == after_sales.PURPOSE)).all() == []


def test_a_follow_up_started_before_a_crash_is_not_started_again(db, clock, models):
    """The start and the timer's mark are two transactions: a pass that died between them leaves the
    timer due; the next pass finds the follow-up by its business key and only marks the timer."""
    case = run("lv_res_merged", db, clock)
    with db.read() as conn:
        timer = conn.execute(select(timer_t).where(timer_t.c.purpose == after_sales.PURPOSE)).one()
    from engine.core import runtime

    runtime.start_instance(db, after_sales.PROCESS_KEY, after_sales.start_data(case.instance(db)),
                           business_key=after_sales.business_key(case.iid))
    assert after_sales.fire_start(db, timer.id, case.iid, {}, clock.now(), "w1") is True
    assert after_sales.fire_start(db, timer.id, case.iid, {}, clock.now(), "w2") is False
    assert len(_after_sales_cases(db)) == 1


def _manager_messages(db, iid):
    with db.read() as conn:
        notices = conn.execute(select(notice_t).where(notice_t.c.instance_id == iid,
                                                      notice_t.c.recipient_group == "manager")
                               .order_by(notice_t.c.id)).all()
        outbox = conn.execute(select(outbox_t).where(outbox_t.c.instance_id == iid, outbox_t.c.channel == "notice")
                              .order_by(outbox_t.c.id)).all()
    return notices, outbox


@pytest.mark.parametrize(("scenario", "jobs"), [("lv_res_merged", 1), ("lv_res_surveyed_overdue", 2),
                                                 ("hv_single_ordinary", 2), ("change_suspend", 1)])
def test_every_field_job_is_called_back_and_the_manager_hears_twice(db, clock, models, scenario, jobs):
    case = run(scenario, db, clock)
    booked = [a for a in appointments.list_appointments(db, instance_id=case.iid) if a.status == "completed"]
    assert len(booked) == jobs
    records = {r["job_no"]: r for r in field.callbacks(db, instance_id=case.iid)}
    for job in booked:  # installation included
        assert records[job.job_no]["job_type"] == job.job_type
    assert case.done.count("job_callback") == jobs
    if case.instance(db).key == "new_connection":
        assert f"HF-{case.iid}" in records and records[f"HF-{case.iid}"]["job_type"] == "case"
        assert len(records) == jobs + 1  # one per job and the case's own, none shared
    notices, outbox = _manager_messages(db, case.iid)
    assert len(notices) == len(outbox) == 2 * jobs
    keys = [o.idempotency_key for o in outbox]
    assert len(set(keys)) == len(keys)
    for job in booked:
        mine = [o for o in outbox if o.idempotency_key.endswith(f":{job.job_no}")]
        assert sorted(o.template for o in mine) == ["manager_completed", "manager_dispatched"]
        assert all(job.job_no in o.body and o.recipient == "manager" for o in mine)
    assert {n.title.split("：")[0] for n in notices} == {"派工", "完工"}
    assert replay.replay(db, case.iid).ok  # the notices came from recorded services: replay is exact


def test_a_cancelled_booking_at_dispatch_tells_the_manager_nothing(db, clock, models):
    """The lead's dispatch of a booking the centre cancelled is not a dispatch: no notice for it."""
    case = run("lv_res_field_rebooked", db, clock)
    notices, outbox = _manager_messages(db, case.iid)
    completed = [a for a in appointments.list_appointments(db, instance_id=case.iid) if a.status == "completed"]
    assert len(notices) == len(outbox) == 2 * len(completed)


def test_the_install_form_no_longer_carries_the_checklist_and_the_manager_task_does(db, clock, models):
    from tests.process_helpers import form

    assert not {"wechat_bound", "prepaid_promoted"} & set(form("field-install.schema.json")["properties"])
    assert {"wechat_bound", "payment_method", "payment_set_up"} <= set(form("customer-services.schema.json")["required"])
    clock.set(START)
    case = run("lv_res_merged", db, clock)
    done = {i.task_spec: i.candidate_group
            for i in worklist.items(db, worklist.TaskFilter(instance_id=case.iid, status="completed"))}
    assert done["register_services"] == "manager" and done["do_install"] == "metering"


def test_the_after_sales_scenario_is_part_of_path_coverage():
    assert "after_sales_follow_up" in SCENARIOS

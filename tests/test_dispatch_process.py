"""The dispatch centre inside a running case: the field-job call activity books against capacity,
the lists carry the job, the lead dispatches from the list, the worker's two phone calls and the
call-back go through the process, and every step is on the case's history."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.audit import chains as audit
from engine.audit import replay
from engine.core import actors, history, queries, timers
from engine.core.errors import Forbidden, InvalidState
from engine.dispatch import appointments, field
from engine.dispatch import lists as dispatch
from tests import process_helpers as ph
from tests.dispatch_support import at

LEAD = actors.Actor("lead", frozenset({"lead"}))
DISPATCHER = actors.Actor("dispatcher", frozenset({"dispatcher"}))
SURVEYOR = actors.Actor("surveyor", frozenset({"surveyor"}))  # 刘洋 of team CQ-KC1 in the demo teams
MANAGER = actors.Actor("manager", frozenset({"manager"}))


@pytest.fixture
def bundle(db, clock):
    ph.deploy(db)
    clock.set(ph.START)
    return db


def _types(db, iid):
    with db.read() as conn:
        return [(e.type, history.payload_of(e)) for e in history.events_of(conn, iid)]


def _services(db, iid):
    return [p["operator"] for t, p in _types(db, iid) if t == "service_called"]


def test_a_survey_is_booked_listed_dispatched_reported_and_called_back(bundle, clock):
    db = bundle
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="book_appointment")

    # 预约: 约时, Tuesday morning; the process books against the urban survey team's capacity
    ph.complete(db, iid, "book_appointment", ph.example("field-appointment", appointment_date="2027-03-02"))
    [appt] = appointments.list_appointments(db, instance_id=iid)
    assert (appt.team, appt.day, appt.slot, appt.status, appt.job_type) == ("CQ-KC1", dt.date(2027, 3, 2), "am",
                                                                            "booked", "survey")
    assert (appt.customer_name, appt.mobile) == ("张伟", "13912345678")
    data = queries.get_instance(db, iid).data
    assert data["job_no"] == appt.job_no and data["job_due_at"] == "2027-03-02T12:00:00+08:00"
    assert data["booking"]["team_name"] == "城区勘查一班" and data["booking_note"].startswith("已预约：")
    assert set(ph.items(db, iid)) == {"dispatch_job"}

    # the morning list at 07:30 carries it; the lead dispatches from the list
    [kc, *_] = dispatch.generate_due(db, at(2, 7, 30))
    assert (kc.team, [e.appointment.job_no for e in kc.entries]) == ("CQ-KC1", [appt.job_no])
    clock.set(at(2, 7, 45))
    dispatched = dispatch.assign(db, appt.job_no, "刘洋", actor=LEAD)
    assert (dispatched.status, dispatched.worker_name, dispatched.planned_at) == ("dispatched", "刘洋", at(2, 8, 30))
    sms = ph.sms(db, iid)[f"appointment:{appt.job_no}"]
    assert "刘洋" in sms["body"] and "13700001111" in sms["body"] and "2027年03月02日 08:30-12:00" in sms["body"]
    assert "刘洋" in dispatch.export_csv(db, dt.date(2027, 3, 2), slot="am", team="CQ-KC1")

    # 两个电话: the assigned worker reports from his phone; someone else may not
    clock.set(at(2, 9, 40))
    with pytest.raises(Forbidden):
        field.report_arrival(db, appt.job_no, actor=actors.Actor("metering", frozenset({"metering"})))
    with pytest.raises(InvalidState, match="completion report"):
        field.report_completion(db, appt.job_no, actor=SURVEYOR, work_summary="x", customer_signed=True)
    field.report_arrival(db, appt.job_no, actor=SURVEYOR)
    assert appointments.get(db, appt.job_no).arrived_at == at(2, 9, 40)
    assert queries.get_instance(db, iid).data["arrived_on_time"] is True
    ph.complete(db, iid, "do_survey")
    clock.set(at(2, 11, 5))
    field.report_completion(db, appt.job_no, actor=SURVEYOR, work_summary="勘查完成，表箱位置已确认。",
                            customer_signed=True)
    assert appointments.get(db, appt.job_no).status == "completed"
    assert timers.fire_due(db, at(2, 12, 5)).fired == 0  # arrived and done in time: no 催办, no overdue survey

    # 回访: a problem goes to the customer manager
    clock.set(at(2, 15, 30))
    field.record_callback(db, appt.job_no, actor=DISPATCHER, reachable=True, satisfaction=3,
                          problems="希望装表时提前一小时电话联系")
    assert set(ph.items(db, iid)) == {"follow_up_callback"}
    [record] = field.callbacks(db, instance_id=iid)
    assert (record["satisfaction"], record["follow_up_status"]) == (3, "open")
    ph.complete(db, iid, "follow_up_callback")
    assert field.callbacks(db, instance_id=iid)[0]["follow_up_status"] == "resolved"

    # the installation is a second field job with its own appointment; the rest of the case runs
    ph.drive(db, iid)
    inst = queries.get_instance(db, iid)
    assert inst.status == "completed"
    jobs = appointments.list_appointments(db, instance_id=iid)
    assert [(a.job_type, a.status) for a in jobs] == [("survey", "completed"), ("install", "completed")]
    energized = ph.sms(db, iid)["energized"]["body"]
    assert "安全用电" in energized and "95598" in energized  # safety notes and the contact number, via the outbox

    assert _services(db, iid).count("yekuo/field_appointment") == 2
    assert {"yekuo/field_dispatch", "yekuo/field_arrival", "yekuo/field_completion", "yekuo/field_callback",
            "yekuo/field_follow_up"} <= set(_services(db, iid))
    assert audit.verify(db, iid)[0].ok
    assert replay.replay(db, iid).ok


def test_a_full_day_a_cancellation_and_a_follow_up_run_through_the_model(bundle, clock):
    case = ph.run("lv_res_field_rebooked", bundle, clock)
    db = bundle
    refused = case.notes["refused"]
    assert refused["booked"] is False and refused["offers"][0] == {
        "date": "2027-03-04", "team": "CQ-KC1", "team_name": "城区勘查一班", "remaining": 40}
    assert "已约满" in refused["note"] and "2027-03-04 城区勘查一班" in refused["note"]
    assert case.notes["cancelled"].status == "cancelled"
    assert case.done.count("book_appointment") == 4  # refused, booked then cancelled, booked; the installation
    done = {a.job_type: a for a in appointments.list_appointments(db, instance_id=case.iid, status="completed")}
    assert (done["survey"].day, done["install"].day) == (dt.date(2027, 3, 5), dt.date(2027, 3, 3))
    [first] = appointments.list_appointments(db, instance_id=case.iid, status="cancelled")
    assert (first.day, first.note) == (dt.date(2027, 3, 4), "客户临时出差，改期待定")
    record, = (r for r in field.callbacks(db, instance_id=case.iid) if r["job_type"] == "survey")
    assert (record["satisfaction"], record["follow_up_status"]) == (2, "resolved")
    # the case's own 回访 after energizing is in the register too, keyed by the installation job
    [after] = [r for r in field.callbacks(db, instance_id=case.iid) if r["job_type"] == "install"]
    assert after["job_no"] == done["install"].job_no and after["satisfaction"] == 5 and after["reachable"]
    assert queries.get_instance(db, case.iid).status == "completed"
    types = [t for t, _ in _types(db, case.iid)]
    assert "field_cancelled" in types
    assert replay.replay(db, case.iid).ok and audit.verify(db, case.iid)[0].ok


def test_a_withdrawn_case_releases_its_appointment_at_once(bundle, clock):
    db = bundle
    case = ph.run("withdraw_during_lv", db, clock)
    [appt] = appointments.list_appointments(db, instance_id=case.iid)
    assert (appt.status, appt.note) == ("cancelled", "case ended")
    assert timers.pending(db) == []
    released = [p for t, p in _types(db, case.iid) if t == "field_released"]
    assert released == [{"jobs": [appt.job_no], "reason": "case ended"}]
    assert appointments.availability(db, "survey", start=appt.day, days=1, team="CQ-KC1")[0]["booked"] == 0


def test_field_work_items_are_due_at_the_appointment(db, clock):
    """The on-site tasks carry the appointment's time limit in the work lists (`dueFrom`)."""
    import datetime as dt

    from engine.core import queries
    from tests.process_helpers import START, deploy, drive, items, start_case

    deploy(db)
    clock.set(START)
    iid = start_case(db)
    drive(db, iid, until="report_arrival")
    item = items(db, iid)["report_arrival"]
    due = queries.get_instance(db, iid).data["job_due_at"]
    assert item.due_at == dt.datetime.fromisoformat(due)

"""The arrival 催办, call-back records and their follow-up rule, and the works tracking list (清册)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.core import actors, history, runtime, timers
from engine.core.errors import Conflict, InvalidData
from engine.core.models import appointment_t, notice_t, timer_t
from engine.deadlines import notices
from engine.dispatch import appointments, booking, field, works
from tests import process_helpers as ph
from tests.dispatch_support import MONDAY, at, bare_cases, fixed, make_team


@pytest.fixture
def now(clock):
    clock.set(MONDAY)
    return clock


@pytest.fixture
def centre(db, now):
    make_team(db, "CQ-1", survey=4, members=(("刘洋", "13700001111", "surveyor"),))
    return db


def _events(db, iid, prefix=""):
    with db.read() as conn:
        return [(e.type, history.payload_of(e)) for e in history.events_of(conn, iid) if e.type.startswith(prefix)]


def _notices(db, kind):
    with db.read() as conn:
        return conn.execute(select(notice_t).where(notice_t.c.kind == kind).order_by(notice_t.c.id)).all()


# ---------------------------------------------------------------------------------------------
# arrival 催办


def test_a_missing_arrival_report_past_the_window_raises_one_cuiban_for_the_dispatchers(centre, now):
    [iid] = bare_cases(centre, 1, customer_name="张伟")
    a = booking.book(centre, iid, fixed("2027-03-02", "am"), actor="dispatcher", case={"address": "安德路12号"})
    assert timers.fire_due(centre, at(2, 11, 59)).fired == 0
    report = timers.fire_due(centre, at(2, 12, 1))
    assert (report.fired, report.failed) == (1, [])
    [notice] = _notices(centre, "催办")
    assert (notice.recipient_group, notice.instance_id, notice.requires_ack) == ("dispatcher", iid, True)
    assert a.job_no in notice.title
    assert "张伟" in notice.body and "安德路12号" in notice.body and "2027-03-02 12:00" in notice.body
    [(kind, payload)] = _events(centre, iid, "field_arrival")
    assert kind == "field_arrival_overdue" and payload["to_group"] == "dispatcher"
    assert timers.fire_due(centre, at(2, 18, 0)).fired == 0  # once only
    assert len(_notices(centre, "催办")) == 1
    assert [n["kind"] for n in notices.list_notices(centre, groups={"dispatcher"})] == ["催办"]
    assert [a.job_no for a in field.overdue_arrivals(centre, now=at(2, 12, 1))] == [a.job_no]


def test_an_arrival_in_time_removes_the_check(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed("2027-03-02", "am"), actor="dispatcher")
    result, [log] = field.arrival_in_command(centre, {"booking": {"appointment_id": a.id},
                                                      "arrived_at": "2027-03-02T09:40:00+08:00"}, now=at(2, 9, 41))
    assert result == {"on_time": True, "arrived_at": "2027-03-02T09:40:00+08:00",
                      "due_at": "2027-03-02T12:00:00+08:00", "late_minutes": 0}
    assert log["action"] == "arrived"
    assert appointments.get(centre, a.job_no).status == "arrived"
    assert timers.fire_due(centre, at(2, 13, 0)).fired == 0 and _notices(centre, "催办") == []
    late, _ = field.arrival_in_command(centre, {"booking": {"appointment_id": a.id},
                                                "arrived_at": "2027-03-02T12:20:00+08:00"}, now=at(2, 12, 21))
    assert (late["on_time"], late["late_minutes"]) == (False, 20)


def test_no_cuiban_for_a_cancelled_job(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed("2027-03-02", "am"), actor="dispatcher")
    with centre.write() as conn:  # as if cancelled while its timer was already claimed
        conn.execute(appointment_t.update().where(appointment_t.c.id == a.id)
                     .values(status="cancelled"))
    assert timers.fire_due(centre, at(2, 12, 1)).fired == 0
    assert _notices(centre, "催办") == []


# ---------------------------------------------------------------------------------------------
# call-backs


@pytest.mark.parametrize(("answer", "follow_up"), [
    ({"reachable": True, "satisfaction": 5, "problems": ""}, False),
    ({"reachable": True, "satisfaction": 4, "problems": "希望提前电话联系"}, True),
    ({"reachable": True, "satisfaction": 2, "problems": ""}, True),
    ({"reachable": True, "satisfaction": 3}, False),
    ({"reachable": False, "satisfaction": 1, "problems": "未接通"}, False),
])
def test_call_backs_open_a_follow_up_for_problems_or_low_satisfaction(centre, now, answer, follow_up):
    [iid] = bare_cases(centre, 1)
    data = {"job_no": "ZY20270301-0001", "job_kind": "survey", "called_at": "2027-03-03T15:30:00+08:00", **answer}
    result = field.callback_in_command(centre, iid, data, now=at(3, 15, 31))
    assert result["follow_up"] is follow_up
    [record] = field.callbacks(centre, instance_id=iid)
    assert (record["follow_up"], record["follow_up_status"]) == (follow_up, "open" if follow_up else None)
    assert record["satisfaction"] == (answer["satisfaction"] if answer["reachable"] else None)
    again = field.callback_in_command(centre, iid, data, now=at(3, 15, 32))  # a retried step: the same record
    assert again["record_id"] == result["record_id"] and len(field.callbacks(centre)) == 1
    if follow_up:
        field.follow_up_in_command(centre, {"field_callback": result, "resolved": True, "action_taken": "已回复客户",
                                            "handled_at": "2027-03-04T10:00:00+08:00"}, now=at(4, 10), actor="manager")
        [record] = field.callbacks(centre, follow_up_status="resolved")
        assert (record["resolution"], record["resolved_by"]) == ("已回复客户", "manager")
    with pytest.raises(InvalidData):
        field.callback_in_command(centre, iid, {**data, "reachable": True, "satisfaction": 9}, now=at(3, 16))


# ---------------------------------------------------------------------------------------------
# the works tracking list


@pytest.fixture
def bundle(db, now):
    ph.deploy(db)
    return db


GRID_CASE = {"accept": ph.example("accept", 0, customer_name="北京市和平里五金加工厂", id_type="uscc",
                                  id_number="91110105MA03QWER7R", customer_category="industrial", industry="金属制品业",
                                  capacity_kw=120, supply_voltage="380V", survey_with_install=False),
             "do_survey": 1}


def test_cases_waiting_for_works_are_listed_followed_up_and_closed(bundle, now):
    db = bundle
    now.set(ph.START)
    iid = ph.start_case(db)
    ph.drive(db, iid, GRID_CASE, until="grid_works")
    report = works.sync(db, interval_days=7)
    [entry] = works.entries(db)
    assert report.added == [entry.id] and report.done == []
    assert (entry.kind, entry.status, entry.source, entry.customer_name) == ("external", "in_progress", "process",
                                                                             "北京市和平里五金加工厂")
    assert entry.next_follow_up == dt.date(2027, 3, 8) and entry.title == "电网配套工程"
    assert works.sync(db).added == []  # idempotent
    # the follow-up date comes: a notice for the customer managers, and the next date
    assert timers.fire_due(db, at(8, 8, 59)).fired == 0
    assert timers.fire_due(db, at(8, 9, 1)).fired == 1
    [notice] = _notices(db, "跟进")
    assert notice.recipient_group == "manager" and "外部电网配套工程" in notice.body and "列入清册" in notice.body
    assert works.get_entry(db, entry.id).next_follow_up == dt.date(2027, 3, 15)
    # the manager records a follow-up: the status and the next date move
    now.set(at(9, 10))
    followed = works.record_follow_up(db, entry.id, status="stalled", note="线路走廊协调中", actor="manager",
                                      next_follow_up=dt.date(2027, 3, 11))
    assert (followed.status, followed.next_follow_up) == ("stalled", dt.date(2027, 3, 11))
    assert [(log.status, log.actor) for log in followed.log] == [("in_progress", "scheduler"), ("stalled", "manager")]
    assert timers.fire_due(db, at(11, 9, 1)).fired == 1
    assert "线路走廊协调中" in _notices(db, "跟进")[-1].body
    assert [e.id for e in works.entries(db, due_by=dt.date(2027, 3, 18))] == [entry.id]
    # the works task is done: the next sync closes the entry and its timer
    ph.complete(db, iid, "grid_works")
    assert works.sync(db).done == [entry.id]
    assert works.entries(db) == [] and works.entries(db, status="done")[0].done_at is not None
    with db.read() as conn:
        assert conn.execute(select(timer_t).where(timer_t.c.purpose == works.PURPOSE,
                                                  timer_t.c.fired_at.is_(None))).all() == []
    assert [k for k, _ in _events(db, iid, "works_")] == ["works_listed", "works_follow_up_due", "works_followed_up",
                                                          "works_follow_up_due", "works_done"]
    with pytest.raises(Conflict):
        works.record_follow_up(db, entry.id, status="in_progress", note="again", actor="manager")


def test_a_manual_entry_and_a_withdrawn_case_leaves_the_list(bundle, now):
    db = bundle
    now.set(ph.START)
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": 2}, until="review_design")
    entry = works.add(db, iid, "internal", "客户配电房土建", actor="manager", next_follow_up=dt.date(2027, 3, 5))
    assert (entry.source, entry.status, entry.address) == ("manual", "planned", ph.example("accept", 2)["address"])
    with pytest.raises(Conflict):
        works.add(db, iid, "internal", "重复", actor="manager")
    with pytest.raises(InvalidData):
        works.record_follow_up(db, entry.id, status="later", note="x", actor="manager")
    runtime.send_message(db, iid, "withdraw", {"reason": "项目取消"}, actor=actors.SYSTEM)
    closed = works.get_entry(db, entry.id)
    assert (closed.status, closed.log[-1].note) == ("done", "案件已结束")
    assert timers.pending(db) == []
    assert "works_done" in [k for k, _ in _events(db, iid, "works_")]

"""Dispatch lists: made twice a day at the configured times, once per team/day/half-day, in route
order; the lead's assignments; CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading

import pytest
from sqlalchemy import func, select

from engine import scheduler
from engine.core import actors, config, history
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import appointment_t, dispatch_entry_t, dispatch_list_t
from engine.dispatch import appointments, booking, rescheduling
from engine.dispatch import lists as dispatch
from tests.dispatch_support import MONDAY, at, bare_cases, fixed, make_team

WORKERS = (("刘洋", "13700001111", "surveyor"), ("赵敏", "13700001112", None))


@pytest.fixture
def now(clock):
    clock.set(MONDAY)
    return clock


@pytest.fixture
def centre(db, now):
    make_team(db, "CQ-1", survey=6, members=WORKERS)
    make_team(db, "NC-1", "rural", survey=2)
    return db


def _book(db, day, period, address, area="urban", job_type="survey"):
    [iid] = bare_cases(db, 1)
    return booking.book(db, iid, fixed(day, period, job_type=job_type, area=area), actor="dispatcher",
                        case={"address": address})


def _jobs(lst):
    return [(e.seq, e.appointment.address, e.late) for e in lst.entries]


def test_lists_are_made_at_the_configured_times_with_the_injected_clock(centre, now):
    _book(centre, "2027-03-02", "am", "安德路12号")
    _book(centre, "2027-03-02", "pm", "和平里东街15号")
    _book(centre, "2027-03-02", "am", "小汤山镇1号", area="rural")
    _book(centre, "2027-03-03", "am", "安德路14号")  # another day: on no list yet
    settings = config.from_env({"YEKUO_DISPATCH_AM": "07:30", "YEKUO_DISPATCH_PM": "12:30"})
    assert scheduler.dispatch_lists_job(centre, settings, now=at(2, 7, 29)) == []
    morning = scheduler.dispatch_lists_job(centre, settings, now=at(2, 7, 30))
    assert [(m.team, m.day.isoformat(), m.slot, _jobs(m)) for m in morning] == [
        ("CQ-1", "2027-03-02", "am", [(1, "安德路12号", False)]),
        ("NC-1", "2027-03-02", "am", [(1, "小汤山镇1号", False)])]
    assert morning[0].generated_at == at(2, 7, 30)
    noon = scheduler.dispatch_lists_job(centre, settings, now=at(2, 12, 30))
    assert [(m.team, m.slot, len(m.entries)) for m in noon] == [("CQ-1", "am", 1), ("NC-1", "am", 1),
                                                               ("CQ-1", "pm", 1), ("NC-1", "pm", 0)]
    assert noon[0].id == morning[0].id and noon[0].generated_at == at(2, 7, 30)  # the morning list, unchanged
    # other times from the environment
    later = config.from_env({"YEKUO_DISPATCH_AM": "08:15", "YEKUO_DISPATCH_PM": "13:00"})
    assert scheduler.dispatch_lists_job(centre, later, now=at(3, 8, 0)) == []
    assert [m.day for m in scheduler.dispatch_lists_job(centre, later, now=at(3, 8, 15))] == [dt.date(2027, 3, 3)] * 2


def test_the_scheduler_runs_the_list_jobs_at_the_configured_china_times(centre):
    settings = config.Settings(dispatch_am_at="06:45", dispatch_pm_at="13:15", works_sync_interval=600)
    sched = scheduler.build(centre, settings=settings)
    jobs = {j.id: j for j in sched.get_jobs()}
    am, pm = jobs["dispatch_lists_am"].trigger, jobs["dispatch_lists_pm"].trigger
    assert am.get_next_fire_time(None, at(2, 6, 0)) == at(2, 6, 45)
    assert pm.get_next_fire_time(None, at(2, 7, 0)) == at(2, 13, 15)
    assert "dispatch_lists_start" in jobs  # the catch-up run at start-up
    assert jobs["works_list"].trigger.interval == dt.timedelta(seconds=600)


def test_making_a_list_twice_or_in_two_schedulers_gives_one_list(centre, now):
    for n in range(4):
        _book(centre, "2027-03-02", "am", f"安德路{n + 1}号")
    made: list = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        made.append(dispatch.generate_due(centre, at(2, 7, 30)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    dispatch.generate_due(centre, at(2, 9, 0))
    with centre.read() as conn:
        assert conn.execute(select(func.count()).select_from(dispatch_list_t)).scalar() == 2  # CQ-1 and NC-1
        assert conn.execute(select(func.count()).select_from(dispatch_entry_t)).scalar() == 4
    [lst] = dispatch.lists(centre, dt.date(2027, 3, 2), team="CQ-1")
    assert [e.seq for e in lst.entries] == [1, 2, 3, 4] and not any(e.late for e in lst.entries)


def test_jobs_are_ordered_as_a_route_by_area_and_address(centre, now):
    for address in ("安德路12号", "和平里东街15号", "和平里东街3号", "安德路2号"):
        _book(centre, "2027-03-02", "am", address)
    [lst] = dispatch.generate(centre, dt.date(2027, 3, 2), "am", team="CQ-1")
    assert [a for _, a, _ in _jobs(lst)] == ["和平里东街3号", "和平里东街15号", "安德路2号", "安德路12号"]
    assert dispatch.route_key("urban", "安德路2号") < dispatch.route_key("urban", "安德路12号")


def test_a_job_booked_after_its_list_was_made_joins_it_late(centre, now):
    _book(centre, "2027-03-02", "am", "安德路12号")
    dispatch.generate(centre, dt.date(2027, 3, 2), "am")
    late = _book(centre, "2027-03-02", "am", "安德路2号")
    [lst] = dispatch.lists(centre, dt.date(2027, 3, 2), slot="am", team="CQ-1")
    assert _jobs(lst) == [(1, "安德路12号", False), (2, "安德路2号", True)]
    # rescheduled to another day: off this list
    rescheduling.reschedule(centre, late.job_no, {"date": "2027-03-04"}, actor="dispatcher")
    [lst] = dispatch.lists(centre, dt.date(2027, 3, 2), slot="am", team="CQ-1")
    assert _jobs(lst) == [(1, "安德路12号", False)]


def test_the_lead_reassigns_a_dispatched_job_to_a_member_and_a_time(centre, now):
    a = _book(centre, "2027-03-02", "am", "安德路12号")
    lead = actors.Actor("lead", frozenset({"lead"}))
    with pytest.raises(InvalidState, match="not at 派工"):  # a case without its 派工 task open
        dispatch.assign(centre, a.job_no, "刘洋", actor=lead)
    with centre.write() as conn:
        conn.execute(appointment_t.update().where(appointment_t.c.id == a.id).values(status="dispatched",
                                                                                       worker_name="刘洋"))
    with pytest.raises(InvalidData, match="not an active member"):
        dispatch.assign(centre, a.job_no, "王五", actor=lead)
    done = dispatch.assign(centre, a.job_no, "赵敏", actor=lead, route_seq=3)
    assert (done.worker_name, done.worker_mobile, done.route_seq) == ("赵敏", "13700001112", 3)
    assert done.planned_at == at(2, 10, 0)  # third stop: 08:30 + 2 × 45 minutes
    with centre.read() as conn:
        kind, payload = [(e.type, history.payload_of(e)) for e in history.events_of(conn, a.instance_id)][-1]
    assert kind == "field_reassigned" and payload["previous"] == "刘洋" and payload["worker"] == "赵敏"
    later = dispatch.assign(centre, a.job_no, "刘洋", actor=lead, planned_at=at(2, 11, 45))
    assert later.planned_at == at(2, 11, 45)


def test_suggested_times_stay_inside_the_window(centre, now):
    a = _book(centre, "2027-03-02", "am", "安德路12号")
    assert dispatch.suggest_time(a, 1) == at(2, 8, 30)
    assert dispatch.suggest_time(a, 20) == at(2, 11, 30)  # never later than half an hour before 12:00


def test_lists_export_as_csv_in_route_order(centre, now):
    for address in ("安德路12号", "安德路2号"):
        _book(centre, "2027-03-02", "am", address)
    dispatch.generate(centre, dt.date(2027, 3, 2), "am")
    text = dispatch.export_csv(centre, dt.date(2027, 3, 2), slot="am", team="CQ-1")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == dispatch.CSV_HEADER
    assert [(r[0], r[2], r[3], r[7], r[8], r[9], r[12], r[17]) for r in rows[1:]] == [
        ("测试CQ-1班", "上午", "1", "现场勘查", "约时", "2027年03月02日 08:30-12:00", "安德路2号", "待派工"),
        ("测试CQ-1班", "上午", "2", "现场勘查", "约时", "2027年03月02日 08:30-12:00", "安德路12号", "待派工")]
    assert dispatch.export_csv(centre, dt.date(2027, 3, 2), bom=True).startswith("\ufeff班所,")
    assert dispatch.lists(centre, dt.date(2027, 3, 2))[0].to_dict()["entries"][0]["address"] == "安德路2号"


def test_lists_skip_jobs_of_cases_that_ended(centre, now):
    a = _book(centre, "2027-03-02", "am", "安德路12号")
    with centre.write() as conn:  # a case that ended without the dispatch centre's hook (an old version)
        from engine.core.models import instance_t

        conn.execute(instance_t.update().where(instance_t.c.id == a.instance_id).values(status="cancelled"))
    [lst] = dispatch.generate(centre, dt.date(2027, 3, 2), "am", team="CQ-1")
    assert lst.entries == [] and appointments.get(centre, a.job_no).status == "cancelled"
    assert appointments.get(centre, a.job_no).note == "case ended"

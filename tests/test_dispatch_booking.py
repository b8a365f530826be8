"""Booking field jobs against remaining capacity: the three modes, full days, reschedule, cancel,
and 50 dispatchers booking 10 free slots at once."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from engine.audit import chains as audit
from engine.core import history
from engine.core.errors import InvalidData, InvalidState
from engine.core.models import appointment_log_t, appointment_t, capacity_usage_t, event_t, outbox_t, timer_t
from engine.dispatch import appointments, booking, capacity, rescheduling
from tests.dispatch_support import CHINA, MONDAY, at, bare_cases, fixed, make_team


@pytest.fixture
def now(clock):
    clock.set(MONDAY)
    return clock


@pytest.fixture
def centre(db, now):
    make_team(db, "CQ-1", survey=2, install=3)
    make_team(db, "CQ-2", survey=1)
    make_team(db, "NC-1", "rural", survey=4)
    return db


def _usage(db, team_code, day, job_type="survey"):
    from engine.core.models import team_t

    with db.read() as conn:
        return conn.execute(select(capacity_usage_t.c.booked).join(team_t, team_t.c.id == capacity_usage_t.c.team_id)
                            .where(team_t.c.code == team_code, capacity_usage_t.c.day == day,
                                   capacity_usage_t.c.job_type == job_type)).scalar() or 0


def _events(db, iid):
    with db.read() as conn:
        return [(e.type, history.payload_of(e)) for e in history.events_of(conn, iid)]


def test_fixed_appointment_is_a_half_day_on_the_date(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed("2027-03-03", "pm"), actor="dispatcher")
    assert (a.job_no, a.team, a.day, a.slot, a.status) == ("ZY20270301-0001", "CQ-1", dt.date(2027, 3, 3), "pm", "booked")
    assert (a.window_start, a.window_end) == (at(3, 14), at(3, 18))
    assert a.texts == ("2027年03月03日", "14:00-18:00")
    assert a.customer_name == "客户0" and a.mobile == "13912345678"  # from the case
    assert _usage(centre, "CQ-1", dt.date(2027, 3, 3)) == 1
    [(kind, payload)] = _events(centre, iid)
    assert kind == "field_booked" and payload["job_no"] == a.job_no and payload["due_at"] == at(3, 18).isoformat()
    assert audit.verify(centre, iid)[0].ok


def test_within_hours_takes_today_while_it_has_room(centre, now):
    [first, second, third] = bare_cases(centre, 3)
    a = booking.book(centre, first, {"job_type": "survey", "mode": "within", "within_hours": 24}, actor="d")
    assert (a.day, a.slot, a.window_end, a.texts[1]) == (dt.date(2027, 3, 1), "am", at(2, 9), "24小时内（09:00前）")
    # most room first: CQ-1 had 2, now 1 like CQ-2; equal room goes by team code
    b = booking.book(centre, second, {"job_type": "survey", "mode": "within", "within_hours": 24}, actor="d")
    assert (b.team, b.day) == ("CQ-1", dt.date(2027, 3, 1))
    now.set(at(1, 13))  # after noon: the afternoon list
    c = booking.book(centre, third, {"job_type": "survey", "mode": "within", "within_hours": 4}, actor="d")
    assert (c.team, c.day, c.slot, c.window_end) == ("CQ-2", dt.date(2027, 3, 1), "pm", at(1, 17))


def test_within_hours_moves_to_the_next_day_when_today_is_full_or_over(centre, now):
    cases = bare_cases(centre, 4)
    for iid in cases[:3]:  # today's three urban survey slots
        booking.book(centre, iid, fixed("2027-03-01", "pm"), actor="d")
    a = booking.book(centre, cases[3], {"job_type": "survey", "mode": "within", "within_hours": 30}, actor="d")
    assert (a.day, a.slot) == (dt.date(2027, 3, 2), "am")
    now.set(at(2, 17, 30))  # the working day is over: a 限时 job starts tomorrow
    [late] = bare_cases(centre, 1)
    b = booking.book(centre, late, {"job_type": "survey", "mode": "within", "within_hours": 20}, actor="d")
    assert b.day == dt.date(2027, 3, 3)


def test_by_date_takes_the_first_day_with_room_up_to_the_date(centre, now):
    cases = bare_cases(centre, 6)
    request = {"job_type": "survey", "mode": "by_date", "date": "2027-03-02"}
    got = [booking.book(centre, iid, request, actor="d") for iid in cases[:6]
           if not appointments.list_appointments(centre, instance_id=iid)]
    assert [(a.day.isoformat(), a.team) for a in got] == [
        ("2027-03-01", "CQ-1"), ("2027-03-01", "CQ-1"), ("2027-03-01", "CQ-2"),
        ("2027-03-02", "CQ-1"), ("2027-03-02", "CQ-1"), ("2027-03-02", "CQ-2")]
    assert {a.window_end for a in got} == {at(2, 18)} and got[0].texts == ("2027年03月02日", "18:00前")


def test_a_full_day_is_refused_with_the_next_free_days(centre, now):
    cases = bare_cases(centre, 4)
    capacity.adjust_day(centre, "CQ-2", dt.date(2027, 3, 4), "survey", 0, actor="lead")
    for iid in cases[:3]:
        booking.book(centre, iid, fixed("2027-03-03"), actor="d")
    with pytest.raises(booking.CapacityFull) as full:
        booking.book(centre, cases[3], fixed("2027-03-03"), actor="d")
    err = full.value
    assert err.code == "capacity_full" and err.status == 409
    assert err.details["requested"] == ["2027-03-03"]
    assert err.details["offers"] == [
        {"date": "2027-03-04", "team": "CQ-1", "team_name": "测试CQ-1班", "remaining": 2},
        {"date": "2027-03-05", "team": "CQ-1", "team_name": "测试CQ-1班", "remaining": 2},
        {"date": "2027-03-05", "team": "CQ-2", "team_name": "测试CQ-2班", "remaining": 1},
        {"date": "2027-03-08", "team": "CQ-1", "team_name": "测试CQ-1班", "remaining": 2},  # the weekend has none
        {"date": "2027-03-08", "team": "CQ-2", "team_name": "测试CQ-2班", "remaining": 1}]
    assert appointments.list_appointments(centre, instance_id=cases[3]) == []
    assert _usage(centre, "CQ-1", dt.date(2027, 3, 3)) == 2  # nothing taken by the refusal


def test_area_and_named_team_choose_who_goes(centre, now):
    [rural, named] = bare_cases(centre, 2)
    assert booking.book(centre, rural, fixed(area="rural"), actor="d").team == "NC-1"
    assert booking.book(centre, named, fixed(team="CQ-2"), actor="d").team == "CQ-2"
    [nobody] = bare_cases(centre, 1)
    with pytest.raises(booking.CapacityFull):  # the rural team does no installations
        booking.book(centre, nobody, fixed(job_type="install", area="rural"), actor="d")


def test_requests_are_checked(centre, now):
    [iid] = bare_cases(centre, 1)
    with pytest.raises(InvalidData, match="already passed"):
        booking.book(centre, iid, fixed("2027-02-26"), actor="d")
    with pytest.raises(InvalidData) as bad:
        booking.book(centre, iid, {"job_type": "repair", "mode": "soon"}, actor="d")
    assert set(bad.value.details) == {"job_type", "mode"}
    with pytest.raises(InvalidData, match="within_hours"):
        booking.book(centre, iid, {"job_type": "survey", "mode": "within", "within_hours": 0}, actor="d")


def test_booking_again_is_idempotent_or_a_reschedule(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed("2027-03-03"), actor="d")
    assert booking.book(centre, iid, fixed("2027-03-03"), actor="d").job_no == a.job_no
    assert _usage(centre, "CQ-1", dt.date(2027, 3, 3)) == 1
    b = booking.book(centre, iid, fixed("2027-03-04", "pm"), actor="d")
    assert (b.job_no, b.day, b.slot) == (a.job_no, dt.date(2027, 3, 4), "pm")
    assert (_usage(centre, "CQ-1", dt.date(2027, 3, 3)), _usage(centre, "CQ-1", dt.date(2027, 3, 4))) == (0, 1)
    assert [k for k, _ in _events(centre, iid)] == ["field_booked", "field_rescheduled"]
    # one appointment per job type: an installation of the same case is a second one
    c = booking.book(centre, iid, fixed("2027-03-04", job_type="install"), actor="d")
    assert c.job_no != a.job_no and len(appointments.list_appointments(centre, instance_id=iid)) == 2


def test_reschedule_releases_the_old_day_tells_the_customer_and_moves_the_arrival_check(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed("2027-03-03"), actor="dispatcher")
    now.advance(hours=2)
    b = rescheduling.reschedule(centre, a.job_no, {"mode": "by_date", "date": "2027-03-05"}, actor="dispatcher",
                           reason="客户周三不在家")
    assert (b.mode, b.day, b.window_end) == ("by_date", dt.date(2027, 3, 1), at(5, 18))  # first room: today
    assert _usage(centre, "CQ-1", dt.date(2027, 3, 3)) == 0 and _usage(centre, "CQ-1", dt.date(2027, 3, 1)) == 1
    with centre.read() as conn:
        timers = conn.execute(select(timer_t.c.due_at).where(timer_t.c.purpose == "field_arrival",
                                                             timer_t.c.fired_at.is_(None))).scalars().all()
        [sms] = conn.execute(select(outbox_t).where(outbox_t.c.instance_id == iid)).all()
        log = conn.execute(select(appointment_log_t.c.action, appointment_log_t.c.actor, appointment_log_t.c.details)
                           .order_by(appointment_log_t.c.id)).all()
    assert timers == [at(5, 18)]
    assert sms.template == "appointment_changed" and sms.recipient == "13912345678"
    assert "已改为2027年03月05日 18:00前" in sms.body and "现场勘查" in sms.body
    assert [(r.action, r.actor) for r in log] == [("booked", "dispatcher"), ("rescheduled", "dispatcher")]
    assert log[1].details["previous"]["day"] == "2027-03-03" and log[1].details["reason"] == "客户周三不在家"
    kind, payload = _events(centre, iid)[-1]
    assert kind == "field_rescheduled" and payload["reason"] == "客户周三不在家" and payload["previous"]["slot"] == "am"
    with pytest.raises(booking.CapacityFull):  # the old booking stays when the new day is full
        rescheduling.reschedule(centre, a.job_no, {"mode": "fixed", "date": "2027-03-06", "period": "am"}, actor="d")
    assert appointments.get(centre, a.job_no).day == dt.date(2027, 3, 1)


def test_cancel_releases_capacity_and_is_recorded(centre, now):
    [iid, other] = bare_cases(centre, 2)
    a = booking.book(centre, iid, fixed("2027-03-03"), actor="d")
    with pytest.raises(InvalidData):
        rescheduling.cancel(centre, a.job_no, actor="d", reason=" ")
    c = rescheduling.cancel(centre, a.job_no, actor="dispatcher", reason="客户暂不需要")
    assert (c.status, c.note) == ("cancelled", "客户暂不需要")
    assert _usage(centre, "CQ-1", dt.date(2027, 3, 3)) == 0
    with centre.read() as conn:
        assert conn.execute(select(func.count()).select_from(timer_t).where(timer_t.c.fired_at.is_(None))).scalar() == 0
    assert _events(centre, iid)[-1] == ("field_cancelled", {"job_no": a.job_no, "team": "CQ-1", "day": "2027-03-03",
                                                            "reason": "客户暂不需要"})
    with pytest.raises(InvalidState):
        rescheduling.cancel(centre, a.job_no, actor="d", reason="再取消")
    # the case may book that job type again: a new appointment
    assert booking.book(centre, iid, fixed("2027-03-03"), actor="d").job_no != a.job_no
    # a dispatched job of a running case is rescheduled, not cancelled
    b = booking.book(centre, other, fixed("2027-03-04"), actor="d")
    with centre.write() as conn:
        conn.execute(appointment_t.update().where(appointment_t.c.id == b.id).values(status="dispatched",
                                                                                       worker_name="刘洋"))
    with pytest.raises(InvalidState, match="reschedule"):
        rescheduling.cancel(centre, b.job_no, actor="d", reason="客户取消")


def test_availability_lists_remaining_per_day_and_team(centre, now):
    [iid] = bare_cases(centre, 1)
    booking.book(centre, iid, fixed("2027-03-01", "pm"), actor="d")
    days = appointments.availability(centre, "survey", start=dt.date(2027, 3, 1), days=1)
    assert [(d["team"], d["capacity"], d["booked"], d["remaining"]) for d in days] == [("CQ-1", 2, 1, 1),
                                                                                       ("CQ-2", 1, 0, 1)]


def test_fifty_concurrent_bookings_for_ten_free_slots_give_exactly_ten(db, now):
    """The guarded UPDATE of the usage row: on PostgreSQL the row lock serialises the bookers and
    the guard is re-checked on the winner's row; on SQLite writers queue (BEGIN IMMEDIATE)."""
    make_team(db, "CQ-1", survey=6)
    make_team(db, "CQ-2", survey=4)
    cases = bare_cases(db, 50)
    barrier = threading.Barrier(len(cases))
    booked, refused, failed = [], [], []

    def book(iid: int) -> None:
        barrier.wait()
        try:
            booked.append(booking.book(db, iid, fixed("2027-03-03"), actor=f"dispatcher-{iid}"))
        except booking.CapacityFull as exc:
            refused.append(exc)
        except Exception as exc:  # noqa: BLE001 - reported below
            failed.append(repr(exc))

    threads = [threading.Thread(target=book, args=(iid,)) for iid in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failed == []
    assert (len(booked), len(refused)) == (10, 40)
    assert sorted(a.team for a in booked) == ["CQ-1"] * 6 + ["CQ-2"] * 4
    assert len({a.job_no for a in booked}) == 10
    assert (_usage(db, "CQ-1", dt.date(2027, 3, 3)), _usage(db, "CQ-2", dt.date(2027, 3, 3))) == (6, 4)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(appointment_t)).scalar() == 10
        assert conn.execute(select(func.count()).select_from(event_t)
                            .where(event_t.c.type == "field_booked")).scalar() == 10
    assert all(r.details["offers"][0]["date"] == "2027-03-04" for r in refused)
    assert all(r.ok for r in audit.verify(db))


def test_appointment_views_serialise(centre, now):
    [iid] = bare_cases(centre, 1)
    a = booking.book(centre, iid, fixed(), actor="d")
    data = json.loads(json.dumps(a.to_dict(), default=str))
    assert data["date_text"] == "2027年03月03日" and data["time_window"] == "08:30-12:00"
    result = appointments.process_result(a)
    assert result["due_at"] == "2027-03-03T12:00:00+08:00" and result["booked"] is True
    assert result["window_start"] == at(3, 8, 30).astimezone(CHINA).isoformat()


def test_moving_a_job_within_its_full_day_keeps_its_own_place(centre, now):
    [a_case, b_case, c_case] = bare_cases(centre, 3)
    capacity_day = dt.date(2027, 3, 3)
    first = booking.book(centre, a_case, fixed("2027-03-03", "am", team="CQ-2"), actor="d")  # CQ-2's only slot
    moved = rescheduling.reschedule(centre, first.job_no, {"period": "pm"}, actor="d", reason="客户上午不在")
    assert (moved.team, moved.day, moved.slot) == ("CQ-2", capacity_day, "pm")
    assert _usage(centre, "CQ-2", capacity_day) == 1
    with pytest.raises(booking.CapacityFull):  # still full for anyone else
        booking.book(centre, b_case, fixed("2027-03-03", team="CQ-2"), actor="d")
    assert booking.book(centre, c_case, fixed("2027-03-03"), actor="d").team == "CQ-1"


def test_the_booking_horizon_is_two_years_and_its_last_day_books(centre, now):
    """A by-date window up to the horizon is a list of 732 days: it books (rows made in bounded
    statements); one day more is refused before any list of days is built."""
    [iid, other] = bare_cases(centre, 2)
    last = (now.now().astimezone(CHINA).date() + appointments.HORIZON)
    a = booking.book(centre, iid, {"job_type": "survey", "mode": "by_date", "date": last.isoformat()}, actor="d")
    assert a.status == "booked" and a.day == dt.date(2027, 3, 1)
    with pytest.raises(InvalidData) as refused:
        booking.book(centre, other, {"job_type": "survey", "mode": "by_date",
                                     "date": (last + dt.timedelta(days=1)).isoformat()}, actor="d")
    assert "date" in refused.value.details
    with pytest.raises(InvalidData):
        booking.book(centre, other, fixed("6500-07-09", "am"), actor="d")

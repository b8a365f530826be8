"""The 预约上门 form refuses, in Chinese and on its fields, a booking that cannot be made (issue 14):
a closed window, a full window (with the next free days), an unknown team — so the task stays open
instead of completing and coming straight back as if it had been done. Late in the day a 限时 job
that ends before tomorrow books today's free capacity instead of reading as "full"."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.dispatch import booking
from tests.dispatch_support import at, bare_cases, fixed, make_team


@pytest.fixture
def centre(db, clock):
    clock.set(at(1, 21, 50))  # Monday evening, after the working day
    make_team(db, "CQ-1", survey=2)
    return db


def _form(request):
    """The booking request in the form's own field names."""
    names = {"job_type": "job_kind", "mode": "appointment_mode", "date": "appointment_date",
             "period": "appointment_period"}
    return {names.get(k, k): v for k, v in request.items()}


def test_a_window_that_already_closed_is_an_error_on_the_date(centre, clock):
    [iid] = bare_cases(centre, 1)
    problems = booking.check_form(centre, iid, _form(fixed("2027-03-01", "pm")), clock.now())
    assert problems == {"appointment_date": ["所选时间段已于 03月01日 18:00 结束，请选择以后的时间"]}


def test_a_full_window_lists_the_next_free_days(centre, clock):
    cases = bare_cases(centre, 3)
    for iid in cases[:2]:
        booking.book(centre, iid, fixed("2027-03-03"), actor="d")
    [message] = booking.check_form(centre, cases[2], _form(fixed("2027-03-03")), clock.now())["appointment_date"]
    assert message.startswith("所选时间现场勘查已约满，可预约：2027-03-04 测试CQ-1班（余2）")
    assert booking.check_form(centre, cases[2], _form(fixed("2027-03-04")), clock.now()) == {}


def test_unknown_team_and_missing_choices_are_shown_on_their_fields(centre, clock):
    [iid] = bare_cases(centre, 1)
    assert booking.check_form(centre, iid, _form(fixed(team="XX-9")), clock.now()) == {
        "team": ["没有这个班所编码，或该班所已停用"]}
    assert booking.check_form(centre, iid, {"job_kind": "survey"}, clock.now()) == {
        "appointment_mode": ["请选择预约方式：约时、限时或限期"]}


def test_within_hours_late_in_the_day_books_today_when_it_has_room(centre, clock):
    [iid] = bare_cases(centre, 1)
    request = {"job_type": "survey", "mode": "within", "within_hours": 2}
    assert booking.check_form(centre, iid, _form(request), clock.now()) == {}
    a = booking.book(centre, iid, request, actor="d")
    assert (a.day, a.window_end) == (dt.date(2027, 3, 1), at(1, 23, 50))

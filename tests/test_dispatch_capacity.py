"""Teams (班所) and their capacity (承载力): weekly reports, single-day adjustments, versions."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core.clock import CHINA
from engine.core.errors import Conflict, InvalidData, NotFound
from engine.dispatch import capacity, teams
from tests.dispatch_support import MONDAY, make_team


@pytest.fixture
def now(clock):
    clock.set(MONDAY)
    return clock


def test_teams_have_an_area_and_members(db, now):
    teams.create_team(db, "CQ-1", "城区勘查一班", "urban", actor="admin")
    teams.add_member(db, "CQ-1", "陈强", "13700001000", role="lead", username="lead")
    teams.add_member(db, "CQ-1", "刘洋", "13700001111")
    team = teams.get_team(db, "CQ-1")
    assert (team.area, team.area_text) == ("urban", "城区")
    assert [(m.name, m.role, m.username) for m in team.members] == [("陈强", "lead", "lead"), ("刘洋", "worker", None)]
    teams.remove_member(db, "CQ-1", "刘洋")
    assert teams.get_team(db, "CQ-1").member("刘洋") is None  # kept for past assignments, not assignable
    teams.add_member(db, "CQ-1", "刘洋", "13700001112")  # comes back with a new number
    assert teams.get_team(db, "CQ-1").member("刘洋").mobile == "13700001112"
    with pytest.raises(Conflict):
        teams.create_team(db, "CQ-1", "重复", "urban", actor="admin")
    with pytest.raises(InvalidData) as bad:
        teams.create_team(db, "坏 码", "x", "suburb", actor="admin")
    assert set(bad.value.details) == {"code", "name", "area"}
    with pytest.raises(InvalidData):
        teams.add_member(db, "CQ-1", "王五", "12345")
    with pytest.raises(NotFound):
        teams.add_member(db, "NOPE", "王五", "13700001113")


def test_weekly_report_then_a_single_day_adjustment(db, now):
    make_team(db, "CQ-1", survey=8, install=0, verify=4)
    week = dt.date(2027, 3, 1)
    assert [capacity.day_capacity(db, "CQ-1", week + dt.timedelta(days=i), "survey") for i in range(7)] == \
        [8, 8, 8, 8, 8, 0, 0]
    capacity.report_week(db, "CQ-1", dt.date(2027, 3, 3), {"survey": [6, 6, 6, 6, 6, 3, 0]}, actor="lead",
                         note="本周两人休假")  # any day of the week names the week
    capacity.adjust_day(db, "CQ-1", dt.date(2027, 3, 3), "survey", 0, actor="lead", note="安全培训")
    assert [capacity.day_capacity(db, "CQ-1", week + dt.timedelta(days=i), "survey") for i in range(7)] == \
        [6, 6, 0, 6, 6, 3, 0]
    assert capacity.day_capacity(db, "CQ-1", dt.date(2027, 3, 3), "verify") == 4  # other job types untouched
    # a later week without a report keeps the latest pattern (the standing report of that week)
    assert capacity.day_capacity(db, "CQ-1", dt.date(2027, 3, 13), "survey") == 3
    capacity.adjust_day(db, "CQ-1", dt.date(2027, 3, 3), "survey", 2, actor="dispatcher", note="培训改为半天")
    assert capacity.day_capacity(db, "CQ-1", dt.date(2027, 3, 3), "survey") == 2


def test_every_change_is_a_version_with_who_and_when(db, now):
    make_team(db, "CQ-1", survey=8)
    now.advance(hours=1)
    capacity.adjust_day(db, "CQ-1", dt.date(2027, 3, 3), "survey", 0, actor="lead", note="安全培训")
    now.advance(hours=1)
    capacity.adjust_day(db, "CQ-1", dt.date(2027, 3, 3), "survey", 5, actor="dispatcher", note="培训取消")
    log = capacity.history(db, "CQ-1", job_type="survey")
    assert [(h["kind"], h["day"], h["version"], h["days"], h["reported_by"], h["note"]) for h in log] == [
        ("day", "2027-03-03", 2, [5], "dispatcher", "培训取消"),
        ("day", "2027-03-03", 1, [0], "lead", "安全培训"),
        ("week", "2027-01-04", 1, [8, 8, 8, 8, 8, 0, 0], "test", ""),
    ]
    assert log[0]["reported_at"] > log[1]["reported_at"]


def test_reports_are_checked(db, now):
    make_team(db, "CQ-1")
    with pytest.raises(InvalidData, match="7 whole number"):
        capacity.report_week(db, "CQ-1", dt.date(2027, 3, 1), {"survey": [8, 8, 8]}, actor="lead")
    with pytest.raises(InvalidData, match="unknown job type"):
        capacity.report_week(db, "CQ-1", dt.date(2027, 3, 1), {"repair": [1] * 7}, actor="lead")
    with pytest.raises(InvalidData):
        capacity.adjust_day(db, "CQ-1", dt.date(2027, 3, 3), "survey", -1, actor="lead")
    with pytest.raises(NotFound):
        capacity.adjust_day(db, "NOPE", dt.date(2027, 3, 3), "survey", 1, actor="lead")


def test_the_standing_pattern_does_not_work_through_a_holiday(calendar_db, clock):
    clock.set(dt.datetime(2026, 9, 21, 9, 0, tzinfo=CHINA))
    make_team(calendar_db, "CQ-1", survey=8, since=dt.date(2026, 9, 21))
    assert capacity.day_capacity(calendar_db, "CQ-1", dt.date(2026, 9, 30), "survey") == 8
    assert capacity.day_capacity(calendar_db, "CQ-1", dt.date(2026, 10, 1), "survey") == 0  # 国庆节, a Thursday
    # a week the team reported itself counts as reported, holiday or not
    capacity.report_week(calendar_db, "CQ-1", dt.date(2026, 9, 28), {"survey": [8, 8, 8, 2, 2, 0, 0]}, actor="lead")
    assert capacity.day_capacity(calendar_db, "CQ-1", dt.date(2026, 10, 1), "survey") == 2


def test_board_shows_capacity_booked_and_remaining(db, now):
    make_team(db, "CQ-1", survey=8)
    make_team(db, "NC-1", "rural", survey=4, install=4)
    rows = capacity.board(db, dt.date(2027, 3, 1), 2, job_type="survey")
    assert [(r.team, r.day.isoformat(), r.capacity, r.booked, r.remaining) for r in rows] == [
        ("CQ-1", "2027-03-01", 8, 0, 8), ("CQ-1", "2027-03-02", 8, 0, 8),
        ("NC-1", "2027-03-01", 4, 0, 4), ("NC-1", "2027-03-02", 4, 0, 4)]
    assert {r.team for r in capacity.board(db, dt.date(2027, 3, 1), 1, area="rural")} == {"NC-1"}
    assert rows[0].to_dict()["remaining"] == 8


def test_demo_teams_are_seeded_once(db, now):
    assert teams.seed_demo(db) == ["CQ-KC1", "CQ-ZB1", "NC-ZH1"]
    assert teams.seed_demo(db) == []
    kc = teams.get_team(db, "CQ-KC1")
    assert kc.member("刘洋").username == "surveyor" and any(m.role == "lead" for m in kc.members)
    assert capacity.day_capacity(db, "CQ-KC1", dt.date(2027, 3, 1), "survey") == 8
    assert capacity.day_capacity(db, "CQ-ZB1", dt.date(2027, 3, 6), "install") == 3  # a Saturday shift


def test_the_standing_pattern_works_an_adjusted_weekend_like_a_monday(calendar_db, clock):
    clock.set(dt.datetime(2026, 9, 21, 9, 0, tzinfo=CHINA))
    make_team(calendar_db, "CQ-1", survey=8, since=dt.date(2026, 9, 21))
    assert capacity.day_capacity(calendar_db, "CQ-1", dt.date(2026, 10, 10), "survey") == 8  # 国庆 调休 Saturday
    assert capacity.day_capacity(calendar_db, "CQ-1", dt.date(2026, 10, 11), "survey") == 0  # an ordinary Sunday

"""Deadlines: rules as data, clocks per assessed step and per case, pauses, thresholds fired once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.audit import chains as audit
from engine.core import definitions, history, runtime, timers
from engine.core.clock import CHINA
from engine.core.errors import InvalidState
from engine.core.models import notice_t, timer_t
from engine.deadlines import calendar, calendar_import, calendar_watch, notices, rule_sets, rule_versions, sla
from tests.conftest import ENGINE_MODEL
from tests.helpers import actor, complete, open_items

TEST_RULES = {
    "name": "test_rules", "title": "测试时限",
    "thresholds": {"prewarn": [0.5, 0.8], "escalate_after_hours": 4, "reminder_after_hours": 0},
    "rules": [
        {"business_type": "hv_single", "sla_key": "whole_process", "workdays": 22, "title": "全过程"},
        {"business_type": "hv_single", "sla_key": "scheme_reply", "workdays": 5, "title": "供电方案答复"},
        {"business_type": "hv_single", "sla_key": "design_review", "workdays": 10, "title": "设计文件审查"},
        {"business_type": "*", "sla_key": "callback", "workdays": 2, "title": "回访", "assessed": True},
    ],
}


def at(y, m, d, h=9, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=CHINA)


@pytest.fixture
def sla_model(db, clock):
    calendar_import.seed_from_package(db)
    rule_versions.load_rule_set(db, TEST_RULES, activate=True)
    [result] = definitions.deploy_paths(db, [ENGINE_MODEL / "sla_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    return result


def start_case(db, clock, when, business_type="hv_single"):
    clock.set(when)
    iid = runtime.start_instance(db, "sla_model").instance_id
    complete(db, iid, "accept", {"business_type": business_type})
    return iid


def clock_of(db, iid, key):
    return next(c for c in sla.clocks_of(db, iid) if c.sla_key == key)


def test_deadline_crosses_spring_festival_2026(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 2, 13))
    c = clock_of(db, iid, "scheme_reply")
    assert c.deadline_at == at(2026, 2, 27, 17)  # 5th working day after 2026-02-13 (14 Feb is a 调休 workday)
    assert not c.provisional and c.status == "running"
    assert open_items(db, iid)["scheme"].due_at == c.deadline_at
    # 22 working days: 14 Feb, 24–28 Feb (28th a 调休 Saturday), then 16 more in March
    assert clock_of(db, iid, "whole_process").deadline_at == at(2026, 3, 23, 17)


def test_deadline_across_national_day_2026(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 9, 30))
    # 1–7 Oct off, Sun 27 Sep and Sat 10 Oct are 调休 working days (checked against chinesecalendar)
    expected = calendar.add_workdays(db, dt.date(2026, 9, 30), 5).date
    assert clock_of(db, iid, "scheme_reply").deadline_at == dt.datetime.combine(expected, dt.time(17), tzinfo=CHINA)
    assert expected > dt.date(2026, 10, 8)


def test_step_met_or_missed_and_case_on_time(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))
    clock.set(at(2026, 3, 6))
    complete(db, iid, "scheme")
    assert clock_of(db, iid, "scheme_reply").status == "met"
    clock.set(at(2026, 3, 30))  # design review: 10 working days from 6 Mar ended 20 Mar
    complete(db, iid, "review")
    assert clock_of(db, iid, "design_review").status == "missed"
    complete(db, iid, "energize")
    assert clock_of(db, iid, "whole_process").status == "met"  # stopped at energizing (slaEnd)
    complete(db, iid, "callback")
    assert sla.on_time(db, iid) is False
    with db.read() as conn:
        kinds = [r.type for r in history.events_of(conn, iid) if r.type.startswith("sla_")]
    assert kinds.count("sla_started") == 4 and kinds.count("sla_stopped") == 4


def test_an_unassessed_business_type_gets_no_step_clock(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2), business_type="lv_res")
    assert sla.clocks_of(db, iid) == []  # no lv_res rules in this set
    assert open_items(db, iid)["scheme"].due_at is None


def test_pause_and_resume_shift_the_deadline(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))  # Monday; deadline Mon 9 Mar 17:00
    assert clock_of(db, iid, "scheme_reply").deadline_at == at(2026, 3, 9, 17)
    clock.set(at(2026, 3, 3, 10))
    assert sla.pause(db, iid, reason="customer_documents", actor="li", note="缺产权证明") == 2
    with pytest.raises(InvalidState):
        sla.pause(db, iid, reason="customer_documents", actor="li")
    clock.set(at(2026, 3, 6, 15))  # Friday: Wed, Thu, Fri = 3 working days paused
    assert sla.resume(db, iid, actor="li") == 2
    c = clock_of(db, iid, "scheme_reply")
    assert (c.status, c.paused_workdays, c.deadline_at) == ("running", 3, at(2026, 3, 12, 17))
    assert open_items(db, iid)["scheme"].due_at == at(2026, 3, 12, 17)
    with db.read() as conn:
        rows = [r for r in history.events_of(conn, iid) if r.type in ("sla_paused", "sla_resumed")]
    assert history.payload_of(rows[0])["reason"] == "customer_documents"
    assert [r.actor for r in rows] == ["li", "li"]
    assert all(r.ok for r in audit.verify(db, iid))
    with pytest.raises(InvalidState):
        sla.pause(db, iid, reason="bad_reason", actor="li")


def test_thresholds_fire_once_each_to_the_right_people(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))  # scheme_reply: start Mon 09:00, deadline Mon 9 Mar 17:00
    item = open_items(db, iid)["scheme"]
    runtime.claim(db, item.id, actor=actor("wang", "manager"))
    fired = timers.fire_due(db, at(2026, 3, 5, 12))  # past 50 % of the working time, before 80 %
    with db.read() as conn:
        notes = conn.execute(select(notice_t).order_by(notice_t.c.id)).all()
    assert [(n.kind, n.recipient_user) for n in notes] == [("预警", "wang")]
    assert fired.fired == 1
    timers.fire_due(db, at(2026, 3, 5, 12))
    timers.fire_due(db, at(2026, 3, 9, 18))  # 80 % and overdue now due, supervision not yet
    timers.fire_due(db, at(2026, 3, 9, 18))
    with db.read() as conn:
        notes = conn.execute(select(notice_t).where(notice_t.c.work_item_id == item.id).order_by(notice_t.c.id)).all()
    assert [(n.kind, n.recipient_user, n.recipient_group) for n in notes] == [
        ("预警", "wang", None), ("预警", "wang", None), ("超期", None, "lead")]
    timers.fire_due(db, at(2026, 3, 9, 21, 1))  # 4 calendar hours on: nothing (the delay is in working hours)
    assert notices.list_notices(db, groups={"supervisor"}) == []
    timers.fire_due(db, at(2026, 3, 10, 13, 1))  # 4 working hours after Monday 17:00: Tuesday 13:00
    supervision = notices.list_notices(db, groups={"supervisor"})
    assert len(supervision) == 1 and supervision[0]["requires_ack"]
    notices.acknowledge(db, supervision[0]["id"], actor="supervisor")
    assert notices.list_notices(db, groups={"supervisor"}) == []
    with pytest.raises(InvalidState):
        notices.acknowledge(db, supervision[0]["id"], actor="supervisor")
    with db.read() as conn:
        levels = [r.type for r in history.events_of(conn, iid) if r.type.startswith("sla_") and r.type[4:] in notices.LEVELS]
    # each threshold of the step exactly once; the 22-day process clock has not reached 50 % yet
    assert levels == ["sla_prewarn_50", "sla_prewarn_80", "sla_overdue", "sla_supervise"]


def test_completed_step_raises_no_more_warnings(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))
    complete(db, iid, "scheme")
    timers.fire_due(db, at(2026, 3, 20))
    scheme = clock_of(db, iid, "scheme_reply")
    with db.read() as conn:
        warned = set(conn.execute(select(notice_t.c.clock_id)).scalars())
        scheme_timers = conn.execute(select(func.count()).select_from(timer_t).where(
            timer_t.c.purpose == sla.PURPOSE, timer_t.c.task_id.like(f"sla:{scheme.id}:%"))).scalar()
    assert scheme.status == "met" and scheme.id not in warned
    assert scheme_timers == 0
    assert clock_of(db, iid, "design_review").id in warned  # the open step did get its warnings


def test_paused_clock_raises_no_warnings_until_resumed(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))
    clock.set(at(2026, 3, 3))
    sla.pause(db, iid, reason="customer_works", actor="li")
    timers.fire_due(db, at(2026, 3, 20))
    assert notices.list_notices(db, open_only=False) == []
    clock.set(at(2026, 3, 20))
    sla.resume(db, iid, actor="li")
    # paused 4–20 Mar = 13 working days, so 9 Mar 17:00 moves 13 working days on
    assert clock_of(db, iid, "scheme_reply").deadline_at == at(2026, 3, 26, 17)
    timers.fire_due(db, at(2026, 3, 26, 18))
    assert {n["kind"] for n in notices.list_notices(db, open_only=False)} == {"预警", "超期"}


def test_changing_a_rule_keeps_issued_deadlines_until_recompute(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))
    before = clock_of(db, iid, "scheme_reply").deadline_at
    tighter = {**TEST_RULES, "rules": [dict(r, workdays=3) if r["sla_key"] == "scheme_reply" else r
                                       for r in TEST_RULES["rules"]]}
    rule_versions.load_rule_set(db, tighter)
    assert clock_of(db, iid, "scheme_reply").deadline_at == before
    later = start_case(db, clock, at(2026, 3, 2, 10))
    assert clock_of(db, later, "scheme_reply").limit_workdays == 3
    assert sla.recompute(db, instance_ids=[iid]) == 1
    c = clock_of(db, iid, "scheme_reply")
    assert (c.limit_workdays, c.deadline_at) == (3, at(2026, 3, 5, 17))


def test_regulator_rule_set_can_be_activated(db, clock, sla_model):
    rule_versions.seed_rule_sets(db)
    rule_versions.activate_rule_set(db, "regulator_2009")
    iid = start_case(db, clock, at(2026, 3, 2))
    assert clock_of(db, iid, "scheme_reply").limit_workdays == 20
    assert rule_sets.active_rules(db).name == "regulator_2009"


def test_bad_rule_files_are_refused(db, clock):
    with pytest.raises(rule_sets.RuleError, match="workdays must be a whole number"):
        rule_versions.load_rule_set(db, {**TEST_RULES, "rules": [{"business_type": "x", "sla_key": "y", "workdays": 0}]})
    with pytest.raises(rule_sets.RuleError, match="appears twice"):
        rule_versions.load_rule_set(db, {**TEST_RULES, "rules": [TEST_RULES["rules"][0], TEST_RULES["rules"][0]]})


def test_thresholds_follow_working_time(db, clock, sla_model):
    start, deadline = at(2026, 2, 13, 9), at(2026, 2, 27, 17)
    half = sla.threshold_at(db, start, deadline, 0.5)
    # 6 working days of 8 business hours (13, 14, 24–27 Feb): half is the end of the 3rd, not mid-holiday
    assert half == at(2026, 2, 24, 17)
    assert sla.threshold_at(db, start, deadline, 0.8) == at(2026, 2, 26, 15, 24)


def test_withdrawn_or_cancelled_case_voids_open_clocks(db, clock, sla_model):
    iid = start_case(db, clock, at(2026, 3, 2))
    runtime.cancel(db, iid, actor=actor("supervisor"), reason="customer withdrew")
    assert {c.status for c in sla.clocks_of(db, iid)} == {"void"}
    assert sla.on_time(db, iid) is True  # nothing assessed was missed
    with db.read() as conn:
        open_sla = conn.execute(select(func.count()).select_from(timer_t).where(
            timer_t.c.purpose == sla.PURPOSE, timer_t.c.fired_at.is_(None))).scalar()
    assert open_sla == 0


def test_a_year_without_calendar_never_blocks_a_step(db, clock, sla_model, monkeypatch):
    """Production default (no fallback configured): the step completes, the deadline is marked
    provisional on the clock and the work item, the admins and supervisors hear of it once a day;
    importing the year recomputes it with a history event."""
    monkeypatch.delenv("YEKUO_CALENDAR_FALLBACK", raising=False)
    clock.set(at(2026, 12, 28))
    iid = runtime.start_instance(db, "sla_model").instance_id
    runtime.complete_task(db, open_items(db, iid)["accept"].id, {"business_type": "hv_single"}, actor=actor())
    c = clock_of(db, iid, "scheme_reply")
    assert c.provisional and c.deadline_at == at(2027, 1, 4, 17)  # Monday–Friday: 29–31 Dec, 1 and 4 Jan
    assert open_items(db, iid)["scheme"].due_provisional
    calendar_notices = [n for n in notices.list_notices(db) if n["kind"] == calendar_watch.KIND]
    assert sorted(n["recipient_group"] for n in calendar_notices) == ["admin", "supervisor"]
    assert "2027" in calendar_notices[0]["body"]
    # a second case the same day raises nothing new: once a day, not once per step
    iid2 = start_case(db, clock, at(2026, 12, 28, 15))
    assert clock_of(db, iid2, "scheme_reply").provisional
    assert calendar_watch.daily(db, at(2026, 12, 28, 16)) == 0
    assert len([n for n in notices.list_notices(db) if n["kind"] == calendar_watch.KIND]) == 2
    assert calendar_watch.daily(db, at(2026, 12, 29, 8)) == 2  # the next working day: again
    assert calendar_watch.daily(db, at(2027, 1, 2, 8)) == 0  # Saturday (counted Monday–Friday)
    calendar_import.import_year(db, Path(__file__).parent / "data" / "calendar" / "2027.csv", actor="admin")
    c = clock_of(db, iid, "scheme_reply")
    assert not c.provisional and c.deadline_at == at(2027, 1, 5, 17)  # 1 Jan 2027 is 元旦
    assert not open_items(db, iid)["scheme"].due_provisional
    with db.read() as conn:
        recomputed = [history.payload_of(r) for r in history.events_of(conn, iid) if r.type == "sla_recomputed"]
    utc = lambda t: t.astimezone(dt.timezone.utc).isoformat()  # noqa: E731
    assert {(p["from"], p["to"]) for p in recomputed} == {  # one event per changed deadline
        (utc(at(2027, 1, 4, 17)), utc(at(2027, 1, 5, 17))),  # 供电方案答复, 5 WD
        (utc(at(2027, 1, 27, 17)), utc(at(2027, 1, 28, 17)))}  # whole process, 22 WD
    assert calendar_watch.daily(db, at(2027, 1, 4, 8)) == 0  # imported: the notices stop


def test_fallback_deadlines_are_provisional_until_the_year_is_imported(db, clock, sla_model, monkeypatch):
    monkeypatch.setenv("YEKUO_CALENDAR_FALLBACK", "1")
    iid = start_case(db, clock, at(2026, 12, 28))
    c = clock_of(db, iid, "scheme_reply")
    assert c.provisional and c.deadline_at == at(2027, 1, 4, 17)  # weekends-only guess: 29–31 Dec, 1 and 4 Jan
    calendar_import.import_year(db, Path(__file__).parent / "data" / "calendar" / "2027.csv", actor="admin")
    c = clock_of(db, iid, "scheme_reply")
    assert not c.provisional
    assert c.deadline_at == dt.datetime.combine(calendar.add_workdays(db, dt.date(2026, 12, 28), 5).date,
                                                dt.time(17), tzinfo=CHINA)
    assert open_items(db, iid)["scheme"].due_at == c.deadline_at
    with db.read() as conn:
        recomputed = [history.payload_of(r) for r in history.events_of(conn, iid) if r.type == "sla_recomputed"]
    assert recomputed and all(not p["provisional"] for p in recomputed)

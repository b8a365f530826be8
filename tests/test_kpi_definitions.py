"""Every KPI definition against numbers computed by hand, on cases driven through the real models.

March 2027 (no official calendar yet: working days are counted Monday–Friday, provisionally), the
default State Grid rule set (lv_res: whole process 5, call-back 2 working days; hv_single adds
scheme 15, inspection 5, connection 5), all in China time:

- A  lv_res, one visit (survey with installation) booked 3 Mar am (due 12:00), arrived 09:40 (on
     time); accepted Mon 1 Mar, energized Wed 3 Mar 10:00 → 2 working days (met); installation
     call-back 5, case call-back 5.
- B  lv_res, booked 3 Mar am, **rescheduled** to the afternoon (due 18:00), arrived 14:30: on time
     against the appointment in force (late against the first booking); energized 1 Mar (0 days,
     met) but the call-back, due 3 Mar 17:00, is made Mon 8 Mar: **one late assessed step** → the
     case is late; installation call-back 5, case call-back 3.
- C  lv_res, **withdrawn** while its visit is dispatched: no verdict, no connection time, its
     受理签约 not averaged into 办电环节数.
- D  hv_single, ordinary (no design review): everything done on 1 Mar → all met, 0 days; visits
     (survey, installation) booked 3 Mar am and reported 09:40; survey, installation and case
     call-backs 5 each.

Expected, by hand:
- 时限达标率: cases A ✓, B ✗, D ✓ → 2/3 = 0.6667; per type lv_res 1/2 = 0.5, hv_single 1/1 = 1.0
  (a ratio of clocks would have said 7 of 8 clocks met);
- 平均接电时长: lv_res (2 + 0) / 2 = 1.0, hv_single 0.0;
- 预约准时率: A, B (in force), D survey, D install → 4 of 4 = 1.0 (B late under the first booking
  would have given 0.75);
- 回访满意率 (4–5 of 1–5): A 5 (install), A 5, B 5 (install), B 3, D 5 (survey), D 5 (install),
  D 5 (case) → 6 of 7 = 0.8571 (every field job is called back, installation included);
- 办电环节数: lv_res A 2 (受理签约, 施工接电), B 2 → 2.0 (C withdrawn: excluded; 申请受理 is the
  same step for a low-voltage customer); hv_single D 申请受理, 供电方案答复, 竣工检验, 装表接电 → 4.0;
- cases 4, overdue now 0.

After-sales (售后跟进及时率, limit 10 working days from when the follow-up opens): the scheduler's
pass on Tue 9 Mar 10:00 opens the follow-ups of A, B and D (C was withdrawn: none), each due Tue
23 Mar 17:00. A's is done Wed 10 Mar (in time), B's Mon 29 Mar (late), D's stays open →
1 of 3 finished cases = 0.3333; lv_res A ✓ B ✗ = 0.5, hv_single D ✗ = 0.0. The follow-ups are not
cases: cases stay 4, and D's overdue follow-up is not an overdue order.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.audit import kpi
from engine.core import actors, runtime, timers
from engine.core.clock import CHINA
from engine.deadlines import rule_versions
from engine.dispatch import appointments, rescheduling
from tests.process_helpers import START, deploy, drive, example, start_case


def at(d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(2027, 3, d, h, mi, tzinfo=CHINA)


@pytest.fixture
def march(db, clock):
    rule_versions.seed_rule_sets(db)
    rule_versions.activate_rule_set(db, "sgcc_default")
    deploy(db)
    clock.set(START)
    a = start_case(db)
    drive(db, a, until="energize")
    clock.set(at(3, 10))
    drive(db, a)

    clock.set(START)
    b = start_case(db)
    drive(db, b, until="report_arrival")
    job = appointments.list_appointments(db, instance_id=b)[0]
    rescheduling.reschedule(db, job.job_no, {"period": "pm"}, actor="dispatcher", reason="客户改约下午")
    drive(db, b, {"report_arrival": example("field-arrival", arrived_at="2027-03-03T14:30:00+08:00")},
          until="callback")
    clock.set(at(8, 10))
    drive(db, b, {"callback": example("callback", satisfaction=3)})

    clock.set(START)
    c = start_case(db)
    drive(db, c, until="dispatch_job")
    runtime.send_message(db, c, "withdraw", {"reason": "不再用电"}, actor=actors.SYSTEM)

    d = start_case(db)
    drive(db, d, {"accept": example("accept", 2, power_sources=1, important_customer=False, load_level="2",
                                    capacity_kw=1600),
                  "reply_scheme": example("scheme-reply-hv", source_count=1, capacity_kva=2000)},
          prefer=["draft_contract", "sign_contract"])
    clock.set(at(9, 10))
    return a, b, c, d


def test_every_kpi_definition_matches_the_hand_computed_numbers(db, clock, march):
    k = kpi.compute(db)
    assert (k.cases, k.overdue_now) == (4, 0)
    assert (k.assessed, k.on_time_rate) == (3, 0.6667)
    assert k.on_time_by_type == {"hv_single": 1.0, "lv_res": 0.5}
    assert k.avg_connection_workdays == {"hv_single": 0.0, "lv_res": 1.0}
    assert (k.appointments, k.appointment_punctuality) == (4, 1.0)
    assert (k.callbacks, k.satisfaction_rate) == (7, 0.8571)
    assert k.avg_milestones == {"hv_single": 4.0, "lv_res": 2.0}
    assert (k.after_sales_cases, k.after_sales_on_time_rate) == (3, 0.0)  # no follow-up done yet


def test_kpis_per_type_never_mix_types(db, clock, march):
    lv = kpi.compute(db, business_type="lv_res")
    assert (lv.cases, lv.assessed, lv.on_time_rate, lv.avg_milestones) == (3, 2, 0.5, {"lv_res": 2.0})
    assert (lv.appointments, lv.callbacks, lv.satisfaction_rate) == (2, 4, 0.75)  # A, B (in force); 5, 5, 5, 3
    hv = kpi.compute(db, business_type="hv_single")
    assert (hv.cases, hv.on_time_rate, hv.avg_milestones, hv.satisfaction_rate) == (1, 1.0, {"hv_single": 4.0}, 1.0)


def test_after_sales_follow_up_rate_matches_the_hand_computed_number(db, clock, march):
    from engine.dispatch import after_sales

    a, b, c, d = march
    timers.fire_due(db, at(9, 10))
    follow = {case: after_sales._existing(db, case) for case in (a, b, c, d)}
    assert follow[c] is None and None not in (follow[a], follow[b], follow[d])
    [item] = [i for i in after_sales.open_follow_ups(db) if i.instance_id == follow[a]]
    assert item.due_at == at(23, 17)
    clock.set(at(10, 10))
    drive(db, follow[a])
    clock.set(at(29, 10))
    drive(db, follow[b], {"follow_up_marketing": 2})
    k = kpi.compute(db)
    assert (k.after_sales_cases, k.after_sales_on_time_rate) == (3, 0.3333)
    assert (k.cases, k.overdue_now, k.assessed, k.on_time_rate) == (4, 0, 3, 0.6667)  # follow-ups are not cases
    assert kpi.compute(db, business_type="lv_res").after_sales_on_time_rate == 0.5
    assert kpi.compute(db, business_type="hv_single").after_sales_on_time_rate == 0.0
    march_only = kpi.compute(db, start=at(1, 0), end=at(8, 0))  # B ended on 8 Mar: outside
    assert (march_only.after_sales_cases, march_only.after_sales_on_time_rate) == (2, 0.5)

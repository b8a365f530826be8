"""KPIs against values computed by hand on a small fixture (three cases in March 2026)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine import calendar, definitions, kpi, sla
from tests.conftest import ENGINE_MODEL
from tests.helpers import complete
from tests.test_sla import TEST_RULES, at, start_case


@pytest.fixture
def month(db, clock):
    import engine.handlers  # noqa: F401

    calendar.seed_from_package(db)
    sla.load_rule_set(db, TEST_RULES, activate=True)
    definitions.deploy_paths(db, [ENGINE_MODEL / "sla_model.bpmn"], forms_dir=ENGINE_MODEL / "forms")
    a = start_case(db, clock, at(2026, 3, 2, 9))
    b = start_case(db, clock, at(2026, 3, 2, 10))
    c = start_case(db, clock, at(2026, 3, 2, 11))
    clock.set(at(2026, 3, 3, 9))
    sla.pause(db, b, reason="customer_documents", actor="clerk")
    clock.set(at(2026, 3, 4, 9))
    complete(db, a, "scheme")                      # scheme 48 h, met
    clock.set(at(2026, 3, 6, 9))
    sla.resume(db, b, actor="clerk")               # paused 4, 5, 6 Mar: 3 working days
    clock.set(at(2026, 3, 12, 10))
    complete(db, b, "scheme")                      # 240 h, deadline 9 Mar + 3 = 12 Mar 17:00: met
    clock.set(at(2026, 3, 13, 10))
    complete(db, b, "review")                      # met
    clock.set(at(2026, 3, 16, 10))
    complete(db, b, "energize")                    # whole process: 10 working days − 3 paused = 7
    clock.set(at(2026, 3, 17, 10))
    complete(db, b, "callback")                    # met
    clock.set(at(2026, 3, 30, 10))
    complete(db, a, "review")                      # deadline 18 Mar: missed
    clock.set(at(2026, 3, 31, 10))
    complete(db, a, "energize")                    # whole process: 21 working days, met (22 allowed)
    clock.set(at(2026, 4, 1, 10))
    complete(db, a, "callback")                    # met
    return a, b, c


def test_kpis_match_hand_computed_values(db, clock, month):
    k = kpi.compute(db)
    assert k.cases == 3
    assert k.avg_connection_workdays == {"hv_single": 14.0}   # (21 + 7) / 2
    assert (k.assessed, k.on_time_rate) == (8, 0.875)         # a: 3 of 4 met, b: 4 of 4
    assert k.overdue_now == 1                                 # c's scheme step, due 9 Mar, still open on 1 Apr
    assert k.avg_milestones == 1.0                            # 装表接电 for a and b
    assert k.waiting_hours["scheme"] == 144.0                 # (48 + 240) / 2
    assert k.waiting_hours["accept"] == 0.0


def test_kpis_by_period(db, clock, month):
    march = kpi.compute(db, start=at(2026, 3, 1, 0), end=at(2026, 4, 1, 0))
    assert (march.assessed, march.on_time_rate) == (7, round(6 / 7, 4))  # a's callback ended in April
    april = kpi.compute(db, start=at(2026, 4, 1, 0), end=at(2026, 5, 1, 0))
    assert (april.assessed, april.on_time_rate, april.cases) == (1, 1.0, 0)


def test_kpis_by_business_type(db, clock, month):
    other = kpi.compute(db, business_type="lv_res")
    assert (other.cases, other.assessed, other.on_time_rate) == (0, 0, None)

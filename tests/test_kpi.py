"""KPIs against values computed by hand on a small fixture (three cases in March 2026)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.audit import kpi
from engine.core import definitions
from engine.deadlines import calendar_import, rule_versions, sla
from tests.conftest import ENGINE_MODEL
from tests.helpers import complete
from tests.test_sla import TEST_RULES, at, start_case


@pytest.fixture
def month(db, clock):
    calendar_import.seed_from_package(db)
    rule_versions.load_rule_set(db, TEST_RULES, activate=True)
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
    assert (k.assessed, k.on_time_rate) == (2, 0.5)           # cases, not clocks: a missed review, b all met
    assert k.on_time_by_type == {"hv_single": 0.5}            # c is still open: no verdict yet
    assert k.overdue_now == 1                                 # c's scheme step, due 9 Mar, still open on 1 Apr
    assert k.avg_milestones == {"hv_single": 1.0}             # 装表接电 for a and b
    assert k.waiting_hours["scheme"] == 144.0                 # (48 + 240) / 2
    assert k.waiting_hours["accept"] == 0.0


def test_kpis_by_period(db, clock, month):
    march = kpi.compute(db, start=at(2026, 3, 1, 0), end=at(2026, 4, 1, 0))
    assert (march.assessed, march.on_time_rate) == (1, 1.0)   # b; a's last assessed step (callback) ended in April
    april = kpi.compute(db, start=at(2026, 4, 1, 0), end=at(2026, 5, 1, 0))
    assert (april.assessed, april.on_time_rate, april.cases) == (1, 0.0, 0)  # a, late on its review


def test_kpis_by_business_type(db, clock, month):
    other = kpi.compute(db, business_type="lv_res")
    assert (other.cases, other.assessed, other.on_time_rate) == (0, 0, None)


# -- 预约准时率 and 回访满意率 on a small field-visit model ------------------------------------------

FIELD_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_kpi_field"
  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="kpi_field" name="上门与回访" isExecutable="true">
    <bpmn:laneSet id="LaneSet_kf">
      <bpmn:lane id="Lane_kf_dispatcher" name="dispatcher">
        <bpmn:flowNodeRef>kf_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>book</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>report_arrival</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_kf_clerk" name="clerk">
        <bpmn:flowNodeRef>field_callback</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>kf_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="kf_start" name="开始" />
    <bpmn:serviceTask id="book" name="登记预约">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="yekuo/field_appointment" resultVariable="appointment">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="job" type="str" value="&quot;install&quot;" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:userTask id="report_arrival" name="到达现场报告">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="kf-arrival.schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:userTask id="field_callback" name="回访">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="kf-callback.schema.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="kf_end" name="结束" />
    <bpmn:sequenceFlow id="kf_f1" sourceRef="kf_start" targetRef="book" />
    <bpmn:sequenceFlow id="kf_f2" sourceRef="book" targetRef="report_arrival" />
    <bpmn:sequenceFlow id="kf_f3" sourceRef="report_arrival" targetRef="field_callback" />
    <bpmn:sequenceFlow id="kf_f4" sourceRef="field_callback" targetRef="kf_end" />
  </bpmn:process>
</bpmn:definitions>
"""
FIELD_FORMS = {
    "kf-arrival.schema.json": {"title": "到达", "type": "object",
                               "properties": {"arrived_at": {"type": "string", "title": "到达时间"}}},
    "kf-callback.schema.json": {"title": "回访", "type": "object", "properties": {
        "reachable": {"type": "boolean", "title": "联系上"},
        "satisfaction": {"type": ["string", "integer"], "title": "满意度"}}},
}


@pytest.fixture
def field_visits(db, clock, tmp_path):
    """Four visits in March 2026 (one call-back in April), with the appointment window from the
    booking service's recorded result, as the real `yekuo/field_appointment` records it."""
    import json

    from engine.core import runtime, services

    name = "yekuo/field_appointment"
    real = services.get(name)
    services.unregister(name)
    services.register(name, lambda call: {"booked": True, "due_at": call.data["window_end"]})
    try:
        (tmp_path / "kpi_field.bpmn").write_text(FIELD_BPMN, encoding="utf-8")
        forms = tmp_path / "forms"
        forms.mkdir()
        for file, doc in FIELD_FORMS.items():
            (forms / file).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        definitions.deploy_paths(db, [tmp_path / "kpi_field.bpmn"], forms_dir=forms)

        def visit(day, window_end, arrived_at, callback, callback_at):
            clock.set(at(2026, 3, day, 9))
            iid = runtime.start_instance(db, "kpi_field", {"window_end": window_end}).instance_id
            clock.set(at(2026, 3, day, 14))
            complete(db, iid, "report_arrival", {"arrived_at": arrived_at})
            clock.set(callback_at)
            complete(db, iid, "field_callback", callback)
            return iid

        return [
            # P1: arrived 30 min early; very satisfied (5)
            visit(3, "2026-03-03T12:00:00+08:00", "2026-03-03T11:30:00+08:00",
                  {"reachable": True, "satisfaction": "very_satisfied"}, at(2026, 3, 4, 10)),
            # P2: arrived at the very end of the window (on time: ≤); neutral (3): not satisfied
            visit(4, "2026-03-04T12:00:00+08:00", "2026-03-04T12:00:00+08:00",
                  {"reachable": True, "satisfaction": "neutral"}, at(2026, 3, 5, 10)),
            # P3: 75 min late; the customer was not reached: the rating does not count
            visit(5, "2026-03-05T12:00:00+08:00", "2026-03-05T13:15:00+08:00",
                  {"reachable": False, "satisfaction": "satisfied"}, at(2026, 3, 6, 10)),
            # P4: an hour late; rated 4 of 5 (satisfied) — but the call-back falls in April
            visit(30, "2026-03-30T17:00:00+08:00", "2026-03-30T18:00:00+08:00",
                  {"reachable": True, "satisfaction": 4}, at(2026, 4, 1, 10)),
        ]
    finally:
        services.unregister(name)
        services.register(name, real)


def test_punctuality_and_satisfaction_match_hand_computed_values(db, clock, field_visits):
    k = kpi.compute(db)
    assert (k.appointments, k.appointment_punctuality) == (4, 0.5)        # P1, P2 on time; P3, P4 late
    assert (k.callbacks, k.satisfaction_rate) == (3, round(2 / 3, 4))     # P1 (5), P4 (4) of P1, P2, P4
    assert k.cases == 4 and k.assessed == 0 and k.avg_connection_workdays == {}
    assert k.waiting_hours["report_arrival"] == 5.0                        # 09:00 → 14:00 each time


def test_punctuality_and_satisfaction_by_period_and_team(db, clock, field_visits):
    march = kpi.compute(db, start=at(2026, 3, 1, 0), end=at(2026, 4, 1, 0))
    assert (march.appointments, march.appointment_punctuality) == (4, 0.5)  # all arrivals were in March
    assert (march.callbacks, march.satisfaction_rate) == (2, 0.5)           # P4's call-back was in April
    april = kpi.compute(db, start=at(2026, 4, 1, 0), end=at(2026, 5, 1, 0))
    assert (april.appointments, april.callbacks, april.satisfaction_rate) == (0, 1, 1.0)
    assert set(kpi.compute(db, group="dispatcher").waiting_hours) == {"report_arrival"}
    months = kpi.series(db, dt.date(2026, 3, 1), dt.date(2026, 5, 1))
    assert [(m, s.callbacks, s.satisfaction_rate) for m, s in months] == [("2026-03", 2, 0.5), ("2026-04", 1, 1.0)]


def test_waiting_heatmap_of_a_definition(db, clock, field_visits):
    did = definitions.latest_id(db, "kpi_field")
    heat = {h.element: h for h in kpi.heatmap(db, did)}
    assert set(heat) == {"report_arrival", "field_callback"}
    arrival, callback = heat["report_arrival"], heat["field_callback"]
    assert (arrival.count, arrival.total_hours, arrival.avg_hours, arrival.max_hours) == (4, 20.0, 5.0, 5.0)
    # call-backs waited 20 h (P1–P3: 14:00 → 10:00 next day) and 44 h (P4: 30 Mar 14:00 → 1 Apr 10:00)
    assert (callback.count, callback.total_hours, callback.max_hours) == (4, 104.0, 44.0)
    assert callback.avg_hours == 26.0 and callback.process == "kpi_field"
    assert [h.element for h in kpi.heatmap(db, did)][0] == "field_callback"  # most waiting first
    march = {h.element: h for h in kpi.heatmap(db, did, start=at(2026, 3, 1, 0), end=at(2026, 4, 1, 0))}
    assert march["field_callback"].count == 3

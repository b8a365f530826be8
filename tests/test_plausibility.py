"""Plausible times on staff forms (issue 14): each rule passes, fails, and holds at its edge of ten
minutes, on the injected clock; only submitted fields are judged; documents must be the case's."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.core.clock import CHINA
from engine.dispatch import plausibility
from engine.intake import documents

pytestmark = pytest.mark.submission_checks
SLACK = dt.timedelta(minutes=10)


def iso(when: dt.datetime) -> str:
    return when.astimezone(CHINA).isoformat()


def check(db, clock, submission, task_data=None):
    return plausibility.check(db, 1, submission, task_data or {}, clock.now())


@pytest.mark.parametrize("field, title", [("arrived_at", "到达时间"), ("completed_at", "完工时间"),
                                          ("installed_at", "装表时间"), ("energized_at", "送电时间"),
                                          ("called_at", "回访时间"), ("work_done_at", "作业时间")])
def test_a_reported_time_may_not_lie_more_than_ten_minutes_ahead(db, clock, field, title):
    now = clock.now()
    assert check(db, clock, {field: iso(now - dt.timedelta(hours=2))}) == {}
    assert check(db, clock, {field: iso(now + SLACK)}) == {}  # the edge: a phone's clock may run ahead
    [message] = check(db, clock, {field: iso(now + SLACK + dt.timedelta(minutes=1))})[field]
    assert message == f"{title}不能晚于当前时间（2026-03-02 09:00），请填写实际发生的时间"
    clock.advance(minutes=1)  # the same value is fine a minute later
    assert check(db, clock, {field: iso(now + SLACK + dt.timedelta(minutes=1))}) == {}


def test_completion_comes_after_the_arrival_of_the_same_job(db, clock):
    now = clock.now()
    arrived = {"arrived_at": iso(now - dt.timedelta(hours=1)), "job_no": "ZY-none"}
    assert check(db, clock, {"completed_at": iso(now - dt.timedelta(hours=1))}, arrived) == {}  # the edge
    assert check(db, clock, {"completed_at": iso(now)}, arrived) == {}
    assert check(db, clock, {"completed_at": iso(now - dt.timedelta(hours=1, minutes=1))}, arrived) == {
        "completed_at": ["完工时间不能早于本次作业的到达时间（2026-03-02 08:00）"]}
    assert check(db, clock, {"completed_at": iso(now - dt.timedelta(days=1))}, {}) == {}  # no arrival known


def test_completion_reads_the_arrival_recorded_on_the_appointment(db, clock, monkeypatch):
    recorded = clock.now() - dt.timedelta(minutes=30)

    class View:
        arrived_at = recorded

    monkeypatch.setattr(plausibility.appointments, "get", lambda _db, job_no: View if job_no == "ZY-1" else None)
    stale = {"job_no": "ZY-1", "arrived_at": iso(clock.now() - dt.timedelta(days=3))}  # an earlier job's
    problems = check(db, clock, {"completed_at": iso(clock.now() - dt.timedelta(hours=1))}, stale)
    assert problems == {"completed_at": ["完工时间不能早于本次作业的到达时间（2026-03-02 08:30）"]}


@pytest.mark.parametrize("field, title", [("contract_signed_on", "合同签订日期"),
                                          ("agreement_signed_on", "协议签订日期"),
                                          ("docs_received_on", "资料收到日期")])
def test_a_contract_is_not_signed_after_today(db, clock, field, title):
    assert check(db, clock, {field: "2026-03-02"}) == {}
    assert check(db, clock, {field: "2026-02-27"}) == {}
    assert check(db, clock, {field: "2026-03-03"}) == {field: [f"{title}不能晚于今天（2026-03-02）"]}
    clock.set(dt.datetime(2026, 3, 2, 23, 59, tzinfo=CHINA))
    assert check(db, clock, {field: "2026-03-03"})  # still the 2nd in Beijing
    clock.set(dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.timezone.utc))  # 00:00 on the 3rd in Beijing
    assert check(db, clock, {field: "2026-03-03"}) == {}


def test_a_planned_arrival_is_not_in_the_past(db, clock):
    now = clock.now()
    assert check(db, clock, {"planned_at": iso(now + dt.timedelta(hours=3))}) == {}
    assert check(db, clock, {"planned_at": iso(now - SLACK)}) == {}  # the edge
    assert check(db, clock, {"planned_at": iso(now - SLACK - dt.timedelta(minutes=1))}) == {
        "planned_at": ["计划到达时间不能早于当前时间（2026-03-02 09:00）"]}


def test_only_submitted_fields_are_judged_and_unreadable_values_are_left_to_the_schema(db, clock):
    past_plan = {"planned_at": iso(clock.now() - dt.timedelta(days=2))}
    assert check(db, clock, {"arrived_at": iso(clock.now())}, past_plan) == {}
    assert check(db, clock, {"arrived_at": "not a time", "contract_signed_on": "2026-13-40"}) == {}
    assert check(db, clock, {"arrived_at": "2026-03-02 09:10"}) == {}  # no zone: Beijing time
    assert check(db, clock, {"arrived_at": "2026-03-02 09:11"})
    assert check(db, clock, {"arrived_at": "2026-03-02T01:10:00Z"}) == {}  # 09:10 in Beijing
    assert check(db, clock, {"arrived_at": "2026-03-02T01:11:00Z"})


def test_a_form_may_name_only_documents_of_its_case(db, clock, tmp_path):
    mine = documents.store(db, b"%PDF-1.4 a", filename="a.pdf", uploaded_by="clerk", root=tmp_path, instance_id=7)
    other = documents.store(db, b"%PDF-1.4 b", filename="b.pdf", uploaded_by="clerk", root=tmp_path, instance_id=8)
    loose = documents.store(db, b"%PDF-1.4 c", filename="c.pdf", uploaded_by="clerk", root=tmp_path)
    submission = {"documents": {"identity": {"ref": mine.ref, "name": "a.pdf"},
                                "property_proof": {"ref": other.ref, "name": "b.pdf"}},
                  "photos": [{"ref": loose.ref, "name": "c"}, {"ref": "att-typedbyhand", "name": "d"}],
                  "note": "att-123456 in a text is no reference"}
    assert documents.check_refs(db, 7, submission, {}, clock.now()) == {
        "documents.property_proof.ref": ["附件不存在或不属于本案件，请重新上传"],
        "photos.0.ref": ["附件不存在或不属于本案件，请重新上传"],
        "photos.1.ref": ["附件不存在或不属于本案件，请重新上传"]}
    assert documents.check_refs(db, 8, {"doc": {"ref": other.ref}}, {}, clock.now()) == {}
    assert [d.ref for d in documents.of_case(db, 7)] == [mine.ref]

"""Customer withdrawal (撤销申请): any time before energizing, the case ends cleanly with a reason."""

from __future__ import annotations

import pytest

from engine.core import actors, queries, runtime, timers, worklist
from engine.core.errors import InvalidState
from tests.process_helpers import START, deploy, drive, items, run, sms, start_case


@pytest.fixture
def models(db, clock):
    return deploy(db)


def _assert_withdrawn(db, iid, reason):
    inst = queries.get_instance(db, iid)
    assert inst.status == "completed" and inst.ended_at is not None
    assert inst.milestone == "已撤销"
    assert (inst.data["case_outcome"], inst.data["withdrawal_reason"]) == ("withdrawn", reason)
    assert items(db, iid) == {}
    assert timers.pending(db) == []  # no reminder or overdue timer survives the case
    return inst


def test_withdrawal_during_acceptance(db, clock, models):
    case = run("withdraw_at_accept", db, clock)
    _assert_withdrawn(db, case.iid, "已在其他地址办理")
    body = sms(db, case.iid)["withdrawn"]["body"]
    assert "赵磊" in body and "（未编号）" in body and "已在其他地址办理" in body


def test_withdrawal_during_a_low_voltage_survey_stops_the_document_follow_up_too(db, clock, models):
    case = run("withdraw_during_lv", db, clock)
    assert case.notes["open_before"] == ["collect_docs", "dispatch_job"]
    inst = _assert_withdrawn(db, case.iid, "店铺转让，不再用电")
    cancelled = {i.task_spec for i in worklist.items(db, worklist.TaskFilter(instance_id=case.iid, status="cancelled"))}
    assert cancelled == {"collect_docs", "dispatch_job"}
    assert inst.data["application_no"] == "YK20270301-0001"  # data up to the withdrawal is kept
    assert "YK20270301-0001" in sms(db, case.iid)["withdrawn"]["body"]


def test_withdrawal_during_high_voltage_design_review(db, clock, models):
    case = run("withdraw_during_hv", db, clock)
    assert case.done[-1] == "receive_drawings"
    _assert_withdrawn(db, case.iid, "项目取消")


def test_withdrawal_is_refused_once_energized(db, clock, models):
    clock.set(START)
    iid = start_case(db)
    assert runtime.waiting_messages(db, iid) == ["withdraw"]
    drive(db, iid, until="check_file")  # energized; the case file is being archived
    assert runtime.waiting_messages(db, iid) == []
    with pytest.raises(InvalidState, match="not waiting for message 'withdraw'"):
        runtime.send_message(db, iid, "withdraw", {"reason": "太晚了"}, actor=actors.SYSTEM)
    drive(db, iid)
    with pytest.raises(InvalidState, match="already ended"):
        runtime.send_message(db, iid, "withdraw", {"reason": "太晚了"}, actor=actors.SYSTEM)

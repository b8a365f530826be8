"""Gaps closed in the dispatch centre: a reassigned overdue survey moves the appointment to the new
worker; the case's own 回访 is in the call-back register; the board's 催办 reaches the team lead."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.core import actors, history, queries
from engine.core.errors import InvalidState
from engine.core.models import appointment_log_t, notice_t
from engine.dispatch import appointments, field
from tests import process_helpers as ph
from tests.dispatch_support import at

LEAD = actors.Actor("lead", frozenset({"lead"}))


@pytest.fixture
def bundle(db, clock):
    ph.deploy(db)
    clock.set(ph.START)
    return db


def _overdue_survey(db, clock) -> tuple[int, str]:
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="do_survey")
    ph.fire_at(db, clock, at(3, 12, 30))  # the morning window closed at 12:00
    assert "chase_survey" in ph.items(db, iid)
    return iid, queries.get_instance(db, iid).data["job_no"]


def test_reassigning_an_overdue_survey_moves_the_appointment_to_the_new_worker(bundle, clock):
    db = bundle
    iid, job_no = _overdue_survey(db, clock)
    assert appointments.get(db, job_no).worker_name == "刘洋"
    ph.complete(db, iid, "chase_survey", ph.example("field-overdue"))  # reassign to 赵敏, done by 03-04
    view = appointments.get(db, job_no)
    assert (view.worker_name, view.worker_mobile) == ("赵敏", "13700001112")
    with db.read() as conn:
        [log] = conn.execute(select(appointment_log_t).where(appointment_log_t.c.appointment_id == view.id,
                                                              appointment_log_t.c.action == "reassigned")).all()
    assert log.details["previous"] == "刘洋" and log.details["worker"] == "赵敏"
    assert queries.get_instance(db, iid).data["field_overdue"]["reassigned"] is True
    assert set(ph.items(db, iid)) == {"do_survey"}


def test_urging_the_same_worker_keeps_him(bundle, clock):
    db = bundle
    iid, job_no = _overdue_survey(db, clock)
    ph.complete(db, iid, "chase_survey", ph.example("field-overdue", overdue_action="urge", reassigned_worker=None))
    assert appointments.get(db, job_no).worker_name == "刘洋"
    assert queries.get_instance(db, iid).data["field_overdue"]["reassigned"] is False


def test_the_cases_own_callback_is_in_the_register(bundle, clock):
    db = bundle
    case = ph.run("lv_res_merged", db, clock)
    [install] = appointments.list_appointments(db, instance_id=case.iid)
    records = {r["job_no"]: r for r in field.callbacks(db, instance_id=case.iid)}
    # the installation job has its own call-back; the case's 回访 is keyed by the case, never by a job
    assert set(records) == {install.job_no, f"HF-{case.iid}"} and field.case_callback_key(case.iid) == f"HF-{case.iid}"
    job, own = records[install.job_no], records[f"HF-{case.iid}"]
    assert (job["job_type"], own["job_type"], own["satisfaction"], own["follow_up"]) == ("install", "case", 5, False)
    assert queries.get_instance(db, case.iid).data["case_callback"]["record_id"] == own["id"] != job["id"]


def test_the_board_chases_a_missing_arrival_once_the_window_closed(bundle, clock):
    db = bundle
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="report_arrival")
    job_no = queries.get_instance(db, iid).data["job_no"]
    with pytest.raises(InvalidState, match="within its window"):
        field.urge_arrival(db, job_no, actor="dispatcher")
    clock.set(at(3, 12, 30))
    assert [a.job_no for a in field.overdue_arrivals(db)] == [job_no]
    field.urge_arrival(db, job_no, actor="dispatcher")
    with db.read() as conn:
        [notice] = conn.execute(select(notice_t).where(notice_t.c.instance_id == iid,
                                                       notice_t.c.recipient_group == "lead")).all()
        last = list(history.events_of(conn, iid))[-1]
    assert notice.kind == "催办" and job_no in notice.title
    assert last.type == "field_arrival_urged" and history.payload_of(last)["worker"] == "刘洋"
    field.report_arrival(db, job_no, actor=actors.Actor("surveyor", frozenset({"surveyor"})))
    with pytest.raises(InvalidState):
        field.urge_arrival(db, job_no, actor="dispatcher")


def test_a_workers_phone_list_holds_his_own_jobs_of_the_day(bundle, clock):
    db = bundle
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="report_arrival")
    job_no = queries.get_instance(db, iid).data["job_no"]
    assert [a.job_no for a in field.jobs_of(db, "surveyor", dt.date(2027, 3, 3))] == [job_no]
    assert field.jobs_of(db, "surveyor", dt.date(2027, 3, 4)) == []
    assert field.jobs_of(db, "metering", dt.date(2027, 3, 3)) == []

"""派工 chooses the worker from a list (issue #14): the 派工 form and the dispatch lists offer the
active members of the job's team when that team does the job type, the server refuses anyone else
with a Chinese field error; the phone page switches days; the board shows application numbers;
the favicon. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest

from api import auth
from api.app import create_app
from engine.core import actors, config, queries, runtime, users, worklist
from engine.core import clock as engine_clock
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.deadlines import rule_versions
from engine.dispatch import appointments
from engine.dispatch import lists as dispatch
from tests import process_helpers as ph
from tests.web_support import csrf_of, sign_in

LEAD = actors.Actor("lead", frozenset({"lead"}))
ROLES = ("dispatcher", "lead", "surveyor", "metering", "supervisor", "clerk")


@pytest.fixture
def field_db(calendar_db: Database, clock: engine_clock.FixedClock) -> Database:
    rule_versions.seed_rule_sets(calendar_db)
    ph.deploy(calendar_db)
    for role in ROLES:
        users.upsert_user(calendar_db, role, "demo", [role], display_name=f"演示{role}")
    return calendar_db


@pytest.fixture
def app(field_db: Database) -> Any:
    auth.reset_throttle()
    return create_app(config.Settings(database_url=str(field_db.engine.url), secret_key="test", demo=True), db=field_db)


def survey_case(db: Database) -> tuple[int, str]:
    """A case at 派工 with a survey booked on Monday 2 March 2026, afternoon (team CQ-KC1)."""
    iid = ph.start_case(db)
    ph.drive(db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="book_appointment")
    ph.complete(db, iid, "book_appointment", ph.example("field-appointment", appointment_date="2026-03-02",
                                                        appointment_period="pm"))
    return iid, queries.get_instance(db, iid).data["job_no"]


def _dispatch_item(db: Database, iid: int) -> worklist.WorkItemView:
    return ph.items(db, iid)["dispatch_job"]


def test_the_dispatch_form_offers_the_team_doing_the_job_type_and_refuses_others(field_db: Database) -> None:
    iid, job_no = survey_case(field_db)
    item = _dispatch_item(field_db, iid)
    form = queries.task_detail(field_db, item.id).form
    worker = form["properties"]["worker_name"]
    assert worker["enum"] == ["陈强", "刘洋", "赵敏"]  # CQ-KC1, the urban survey team
    assert worker["options"]["enum_titles"][1] == "刘洋（城区勘查一班·作业人员）"
    # 孙涛 is of the metering team (no survey capacity): refused, in Chinese, on the field
    with pytest.raises(InvalidData) as refused:
        runtime.complete_task(field_db, item.id, {"worker_name": "孙涛", "route_seq": 1}, actor=LEAD)
    assert refused.value.details["worker_name"] == ["请从名单中选择承担该作业类型的班所人员"]
    for hostile in ("", "刘洋' OR '1'='1", "刘" * 5000):
        with pytest.raises(InvalidData):
            runtime.complete_task(field_db, item.id, {"worker_name": hostile, "route_seq": 1}, actor=LEAD)
    runtime.complete_task(field_db, item.id, {"worker_name": "刘洋", "route_seq": 1}, actor=LEAD)
    view = appointments.get(field_db, job_no)
    assert (view.status, view.worker_name, view.worker_mobile) == ("dispatched", "刘洋", "13700001111")  # from the roster
    assert queries.get_instance(field_db, iid).data["worker_mobile"] == "13700001111"  # the SMS's contact


def test_the_lists_use_the_same_choice(field_db: Database) -> None:
    _iid, job_no = survey_case(field_db)
    view = appointments.get(field_db, job_no)
    assert [m.name for m in appointments.worker_choices(field_db, view)] == ["陈强", "刘洋", "赵敏"]
    # the same team for a job type it has no capacity for offers nobody
    assert appointments.worker_choices(field_db, dataclasses.replace(view, job_type="install")) == []
    with pytest.raises(InvalidData) as refused:
        dispatch.assign(field_db, job_no, "孙涛", actor=LEAD)
    assert "请从名单中选择" in refused.value.details["worker"][0]
    with pytest.raises(InvalidData) as empty:
        dispatch.assign(field_db, job_no, "", actor=LEAD)
    assert empty.value.details["worker"] == ["请从名单中选择作业人员"]


def test_the_list_page_offers_only_the_jobs_team(app: Any, field_db: Database) -> None:
    _iid, job_no = survey_case(field_db)
    dispatch.generate(field_db, dt.date(2026, 3, 2), "pm", worker="dispatcher")
    lead = sign_in(app, "lead")
    html = lead.get("/dispatch/lists?day=2026-03-02").text
    row = html.split(f'data-job="{job_no}"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<option value="([^"]*)"', row) == ["", "陈强", "刘洋", "赵敏"]
    token = csrf_of(html)
    refused = lead.post("/dispatch/lists/assign", data={"csrf_token": token, "job_no": job_no, "worker": "孙涛",
                                                        "day": "2026-03-02"}, follow_redirects=True)
    assert "请从名单中选择" in refused.text and appointments.get(field_db, job_no).worker_name is None


def test_the_phone_page_switches_days_and_reports_move_the_case(app: Any, field_db: Database,
                                                               clock: engine_clock.FixedClock) -> None:
    iid, job_no = survey_case(field_db)
    dispatch.assign(field_db, job_no, "刘洋", actor=LEAD)
    clock.set(dt.datetime(2026, 3, 1, 18, 0, tzinfo=CHINA))  # the evening before
    phone = sign_in(app, "surveyor")
    today = phone.get("/field").text
    assert 'data-testid="no-jobs"' in today and 'href="/field?day=2026-03-02"' in today
    tomorrow = phone.get("/field?day=2026-03-02").text
    assert f'data-job="{job_no}"' in tomorrow and 'href="/field?day=2026-03-01"' in tomorrow
    assert 'data-testid="no-jobs"' in phone.get("/field?day=2026-03-03").text
    bad = phone.get("/field?day=" + "'" * 300)
    assert bad.status_code == 200 and 'data-testid="flash"' in bad.text and "2026-03-01" in bad.text
    clock.set(dt.datetime(2026, 3, 2, 14, 20, tzinfo=CHINA))
    back = phone.post(f"/field/{job_no}/arrival", data={"csrf_token": csrf_of(tomorrow), "day": "2026-03-02"})
    assert back.headers["Location"] == "/field?day=2026-03-02"
    assert appointments.get(field_db, job_no).status == "arrived"
    assert "do_survey" in ph.items(field_db, iid)  # the arrival moved the case on


def test_the_board_names_cases_by_application_number_and_the_favicon(app: Any, field_db: Database) -> None:
    html = sign_in(app, "dispatcher").get("/dispatch").text
    assert 'data-testid="week-scroll"' in html and "#1<" not in html
    icon = app.test_client().get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    docs = app.test_client().get("/api/v1/docs").text
    assert 'rel="icon"' in docs

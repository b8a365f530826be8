"""The dispatch centre's pages without a browser (Flask test client): the board's numbers equal the
engine's, filters, 催办, the lists (assign, CSV, print), the phone page, capacity grid, works list,
the free slots beside the booking task, and who may see what.

SQLite only, like tests/test_web_pages.py: the pages hold no SQL; the engine reads they use are
tested on both backends in tests/test_dispatch_*.py and tests/test_api_dispatch.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api import auth
from api.app import create_app
from engine.core import actors, config, history, queries, users
from engine.core import clock as engine_clock
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import notice_t
from engine.deadlines import rule_versions
from engine.dispatch import appointments, booking, capacity, works
from engine.dispatch import lists as dispatch
from tests import process_helpers as ph
from tests.dispatch_support import bare_cases
from tests.web_support import csrf_of, sign_in

TODAY = dt.date(2026, 3, 2)
ROLES = ("dispatcher", "lead", "surveyor", "metering", "manager", "clerk", "auditor", "supervisor")


@pytest.fixture
def web_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    from engine.deadlines import calendar_import

    target = tmp_path / "web.db"
    shutil.copy(sqlite_template, target)
    db = Database(f"sqlite:///{target}")
    calendar_import.seed_from_package(db, only=[2026, 2027])
    yield db
    db.dispose()


@pytest.fixture
def app(web_db: Database, clock: engine_clock.FixedClock) -> Any:
    rule_versions.seed_rule_sets(web_db)
    ph.deploy(web_db)
    for role in ROLES:
        users.upsert_user(web_db, role, "demo", [role], display_name=f"演示{role}")
    auth.reset_throttle()
    return create_app(config.Settings(database_url=str(web_db.engine.url), secret_key="test", demo=True), db=web_db)


def post(client: FlaskClient, page: str, action: str, data: dict[str, Any]) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=True)


def book_bare(db: Database, n: int, day: dt.date = TODAY, period: str = "am", job_type: str = "survey",
              area: str = "urban") -> list[str]:
    return [booking.book(db, iid, {"job_type": job_type, "mode": "fixed", "date": day.isoformat(), "period": period,
                                   "area": area}, actor="dispatcher").job_no
            for iid in bare_cases(db, n)]


def rows(html: str, testid: str) -> list[dict[str, str]]:
    found = re.findall(rf'<tr data-testid="{testid}"([^>]*)>', html)
    return [dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attrs)) for attrs in found]


def field_case(db: Database, *, until: str = "dispatch_job", install: bool = False) -> tuple[int, str]:
    iid = ph.start_case(db)
    accept = ph.example("accept") if install else ph.example("accept", survey_with_install=False)
    ph.drive(db, iid, {"accept": accept}, until="book_appointment")
    ph.complete(db, iid, "book_appointment", ph.example("field-appointment", appointment_date="2026-03-02",
                                                        appointment_period="pm"))
    job_no = queries.get_instance(db, iid).data["job_no"]
    if until != "dispatch_job":
        ph.drive(db, iid, until=until)
    return iid, job_no


# -- the board ---------------------------------------------------------------------------------------


def test_the_board_shows_the_engines_numbers_and_filters_by_area(app, web_db) -> None:
    book_bare(web_db, 3)
    book_bare(web_db, 2, day=TODAY + dt.timedelta(days=2), period="pm")
    book_bare(web_db, 1, area="rural")
    client = sign_in(app, "dispatcher")
    html = client.get("/dispatch").text
    engine_today = {(c.team, c.job_type): (c.booked, c.capacity) for c in capacity.board(web_db, TODAY, 1)
                    if c.capacity or c.booked}
    shown = {(r["team"], r["job-type"]): (int(r["booked"]), int(r["capacity"])) for r in rows(html, "today-row")}
    assert shown == engine_today
    assert shown[("CQ-KC1", "survey")] == (3, 40) and shown[("NC-ZH1", "survey")] == (1, 20)
    week = {(r["team"], r["job-type"]): (int(r["booked"]), int(r["capacity"])) for r in rows(html, "week-row")}
    assert week[("CQ-KC1", "survey")] == (5, 5 * 40 + 10)  # Mon–Fri 40, Saturday 10, Sunday 0
    assert re.search(r'data-testid="today-booked">4<', html)
    assert re.search(r'data-testid="today-capacity">{}<'.format(sum(c for _b, c in engine_today.values())), html)

    rural = client.get("/dispatch?area=rural").text
    assert {r["team"] for r in rows(rural, "today-row")} == {"NC-ZH1"}
    assert re.search(r'data-testid="today-booked">1<', rural)
    later = client.get("/dispatch?day=2026-03-04").text
    assert {(r["team"], r["job-type"]): r["booked"] for r in rows(later, "today-row")}[("CQ-KC1", "survey")] == "2"
    assert client.get("/dispatch?day=someday").status_code == 422


def test_overdue_arrivals_are_chased_from_the_board(app, web_db, clock) -> None:
    [job_no] = book_bare(web_db, 1)
    client = sign_in(app, "dispatcher")
    assert rows(client.get("/dispatch").text, "overdue-row") == []
    clock.set(dt.datetime(2026, 3, 2, 12, 30, tzinfo=CHINA))  # the morning window closed at 12:00
    html = client.get("/dispatch").text
    assert len(rows(html, "overdue-row")) == 1 and job_no in html
    assert re.search(r'data-testid="overdue-count">1<', html)
    done = post(client, "/dispatch", f"/dispatch/urge/{job_no}", {})
    assert "催办" in done.text
    with web_db.read() as conn:
        [notice] = conn.execute(select(notice_t).where(notice_t.c.kind == "催办")).all()
        view = appointments.get(web_db, job_no)
        events = [e.type for e in history.events_of(conn, view.instance_id)]
    assert notice.recipient_group == "lead" and job_no in notice.body
    assert events[-1] == "field_arrival_urged"
    # a lead may read the board but not chase
    lead = sign_in(app, "lead")
    assert 'data-testid="urge"' not in lead.get("/dispatch").text
    assert lead.post(f"/dispatch/urge/{job_no}", data={"csrf_token": csrf_of(lead.get("/dispatch").text)}).status_code == 403


def test_the_board_lists_jobs_to_reschedule_and_open_callbacks(app, web_db) -> None:
    jobs = book_bare(web_db, 3, day=TODAY + dt.timedelta(days=1))
    capacity.adjust_day(web_db, "CQ-KC1", TODAY + dt.timedelta(days=1), "survey", 2, actor="lead", note="一人病假")
    iid, job_no = field_case(web_db, until="job_callback")
    html = sign_in(app, "supervisor").get("/dispatch").text
    assert len(rows(html, "overbooked-row")) == 1 and jobs[-1] in html
    assert len(rows(html, "callback-row")) == 1 and "作业回访" in html


def test_who_sees_the_dispatch_pages(app) -> None:
    clerk = sign_in(app, "clerk")
    assert 'data-testid="nav-dispatch"' not in clerk.get("/tasks").text
    for path in ("/dispatch", "/dispatch/lists", "/dispatch/capacity", "/dispatch/works", "/dispatch/lists.csv"):
        assert clerk.get(path).status_code == 403, path
    surveyor = sign_in(app, "surveyor")
    nav = surveyor.get("/tasks").text
    assert 'data-testid="nav-field"' in nav and 'data-testid="nav-dispatch"' not in nav
    assert surveyor.get("/dispatch").status_code == 403
    assert 'data-testid="nav-dispatch"' in sign_in(app, "manager").get("/tasks").text
    assert 'data-testid="nav-dispatch"' in sign_in(app, "auditor").get("/tasks").text
    assert app.test_client().get("/dispatch").status_code == 302  # sign in first


# -- dispatch lists ----------------------------------------------------------------------------------


def test_the_lead_assigns_on_the_list_and_exports_and_prints_it(app, web_db) -> None:
    iid, job_no = field_case(web_db)
    dispatch.generate(web_db, TODAY, "pm")
    lead = sign_in(app, "lead")
    page = "/dispatch/lists?day=2026-03-02&slot=pm"
    html = lead.get(page).text
    assert [r["job"] for r in rows(html, "list-row")] == [job_no]
    assert html.count('data-testid="assign"') == 1  # only his own team's list has assign forms
    done = post(lead, page, "/dispatch/lists/assign", {"job_no": job_no, "worker": "刘洋", "planned_time": "14:30",
                                                       "day": "2026-03-02", "slot": "pm"})
    assert "刘洋" in done.text and "14:30" in done.text
    view = appointments.get(web_db, job_no)
    assert (view.status, view.worker_name, view.planned_at) == ("dispatched", "刘洋",
                                                                dt.datetime(2026, 3, 2, 14, 30, tzinfo=CHINA))
    assert set(ph.items(web_db, iid)) == {"report_arrival"}
    bad = post(lead, page, "/dispatch/lists/assign", {"job_no": job_no, "worker": "刘洋", "planned_time": "noon"})
    assert 'data-testid="flash"' in bad.text and appointments.get(web_db, job_no).planned_at == view.planned_at

    r = lead.get("/dispatch/lists.csv?day=2026-03-02&slot=pm")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.data.startswith("\ufeff".encode()) and 'filename="dispatch-2026-03-02-pm.csv"' in r.headers[
        "Content-Disposition"]
    lines = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert lines[0] == dispatch.CSV_HEADER
    assert [(x[0], x[5], x[14], x[16], x[17]) for x in lines[1:]] == [("城区勘查一班", job_no, "刘洋", "14:30", "已派工")]

    printed = lead.get("/dispatch/lists/print?day=2026-03-02&slot=pm").text
    assert 'class="dc-print"' in printed and "dispatch.css" in printed and 'data-testid="nav-' not in printed
    assert printed.count('data-testid="print-row"') == 1 and job_no in printed and "14:30" in printed
    css = lead.get("/assets/web/dispatch.css").text
    assert "@media print" in css


def test_the_centre_makes_the_lists_from_the_page(app, web_db) -> None:
    [job_no] = book_bare(web_db, 1, period="pm")
    client = sign_in(app, "dispatcher")
    assert 'data-testid="no-lists"' in client.get("/dispatch/lists?day=2026-03-02").text
    done = post(client, "/dispatch/lists?day=2026-03-02", "/dispatch/lists/generate", {"day": "2026-03-02",
                                                                                     "slot": "pm"})
    assert [r["job"] for r in rows(done.text, "list-row")] == [job_no]
    assert 'data-testid="generate-am"' not in sign_in(app, "lead").get("/dispatch/lists").text


# -- the phone page ----------------------------------------------------------------------------------


def test_the_worker_reports_arrival_and_completion_on_the_phone_page(app, web_db, clock) -> None:
    iid, job_no = field_case(web_db)
    dispatch.assign(web_db, job_no, "刘洋", actor=actors.Actor("lead", frozenset({"lead"})))
    assert 'data-testid="no-jobs"' in sign_in(app, "metering").get("/field").text
    phone = sign_in(app, "surveyor")
    html = phone.get("/field").text
    assert 'name="viewport"' in html and f'data-job="{job_no}" data-step="arrive"' in html
    clock.set(dt.datetime(2026, 3, 2, 14, 20, tzinfo=CHINA))
    html = post(phone, "/field", f"/field/{job_no}/arrival", {}).text
    assert appointments.get(web_db, job_no).arrived_at == dt.datetime(2026, 3, 2, 14, 20, tzinfo=CHINA)
    assert 'data-step="work"' in html and 'data-testid="work-link"' in html
    ph.complete(web_db, iid, "do_survey")
    html = phone.get("/field").text
    assert 'data-step="complete"' in html
    refused = post(phone, "/field", f"/field/{job_no}/completion", {"work_summary": "  "})
    assert appointments.get(web_db, job_no).status == "arrived" and 'data-testid="flash"' in refused.text
    clock.set(dt.datetime(2026, 3, 2, 15, 5, tzinfo=CHINA))
    html = post(phone, "/field", f"/field/{job_no}/completion", {"work_summary": "勘查完成", "customer_signed": "on"}).text
    assert 'data-step="done"' in html
    view = appointments.get(web_db, job_no)
    assert (view.status, view.completed_at) == ("completed", dt.datetime(2026, 3, 2, 15, 5, tzinfo=CHINA))
    assert queries.get_instance(web_db, iid).data["customer_signed"] is True
    # someone else's job cannot be reported from his phone
    other = sign_in(app, "metering")
    post(other, "/field", f"/field/{job_no}/arrival", {})
    assert appointments.get(web_db, job_no).status == "completed"


# -- capacity and works ------------------------------------------------------------------------------


def test_the_lead_edits_his_weeks_capacity_and_adjusts_a_day(app, web_db) -> None:
    jobs = book_bare(web_db, 2, day=dt.date(2026, 3, 3))
    lead = sign_in(app, "lead")
    page = "/dispatch/capacity?team=CQ-KC1&week=2026-03-02"
    html = lead.get(page).text
    assert 'data-testid="cap-survey-1"' in html and 'value="40"' in html
    week = {f"{jt}-{i}": str(n) for jt in ("survey", "verify", "install")
            for i, n in enumerate({"survey": [30, 30, 30, 30, 30, 0, 0], "verify": [10] * 5 + [0, 0],
                                   "install": [0] * 7}[jt])}
    post(lead, page, "/dispatch/capacity/week", {"team": "CQ-KC1", "week": "2026-03-02", "note": "两人培训", **week})
    assert capacity.day_capacity(web_db, "CQ-KC1", dt.date(2026, 3, 4), "survey") == 30
    html = post(lead, page, "/dispatch/capacity/day", {"team": "CQ-KC1", "week": "2026-03-02", "day": "2026-03-03",
                                                       "job_type": "survey", "capacity": "1",
                                                       "reason": "全班抢修"}).text
    assert jobs[1] in html and 'data-testid="overbooked"' in html  # saved, the last booking flagged
    assert capacity.day_capacity(web_db, "CQ-KC1", dt.date(2026, 3, 3), "survey") == 1
    assert [r["kind"] for r in capacity.history(web_db, "CQ-KC1")[:2]] == ["day", "week"]
    assert html.count('data-testid="history-row"') >= 4 and "全班抢修" in html
    refused = post(lead, page, "/dispatch/capacity/day", {"team": "CQ-KC1", "day": "2026-03-05", "job_type": "survey",
                                                          "capacity": "3", "reason": ""})
    assert 'data-testid="flash"' in refused.text and capacity.day_capacity(web_db, "CQ-KC1", dt.date(2026, 3, 5),
                                                                          "survey") == 30
    # not his team: read only, and a forged post is refused
    other = lead.get("/dispatch/capacity?team=CQ-ZB1").text
    assert 'data-testid="cap-install-0"' not in other and 'data-testid="day-form"' not in other
    post(lead, page, "/dispatch/capacity/day", {"team": "CQ-ZB1", "day": "2026-03-05", "job_type": "install",
                                                "capacity": "0", "reason": "x"})
    assert capacity.day_capacity(web_db, "CQ-ZB1", dt.date(2026, 3, 5), "install") == 50
    assert 'data-testid="week-form"' in sign_in(app, "auditor").get(page).text
    assert 'data-testid="save-week"' not in sign_in(app, "auditor").get(page).text


def test_the_manager_follows_up_the_works_list(app, web_db) -> None:
    iid = ph.start_case(web_db)
    entry = works.add(web_db, iid, "external", "电网配套工程", actor="manager")
    manager = sign_in(app, "manager")
    html = manager.get("/dispatch/works").text
    assert len(rows(html, "works-row")) == 1 and "2026-03-09" in html
    html = post(manager, "/dispatch/works", f"/dispatch/works/{entry.id}/follow-up",
                {"status": "stalled", "note": "等待市政审批", "next_follow_up": "2026-03-04"}).text
    assert "停工" in html and "2026-03-04" in html
    assert works.get_entry(web_db, entry.id).log[-1].note == "等待市政审批"
    assert 'data-testid="works-save"' not in sign_in(app, "dispatcher").get("/dispatch/works").text


# -- the booking task's free slots -------------------------------------------------------------------


def test_the_booking_task_shows_the_free_slots(app, web_db) -> None:
    iid = ph.start_case(web_db)
    ph.drive(web_db, iid, {"accept": ph.example("accept", survey_with_install=False)}, until="book_appointment")
    capacity.adjust_day(web_db, "CQ-KC1", dt.date(2026, 3, 3), "survey", 0, actor="lead", note="培训")
    book_bare(web_db, 2)
    item = ph.items(web_db, iid)["book_appointment"]
    html = sign_in(app, "dispatcher").get(f"/tasks/{item.id}").text
    assert 'data-testid="free-slots"' in html
    slots = {r["day"]: int(r["remaining"]) for r in rows(html, "slot-row")}
    assert slots["2026-03-02"] == 38 + 20 * 0 and slots["2026-03-03"] == 0 and slots["2026-03-04"] == 40
    # other tasks have no panel
    other = ph.start_case(web_db)
    first = ph.items(web_db, other)["accept"]
    assert 'data-testid="free-slots"' not in sign_in(app, "clerk").get(f"/tasks/{first.id}").text

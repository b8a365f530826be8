"""The dispatch centre in a real browser: the issue's "done when".

A case is driven to its survey's 预约上门 step with the engine; then, in the browser, the dispatcher
books the survey for this afternoon while seeing the free slots, makes the afternoon list, the team
lead assigns the job to 刘洋 at 14:30 on the dispatch list, and 刘洋 — on the phone page in a
390×844 viewport — reports arrival, fills in the on-site record and reports completion. The board
and the case's history show it. Time comes from the frozen engine clock, moved explicitly.
Screenshots of the board and the phone page land in `test-artifacts/`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from engine.core import actors, runtime
from engine.core import clock as engine_clock
from engine.core.db import Database
from engine.dispatch import appointments, capacity
from tests.browser.conftest import CHINA
from tests.browser.support import field, form_ready, sign_in
from tests.process_helpers import drive, example, items

PHONE = {"width": 390, "height": 844}


def test_a_job_is_booked_assigned_and_reported_from_the_phone(
        new_context: Any, artifacts: Path, web_db: Database, frozen_clock: engine_clock.FixedClock) -> None:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": example("accept", survey_with_install=False, customer_name="韩梅梅",
                                          mobile="13811112222")}, until="book_appointment")
    task = items(web_db, iid)["book_appointment"]

    dispatcher = sign_in(new_context(), "dispatcher")
    appt = _dispatcher_books_from_the_free_slots(dispatcher, artifacts, web_db, iid, task.id)
    _lead_assigns_the_job(sign_in(new_context(), "lead"), artifacts, appt.job_no)
    phone = sign_in(new_context(viewport=PHONE, is_mobile=True, has_touch=True), "surveyor")
    _worker_reports_from_the_phone(phone, artifacts, frozen_clock, appt.job_no)

    done = appointments.get(web_db, appt.job_no)
    assert (done.status, done.worker_name, done.arrived_at, done.completed_at) == (
        "completed", "刘洋", dt.datetime(2026, 3, 2, 14, 20, tzinfo=CHINA), dt.datetime(2026, 3, 2, 15, 5, tzinfo=CHINA))
    assert set(items(web_db, iid)) == {"job_callback"}

    _board_and_history_show_it(dispatcher, artifacts, web_db, iid, appt.job_no)


def _dispatcher_books_from_the_free_slots(dispatcher: Any, artifacts: Path, web_db: Database, iid: int,
                                         task_id: str) -> Any:
    """1. The dispatcher books, seeing the free slots beside the form; the afternoon list is made."""
    dispatcher.goto(f"/tasks/{task_id}")
    slots = dispatcher.get_by_test_id("free-slots")
    expect(slots).to_be_visible()
    expect(slots).to_contain_text("城区勘查一班")
    today_free = appointments.availability(web_db, "survey", start=dt.date(2026, 3, 2), days=1)
    remaining = sum(r["remaining"] for r in today_free)
    expect(dispatcher.locator('[data-testid=slot-row][data-day="2026-03-02"]')).to_have_attribute(
        "data-remaining", str(remaining))
    expect(dispatcher.get_by_test_id("slot-row")).to_have_count(7)
    form_ready(dispatcher)
    dispatcher.get_by_test_id("fill-demo").click()
    dispatcher.locator('[data-testid=slot-row][data-day="2026-03-02"]').click()  # a free day fills the form
    expect(field(dispatcher, "appointment_date")).to_have_value("2026-03-02")
    dispatcher.locator('[data-schemapath="root.appointment_period"] input[value="pm"]').check()
    dispatcher.screenshot(path=artifacts / "20-dispatch-booking-free-slots.png", full_page=True)
    dispatcher.get_by_test_id("submit").click()
    expect(dispatcher).to_have_url(re.compile(r"/tasks$"))
    expect(dispatcher.get_by_test_id("flash")).to_contain_text("派工（班组长）")
    [appt] = appointments.list_appointments(web_db, instance_id=iid)
    assert (appt.team, appt.day, appt.slot, appt.status) == ("CQ-KC1", dt.date(2026, 3, 2), "pm", "booked")

    # the afternoon list is made (the scheduler does it at 12:30; the centre may do it now)
    dispatcher.goto("/dispatch/lists?day=2026-03-02")
    dispatcher.get_by_test_id("generate-pm").click()
    expect(dispatcher.locator(f'[data-testid=list-row][data-job="{appt.job_no}"]')).to_have_count(1)
    return appt
def _lead_assigns_the_job(lead: Any, artifacts: Path, job_no: str) -> None:
    """2. The team lead assigns the job to a worker and a time on his list."""
    lead.goto("/dispatch/lists?day=2026-03-02&slot=pm&team=CQ-KC1")
    row = lead.locator(f'[data-testid=list-row][data-job="{job_no}"]')
    row.get_by_test_id("assign-worker").select_option("刘洋")
    row.get_by_test_id("assign-time").fill("14:30")
    row.get_by_test_id("assign").click()
    expect(lead.get_by_test_id("flash")).to_contain_text("刘洋")
    row = lead.locator(f'[data-testid=list-row][data-job="{job_no}"]')
    expect(row.get_by_test_id("row-worker")).to_have_text("刘洋")
    expect(row.get_by_test_id("row-planned")).to_have_text("14:30")
    lead.screenshot(path=artifacts / "21-dispatch-list.png", full_page=True)
def _worker_reports_from_the_phone(phone: Any, artifacts: Path, frozen_clock: engine_clock.FixedClock,
                                   job_no: str) -> None:
    """3. The worker, on his phone: arrival, the on-site record, completion."""
    phone.get_by_test_id("nav-field").click()
    job = phone.locator(f'[data-testid=job][data-job="{job_no}"]')
    expect(job).to_have_attribute("data-step", "arrive")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    box = job.get_by_test_id("arrive").bounding_box()
    assert box is not None and box["height"] >= 48 and box["width"] >= 300, box  # a thumb-sized button
    frozen_clock.set(dt.datetime(2026, 3, 2, 14, 20, tzinfo=CHINA))
    job.get_by_test_id("arrive").click()
    expect(phone.get_by_test_id("flash")).to_contain_text("14:20")
    job = phone.locator(f'[data-testid=job][data-job="{job_no}"]')
    expect(job).to_have_attribute("data-step", "work")
    job.get_by_test_id("work-link").click()
    expect(phone.get_by_test_id("task-title")).to_have_text("现场勘查")
    form_ready(phone)
    phone.get_by_test_id("fill-demo").click()
    phone.get_by_test_id("submit").click()
    expect(phone).to_have_url(re.compile(r"/tasks$"))
    phone.goto("/field")
    job = phone.locator(f'[data-testid=job][data-job="{job_no}"]')
    expect(job).to_have_attribute("data-step", "complete")
    job.get_by_test_id("work-summary").fill("勘查完成，表箱位置已与客户确认。")
    job.get_by_test_id("signed").check()
    phone.screenshot(path=artifacts / "22-field-phone-complete.png", full_page=True)
    frozen_clock.set(dt.datetime(2026, 3, 2, 15, 5, tzinfo=CHINA))
    job.get_by_test_id("complete").click()
    job = phone.locator(f'[data-testid=job][data-job="{job_no}"]')
    expect(job).to_have_attribute("data-step", "done")
    expect(job.get_by_test_id("job-status")).to_have_text("已完工")
    phone.screenshot(path=artifacts / "23-field-phone.png", full_page=True)
def _board_and_history_show_it(dispatcher: Any, artifacts: Path, web_db: Database, iid: int, job_no: str) -> None:
    """4. The board and the case history show it."""
    dispatcher.goto("/dispatch")
    kc = dispatcher.locator('[data-testid=today-row][data-team="CQ-KC1"][data-job-type="survey"]')
    booked_today = next(c.booked for c in capacity.board(web_db, dt.date(2026, 3, 2), 1, team="CQ-KC1",
                                                                   job_type="survey"))
    expect(kc).to_have_attribute("data-booked", str(booked_today))
    assert booked_today >= 1
    expect(dispatcher.locator('[data-testid=week-row][data-team="CQ-KC1"][data-job-type="survey"]')).to_be_visible()
    expect(dispatcher.get_by_test_id("open-callbacks")).to_contain_text("作业回访")
    dispatcher.get_by_test_id("area-filter").select_option("rural")
    expect(dispatcher.locator('[data-testid=today-row][data-team="CQ-KC1"]')).to_have_count(0)
    dispatcher.get_by_test_id("area-filter").select_option("")
    expect(kc).to_be_visible()
    dispatcher.screenshot(path=artifacts / "24-dispatch-board.png", full_page=True)

    dispatcher.goto(f"/cases/{iid}")
    history = dispatcher.get_by_test_id("history")
    for step in ("预约上门", "派工", "到达现场报告", "现场勘查", "完工报告"):
        expect(history).to_contain_text(step)
    expect(dispatcher.get_by_test_id("case-data")).to_contain_text(job_no)

"""Issue #14 in a real browser, typed and clicked as people do.

1. A clerk finds two contracts to sign by customer name, takes each with 认领并办理, signs one and
   lands on the other (the next task they hold), signs it and is back on the list with a note.
2. The team lead opens the 派工 task, chooses the worker from the list of the team doing the job
   type; that worker, on a 390×844 phone, switches to the job's day, sees it and reports arrival,
   which moves the case on. The board's week table stays inside its card at 1280 and 390 px.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from engine.core import actors, runtime, users, worklist
from engine.core import clock as engine_clock
from engine.core.db import Database
from tests.browser.conftest import CHINA
from tests.browser.support import assert_chinese, field, form_ready, sign_in
from tests.process_helpers import complete, drive, example, items

PHONE = {"width": 390, "height": 844}
CLERK = "tl_clerk"


def _case_at(web_db: Database, until: str, customer: str, **accept: Any) -> int:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": example("accept", customer_name=customer, **accept)}, until=until)
    return iid


def _claim_and_work(page: Page, customer: str) -> None:
    page.get_by_test_id("nav-group").click() if page.get_by_test_id("nav-group").count() else page.goto("/tasks/group")
    page.get_by_test_id("filter-q").fill(customer)
    page.get_by_test_id("filter-submit").click()
    rows = page.get_by_test_id("task-row")
    expect(rows).to_have_count(1)
    rows.first.get_by_test_id("claim-and-work").click()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    form_ready(page)


def _sign_contract(page: Page) -> None:
    page.get_by_label("低压居民供用电合同（2024版）").check()
    page.get_by_label("已向客户说明合同条款").check()
    field(page, "esign_serial").fill("ES2026030200001")
    field(page, "contract_signed_on").fill("2026-03-02")
    page.get_by_test_id("submit").click()


def test_claim_and_work_then_the_next_task_then_the_list(new_context: Any, web_db: Database) -> None:
    users.upsert_user(web_db, CLERK, "demo", ["clerk"], display_name="周受理")
    first = _case_at(web_db, "sign_standard", "甲一号")
    second = _case_at(web_db, "sign_standard", "乙二号")
    clerk = sign_in(new_context(), CLERK)
    _claim_and_work(clerk, "甲一号")
    first_url = clerk.url
    _claim_and_work(clerk, "乙二号")
    assert_chinese(clerk)
    [held_next] = [r for r in worklist.search(web_db, worklist.TaskFilter(assignee=CLERK), sort="due")[0]
                   if r.instance_id == first]
    _sign_contract(clerk)
    # the second case goes to the dispatcher; the clerk goes straight on to the task they still hold
    expect(clerk).to_have_url(first_url)
    assert first_url.endswith(held_next.id)
    expect(clerk.get_by_test_id("flash")).to_contain_text("下一项待办")
    form_ready(clerk)
    _sign_contract(clerk)
    expect(clerk).to_have_url(re.compile(r"/tasks$"))
    expect(clerk.get_by_test_id("flash")).to_contain_text("您手上已没有待办任务")
    assert set(items(web_db, first)) == set(items(web_db, second)) == {"book_appointment"}
    assert_chinese(clerk)


def test_the_lead_chooses_the_worker_who_sees_the_job_and_reports_arrival(
        new_context: Any, artifacts: Path, web_db: Database, frozen_clock: engine_clock.FixedClock) -> None:
    iid = _case_at(web_db, "book_appointment", "丙三号", survey_with_install=False)
    complete(web_db, iid, "book_appointment", example("field-appointment", appointment_date="2026-03-03",
                                                       appointment_period="am"))
    job_no = runtime_job_no(web_db, iid)

    lead = sign_in(new_context(), "lead")
    _claim_and_work(lead, "丙三号")
    worker = field(lead, "worker_name", "select")
    options = worker.locator("option").all_inner_texts()
    assert [o for o in options if "（" in o] == ["陈强（城区勘查一班·班组长）", "刘洋（城区勘查一班·作业人员）",
                                                 "赵敏（城区勘查一班·作业人员）"], options
    worker.select_option(label="刘洋（城区勘查一班·作业人员）")
    field(lead, "route_seq").fill("1")
    lead.get_by_test_id("submit").click()
    expect(lead.get_by_test_id("flash").first).to_contain_text("派工")
    assert "dispatch_job" not in items(web_db, iid)

    phone = sign_in(new_context(viewport=PHONE, is_mobile=True, has_touch=True), "surveyor")
    phone.get_by_test_id("nav-field").click()
    expect(phone.get_by_test_id("field-day")).to_have_text("2026-03-02")
    expect(phone.locator(f'[data-testid=job][data-job="{job_no}"]')).to_have_count(0)
    phone.get_by_test_id("next-day").click()
    expect(phone.get_by_test_id("field-day")).to_have_text("2026-03-03")
    job = phone.locator(f'[data-testid=job][data-job="{job_no}"]')
    expect(job).to_have_attribute("data-step", "arrive")
    phone.get_by_test_id("prev-day").click()
    expect(phone.get_by_test_id("field-day")).to_have_text("2026-03-02")
    phone.get_by_test_id("day-input").fill("2026-03-03")
    phone.get_by_test_id("day-go").click()
    expect(phone.get_by_test_id("field-day")).to_have_text("2026-03-03")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    assert_chinese(phone)
    frozen_clock.set(dt.datetime(2026, 3, 3, 8, 50, tzinfo=CHINA))
    phone.locator(f'[data-testid=job][data-job="{job_no}"]').get_by_test_id("arrive").click()
    expect(phone.get_by_test_id("flash")).to_contain_text("08:50")
    expect(phone.get_by_test_id("field-day")).to_have_text("2026-03-03")  # still on the job's day
    expect(phone.locator(f'[data-testid=job][data-job="{job_no}"]')).to_have_attribute("data-step", "work")
    assert "do_survey" in items(web_db, iid)  # the arrival moved the case to the on-site record
    phone.screenshot(path=artifacts / "30-field-day-switcher.png", full_page=True)


def test_the_week_table_stays_in_its_card(new_context: Any, artifacts: Path) -> None:
    for size, name in (({"width": 1280, "height": 900}, "1280"), (PHONE, "390")):
        board = sign_in(new_context(viewport=size), "dispatcher")
        board.goto("/dispatch")
        card = board.get_by_test_id("week-chart")
        expect(card).to_be_visible()
        inner, outer = card.evaluate("c => [c.scrollWidth, c.clientWidth]")
        assert inner <= outer, f"the week table overflows its card at {name} px: {inner} > {outer}"
        assert board.evaluate("document.documentElement.scrollWidth") <= size["width"], name
        board.screenshot(path=artifacts / f"31-dispatch-week-{name}.png", full_page=True)


def runtime_job_no(web_db: Database, iid: int) -> str:
    from engine.core import queries

    return str(queries.get_instance(web_db, iid).data["job_no"])

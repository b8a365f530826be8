"""Issue 14's defects, in the browser, typed and chosen as a person does (no 填充示例数据, no
`setValue`, no API call for the step under test; the steps before it are driven with the engine).

1. 归档资料检查 with every document present is submitted without an empty "缺少的资料" row; the
   list is asked for only when the clerk says the file is incomplete.
2. 预约上门 at 21:50: this afternoon's window is refused on the form, in Chinese, and the task stays
   open; "within 2 hours" then books today's free capacity.
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
from engine.dispatch import appointments
from tests.browser.conftest import CHINA
from tests.browser.support import assert_chinese, field, open_and_claim, sign_in
from tests.process_helpers import drive, example, items

CHECKLIST = ("application_form", "identity", "property_proof", "contract", "field_records", "meter_records")


def _case(web_db: Database, until: str, **accept: Any) -> int:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": example("accept", survey_with_install=False, **accept)}, until=until)
    return iid


def test_archive_check_with_every_document_present_is_submitted(new_context: Any, artifacts: Path,
                                                                web_db: Database) -> None:
    iid = _case(web_db, "check_file", customer_name="李雷")
    clerk = sign_in(new_context(), "clerk")
    open_and_claim(clerk, items(web_db, iid)["check_file"].id)
    missing = clerk.locator('[data-schemapath="root.missing_items"]')
    expect(missing.locator("[data-schemapath^='root.missing_items.']")).to_have_count(0)  # starts empty
    expect(clerk.locator("body")).not_to_contain_text("项 1")
    assert_chinese(clerk)

    # incomplete: the list is asked for, next to the field
    clerk.get_by_label("用电申请书").check()
    clerk.get_by_test_id("submit").click()
    expect(missing).to_contain_text("此项为必填项")
    expect(clerk.get_by_test_id("form-errors")).to_contain_text("缺少的资料")
    clerk.screenshot(path=artifacts / "30-archive-check-incomplete.png", full_page=True)

    # every document present: ticked, no list, submitted
    for name in CHECKLIST[1:]:
        field(clerk, f"checklist.{name}").check()
    clerk.get_by_label("资料齐全，可以归档").check()
    clerk.get_by_test_id("submit").click()
    expect(clerk.get_by_test_id("flash")).to_contain_text("已提交：归档资料检查")
    assert "check_file" not in items(web_db, iid)
    assert_chinese(clerk)


def test_a_refused_booking_is_an_error_on_the_form_and_within_hours_books_today(
        new_context: Any, artifacts: Path, web_db: Database, frozen_clock: engine_clock.FixedClock) -> None:
    iid = _case(web_db, "book_appointment", customer_name="王芳", mobile="13833334444")
    task_id = items(web_db, iid)["book_appointment"].id
    frozen_clock.set(dt.datetime(2026, 3, 2, 21, 50, tzinfo=CHINA))
    dispatcher = sign_in(new_context(), "dispatcher")
    open_and_claim(dispatcher, task_id)

    dispatcher.get_by_role("radio", name="约时", exact=True).check()
    field(dispatcher, "appointment_date").fill("2026-03-02")
    dispatcher.get_by_label("下午（14:00-18:00）").check()
    dispatcher.get_by_label("已与客户确认时间").check()
    dispatcher.get_by_test_id("submit").click()
    date_field = dispatcher.locator('[data-schemapath="root.appointment_date"]')
    expect(date_field).to_contain_text("所选时间段已于 03月02日 18:00 结束")
    expect(dispatcher.get_by_test_id("flash")).not_to_contain_text("已提交")
    expect(dispatcher).to_have_url(re.compile(f"/tasks/{task_id}$"))
    assert_chinese(dispatcher)
    dispatcher.screenshot(path=artifacts / "31-booking-refused.png", full_page=True)
    assert items(web_db, iid)["book_appointment"].id == task_id  # still open, still held

    dispatcher.get_by_role("radio", name="限时", exact=True).check()
    field(dispatcher, "within_hours").fill("2")
    dispatcher.get_by_test_id("submit").click()
    expect(dispatcher.get_by_test_id("flash")).to_contain_text("已提交：预约上门")
    [appt] = appointments.list_appointments(web_db, instance_id=iid)
    assert (appt.day, appt.mode) == (dt.date(2026, 3, 2), "within")


def test_a_finished_case_says_closed_and_its_history_reads_as_text(new_context: Any, artifacts: Path,
                                                                   web_db: Database) -> None:
    iid = _case(web_db, "book_appointment", customer_name="赵敏")
    drive(web_db, iid)
    clerk = sign_in(new_context(), "clerk")
    clerk.goto(f"/cases?q={'赵敏'}")
    expect(clerk.locator(f'[data-testid=case-row][data-instance="{iid}"]')).to_contain_text("已办结")
    clerk.goto(f"/cases/{iid}")
    expect(clerk.get_by_test_id("milestone")).to_have_text("已办结")
    history = clerk.get_by_test_id("history")
    expect(history).to_contain_text("已预约：")
    text = history.inner_text()
    assert "{'" not in text and "={" not in text and "yekuo/" not in text, text
    clerk.screenshot(path=artifacts / "32-case-closed.png", full_page=True)

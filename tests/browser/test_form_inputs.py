"""Issue 14, what a person types and chooses on a task form: dates and times picked (clicked) or
typed in Beijing time, documents chosen with the file input, plausibility refused on the server
and shown in Chinese next to the field. The steps before the task are driven with the engine;
the step under test is typed, clicked and chosen, with the server's submission checks on.

The engine clock is frozen at Monday 2026-03-02 09:00 (conftest) while the browser's calendar
opens on the real today, which lies later: a day picked there is in the server's future.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from engine import wiring
from engine.core import actors, history, runtime
from engine.core.db import Database
from engine.intake import documents
from tests.browser.support import assert_chinese, open_and_claim, sign_in
from tests.process_helpers import drive, example, items

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _checks_on() -> None:
    """The engine drove the earlier steps with example data; the step under test is checked."""
    runtime.SUBMISSION_CHECKS[:] = list(wiring.SUBMISSION_CHECKS)


def _submitted(db: Database, iid: int, spec: str) -> dict[str, Any]:
    """What the person's submission recorded (the task_completed event's data)."""
    with db.read() as conn:
        done = [e for e in history.events_of(conn, iid) if e.type == "task_completed" and e.task_spec == spec]
    return history.payload_of(done[-1])["data"]


def _pick_today(page: Page, testid: str) -> None:
    page.get_by_test_id(testid).click()
    calendar = page.locator(".flatpickr-calendar.open")
    expect(calendar).to_be_visible()
    calendar.locator(".flatpickr-day.today").click()


def test_documents_chosen_and_a_future_date_refused_next_to_its_field(new_context: Any, artifacts: Path,
                                                                     web_db: Database, tmp_path: Path) -> None:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "app"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": 1}, until="collect_docs")
    _checks_on()
    clerk = sign_in(new_context(), "clerk")
    open_and_claim(clerk, items(web_db, iid)["collect_docs"].id)

    # a file of the wrong type is refused in the browser, before anything is sent
    upload = clerk.get_by_test_id("upload-documents.property_proof")
    bad = tmp_path / "说明.html"
    bad.write_text("<script>alert(1)</script>", encoding="utf-8")
    upload.get_by_test_id("upload-documents.property_proof-file").set_input_files(str(bad))
    expect(upload.get_by_test_id("upload-documents.property_proof-error")).to_have_text(
        "只能上传 PDF、JPEG 或 PNG 文件。")

    # the right file: uploaded, the field holds the reference, read only, with a remove button
    good = tmp_path / "租赁协议.pdf"
    good.write_bytes(PDF)
    upload.get_by_test_id("upload-documents.property_proof-file").set_input_files(str(good))
    expect(upload.get_by_test_id("upload-documents.property_proof-name")).to_have_text("租赁协议.pdf")
    ref_input = clerk.locator('[data-schemapath="root.documents.property_proof.ref"] input')
    expect(ref_input).to_have_value(re.compile(r"^att-[0-9a-f]{24}$"))
    expect(ref_input).to_have_attribute("readonly", "")
    expect(upload.get_by_test_id("upload-documents.property_proof-remove")).to_be_visible()
    expect(upload.get_by_test_id("upload-documents.property_proof-error")).to_be_hidden()

    # a day picked in the calendar that is still to come on the server: refused next to the field
    _pick_today(clerk, "picker-docs_received_on")
    clerk.get_by_test_id("submit").click()
    received = clerk.locator('[data-schemapath="root.docs_received_on"]')
    expect(received).to_contain_text("资料收到日期不能晚于今天（2026-03-02）")
    expect(clerk.get_by_test_id("form-errors")).to_contain_text("资料收到日期不能晚于今天")
    assert "collect_docs" in items(web_db, iid)
    assert_chinese(clerk, ignore=("ABCD",))  # the example company's credit code
    clerk.screenshot(path=artifacts / "40-form-inputs-future-date.png", full_page=True)

    # typed instead: accepted
    date_input = clerk.get_by_test_id("picker-docs_received_on")
    date_input.fill("")
    date_input.type("2026-03-02")
    date_input.press("Enter")
    clerk.keyboard.press("Escape")
    clerk.get_by_test_id("submit").click()
    expect(clerk.get_by_test_id("flash")).to_contain_text("已提交：收取补交资料")
    data = _submitted(web_db, iid, "collect_docs")
    assert data["docs_received_on"] == "2026-03-02"
    ref = data["documents"]["property_proof"]["ref"]
    stored = documents.get(web_db, ref)
    assert (stored.instance_id, stored.filename, stored.content_type) == (iid, "租赁协议.pdf", "application/pdf")

    # the case page lists it for download
    clerk.goto(f"/cases/{iid}")
    expect(clerk.get_by_test_id("case-documents")).to_contain_text("租赁协议.pdf")
    with clerk.expect_download() as got:
        clerk.get_by_test_id(f"download-{ref}").click()
    assert got.value.suggested_filename == "租赁协议.pdf"


def test_a_time_picked_in_the_calendar_is_checked_and_a_typed_one_stored_in_beijing_time(
        new_context: Any, artifacts: Path, web_db: Database) -> None:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": example("accept", survey_with_install=False)}, until="report_arrival")
    _checks_on()
    item = items(web_db, iid)["report_arrival"]
    dispatcher = sign_in(new_context(timezone_id="Europe/London"), item.candidate_group)  # not Beijing
    open_and_claim(dispatcher, item.id)

    _pick_today(dispatcher, "picker-arrived_at")
    calendar = dispatcher.locator(".flatpickr-calendar.open")
    calendar.locator("input.flatpickr-hour").fill("10")
    calendar.locator("input.flatpickr-minute").fill("05")
    dispatcher.keyboard.press("Escape")
    today = dt.date.today()
    expect(dispatcher.get_by_test_id("picker-arrived_at")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2} 10:05$"))
    dispatcher.get_by_test_id("submit").click()
    arrived = dispatcher.locator('[data-schemapath="root.arrived_at"]')
    expect(arrived).to_contain_text("到达时间不能晚于当前时间（2026-03-02 09:00）")
    assert today > dt.date(2026, 3, 2)

    typed = dispatcher.get_by_test_id("picker-arrived_at")
    typed.fill("")
    typed.type("2026-03-02 08:40")
    typed.press("Enter")
    dispatcher.keyboard.press("Escape")
    expect(arrived.locator(".errmsg")).to_be_hidden()  # the field changed: the server's word on it is gone
    dispatcher.screenshot(path=artifacts / "41-form-inputs-arrival.png", full_page=True)
    dispatcher.get_by_test_id("submit").click()
    expect(dispatcher.get_by_test_id("flash")).to_contain_text("已提交：到达现场报告")
    assert _submitted(web_db, iid, "report_arrival")["arrived_at"] == "2026-03-02T08:40:00+08:00"

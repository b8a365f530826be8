"""Stored XSS: a customer's application with markup in its fields, opened by staff in Chromium.

The application arrives as every channel application does (the REST API, as the channel); then
staff open every page that shows case data — the clerk's task page, the lead's 派工 page, the case
page, history with time travel, the case file, the dispatch board and lists — while a `dialog`
listener records any alert. Before the fix the task page ran `onerror` (json-editor cleaned values
through innerHTML); with the CSP an inline handler that slipped through would also be a console
error, which fails the test (see `console_errors`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from engine.core import queries
from engine.core.db import Database
from engine.dispatch import appointments
from tests.api_support import Api, application_example, with_documents
from tests.browser.conftest import CHROMIUM, LiveServer
from tests.browser.support import field, form_ready, sign_in
from tests.process_helpers import drive, items

if os.environ.get("CI") and not CHROMIUM:  # as for tests/browser: skipped locally, never under CI
    raise pytest.UsageError("the XSS browser test needs Chromium under CI: apt-get install chromium (see .ci/run)")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no Chromium on this machine")

ADDRESS = '"><img src=x onerror=alert(1)>北京市东城区和平里东街15号'
NAME = "<script>alert(2)</script>A&B便民餐饮"
CONTACT = "<svg onload=alert(3)>李娜"
INDUSTRY = "<img src=x onerror=alert(4)>餐饮业"


def watch(page: Page, dialogs: list[str]) -> Page:
    page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
    return page


def hostile_application(app: Flask) -> int:
    api = Api(app)
    data = with_documents(api, application_example(address=ADDRESS, customer_name=NAME, contact_name=CONTACT,
                                                   industry=INDUSTRY))
    r = api.post("/api/v1/applications", as_="channel", json={"channel": "app", "data": data})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["instance_id"]


def test_markup_from_a_channel_never_runs_in_a_staff_page(new_context: Any, live_server: LiveServer,
                                                          web_db: Database, tmp_path: Any) -> None:
    app = live_server.server.app
    app.config.setdefault("YEKUO_DOCUMENTS_DIR", str(tmp_path / "documents"))
    iid = hostile_application(app)
    dialogs: list[str] = []

    # the clerk's task page: the application prefilled in the form, exactly as the customer typed it
    clerk = watch(sign_in(new_context(), "clerk"), dialogs)
    clerk.get_by_test_id("nav-group").click()
    clerk.locator(f'[data-testid=task-row][data-instance="{iid}"] a').first.click()
    expect(clerk.get_by_test_id("task-title")).to_have_text("受理申请")
    form_ready(clerk)
    expect(field(clerk, "address")).to_have_value(ADDRESS)
    expect(field(clerk, "customer_name")).to_have_value(NAME)  # `&` and `<` kept, not turned into entities
    expect(field(clerk, "contact_name")).to_have_value(CONTACT)
    field(clerk, "capacity_kw").fill("60")  # the staff complete what the channel does not ask or prefill
    clerk.locator('[data-schemapath="root.load_level"] input[value="3"]').check()
    clerk.get_by_test_id("submit").click()
    expect(clerk.get_by_test_id("flash")).to_contain_text("已提交：受理申请。")
    data = queries.get_instance(web_db, iid).data
    assert (data["address"], data["customer_name"], data["contact_name"]) == (ADDRESS, NAME, CONTACT)

    # on to the lead's 派工 step (the steps in between are not what is tested here)
    drive(web_db, iid, until="dispatch_job")
    lead = watch(sign_in(new_context(), "lead"), dialogs)
    lead.get_by_test_id("nav-group").click()
    lead.locator(f'[data-testid=task-row][data-instance="{iid}"][data-task-spec="dispatch_job"] a').first.click()
    expect(lead.get_by_test_id("task-title")).to_have_text("派工")
    form_ready(lead)
    expect(lead.get_by_test_id("case-data")).to_contain_text(ADDRESS)  # shown as text

    # the case page, found by searching for the customer
    lead.get_by_test_id("nav-cases").click()
    lead.get_by_test_id("search-input").fill("A&B")
    lead.get_by_test_id("search-submit").click()
    expect(lead.get_by_test_id("case-row")).to_have_count(1)
    expect(lead.get_by_test_id("case-table")).to_contain_text(NAME)
    lead.locator(f'[data-testid=case-row][data-instance="{iid}"] a').click()
    expect(lead.locator("#canvas[data-ready]")).to_be_visible()
    expect(lead.get_by_test_id("case-data")).to_contain_text(ADDRESS)

    # history with time travel (stepping back redraws the as-of panel), then the case file
    auditor = watch(sign_in(new_context(), "auditor"), dialogs)
    auditor.goto(f"/cases/{iid}")
    auditor.get_by_test_id("time-travel-link").click()
    expect(auditor.get_by_test_id("asof-data")).to_contain_text(ADDRESS)
    for _ in range(3):
        auditor.get_by_test_id("step-back").click()
        expect(auditor.get_by_test_id("asof-panel")).not_to_have_attribute("aria-busy", "true")
    auditor.get_by_test_id("case-file-link").click()
    expect(auditor.get_by_test_id("page-title")).to_contain_text("案卷")
    expect(auditor.locator("body")).to_contain_text(ADDRESS)

    # the dispatch board and lists show the booked job
    [appt] = appointments.list_appointments(web_db, instance_id=iid)
    dispatcher = watch(sign_in(new_context(), "dispatcher"), dialogs)
    dispatcher.get_by_test_id("nav-dispatch").click()
    expect(dispatcher.get_by_test_id("today-chart")).to_be_visible()
    dispatcher.goto(f"/dispatch/lists?day={appt.day.isoformat()}")
    dispatcher.get_by_test_id(f"generate-{appt.slot}").click()
    row = dispatcher.locator(f'[data-testid=list-row][data-job="{appt.job_no}"]')
    expect(row).to_contain_text(ADDRESS)

    for page in (clerk, lead, auditor, dispatcher):
        assert page.evaluate("() => document.querySelectorAll('img[onerror], svg[onload], script:not([src]):not([type])').length") == 0
    assert dialogs == [], dialogs
    assert "dispatch_job" in items(web_db, iid)
    assert re.fullmatch(r"YK\d{8}-\d{4}", queries.get_instance(web_db, iid).business_key or "")

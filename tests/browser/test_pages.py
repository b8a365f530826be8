"""The staff pages in a real browser (Playwright + Debian's Chromium), on SQLite only.

The main scenario is the issue's: a clerk signs in, accepts a counter application, meets a
validation error for an identity number with a wrong check digit, corrects it and completes; the
next lane (the dispatcher: for a resident the clerk also signs the standard contract first) sees
the new task and none of the clerk's; the case page draws the diagram with the path taken marked.
Screenshots of the main pages land in `test-artifacts/`.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from engine.core import actors, queries, runtime
from engine.core import clock as engine_clock
from engine.core.db import Database
from tests.browser.conftest import NOW
from tests.browser.support import field, form_ready, sign_in
from tests.process_helpers import drive, example

GOOD_ID = "110101199003070011"
BAD_ID = "110101199003070012"  # the last character should be 1: GB 11643 check digit


def test_clerk_accepts_an_application_and_the_next_lane_takes_over(
        new_context: Any, artifacts: Path, web_db: Database) -> None:
    clerk = sign_in(new_context(), "clerk")
    item_url, iid = _clerk_starts_an_application(clerk, artifacts)
    _accept_form_refuses_bad_input(clerk, artifacts, web_db, item_url)
    _clerk_signs_the_contract(clerk, artifacts)

    # meanwhile another customer's application waits for a clerk
    other = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                   actor=actors.Actor("clerk", frozenset({"clerk"})))

    dispatcher = sign_in(new_context(), "dispatcher")
    _only_the_next_lane_sees_the_task(dispatcher, clerk, artifacts, iid, other.instance_id)
    _case_page_draws_the_path(dispatcher, artifacts, iid)
    _called_processes_lead_to_the_waiting_task(dispatcher, artifacts)


def _clerk_starts_an_application(clerk: Any, artifacts: Path) -> tuple[str, int]:
    """My tasks, then 受理申请: the new task opens, held by the clerk who started it."""
    expect(clerk.get_by_test_id("demo-banner")).to_contain_text("演示模式")
    expect(clerk.get_by_test_id("page-title")).to_have_text("我的任务")
    clerk.screenshot(path=artifacts / "01-clerk-my-tasks.png", full_page=True)

    clerk.get_by_test_id("nav-start").click()
    expect(clerk.get_by_test_id("page-title")).to_have_text("受理申请")
    clerk.screenshot(path=artifacts / "02-start-application.png", full_page=True)
    clerk.get_by_test_id("start-submit").click()
    expect(clerk.get_by_test_id("task-title")).to_have_text("受理申请")
    form_ready(clerk)
    item_url = clerk.url
    iid = int(clerk.get_by_test_id("case-link").get_attribute("href").rsplit("/", 1)[1])
    expect(clerk.get_by_test_id("assignee")).to_contain_text("演示营业厅受理员")  # the starter holds it
    return item_url, iid
def _accept_form_refuses_bad_input(clerk: Any, artifacts: Path, web_db: Database, item_url: str) -> None:
    """An empty required field is refused in the browser, a bad identity number by the server; then corrected."""
    # client side: an empty required field is refused in Chinese before anything is sent
    clerk.get_by_test_id("submit").click()
    expect(clerk.locator('[data-schemapath="root.customer_name"] .errmsg')).to_have_text("此项为必填项")
    expect(clerk.get_by_test_id("form-errors")).to_be_visible()

    # demo data, then an identity number with a wrong check digit: refused by the server, per field
    clerk.get_by_test_id("fill-demo").click()
    expect(field(clerk, "customer_name")).to_have_value("张伟")
    field(clerk, "id_number").fill(BAD_ID)
    clerk.get_by_test_id("submit").click()
    id_error = clerk.locator('[data-schemapath="root.id_number"] .errmsg')
    expect(id_error).to_contain_text("证件号码校验未通过")
    expect(clerk.get_by_test_id("form-errors")).to_contain_text("证件号码")
    assert clerk.url == item_url
    assert queries.get_work_item(web_db, item_url.rsplit("/", 1)[1]).status == "open"
    clerk.screenshot(path=artifacts / "03-accept-form-id-error.png", full_page=True)

    field(clerk, "id_number").fill(GOOD_ID)
    field(clerk, "id_number").press("Tab")
    expect(id_error).to_be_hidden()  # a server message goes once its field changes
    clerk.get_by_test_id("submit").click()
def _clerk_signs_the_contract(clerk: Any, artifacts: Path) -> None:
    """A resident signs the standard contract at the counter next: the clerk is taken there."""
    expect(clerk.get_by_test_id("task-title")).to_have_text("签订低压格式合同")
    expect(clerk.get_by_test_id("flash")).to_contain_text("已提交：受理申请。")
    expect(clerk.get_by_test_id("flash")).to_contain_text("下一步：签订低压格式合同（营业厅受理员）")
    form_ready(clerk)
    expect(field(clerk, "application_no")).to_have_value(re.compile(r"^YK\d{8}-\d{4}$"))
    expect(clerk.get_by_test_id("case-data")).to_contain_text("110101199003070011")
    clerk.screenshot(path=artifacts / "04-contract-form-with-case-data.png", full_page=True)
    clerk.get_by_test_id("fill-demo").click()
    clerk.get_by_test_id("submit").click()
    expect(clerk).to_have_url(re.compile(r"/tasks$"))
    expect(clerk.get_by_test_id("flash")).to_contain_text("下一步：预约上门（工单调度员）")
def _only_the_next_lane_sees_the_task(dispatcher: Any, clerk: Any, artifacts: Path, iid: int, other: int) -> None:
    """The dispatcher's group list has the case and none of the clerk's tasks; the clerk's has the other case."""
    dispatcher.get_by_test_id("nav-group").click()
    rows = dispatcher.get_by_test_id("task-row")
    expect(dispatcher.locator(f'[data-testid=task-row][data-instance="{iid}"]')).to_have_attribute(
        "data-task-spec", "book_appointment")
    expect(dispatcher.locator('[data-testid=task-row][data-task-spec="accept"]')).to_have_count(0)
    expect(dispatcher.locator(f'[data-testid=task-row][data-instance="{other}"]')).to_have_count(0)
    for row in rows.all():
        assert row.get_attribute("data-task-spec") not in ("accept", "sign_standard")
    dispatcher.screenshot(path=artifacts / "05-dispatcher-group-tasks.png", full_page=True)

    clerk.get_by_test_id("nav-group").click()
    expect(clerk.locator(f'[data-testid=task-row][data-instance="{other}"]')).to_have_attribute(
        "data-task-spec", "accept")
    expect(clerk.locator(f'[data-testid=task-row][data-instance="{iid}"]')).to_have_count(0)
def _case_page_draws_the_path(dispatcher: Any, artifacts: Path, iid: int) -> None:
    """The case page: the diagram with the path taken so far, the watermark uncovered, clocks and history."""
    dispatcher.goto(f"/cases/{iid}")
    canvas = dispatcher.locator("#canvas[data-ready=new_connection]")
    expect(canvas).to_be_visible()
    done = ["start", "accept", "assign_number", "classify_type", "classify_review", "notify_accepted", "split",
            "route_gw", "docs_gw", "docs_merge"]
    for element in done:
        expect(dispatcher.locator(f'g.djs-element.yk-done[data-element-id="{element}"]')).to_have_count(1)
    expect(dispatcher.locator('g.djs-element.yk-active[data-element-id="lv_delivery"]')).to_have_count(1)
    for element in ("hv_delivery", "callback", "archive"):
        expect(dispatcher.locator(f'g.djs-element[data-element-id="{element}"]')).not_to_have_class(
            re.compile(r"yk-(done|active)"))
    for flow in ("Flow_start_accept", "Flow_accept_assign_number", "Flow_route_gw_lv_delivery"):
        expect(dispatcher.locator(f'g.djs-connection.yk-flow[data-element-id="{flow}"]')).to_have_count(1)
    expect(dispatcher.locator('g.djs-connection.yk-flow[data-element-id="Flow_route_gw_hv_delivery"]')).to_have_count(0)
    expect(dispatcher.locator(".djs-overlay .yk-badge-done").first).to_be_visible()

    watermark = dispatcher.locator(".bjs-powered-by")
    expect(watermark).to_be_visible()
    uncovered = dispatcher.evaluate("""() => {
        const w = document.querySelector('.bjs-powered-by');
        const r = w.getBoundingClientRect();
        const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 2, r.top + 2], [r.right - 2, r.bottom - 2]];
        return points.every(([x, y]) => w.contains(document.elementFromPoint(x, y)));
    }""")
    assert uncovered, "the bpmn.io watermark must stay visible and uncovered"

    expect(dispatcher.get_by_test_id("milestone")).to_have_text("受理签约")
    expect(dispatcher.get_by_test_id("clocks")).to_contain_text("全过程（居民）")
    history = dispatcher.get_by_test_id("history")
    expect(history).to_contain_text("完成任务")
    expect(history).to_contain_text("受理申请")
    expect(history).to_contain_text("演示营业厅受理员")
    dispatcher.screenshot(path=artifacts / "06-case-page-diagram.png", full_page=True)

def _called_processes_lead_to_the_waiting_task(dispatcher: Any, artifacts: Path) -> None:
    """The called processes: the contract is done, the field job waits for the dispatcher."""
    dispatcher.locator('.tab[data-process="contract"]').click()
    expect(dispatcher.locator("#canvas[data-ready=contract]")).to_be_visible()
    expect(dispatcher.locator('g.djs-element.yk-done[data-element-id="sign_standard"]')).to_have_count(1)
    dispatcher.locator('.tab[data-process="field_job"]').click()
    expect(dispatcher.locator("#canvas[data-ready=field_job]")).to_be_visible()
    expect(dispatcher.locator('g.djs-element.yk-active[data-element-id="book_appointment"]')).to_have_count(1)
    dispatcher.locator('.djs-overlay a.yk-badge-active').click()  # the badge links to the task
    expect(dispatcher.get_by_test_id("task-title")).to_have_text("预约上门")
    form_ready(dispatcher)
    dispatcher.screenshot(path=artifacts / "07-dispatcher-task.png", full_page=True)


def test_sign_in_errors_are_shown_in_chinese(new_context: Any, artifacts: Path) -> None:
    page = new_context().new_page()
    page.goto("/tasks")
    expect(page).to_have_url(re.compile(r"/login\?next=/tasks"))
    page.screenshot(path=artifacts / "00-login.png", full_page=True)
    for attempt in range(5):
        page.get_by_test_id("username").fill("visitor")
        page.get_by_test_id("password").fill("wrong")
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误。")
    page.get_by_test_id("username").fill("visitor")
    page.get_by_test_id("password").fill("wrong")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("登录失败次数过多，请 15 分钟后再试。")


def test_english_switch_sticks_for_the_session(new_context: Any, artifacts: Path) -> None:
    page = sign_in(new_context(), "manager")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_test_id("lang-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("page-title")).to_have_text("My tasks")
    expect(page.get_by_test_id("demo-banner")).to_contain_text("Demo mode")
    page.get_by_test_id("nav-cases").click()
    expect(page.get_by_test_id("page-title")).to_have_text("Cases")
    page.screenshot(path=artifacts / "08-cases-english.png", full_page=True)
    page.get_by_test_id("lang-zh").click()
    expect(page.get_by_test_id("page-title")).to_have_text("案件查询")


def test_deadline_badges_filters_and_search(new_context: Any, artifacts: Path, web_db: Database,
                                            frozen_clock: engine_clock.FixedClock) -> None:
    # a high-voltage case driven (by the engine) to the manager's scheme reply, which has a deadline
    start = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                   actor=actors.Actor("clerk", frozenset({"clerk"})))
    drive(web_db, start.instance_id, {"accept": example("accept", 2)}, until="reply_scheme")
    case = queries.get_instance(web_db, start.instance_id)
    [item] = [i for i in case.open_items if i.task_spec == "reply_scheme"]
    assert item.due_at is not None

    manager = sign_in(new_context(), "manager")
    manager.get_by_test_id("nav-group").click()
    row = manager.locator(f'[data-testid=task-row][data-instance="{start.instance_id}"]')
    expect(row.get_by_test_id("badge-due")).to_be_visible()
    manager.get_by_test_id("filter-type").select_option("lv_res")
    manager.get_by_test_id("filters").get_by_role("button").first.click()
    expect(manager.get_by_test_id("empty")).to_contain_text("没有符合筛选条件的任务")
    manager.get_by_test_id("filter-type").select_option("hv_dual")
    manager.get_by_test_id("filters").get_by_role("button").first.click()
    expect(row).to_have_count(1)

    frozen_clock.set(item.due_at + dt.timedelta(days=1))  # put back by the `_frozen` fixture
    manager.get_by_test_id("filter-overdue").check()
    manager.get_by_test_id("filters").get_by_role("button").first.click()
    expect(row.get_by_test_id("badge-overdue")).to_contain_text("已超期")
    expect(manager.get_by_test_id("count-overdue")).to_have_text(re.compile(r"[1-9]\d*"))
    manager.screenshot(path=artifacts / "09-manager-group-tasks-overdue.png", full_page=True)
    frozen_clock.set(NOW)

    # search by application number, customer name, mobile
    number = case.business_key or case.data["application_no"]
    for query in (number, "北京精工医疗器械", "15011112222"):
        manager.goto("/cases")
        manager.get_by_test_id("search-input").fill(query)
        manager.get_by_test_id("search-submit").click()
        expect(manager.locator(f'[data-testid=case-row][data-instance="{start.instance_id}"]')).to_have_count(1)
    manager.screenshot(path=artifacts / "10-case-search.png", full_page=True)
    manager.get_by_test_id("search-input").fill("不存在的客户")
    manager.get_by_test_id("search-submit").click()
    expect(manager.get_by_test_id("empty")).to_contain_text("没有找到匹配的案件")

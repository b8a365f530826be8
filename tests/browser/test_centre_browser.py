"""The connected service centre in a real browser (issue #15).

1. A customer asks through the channel API (over HTTP, as the app would: token, uploads, application,
   message); the customer manager reads the question on the case page and types the answer there;
   the customer reads it back through the API. The question's text is shown as text, not markup.
2. A supervisor switches an area's job type to team self-dispatch on the dispatch board, with a
   reason (the browser refuses the switch without one); the switch is on the dispatch-mode chain.
3. `/analysis` draws its ECharts charts with no console error (the CSP holds), filters in Chinese,
   and downloads the CSV with a BOM.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from engine.core import actors, runtime
from engine.core.db import Database
from engine.dispatch import modes
from tests.api_support import PDF, application_example
from tests.browser.support import sign_in

QUESTION = "请问什么时候上门勘查？<script>alert('x')</script>"
ANSWER = "您好，已安排本周三上午上门勘查，请保持电话畅通。"


def _channel_api(context: Any) -> tuple[Any, dict[str, str]]:
    api = context.request
    token = api.post("/api/v1/auth/token", data={"username": "channel", "password": "demo"})
    assert token.ok, token.text()
    return api, {"Authorization": f"Bearer {token.json()['access_token']}"}


def _apply(api: Any, auth: dict[str, str]) -> dict[str, Any]:
    data = application_example(customer_name="韩梅梅")
    for n, (name, value) in enumerate(data["documents"].items()):
        up = api.post("/api/v1/documents", headers=auth, multipart={
            "file": {"name": value["name"], "mimeType": "application/pdf", "buffer": PDF + str(n).encode()}})
        assert up.status == 201, up.text()
        data["documents"][name] = {"ref": up.json()["ref"], "name": value["name"]}
    r = api.post("/api/v1/applications", headers=auth, data={"channel": "wechat", "data": data})
    assert r.status == 201, r.text()
    return r.json()


def test_a_customer_question_is_answered_on_the_case_page(new_context: Any, artifacts: Path) -> None:
    api, auth = _channel_api(new_context())
    app = _apply(api, auth)
    url = f"/api/v1/applications/{app['application_no']}/messages"
    asked = api.post(url, headers=auth, data={"body": QUESTION})
    assert asked.status == 201, asked.text()

    manager = sign_in(new_context(), "manager")
    manager.goto(f"/cases/{app['instance_id']}")
    thread = manager.get_by_test_id("thread")
    expect(thread.get_by_test_id("thread-body").first).to_have_text(QUESTION)  # as text: no script ran
    expect(thread.get_by_test_id("question")).to_have_attribute("data-state", "open")
    expect(thread).to_contain_text("待答复")
    manager.get_by_test_id("thread-text").click()
    manager.get_by_test_id("thread-text").press_sequentially(ANSWER)
    manager.get_by_test_id("thread-send").click()
    expect(manager.get_by_test_id("flash")).to_contain_text("已记入客户沟通记录")
    expect(manager.get_by_test_id("question")).to_have_attribute("data-state", "on_time")
    expect(manager.get_by_test_id("thread-entry").last).to_contain_text(ANSWER)
    expect(manager.get_by_test_id("thread-entry").last).to_contain_text("书面答复")
    manager.get_by_test_id("thread").screenshot(path=str(artifacts / "centre-thread.png"))

    seen = api.get(url, headers=auth).json()
    assert [(m["author_kind"], m["body"]) for m in seen] == [("customer", QUESTION), ("staff", ANSWER)]


def test_a_supervisor_switches_the_dispatch_mode_with_a_reason(new_context: Any, artifacts: Path,
                                                               web_db: Database) -> None:
    page = sign_in(new_context(), "supervisor")
    page.goto("/dispatch")
    row = page.locator('[data-testid="mode-row"][data-area="rural"][data-job-type="verify"]')
    expect(row).to_have_attribute("data-mode", "central")
    expect(row.get_by_test_id("mode-text")).to_have_text("调度中心统一派工")
    try:
        row.get_by_test_id("mode-switch").click()  # no reason: the browser keeps the form
        expect(row).to_have_attribute("data-mode", "central")
        assert modes.switches(web_db) == []
        row.get_by_test_id("mode-reason").click()
        row.get_by_test_id("mode-reason").press_sequentially("供电所人员到位，核查由班组自主安排")
        row.get_by_test_id("mode-switch").click()
        expect(page.get_by_test_id("flash")).to_contain_text("班组自主派工")
        row = page.locator('[data-testid="mode-row"][data-area="rural"][data-job-type="verify"]')
        expect(row).to_have_attribute("data-mode", "self")
        expect(row).to_contain_text("供电所人员到位，核查由班组自主安排")
        page.get_by_test_id("dispatch-modes").screenshot(path=str(artifacts / "centre-dispatch-modes.png"))
        [switch] = modes.switches(web_db)
        assert (switch["mode"], switch["actor"], switch["previous"]) == ("self", "supervisor", "central")
        assert modes.verify(web_db).ok
    finally:  # the session's other browser tests book with the centre
        if modes.list_modes(web_db)[-1].mode == "self":
            modes.switch(web_db, "rural", "verify", "central", reason="测试结束", actor="supervisor")


def test_the_analysis_page_draws_its_charts(new_context: Any, artifacts: Path, web_db: Database) -> None:
    data = {**application_example(customer_name="李雷"), "channel": "counter", "capacity_kw": 120}
    runtime.start_instance(web_db, "new_connection", data, actor=actors.Actor("clerk", frozenset({"clerk"})))
    page = sign_in(new_context(), "supervisor")
    page.get_by_test_id("nav-analysis").click()
    expect(page).to_have_url(re.compile(r"/analysis$"))
    expect(page.locator("h1")).to_have_text("负荷增长分析")
    for chart in ("chart-months", "chart-growth", "chart-density", "chart-split"):
        expect(page.get_by_test_id(chart)).to_have_attribute("data-rendered", "true")
        expect(page.get_by_test_id(chart).locator("canvas").first).to_be_visible()
    expect(page.get_by_test_id("month-row").first).to_be_visible()
    page.get_by_test_id("filter-area").select_option(label="城区")
    page.get_by_test_id("filter-category").select_option(label="一般工商业")
    page.get_by_test_id("analysis-show").click()
    expect(page).to_have_url(re.compile(r"area=urban"))
    expect(page.get_by_test_id("filter-area")).to_have_value("urban")
    expect(page.get_by_test_id("chart-months")).to_have_attribute("data-rendered", "true")
    page.screenshot(path=str(artifacts / "centre-analysis.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_test_id("analysis-csv").click()
    body = Path(info.value.path()).read_bytes()
    assert body.startswith("\ufeff月份,区域".encode())
    assert "城区" in body.decode("utf-8") and "一般工商业" in body.decode("utf-8")


def test_an_administrator_types_an_area_size_on_the_analysis_page(new_context: Any, artifacts: Path,
                                                                   web_db: Database) -> None:
    from engine.dispatch import teams
    from tests.browser.support import assert_chinese

    before = teams.area_sizes(web_db)
    page = sign_in(new_context(), "admin")
    try:
        page.get_by_test_id("nav-analysis").click()
        expect(page).to_have_url(re.compile(r"/analysis$"))
        box = page.get_by_test_id("area-size-rural")
        box.click()
        box.press("Control+a")
        box.press_sequentially("一千")
        page.get_by_test_id("area-size-save-rural").click()
        expect(page.get_by_test_id("flash")).to_contain_text("不是平方公里数")
        assert teams.area_sizes(web_db) == before
        box = page.get_by_test_id("area-size-rural")
        box.click()
        box.press("Control+a")
        box.press_sequentially("1300.5")
        page.get_by_test_id("area-size-save-rural").click()
        expect(page.get_by_test_id("flash")).to_contain_text("农村面积已改为 1300.5 平方公里")
        expect(page.get_by_test_id("area-size-rural")).to_have_value("1300.5")
        expect(page.get_by_test_id("chart-density")).to_have_attribute("data-rendered", "true")
        assert teams.area_sizes(web_db)["rural"] == 1300.5
        assert_chinese(page, ignore=("CSV",))  # the file format on the download button
        page.get_by_test_id("area-sizes").screenshot(path=str(artifacts / "centre-area-sizes.png"))
    finally:  # the session's other tests see the seeded sizes
        for area, km2 in before.items():
            teams.set_area_size(web_db, area, km2, actor="test")

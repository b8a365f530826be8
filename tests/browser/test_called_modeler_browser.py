"""An analyst changes a called process with mouse and keyboard only (issue #19, modeler items of #14).

(a) In the modeler the analyst adds a user task to 设计文件审查 (design_review, called by hv_project
for every high-voltage case): from the palette onto the canvas, connected with the context pad,
named by typing on the canvas, its form and lane chosen in the panel; the deploy dialog says who
calls the process and what happens to new and running cases; the header shows v2 without a
reload. A high-voltage case started afterwards (driven by the engine test helpers) passes through
the new step; a case already inside design_review stays on v1 until the analyst migrates it on
the migrate page (dry run, confirmation, counts refreshed).
(b) Then the analyst redeploys new_connection with only its name changed: design_review keeps v2 and
the step. On the way: palette tooltips in Chinese, the diagram fitted clear of the palette, the
表单 tab following the selected task, Delete working after a problem was clicked.

This module runs its own server on its own database: it changes bundled models that the other
browser tests use as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.audit import replay
from engine.core import calls, definitions, store
from engine.core.db import Database
from tests.browser.conftest import LiveServer, seeded_database, serve
from tests.browser.support import sign_in
from tests.process_helpers import drive, items, start_case
from tests.test_called_versions import HV

STEP = "核对设计单位图章"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def own_db(tmp_path_factory: pytest.TempPathFactory, frozen_clock: Any) -> Iterator[Database]:
    db = seeded_database(tmp_path_factory.mktemp("called") / "yekuo.db", frozen_clock)
    yield db
    db.dispose()


@pytest.fixture
def own_server(own_db: Database) -> Iterator[LiveServer]:
    with serve(own_db) as server:
        yield server


def hv_case_inside_design_review(db: Database) -> int:
    iid = start_case(db, data={"channel": "web95598"})
    drive(db, iid, HV, until="receive_drawings")
    return iid


def bound(db: Database, iid: int) -> int:
    _row, _definition, wf = store.load(db, iid)
    return definitions.load(db, calls.bindings_of(wf)["design_review"]).version


def box(page: Page, element_id: str) -> dict[str, float]:
    found = page.locator(f'#canvas g.djs-element[data-element-id="{element_id}"]').first.bounding_box()
    assert found, element_id
    return found


def click_element(page: Page, element_id: str, dx: float = 0.5, dy: float = 0.5) -> None:
    b = box(page, element_id)
    page.mouse.click(b["x"] + b["width"] * dx, b["y"] + b["height"] * dy)


def connect(page: Page, source: str, target: str) -> None:
    """Select the source, drag from the context pad's connect tool onto the target."""
    pool = box(page, "Participant_design_review")
    page.mouse.move(pool["x"] + pool["width"] / 2, pool["y"] + pool["height"] + 40, steps=4)  # off the last drop
    for _ in range(3):  # right after a drop bpmn-js may keep the new flow selected: click again, as people do
        click_element(page, source, 0.2, 0.85)
        try:
            expect(page.get_by_test_id("prop-id")).to_have_text(source, timeout=1500)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    expect(page.get_by_test_id("prop-id")).to_have_text(source)
    tool = page.locator('.djs-context-pad .entry[data-action="connect"]').bounding_box()
    assert tool
    page.mouse.move(tool["x"] + tool["width"] / 2, tool["y"] + tool["height"] / 2)
    page.mouse.down()
    b = box(page, target)
    page.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] * 0.6, steps=12)
    page.mouse.up()


def _palette_and_forms_tab(page: Page) -> None:
    """The palette: every task type, Chinese tooltips, clear of the diagram; 表单 follows the task."""
    # palette: the task types our models use, tooltips in Chinese, clear of the diagram
    entries = page.locator(".djs-palette .entry")
    titles = [entries.nth(i).get_attribute("aria-label") or "" for i in range(entries.count())]
    assert titles and all(CJK.search(t) and not re.search(r"[A-Za-z]{3,}", t) for t in titles), titles
    for action in ("user-task", "service-task", "script-task", "business-rule-task", "call-activity", "manual-task"):
        expect(page.locator(f'.djs-palette .entry[data-action="create.{action}"]')).to_have_count(1)
    palette = page.locator(".djs-palette").bounding_box()
    assert palette and palette["x"] + palette["width"] < box(page, "start")["x"]
    assert palette["x"] + palette["width"] < box(page, "Participant_design_review")["x"]

    # 表单 follows the selected task
    click_element(page, "review_design")
    expect(page.get_by_test_id("prop-type")).to_have_text("用户任务")
    pad = page.locator(".djs-context-pad .entry")
    expect(pad.first).to_be_visible()
    pad_titles = [pad.nth(i).get_attribute("title") or "" for i in range(pad.count())]
    assert pad_titles and all(CJK.search(t) for t in pad_titles), pad_titles
    page.get_by_test_id("tab-forms").click()
    review_form = page.get_by_test_id("form-select").input_value()
    click_element(page, "receive_drawings")
    expect(page.get_by_test_id("form-select")).to_have_value("design-receipt.schema.json")
    assert review_form != "design-receipt.schema.json" and review_form.endswith(".schema.json")
    page.get_by_test_id("tab-props").click()



def _add_the_step(page: Page, artifacts: Path) -> str:
    """Rewire 受理 → new user task → 审查 with mouse and keyboard; name, form and lane; check."""
    # the old flow goes: click it, Delete
    review = box(page, "review_design")
    scale = box(page, "Participant_design_review")["width"] / 958  # the pool is 958 wide in the file
    click_element(page, "Flow_receive_drawings_review_design", 0.5, 0.7)  # its vertical leg
    expect(page.get_by_test_id("prop-id")).to_have_text("Flow_receive_drawings_review_design")
    page.keyboard.press("Delete")
    expect(page.locator('g.djs-element[data-element-id="Flow_receive_drawings_review_design"]')).to_have_count(0)

    # a user task from the palette, placed left of 审查设计文件 in the reviewers' lane
    page.locator('.djs-palette .entry[data-action="create.user-task"]').click()
    page.mouse.move(review["x"] - 150 * scale, review["y"] + review["height"] / 2, steps=5)
    page.mouse.click(review["x"] - 160 * scale, review["y"] + review["height"] / 2)
    expect(page.get_by_test_id("prop-type")).to_have_text("用户任务")
    new_id = page.get_by_test_id("prop-id").inner_text()
    assert new_id.startswith("Activity_")

    # check: the unconnected, formless task is a problem; clicking it puts the keyboard on the canvas
    page.get_by_test_id("check").click()
    problem = page.get_by_test_id("problem").filter(has_text="该用户任务没有表单").first
    expect(problem).to_be_visible()
    page.get_by_test_id("tab-props").click()
    click_element(page, "end")  # select something else first
    page.get_by_test_id("tab-problems").click()
    problem.click()
    expect(page.get_by_test_id("prop-id")).to_have_text(new_id)
    page.keyboard.press("Delete")  # the keyboard is on the canvas: Delete removes the selected task …
    expect(page.locator(f'g.djs-element[data-element-id="{new_id}"]')).to_have_count(0)
    page.keyboard.press("Control+z")  # … and Ctrl+Z brings it back
    expect(page.locator(f'g.djs-element[data-element-id="{new_id}"]')).to_have_count(1)

    # connect in and out with the context pad
    connect(page, "receive_drawings", new_id)
    connect(page, new_id, "review_design")

    # name it by typing on the canvas
    page.get_by_test_id("tab-props").click()
    b = box(page, new_id)
    page.mouse.dblclick(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    expect(page.locator(".djs-direct-editing-parent")).to_be_visible()
    page.keyboard.type(STEP)
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + 3 * b["height"])  # empty canvas: done
    click_element(page, new_id)
    expect(page.get_by_test_id("prop-name")).to_have_value(STEP)

    # form and lane in the panel
    page.get_by_test_id("prop-form").select_option("design-receipt.schema.json")
    page.get_by_test_id("prop-lane").select_option(label="设计审查/检验人员")
    expect(page.get_by_test_id("prop-lane")).to_have_value("Lane_design_review_reviewer")
    page.get_by_test_id("tab-forms").click()
    expect(page.get_by_test_id("form-select")).to_have_value("design-receipt.schema.json")
    page.get_by_test_id("tab-props").click()
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("problems-summary")).to_have_class("problems-ok")
    page.screenshot(path=artifacts / "40-called-modeler-step.png", full_page=True)

    return new_id


def _migrate_on_the_page(page: Page, own_db: Database, running: int, artifacts: Path) -> None:
    """Versions, then the migrate page: dry run, a confirmation (cancel once), counts refreshed."""
    # migrate the running case on the migrate page: dry run, confirmation, counts refreshed
    page.get_by_test_id("versions-link").click()
    expect(page.get_by_test_id("running-1")).to_have_text("1")
    expect(page.get_by_test_id("changes")).to_contain_text(STEP)
    page.get_by_test_id("migrate-link").click()
    expect(page.get_by_test_id("mig-from")).to_have_value("1")
    page.get_by_test_id(f"tick-{running}").check()
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id(f"verdict-{running}")).to_have_class(re.compile("verdict-ok"))
    page.get_by_test_id("mig-note").press_sequentially("进入新步骤")
    page.get_by_test_id("migrate").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    expect(page.get_by_test_id("confirm-text")).to_contain_text("第 1 版迁移到第 2 版")
    page.get_by_test_id("confirm-cancel").click()
    assert bound(own_db, running) == 1  # cancelled: nothing moved
    page.get_by_test_id("migrate").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id(f"result-{running}")).to_contain_text("v1 → v2")
    expect(page.get_by_test_id("mig-from").locator('option[data-version="1"]')).to_contain_text("0")
    expect(page.locator(f'tr[data-id="{running}"]')).to_have_count(0)
    page.screenshot(path=artifacts / "42-called-migrated.png", full_page=True)


def _redeploying_the_parent_keeps_the_step(browser: Browser, browser_context_args: dict[str, Any],
                                           own_db: Database, own_server: LiveServer, artifacts: Path) -> None:
    """(b) new_connection redeployed with only its name changed: design_review keeps v2 and the step."""
    step = definitions.load(own_db, definitions.latest_id(own_db, "design_review"))
    assert step.version == 2
    context = browser.new_context(**{**browser_context_args, "base_url": own_server.url})
    page = sign_in(context, "analyst")
    page.get_by_test_id("nav-modeler").click()
    page.get_by_test_id("open-new_connection").click()
    page.wait_for_function("() => window.yekuoModelerReady === true")
    label = page.locator("#canvas g.djs-element.djs-shape[data-element-id^='Participant'] text").first
    lbox = label.bounding_box()
    assert lbox
    page.mouse.click(lbox["x"] + lbox["width"] / 2, lbox["y"] + lbox["height"] / 2)  # the pool's name
    expect(page.get_by_test_id("prop-type")).to_have_text("池/参与者")
    name = page.get_by_test_id("prop-process-name")
    name.click()
    page.keyboard.press("End")
    page.keyboard.type("（改名）")
    page.keyboard.press("Tab")
    page.get_by_test_id("deploy").click()
    page.get_by_test_id("deploy-note").press_sequentially("只改名称")
    page.get_by_test_id("deploy-confirm").click()
    expect(page.get_by_test_id("editing-version")).to_have_text("v2")
    page.screenshot(path=artifacts / "43-called-parent-redeployed.png", full_page=True)

    page.get_by_test_id("nav-modeler").click()
    page.get_by_test_id("open-design_review").click()
    page.wait_for_function("() => window.yekuoModelerReady === true")
    expect(page.get_by_test_id("editing-version")).to_have_text("v2")
    expect(page.locator("#canvas g.djs-element text", has_text=STEP)).to_have_count(1)
    context.close()

    latest = {d.key: d.version for d in definitions.list_definitions(own_db, latest_only=True)}
    assert latest["new_connection"] == 2 and latest["design_review"] == 2 and latest["hv_project"] == 1
    case = hv_case_inside_design_review(own_db)
    assert bound(own_db, case) == 2
    [new_id] = [ts.bpmn_id for ts in step.spec.task_specs.values() if getattr(ts, "bpmn_name", None) == STEP]
    assert drive(own_db, case, until=new_id) == ["receive_drawings"]
    assert items(own_db, case)[new_id].candidate_group == "reviewer"


def test_analyst_adds_a_step_to_a_called_process_and_migrates_a_running_case(
        browser: Browser, browser_context_args: dict[str, Any], own_db: Database, own_server: LiveServer,
        artifacts: Path) -> None:
    running = hv_case_inside_design_review(own_db)
    context = browser.new_context(**{**browser_context_args, "base_url": own_server.url})
    page = sign_in(context, "analyst")
    page.get_by_test_id("nav-modeler").click()
    page.get_by_test_id("open-design_review").click()
    page.wait_for_function("() => window.yekuoModelerReady === true")
    expect(page.get_by_test_id("editing-version")).to_have_text("v1")

    _palette_and_forms_tab(page)
    new_id = _add_the_step(page, artifacts)
    # deploy: who calls design_review, what happens to new and running cases
    page.get_by_test_id("deploy").click()
    expect(page.get_by_test_id("used-by-hv_project")).to_contain_text("调用最新版本")
    expect(page.get_by_test_id("deploy-effect")).to_contain_text("正在运行的 1 个案件保持当前版本")
    page.screenshot(path=artifacts / "41-called-deploy-used-by.png", full_page=True)
    page.get_by_test_id("deploy-note").press_sequentially("受理后先核对设计单位图章")
    page.get_by_test_id("deploy-confirm").click()
    expect(page.get_by_test_id("modeler-status")).to_contain_text("2")
    expect(page.get_by_test_id("editing-version")).to_have_text("v2")

    # engine: a new high-voltage case passes through the step; the running one stays on v1
    fresh = hv_case_inside_design_review(own_db)
    assert bound(own_db, fresh) == 2
    assert drive(own_db, fresh, until=new_id) == ["receive_drawings"]
    assert items(own_db, fresh)[new_id].name == STEP
    assert drive(own_db, fresh, until="review_design") == [new_id]
    assert bound(own_db, running) == 1

    _migrate_on_the_page(page, own_db, running, artifacts)
    context.close()

    assert bound(own_db, running) == 2
    assert drive(own_db, running, until=new_id) == ["receive_drawings"]
    for iid in (running, fresh):
        report = replay.replay(own_db, iid)
        assert report.ok, report.to_dict()
    _redeploying_the_parent_keeps_the_step(browser, browser_context_args, own_db, own_server, artifacts)

"""The auditor in a real browser: open a driven case's history, step back and forward through it
(the diagram markers and the data panel change), filter, run replay and see "equal"; then the KPI
dashboard with its charts and waiting heatmap, and the chain verification page.

The case is driven in the session's `web_db` with the injected clock moved 1–11 hours before each
task (no sleeping), so the history has distinct times and the KPIs non-zero waiting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from engine.audit import chains as audit
from engine.core import actors, runtime, worklist
from engine.core import clock as engine_clock
from engine.core.db import Database
from tests.browser.support import assert_chinese, sign_in
from tests.process_helpers import _answer, as_group, start_case


def drive_slowly(db: Database, clock: engine_clock.FixedClock, iid: int) -> list[str]:
    """Complete the case's work one task at a time, 1–11 hours apart."""
    done: list[str] = []
    for _ in range(60):
        open_now = worklist.items(db, worklist.TaskFilter(instance_id=iid))
        if not open_now:
            return done
        item = min(open_now, key=lambda i: (i.created_at, i.task_spec))
        clock.advance(hours=1 + (len(done) * 7) % 11)  # uneven waits: the heatmap has something to show
        # as the seeded user of the task's group (a person with a name, as in the history staff read)
        who = actors.Actor(item.candidate_group, frozenset({item.candidate_group})) if item.candidate_group else as_group(item)
        runtime.complete_task(db, item.id, _answer(db, item, {}), actor=who)
        done.append(item.task_spec)
    raise AssertionError(f"case {iid} did not settle: {done[-5:]}")


def shown(page: Page) -> dict[str, Any]:
    return page.evaluate("window.yekuoDiagram")


def wait_for_seq(page: Page, seq: int) -> None:
    expect(page.get_by_test_id("asof-panel")).to_have_attribute("data-seq", str(seq))
    page.wait_for_function(f"() => (document.getElementById('canvas').getAttribute('data-ready') || '').endsWith(':{seq}')")


def test_auditor_steps_through_a_case_and_replays_it(new_context: Any, artifacts: Path, web_db: Database,
                                                     frozen_clock: engine_clock.FixedClock) -> None:
    iid = start_case(web_db)
    done = drive_slowly(web_db, frozen_clock, iid)
    assert done[0] == "accept" and len(done) > 5
    rows, last = audit.events(web_db, iid)
    accept_seq = next(r.seq for r in rows if r.type == "task_completed" and r.task_spec == "accept")

    page = sign_in(new_context(), "auditor")
    expect(page.get_by_test_id("nav-audit")).to_be_visible()
    page.goto(f"/cases/{iid}")
    page.get_by_test_id("time-travel-link").click()
    expect(page.get_by_test_id("page-title")).to_have_text("案卷历史与时间回溯")
    wait_for_seq(page, last)
    expect(page.get_by_test_id("position")).to_have_text(f"第 {last} / {last} 个事件")
    expect(page.get_by_test_id("asof-open-none")).to_be_visible()  # completed: nothing open
    at_end = shown(page)["shown"]
    assert "accept" in at_end["done"] and at_end["active"] == []
    page.screenshot(path=artifacts / "audit-01-history.png", full_page=True)

    # step back with the button and the keyboard: the panel and the markers follow
    page.get_by_test_id("step-back").click()
    wait_for_seq(page, last - 1)
    page.keyboard.press("ArrowLeft")
    wait_for_seq(page, last - 2)
    page.keyboard.press("ArrowRight")
    wait_for_seq(page, last - 1)

    _as_of_the_acceptance(page, artifacts, accept_seq, at_end)
    book_seq = next(r.seq for r in rows if r.type == "task_completed" and r.task_spec == "book_appointment")
    _as_of_the_booking(page, artifacts, book_seq)

    # filter: only completed tasks, by the clerk
    page.get_by_test_id("filter-type").select_option("task_completed")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"type=task_completed"))
    types = page.locator('[data-testid="tt-event"]').evaluate_all("els => els.map(e => e.dataset.type)")
    assert types and set(types) == {"task_completed"} and len(types) == len(done)

    # replay: equal
    page.get_by_test_id("replay").click()
    report = page.get_by_test_id("replay-report")
    expect(report).to_have_attribute("data-ok", "true")
    expect(report).to_contain_text("重放结果与记录一致")
    page.screenshot(path=artifacts / "audit-03-replay-report.png", full_page=True)

    _kpi_dashboard_paints_the_heatmap(page, artifacts)
    _chain_verified_and_case_file_printable(page, artifacts, iid)


def _as_of_the_acceptance(page: Any, artifacts: Path, accept_seq: int, at_end: dict[str, Any]) -> None:
    """Jump to the acceptance: only what happened so far is marked, the clerk's data appears as changes."""
    page.locator(f'[data-testid="tt-event"][data-seq="{accept_seq}"]').click()
    wait_for_seq(page, accept_seq)
    expect(page.get_by_test_id("asof-title")).to_contain_text(f"截至第 {accept_seq} 个事件")
    expect(page.get_by_test_id("asof-changes").locator('tr[data-key="customer_name"]')).to_be_visible()
    assert_chinese(page)  # the changed data by its form titles, values formatted
    early = shown(page)["shown"]
    assert len(early["done"]) < len(at_end["done"]) and early["active"]
    open_then = page.get_by_test_id("asof-open").inner_text()
    data_then = page.get_by_test_id("asof-data").inner_text()
    page.get_by_test_id("step-back").click()  # before the acceptance: accept itself is the open task
    wait_for_seq(page, accept_seq - 1)
    expect(page.get_by_test_id("asof-open")).to_contain_text("受理申请")
    assert page.get_by_test_id("asof-open").inner_text() != open_then
    assert "accept" in shown(page)["shown"]["active"]
    assert page.get_by_test_id("asof-data").inner_text() != data_then  # the data before the clerk's entry
    page.get_by_test_id("step-forward").click()
    wait_for_seq(page, accept_seq)
    page.screenshot(path=artifacts / "audit-02-history-as-of-accept.png", full_page=True)


def _as_of_the_booking(page: Page, artifacts: Path, seq: int) -> None:
    """At the booking (form data and the booking service's result changed): Chinese labels and formatted
    values only — no internal key such as `booking` or `appointment_date`, no ISO instant, no True/False."""
    page.locator(f'[data-testid="tt-event"][data-seq="{seq}"]').click()
    wait_for_seq(page, seq)
    changes = page.get_by_test_id("asof-changes")
    expect(changes.locator('tr[data-key="booking"]')).to_be_visible()
    expect(changes.locator('tr[data-key="booking"] td').first).to_have_text("现场预约")
    assert_chinese(page)
    text = page.get_by_test_id("asof-panel").inner_text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|True|False|appointment_|field_", text), text
    page.screenshot(path=artifacts / "audit-02b-history-as-of-booking.png", full_page=True)


def _kpi_dashboard_paints_the_heatmap(page: Any, artifacts: Path) -> None:
    """The KPI dashboard: tiles, charts and the heatmap on the diagram."""
    page.get_by_test_id("nav-kpis").click()
    expect(page.get_by_test_id("page-title")).to_have_text("服务指标")
    expect(page.get_by_test_id("kpi-cases")).to_contain_text(re.compile(r"\d"))
    expect(page.get_by_test_id("kpi-satisfaction")).to_contain_text("%")
    expect(page.get_by_test_id("chart-waiting")).to_be_visible()
    expect(page.get_by_test_id("heat-diagram")).to_have_attribute("data-ready", re.compile(r"."))
    heat = page.evaluate("window.yekuoHeat")
    assert heat["painted"]
    page.locator('[data-testid="heat-tabs"] button').first.click()  # the main process: acceptance
    expect(page.get_by_test_id("heat-diagram")).to_have_attribute("data-ready", "new_connection")
    assert "accept" in page.evaluate("window.yekuoHeat")["painted"]
    page.get_by_test_id("heatmap").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "audit-04-kpis.png", full_page=True)


def _chain_verified_and_case_file_printable(page: Any, artifacts: Path, iid: int) -> None:
    """The chain verification page, then the case file, printable."""
    page.get_by_test_id("nav-audit").click()
    expect(page.get_by_test_id("verify-verdict")).to_have_text("全部链完整")
    expect(page.get_by_test_id("chain-explained")).to_contain_text("不能证明")
    page.screenshot(path=artifacts / "audit-05-verify.png", full_page=True)

    # the case file, printable
    page.goto(f"/cases/{iid}/file")
    expect(page.get_by_test_id("file-replay")).to_contain_text("一致")
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    page.screenshot(path=artifacts / "audit-06-case-file-print.png", full_page=True)

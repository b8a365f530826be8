"""The auditor steps through a high-voltage case's history in a real browser, with the mouse and the
keyboard: at each event inside a called process the diagram follows the open task into that
process's tab, zoomed to it (labels readable), and "本事件改变了什么" lists exactly what the event
changed (the hand-written expectation of tests/test_audit_scopes.py). Then the KPI page: charts
drawn by ECharts, a zero month drawn at zero height, nothing clipped, the team filter applied.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from engine.audit import chains as audit
from engine.core import clock as engine_clock
from engine.core.db import Database
from tests.browser.support import assert_chinese, sign_in
from tests.process_helpers import run
from tests.test_audit_scopes import EXPECTED


def wait_for_seq(page: Page, seq: int) -> None:
    expect(page.get_by_test_id("asof-panel")).to_have_attribute("data-seq", str(seq))
    page.wait_for_function(
        f"() => (document.getElementById('canvas').getAttribute('data-ready') || '').endsWith(':{seq}')")


def _expected_events(db: Database, iid: int) -> dict[int, tuple[str, str, set[str]]]:
    rows, _total = audit.events(db, iid, types=["task_completed"])
    seen: dict[str, int] = {}
    out = {}
    for row in rows:
        n = seen.get(row.task_spec, 0)
        seen[row.task_spec] = n + 1
        if (row.task_spec, n) in EXPECTED:
            out[row.seq] = EXPECTED[(row.task_spec, n)]
    return out


def test_auditor_follows_a_high_voltage_case_into_its_called_processes(
        new_context: Any, artifacts: Path, web_db: Database, frozen_clock: engine_clock.FixedClock) -> None:
    iid = run("hv_single_ordinary", web_db, frozen_clock).iid
    expected = _expected_events(web_db, iid)
    assert len(expected) == len(EXPECTED)

    page = sign_in(new_context(), "auditor")
    page.goto(f"/cases/{iid}")
    page.get_by_test_id("time-travel-link").click()
    # only completed tasks, chosen in the filter as a person does
    page.get_by_test_id("filter-type").select_option("task_completed")
    page.get_by_test_id("filter-apply").click()
    expect(page).to_have_url(re.compile(r"type=task_completed"))
    seqs = [int(s) for s in page.locator('[data-testid="tt-event"]').evaluate_all(
        "els => els.map(e => e.dataset.seq)")]
    first = min(expected)
    page.locator(f'[data-testid="tt-event"][data-seq="{first}"]').click()  # the mouse for the first
    wait_for_seq(page, first)
    checked = 0
    for seq in seqs[seqs.index(first):]:
        if seq != first:
            page.keyboard.press("ArrowRight")  # then the keyboard
            wait_for_seq(page, seq)
        if seq not in expected:
            continue
        process, call, keys = expected[seq]
        scope = page.get_by_test_id("asof-scope")
        expect(scope).to_have_attribute("data-process", process)
        expect(scope).to_contain_text("被调用流程")
        rows = page.get_by_test_id("asof-changes").locator("tr[data-key]")
        assert set(rows.evaluate_all("els => els.map(e => e.dataset.key)")) == keys, seq
        assert page.get_by_test_id("asof-changes").locator("tr.chg-removed").count() == 0
        # the diagram: the open task's process tab, the task marked active, zoomed to it at scale 1
        shown = page.evaluate("window.yekuoDiagram")
        focus = shown["focus"]
        assert focus and focus in shown["shown"]["active"], (seq, shown)
        active_tab = page.locator('#diagram-tabs button.active')
        expect(active_tab).to_have_attribute("data-process", shown["process"])
        assert abs(shown["scale"] - 1) < 0.01, shown["scale"]
        marked = page.locator(f'#canvas [data-element-id="{focus}"]')
        expect(marked).to_be_visible()
        box, canvas = marked.bounding_box(), page.locator("#canvas").bounding_box()
        assert box and canvas and canvas["x"] <= box["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
        data = page.get_by_test_id("asof-data").inner_text()
        assert "暂无案件数据" not in data and data.strip()
        if checked < 3:
            page.screenshot(path=artifacts / f"audit-scope-{checked + 1}-event-{seq}.png", full_page=True)
        checked += 1
    assert checked == len(expected)


def test_kpi_charts_draw_zero_as_zero_and_filter_by_team(new_context: Any, artifacts: Path, web_db: Database,
                                                         frozen_clock: engine_clock.FixedClock) -> None:
    run("hv_single_ordinary", web_db, frozen_clock)  # March 2027; December to February have no case
    page = sign_in(new_context(), "analyst")
    page.get_by_test_id("nav-kpis").click()
    page.get_by_test_id("kpi-start").fill("2026-12-01")
    page.get_by_test_id("kpi-end").fill("2027-05-01")
    page.get_by_test_id("kpi-apply").click()
    expect(page.get_by_test_id("chart-cases")).to_have_attribute("data-ready", "true")
    bars = page.evaluate("""() => {
        const chart = window.yekuoCharts.cases;
        const data = chart.getModel().getSeriesByIndex(0).getData();
        const out = [];
        for (let i = 0; i < data.count(); i++) {
            const l = data.getItemLayout(i);
            out.push({value: data.get('y', i) ?? data.getRawValue(i), height: l ? Math.abs(l.height) : null,
                      top: l ? Math.min(l.y, l.y + l.height) : null});
        }
        return {bars: out, months: chart.getOption().xAxis[0].data, min: chart.getOption().yAxis[0].min,
                height: chart.getHeight()};
    }""")
    assert bars["months"] == ["2026-12", "2027-01", "2027-02", "2027-03", "2027-04"] and bars["min"] == 0
    values = [b["value"] for b in bars["bars"]]
    assert values[0] == 0 and max(values) >= 1
    for b in bars["bars"]:
        if b["value"] == 0:
            assert b["height"] == 0, bars  # zero is zero
        else:
            assert b["height"] > 0 and b["top"] >= 0, bars  # drawn, and inside the chart
    for name in ("on_time", "punctuality", "satisfaction", "waiting", "connection"):
        expect(page.locator(f'.echart[data-chart="{name}"]')).to_have_attribute("data-ready", re.compile("true|empty"))
    page.screenshot(path=artifacts / "kpi-01-echarts.png", full_page=True)

    # the team filter: field teams by name; every card narrows
    all_cases = int(page.get_by_test_id("kpi-cases").locator(".kpi-value").inner_text())
    page.get_by_test_id("kpi-team").select_option(label="城郊供电所综合班")
    page.get_by_test_id("kpi-apply").click()
    expect(page).to_have_url(re.compile(r"team=NC-ZH1"))
    expect(page.get_by_test_id("kpi-start")).to_have_value("2026-12-01")  # the other filters stay
    team_cases = int(page.get_by_test_id("kpi-cases").locator(".kpi-value").inner_text())
    assert team_cases < all_cases
    expect(page.get_by_test_id("kpi-key").locator("option:checked")).to_have_text("新装/增容（业扩报装）")
    assert_chinese(page)
    page.screenshot(path=artifacts / "kpi-02-team.png", full_page=True)

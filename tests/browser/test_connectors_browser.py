"""The supervisor in a real browser on /connectors: a connector message that used up its attempts
is listed as a dead letter; clicking 重新投递 queues it again, the page says so in Chinese, the
row is gone, and the browser logs no error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from engine.core.db import Database
from tests.browser.support import assert_chinese, sign_in
from tests.test_web_connectors import dead_letter


def test_a_supervisor_redelivers_a_dead_letter(new_context: Any, artifacts: Path, web_db: Database) -> None:
    dead = dead_letter(web_db, 901)
    page = sign_in(new_context(), "supervisor")
    page.get_by_test_id("nav-connectors").click()
    expect(page.get_by_role("heading", name="系统接口")).to_be_visible()
    row = page.locator(f'[data-testid="dead-letter"][data-id="{dead}"]')
    expect(row).to_contain_text("营销系统")
    expect(page.locator('[data-testid="connector-row"][data-system="marketing"] [data-testid="connector-dead"]')
           ).to_have_text("1")
    assert_chinese(page)
    page.screenshot(path=str(artifacts / "connectors.png"), full_page=True)
    pending = page.locator('[data-testid="connector-row"][data-system="marketing"] [data-testid="connector-pending"]')
    before = int(pending.inner_text())  # the shared browser database holds other tests' cases too
    row.get_by_role("button", name="重新投递").click()
    expect(page.get_by_test_id("flash")).to_contain_text("已重新投递 1 条消息")
    expect(page.locator(f'[data-testid="dead-letter"][data-id="{dead}"]')).to_have_count(0)
    expect(pending).to_have_text(str(before + 1))

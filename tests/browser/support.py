"""What every browser test does: sign in as a demo user, wait for a task form, find a form field."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect


def sign_in(context: BrowserContext, username: str) -> Page:
    page = context.new_page()
    page.goto("/login")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill("demo")
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    return page


def form_ready(page: Page) -> None:
    page.wait_for_function("() => window.yekuoFormReady === true")  # a function: a bare expression is eval()ed, which the CSP refuses


def field(page: Page, path: str, tag: str = "input") -> Any:
    return page.locator(f'[data-schemapath="root.{path}"] {tag}').first


#: Latin words a Chinese page may show: codes, file names and the language switch ("English")
LATIN_OK = re.compile(r"^(CQ|NC|KC|ZY|kW|kVA|kV|bpmn|io|YYYY|MM|DD|Yekuo|JSON|English|att|jpg|pdf|png)$")


def assert_chinese(page: Page, ignore: tuple[str, ...] = ()) -> None:
    """No English words in what the zh-CN page shows (codes such as CQ-KC1 or ZY… are not words)."""
    words = [w for w in re.findall(r"[A-Za-z]{3,}", page.locator("body").inner_text())
             if not LATIN_OK.match(w) and w not in ignore]
    assert not words, f"English on a zh-CN page {page.url}: {sorted(set(words))[:20]}"


def open_and_claim(page: Page, task_id: str) -> None:
    """Open a group task from its page and claim it, as a person does."""
    page.goto(f"/tasks/{task_id}")
    page.get_by_test_id("claim").click()
    expect(page.get_by_test_id("flash")).to_contain_text("认领")
    form_ready(page)

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

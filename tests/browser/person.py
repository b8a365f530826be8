"""A member of staff at the browser: signs in, finds the case's task in the list, claims it, types
and chooses the form's values as a person does, uploads files with the file input, picks dates
with the flatpickr input — and counts what it cost (pages, clicks, sign-ins), with a screenshot of
every page it passes.

Nothing here calls the API or sets a value behind the page's back: every value goes through
`fill`/`type`/`check`/`select_option`/`set_input_files` on the element a person would use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.support import LATIN_OK, form_ready

PHONE = {"width": 390, "height": 844}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                    "f8cfc0f01f0005fe02fea7d6a0a40000000049454e44ae426082")
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")


@dataclass
class Tally:
    """What one case cost its staff in the browser."""

    pages: int = 0
    clicks: int = 0  # buttons and links: sign in, the list, claim, submit, the phone's buttons
    choices: int = 0  # choosing on a form: a radio, a tick, a list, a picked date, a file
    sign_ins: int = 0
    tasks: int = 0
    shots: list[str] = field(default_factory=list)


class Desk:
    """The pages one run passes: screenshots under `test-artifacts/<kind>/`, and the tally."""

    def __init__(self, folder: Path, files: Path) -> None:
        self.folder = folder
        self.files = files
        self.tally = Tally()
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, page: Page, name: str) -> None:
        self.tally.pages += 1
        path = self.folder / f"{len(self.tally.shots) + 1:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        self.tally.shots.append(path.name)

    def click(self, target: Locator) -> None:
        self.tally.clicks += 1
        target.click()

    def choose(self, target: Locator) -> None:
        self.tally.choices += 1
        target.click()

    def sign_in(self, context: BrowserContext, username: str) -> Page:
        page = context.new_page()
        page.goto("/login")
        self.shot(page, f"login-{username}")
        page.get_by_test_id("username").fill(username)
        page.get_by_test_id("password").fill("demo")
        self.click(page.get_by_test_id("login-submit"))
        expect(page).to_have_url(re.compile(r"/tasks$"))
        self.tally.sign_ins += 1
        self.shot(page, f"tasks-{username}")
        chinese_only(page)
        return page

    def open_task(self, page: Page, iid: int, spec: str) -> None:
        """From the group's list: the case's row, 认领并办理 (or its task page, then claim)."""
        self.click(page.get_by_test_id("nav-group"))
        row = page.locator(f'[data-testid=task-row][data-instance="{iid}"][data-task-spec="{spec}"]')
        expect(row).to_have_count(1)
        claim_and_work = row.get_by_test_id("claim-and-work")
        if claim_and_work.count():  # one click: claimed, and the form opens
            self.click(claim_and_work)
        else:
            self.click(row.locator("a").first)
            claim = page.get_by_test_id("claim")
            if claim.count():
                self.click(claim)
        form_ready(page)
        self.shot(page, f"task-{spec}")
        chinese_only(page)

    def submit(self, page: Page, spec: str) -> None:
        self.click(page.get_by_test_id("submit"))
        flash = page.get_by_test_id("flash").first
        try:
            expect(flash).to_contain_text("已提交", timeout=10000)
        except AssertionError:
            self.shot(page, f"refused-{spec}")
            raise AssertionError(f"{spec} not submitted: {page.get_by_test_id('form-errors').inner_text()}") from None
        self.tally.tasks += 1
        self.shot(page, f"done-{spec}")

    # -- typing a form ------------------------------------------------------------------------

    def fill(self, page: Page, values: dict[str, Any], order: list[str] | None = None, prefix: str = "") -> None:
        keys = [k for k in (order or []) if k in values] + [k for k in values if k not in (order or [])]
        for key in keys:
            self._value(page, f"{prefix}{key}", values[key])

    def _value(self, page: Page, path: str, value: Any) -> None:
        box = page.locator(f'[data-schemapath="root.{path}"]')
        if not box.count() or not box.first.is_visible():
            return  # not asked on this form (read-only facts, a branch not taken)
        if isinstance(value, dict) and "ref" in value and "name" in value:
            self._upload(page, path, value["name"])
        elif isinstance(value, dict):
            self.fill(page, value, prefix=f"{path}.")
        elif isinstance(value, list):
            self._list(page, box.first, path, value)
        else:
            self._scalar(page, box.first, path, value)

    def _upload(self, page: Page, path: str, name: str) -> None:
        photo = name.lower().endswith((".jpg", ".jpeg", ".png"))
        file = self.files / (name.rsplit(".", 1)[0] + (".png" if photo else ".pdf"))
        file.write_bytes(PNG if photo else PDF)
        self.tally.choices += 1
        page.get_by_test_id(f"upload-{path}-file").set_input_files(str(file))
        expect(page.get_by_test_id(f"upload-{path}-name")).to_have_text(file.name)

    def _list(self, page: Page, box: Locator, path: str, value: list[Any]) -> None:
        ticks = box.locator("input[type=checkbox]")
        if value and not isinstance(value[0], (dict, list)) and ticks.count():
            for v in value:
                self.choose(box.locator(f'input[type=checkbox][value="{v}"]'))
            return
        for n, v in enumerate(value):
            row = page.locator(f'[data-schemapath="root.{path}.{n}"]')
            if not row.count():
                self.choose(box.locator("button.json-editor-btn-add").last)
            self._value(page, f"{path}.{n}", v)

    def _scalar(self, page: Page, box: Locator, path: str, value: Any) -> None:
        picker = page.get_by_test_id(f"picker-{path}")
        if picker.count():
            text = _ISO.sub(r"\1 \2", str(value))[:16] if "T" in str(value) else str(value)
            picker.fill("")
            picker.type(text)
            picker.press("Enter")
            page.keyboard.press("Escape")
            self.tally.choices += 1
            return
        control = box.locator("select, input, textarea").first
        if control.count() and (control.is_disabled() or control.get_attribute("readonly") is not None):
            return  # read only: the case's own facts
        radio = box.locator(f'input[type=radio][value="{value}"]')
        if radio.count():
            if not radio.first.is_checked():
                self.choose(radio.first)
            return
        select = box.locator("select")
        if select.count():
            if isinstance(value, bool):
                value = "1" if value else "0"
            if select.first.input_value() != str(value):
                self.tally.choices += 1
                select.first.select_option(str(value))
            return
        tick = box.locator("input[type=checkbox]")
        if tick.count():
            if tick.first.is_checked() != bool(value):
                self.choose(tick.first)
            return
        entry = box.locator("textarea, input").first
        if entry.input_value() != str(value):
            entry.fill(str(value))


#: codes a zh-CN page shows that are not words: document references, credit codes, meter and seal numbers
CODES = re.compile(r"att-[0-9a-fA-F]+|\b[0-9A-Z]{18}\b|\b[A-Z]{2}\d{4,}[A-Z0-9]*\b")


def chinese_only(page: Page) -> None:
    """No English words in what the zh-CN page shows (support.assert_chinese, with the codes a
    case's own data carries taken out first)."""
    text = CODES.sub(" ", page.locator("body").inner_text())
    words = [w for w in re.findall(r"[A-Za-z]{3,}", text) if not LATIN_OK.match(w)]
    lines = [line for line in text.splitlines() if any(w in line for w in words)][:8]
    assert not words, f"English on a zh-CN page {page.url}: {sorted(set(words))[:20]} in {lines}"

"""Issue 14: the main pages pass axe-core (no serious or critical violation) and fit a 390 px phone.

axe is injected by the test (`add_script_tag(path=...)` from node_modules, in a context that
bypasses the CSP so the injected script may run) — never shipped by our pages. Each page is also
loaded at 390 px wide: the document must not be wider than the screen (no sideways scrolling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from engine.core import actors, runtime
from engine.core.db import Database
from tests.browser.support import form_ready, sign_in
from tests.process_helpers import drive, example, items

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def axe_problems(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['impact']} {v['id']}: {v['help']} — {[n['target'] for n in v['nodes']][:4]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _case(web_db: Database, until: str) -> int:
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"},
                                 actor=actors.Actor("clerk", frozenset({"clerk"}))).instance_id
    drive(web_db, iid, {"accept": example("accept", survey_with_install=False, customer_name="林晓")}, until=until)
    return iid


def _pages(web_db: Database) -> list[tuple[str, str, bool]]:
    """(user, path, is a task form) for the main pages."""
    iid = _case(web_db, "book_appointment")
    task = items(web_db, iid)["book_appointment"].id
    return [("", "/login", False), ("clerk", "/tasks", False), ("dispatcher", f"/tasks/{task}", True),
            ("clerk", f"/cases/{iid}", False), ("dispatcher", "/dispatch", False),
            ("supervisor", "/kpis", False), ("analyst", "/modeler", False), ("surveyor", "/field", False),
            ("clerk", "/start", False), ("clerk", "/cases", False)]


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_main_pages_pass_axe_and_fit_the_screen(viewport: dict[str, int], new_context: Any, artifacts: Path,
                                                web_db: Database) -> None:
    problems: list[str] = []
    signed: dict[str, Page] = {}
    for user, path, is_form in _pages(web_db):
        if user not in signed:
            context = new_context(viewport=viewport, bypass_csp=True)
            signed[user] = sign_in(context, user) if user else context.new_page()
        page = signed[user]
        page.goto(path)
        if is_form:
            form_ready(page)
        problems += [f"{path}: {p}" for p in axe_problems(page)]
        width = page.evaluate("document.documentElement.scrollWidth")
        if viewport["width"] == PHONE["width"] and width > PHONE["width"]:
            problems.append(f"{path}: {width} px wide on a 390 px screen: {_wide(page)}")
    assert not problems, "\n".join(problems)


def _wide(page: Page) -> list[str]:
    """The elements that stick out on the right, to say what made the page too wide."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 6).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.') +
                         (e.dataset.testid ? '[' + e.dataset.testid + ']' : ''))""")

"""The administrator's pages in a real browser.

1. An administrator changes a time limit on the rule-set page by typing, saves it as a new version
   and activates it; a case started afterwards counts with the new limit while a case started
   before keeps its old one (the cases are driven with the engine: what is tested is the page).
2. An administrator creates a user and adds a member to a field team on the pages.

No console errors (the conftest fails the test on any). The session's database is shared with the
other browser tests, so what this test changes is put back at the end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from engine.core import accounts, actors, runtime
from engine.core.db import Database
from engine.deadlines import rule_sets, rule_versions, sla
from engine.dispatch import teams
from tests.browser.support import assert_chinese, sign_in
from tests.process_helpers import drive, example

CLERK = actors.Actor("clerk", frozenset({"clerk"}))


def _case_with_process_clock(web_db: Database) -> sla.ClockView:
    """A counter case past acceptance: its whole-process clock runs (the engine does this part)."""
    iid = runtime.start_instance(web_db, "new_connection", {"channel": "counter"}, actor=CLERK).instance_id
    drive(web_db, iid, {"accept": example("accept", survey_with_install=False)}, until="book_appointment")
    return next(c for c in sla.clocks_of(web_db, iid) if c.sla_key == "whole_process")


def test_admin_changes_a_time_limit_and_new_cases_use_it(new_context: Any, artifacts: Path,
                                                          web_db: Database) -> None:
    before = _case_with_process_clock(web_db)
    business_type = next(b for (b, k), rule in rule_sets.active_rules(web_db).rules.items()
                         if k == "whole_process" and rule.workdays == before.limit_workdays)
    old_limit, new_limit = before.limit_workdays, before.limit_workdays + 2
    try:
        page = sign_in(new_context(), "admin")
        page.get_by_test_id("nav-admin").click()
        page.get_by_test_id("admin-admin_rules").click()
        page.get_by_test_id("rule-set-sgcc_default").click()
        expect(page.get_by_test_id("version-active")).to_be_visible()
        assert_chinese(page)
        page.get_by_test_id("edit-rules").click()
        limit = page.get_by_test_id(f"limit-{business_type}-whole_process")
        expect(limit).to_have_value(str(old_limit))
        limit.click()
        limit.press("Control+a")
        limit.type(str(new_limit))
        page.get_by_test_id("rules-reason").type("考核办法修订：全过程时限调整")
        page.screenshot(path=str(artifacts / "admin-rules-edit.png"), full_page=True)
        page.get_by_test_id("rules-save").click()
        expect(page.get_by_test_id("flash")).to_contain_text("已保存为第 2 版")
        expect(page.get_by_test_id("version-inactive")).to_be_visible()
        assert rule_sets.active_rules(web_db).version == 1  # saved, not in force yet
        page.get_by_test_id("activate-reason-2").type("自即日起执行")
        page.get_by_test_id("activate-2").click()
        expect(page.get_by_test_id("flash")).to_contain_text("第 2 版已启用")
        row = page.locator(f'[data-testid="limit-row"][data-key="{business_type}:whole_process"]')
        expect(row.get_by_test_id("limit-value")).to_contain_text(str(new_limit))
        assert_chinese(page)
        page.screenshot(path=str(artifacts / "admin-rules-activated.png"), full_page=True)

        after = _case_with_process_clock(web_db)
        assert after.limit_workdays == new_limit
        kept = next(c for c in sla.clocks_of(web_db, _instance_of(web_db, before)) if c.id == before.id)
        assert (kept.limit_workdays, kept.deadline_at) == (old_limit, before.deadline_at)
    finally:
        rule_versions.activate_version(web_db, "sgcc_default", 1, actor="tests", reason="browser test cleanup")


def _instance_of(web_db: Database, clock_view: sla.ClockView) -> int:
    from sqlalchemy import select

    from engine.core.models import sla_clock_t

    with web_db.read() as conn:
        return conn.execute(select(sla_clock_t.c.instance_id).where(sla_clock_t.c.id == clock_view.id)).scalar_one()


def test_admin_creates_a_user_and_adds_a_team_member(new_context: Any, artifacts: Path, web_db: Database) -> None:
    team = teams.list_teams(web_db)[0]
    try:
        page = sign_in(new_context(), "admin")
        page.get_by_test_id("nav-admin").click()
        page.get_by_test_id("admin-admin_users").click()
        page.get_by_test_id("new-username").type("zhaolei")
        page.get_by_test_id("new-display-name").type("赵磊")
        page.get_by_test_id("new-password").type("S3cure-pass")
        page.get_by_test_id("new-group-surveyor").check()
        page.get_by_test_id("user-create-submit").click()
        expect(page.get_by_test_id("flash")).to_contain_text("账号 zhaolei 已创建")
        expect(page.locator('[data-testid="user-row"][data-user="zhaolei"]')).to_be_visible()
        assert accounts.get(web_db, "zhaolei").groups == {"surveyor"}

        page.get_by_test_id("nav-admin").click()
        page.get_by_test_id("admin-admin_teams").click()
        page.get_by_test_id(f"member-name-{team.code}").type("赵磊")
        page.get_by_test_id(f"member-mobile-{team.code}").type("13900002222")
        page.get_by_test_id(f"member-username-{team.code}").type("zhaolei")
        page.get_by_test_id(f"member-add-submit-{team.code}").click()
        expect(page.get_by_test_id("flash")).to_contain_text("赵磊 已加入班所")
        expect(page).to_have_url(re.compile(rf"/admin/teams#team-{team.code}$"))
        expect(page.locator(f'[data-team="{team.code}"] [data-testid="member-row"][data-member="赵磊"]')).to_be_visible()
        page.screenshot(path=str(artifacts / "admin-teams.png"), full_page=True)
        member = teams.get_team(web_db, team.code).member("赵磊")
        assert member is not None and (member.mobile, member.username, member.active) == ("13900002222", "zhaolei", True)
    finally:
        if teams.get_team(web_db, team.code).member("赵磊"):
            teams.remove_member(web_db, team.code, "赵磊")
        if any(u.username == "zhaolei" for u in accounts.list_users(web_db, limit=1000)[0]):
            accounts.update_user(web_db, "zhaolei", active=False)

"""The administrator's pages without a browser: the /admin landing and nav, rule sets (edit as a new
version, hostile input answered per field in Chinese, activate, copy), users, teams, the calendar.

SQLite only: the pages call the engine functions tested on both backends (test_rule_versions.py,
test_api_rules.py, test_api_admin.py)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from api.rest.calendar import _example_year
from engine.core import accounts, users
from engine.deadlines import rule_sets, rule_versions
from engine.dispatch import teams
from tests.test_web_pages import app, calendar_db  # noqa: F401  (fixtures)
from tests.web_support import csrf_of, sign_in


class _Form(HTMLParser):
    """The fields a browser would send for the page's form `form_testid` (inputs, checked boxes,
    selected options)."""

    def __init__(self, form_testid: str) -> None:
        super().__init__()
        self.want, self.inside, self.fields = form_testid, False, {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("data-testid") == self.want
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value") or "on"
            else:
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            if self._select not in self.fields or "selected" in a:
                self.fields[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form":
            self.inside = False


def form_of(html: str, testid: str) -> dict[str, str]:
    parser = _Form(testid)
    parser.feed(html)
    assert parser.fields, f"no form {testid}"
    return parser.fields


def _row_of(fields: dict[str, str], business_type: str, key: str) -> str:
    return next(k.split("-")[1] for k, v in fields.items()
                if k.endswith("-sla_key") and v == key and fields[k.replace("sla_key", "business_type")] == business_type)


@pytest.fixture
def admin_app(app: Any, calendar_db) -> Any:  # noqa: F811
    users.upsert_user(calendar_db, "admin", "demo", ["admin"], display_name="管理员")
    users.upsert_user(calendar_db, "supervisor", "demo", ["supervisor"], display_name="主管")
    return app


def _no_inline_script(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"


def test_admin_nav_and_landing(admin_app: Any) -> None:
    admin = sign_in(admin_app, "admin")
    home = admin.get("/admin")
    assert home.status_code == 200 and 'data-testid="nav-admin"' in home.text
    for section in ("admin_users", "admin_teams", "admin_calendar", "admin_rules"):
        assert f'data-testid="admin-{section}"' in home.text
    _no_inline_script(home.text)
    supervisor = sign_in(admin_app, "supervisor").get("/admin").text
    assert 'data-testid="admin-admin_rules"' in supervisor and 'data-testid="admin-admin_users"' not in supervisor
    clerk = sign_in(admin_app, "clerk")
    assert 'data-testid="nav-admin"' not in clerk.get("/tasks").text
    assert clerk.get("/admin").status_code == 403


def test_admin_edits_a_limit_as_a_new_version_and_activates_it(admin_app: Any, calendar_db) -> None:
    admin = sign_in(admin_app, "admin")
    edit = admin.get("/admin/rules/sgcc_default/edit")
    assert edit.status_code == 200
    _no_inline_script(edit.text)
    fields = form_of(edit.text, "rules-form")
    row = _row_of(fields, "hv_single", "scheme_reply")
    assert fields[f"rule-{row}-limit"] == "15"
    fields[f"rule-{row}-limit"] = "12"
    fields["reason"] = "2027年考核办法"
    saved = admin.post("/admin/rules/sgcc_default/edit", data=fields)
    assert saved.status_code == 302 and "version=2" in saved.headers["Location"]
    assert rule_sets.active_rules(calendar_db).find("hv_single", "scheme_reply").workdays == 15  # not yet
    page = admin.get(saved.headers["Location"])
    assert "已保存为第 2 版" in page.text and 'data-testid="version-inactive"' in page.text
    assert admin.post("/admin/rules/sgcc_default/activate",
                      data={"csrf_token": csrf_of(page.text), "version": "2", "reason": ""}).status_code == 302
    assert rule_sets.active_rules(calendar_db).version == 1  # no reason, no activation
    done = admin.post("/admin/rules/sgcc_default/activate", follow_redirects=True,
                      data={"csrf_token": csrf_of(page.text), "version": "2", "reason": "自下月起执行"})
    assert "第 2 版已启用" in done.text
    assert rule_sets.active_rules(calendar_db).find("hv_single", "scheme_reply").workdays == 12
    versions = rule_versions.versions_of(calendar_db, "sgcc_default")
    assert (versions[0]["created_by"], versions[0]["reason"]) == ("admin", "2027年考核办法")


@pytest.mark.parametrize("change, field, text", [
    (lambda f, r: f.update({f"rule-{r}-limit": "-5"}), "rule-{r}-limit", "1 至 365"),
    (lambda f, r: f.update({f"rule-{r}-limit": "十"}), "rule-{r}-limit", "1 至 365"),
    (lambda f, r: f.update({f"rule-{r}-sla_key": "no_such_step"}), "rule-{r}-sla_key", "未知环节"),
    (lambda f, r: f.update(warnings="50, 150"), "warnings", "大于 0 且小于 100"),
    (lambda f, r: [f.update({k: "1"}) for k in list(f) if k.endswith("-key") and f[k]]
     and [f.update({k.replace("-key", "-delete"): "1"}) for k in list(f) if k.endswith("-key") and f[k]],
     "escalation", "至少需要一级"),
    (lambda f, r: f.update({"level-0-recipient": "nobody"}), "level-0-recipient", "任务承办人或一个用户组"),
    (lambda f, r: f.update(reason=""), "reason", "必填"),
])
def test_hostile_rule_edits_are_answered_per_field(admin_app: Any, calendar_db, change, field, text) -> None:
    admin = sign_in(admin_app, "admin")
    fields = form_of(admin.get("/admin/rules/sgcc_default/edit").text, "rules-form")
    row = _row_of(fields, "hv_single", "scheme_reply")
    fields["reason"] = "恶意输入"
    fields["title"] = '<script>alert("x")</script>标题'
    change(fields, row)
    answer = admin.post("/admin/rules/sgcc_default/edit", data=fields)
    assert answer.status_code == 422
    assert f'data-testid="error-{field.format(r=row)}"' in answer.text, answer.text[:2000]
    assert text in answer.text
    assert "<script>alert" not in answer.text  # what was typed comes back escaped
    _no_inline_script(answer.text)
    assert [v["version"] for v in rule_versions.versions_of(calendar_db, "sgcc_default")] == [1]


def test_supervisors_read_rules_but_cannot_change_them(admin_app: Any) -> None:
    supervisor = sign_in(admin_app, "supervisor")
    page = supervisor.get("/admin/rules/sgcc_default")
    assert page.status_code == 200 and 'data-testid="edit-rules"' not in page.text
    assert "activate-1" not in page.text and "国家电网" in page.text
    assert supervisor.get("/admin/rules/sgcc_default/edit").status_code == 403
    assert supervisor.post("/admin/rules/sgcc_default/activate",
                           data={"csrf_token": csrf_of(page.text), "reason": "x"}).status_code == 403


def test_copy_a_rule_set(admin_app: Any, calendar_db) -> None:
    admin = sign_in(admin_app, "admin")
    token = csrf_of(admin.get("/admin/rules/sgcc_default").text)
    made = admin.post("/admin/rules/sgcc_default/copy", follow_redirects=True,
                      data={"csrf_token": token, "new_name": "province_x", "title": "某省公司", "reason": "细化"})
    assert "某省公司" in made.text and "已复制" in made.text
    bad = admin.post("/admin/rules/sgcc_default/copy", follow_redirects=True,
                     data={"csrf_token": token, "new_name": "../etc", "reason": "x"})
    assert "新代码" in bad.text
    assert {s["name"] for s in rule_versions.list_rule_sets(calendar_db)} == {"sgcc_default", "regulator_2009",
                                                                               "province_x"}


def test_users_page_creates_sets_groups_and_deactivates(admin_app: Any, calendar_db) -> None:
    admin = sign_in(admin_app, "admin")
    page = admin.get("/admin/users")
    _no_inline_script(page.text)
    token = csrf_of(page.text)
    made = admin.post("/admin/users", follow_redirects=True, data={
        "csrf_token": token, "username": "zhangwei", "display_name": "张伟", "password": "S3cure-pass",
        "groups": ["clerk"]})
    assert "账号 zhangwei 已创建" in made.text
    assert accounts.get(calendar_db, "zhangwei").groups == {"clerk"}
    admin.post("/admin/users/zhangwei", data={"csrf_token": token, "display_name": "张伟（营业厅）",
                                              "groups": ["clerk", "manager"]})
    assert accounts.get(calendar_db, "zhangwei").display_name == "张伟（营业厅）"
    assert accounts.get(calendar_db, "zhangwei").groups == {"clerk", "manager"}
    admin.post("/admin/users/zhangwei", data={"csrf_token": token, "action": "deactivate"})
    assert accounts.get(calendar_db, "zhangwei").active is False
    own = admin.post("/admin/users/admin", follow_redirects=True, data={"csrf_token": token, "action": "deactivate"})
    assert accounts.get(calendar_db, "admin").active is True and 'data-testid="flash"' in own.text
    hostile = admin.post("/admin/users", follow_redirects=True, data={
        "csrf_token": token, "username": "<b>x</b>", "password": "short", "groups": ["wizard"]})
    assert "用户名为2至80位" in hostile.text and "<b>x</b>" not in hostile.text
    auditor = sign_in(admin_app, "auditor")
    read = auditor.get("/admin/users")
    assert read.status_code == 200 and "zhangwei" in read.text and 'data-testid="user-create"' not in read.text
    assert auditor.post("/admin/users", data={"csrf_token": csrf_of(read.text)}).status_code == 403


def test_teams_page_creates_a_team_and_adds_a_member(admin_app: Any, calendar_db) -> None:
    admin = sign_in(admin_app, "admin")
    token = csrf_of(admin.get("/admin/teams").text)
    admin.post("/admin/teams", data={"csrf_token": token, "code": "CQ-T1", "name": "城区测试班", "area": "urban"})
    added = admin.post("/admin/teams/CQ-T1/members", follow_redirects=True,
                       data={"csrf_token": token, "name": "刘洋", "mobile": "13700001111", "role": "worker"})
    assert "刘洋 已加入班所" in added.text
    assert [m.name for m in teams.get_team(calendar_db, "CQ-T1").members] == ["刘洋"]
    bad = admin.post("/admin/teams/CQ-T1/members", follow_redirects=True,
                     data={"csrf_token": token, "name": "王", "mobile": "12345", "role": "boss"})
    assert "请输入11位手机号码" in bad.text and "姓名为2至40个字" in bad.text
    admin.post("/admin/teams/CQ-T1/members/remove", data={"csrf_token": token, "name": "刘洋"})
    assert not teams.get_team(calendar_db, "CQ-T1").members[0].active


def test_calendar_page_shows_a_year_and_imports_a_file(admin_app: Any, calendar_db) -> None:
    admin = sign_in(admin_app, "admin")
    page = admin.get("/admin/calendar?year=2026")
    assert "春节" in page.text and 'data-testid="day-adjusted_workday"' in page.text
    _no_inline_script(page.text)
    assert 'data-testid="calendar-missing"' in admin.get("/admin/calendar?year=2031").text
    token = csrf_of(page.text)
    done = admin.post("/admin/calendar", follow_redirects=True, content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(_example_year(2030).encode()), "2030.csv")})
    assert "2030 年已导入" in done.text
    bad = admin.post("/admin/calendar", content_type="multipart/form-data", data={
        "csrf_token": token, "file": (io.BytesIO(b"date,type,name\n2030-01-01,party,<b>x</b>\n"), "bad.csv")})
    assert bad.status_code == 422 and 'data-testid="calendar-problems"' in bad.text and "<b>x</b>" not in bad.text
    assert sign_in(admin_app, "clerk").get("/admin/calendar").status_code == 403

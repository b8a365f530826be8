"""The service centre's loose ends (issue #15): first-response cards on /kpis, area sizes set by an
administrator (page and `yekuo areas set-size`), the dispatch-mode chain in `yekuo audit verify` and
on /audit, and the customer manager's after-sales list (page and REST)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select, update

from engine.core.clock import CHINA
from engine.core.models import dispatch_mode_event_t
from engine.dispatch import after_sales, modes, teams
from engine.intake import threads
from tests import process_helpers as ph
from tests.api_support import Api, api, seed_deadlines  # noqa: F401
from tests.cli_support import yekuo
from tests.dispatch_support import bare_cases
from tests.web_support import csrf_of, sign_in

ENGLISH = re.compile(r">[^<]*\b(First response|Questions|working hours|Area sizes|After-sales|Finished on|"
                     r"Chains beside|broken from)\b")


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=CHINA)


def _tile(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"', 1)[1].split("</div>", 1)[0]


def test_the_kpi_page_shows_first_response_and_after_sales_cards_in_chinese(api: Api, clock) -> None:  # noqa: F811
    seed_deadlines(api.db)
    a, b = bare_cases(api.db, 2)
    clock.set(_at(2, 10))  # Monday
    threads.post_customer(api.db, a, "什么时候来勘查？", author="channel", channel="app")
    threads.post_customer(api.db, b, "<script>alert(1)</script>电表装在哪里？", author="channel", channel="wechat")
    clock.set(_at(2, 11, 30))
    threads.post_staff(api.db, a, "周二上午上门勘查。", author="manager", kind="phone")
    clock.set(_at(3, 16))  # b was never answered: past its limit now
    page = sign_in(api.app, "analyst").get("/kpis?start=2026-03-01&end=2026-04-01")
    assert page.status_code == 200
    assert ">2</span>" in _tile(page.text, "kpi-first-response")
    assert "首次响应及时率" in page.text and "50.0%" in _tile(page.text, "kpi-first-response-rate")
    assert "1.5 个工作小时" in _tile(page.text, "kpi-first-response-hours")
    overdue = page.text.split('data-testid="kpi-first-response-overdue"', 1)[0].rsplit("<div", 1)[1]
    assert "kpi-alert" in overdue and ">1</span>" in _tile(page.text, "kpi-first-response-overdue")
    assert "售后跟进及时率" in page.text and 'data-testid="kpi-after-sales"' in page.text
    assert "<script>alert" not in page.text and not ENGLISH.search(page.text)


def test_an_administrator_sets_area_sizes_on_the_analysis_page(api: Api, clock) -> None:  # noqa: F811
    clock.set(_at(2, 10))
    analyst = sign_in(api.app, "analyst")
    page = analyst.get("/analysis")
    assert page.status_code == 200 and 'data-testid="area-sizes"' not in page.text
    token = csrf_of(page.text)
    assert analyst.post("/analysis/areas", data={"csrf_token": token, "area": "urban",
                                                 "size_km2": "10"}).status_code == 403
    admin = sign_in(api.app, "admin")
    page = admin.get("/analysis")
    assert page.status_code == 200 and page.text.count('data-testid="area-size-form"') == 2
    assert "区域面积" in page.text and not ENGLISH.search(page.text)
    token = csrf_of(page.text)
    done = admin.post("/analysis/areas", data={"csrf_token": token, "area": "urban", "size_km2": " 125.5 "},
                      follow_redirects=True)
    assert "城区面积已改为 125.5 平方公里" in done.text and 'value="125.5"' in done.text
    sizes = teams.area_sizes(api.db)
    assert sizes["urban"] == 125.5
    for area, raw, said in (("urban", "abc", "不是平方公里数"), ("urban", "-3", "大于0"), ("urban", "0", "大于0"),
                            ("urban", "1e9", "不超过100000"), ("urban", "nan", "大于0"), ("urban", "inf", "大于0"),
                            ("mars", "10", "区域须为"), ("<script>x</script>", "10", "区域须为"),
                            ("urban", "<img src=x onerror=alert(1)>", "不是平方公里数")):
        bad = admin.post("/analysis/areas", data={"csrf_token": token, "area": area, "size_km2": raw},
                         follow_redirects=True)
        assert bad.status_code == 200 and said in bad.text, (area, raw)
        assert "<img src=x" not in bad.text and "<script>x" not in bad.text
    assert teams.area_sizes(api.db) == sizes  # nothing bad was kept
    assert admin.post("/analysis/areas", data={"area": "urban", "size_km2": "5"}).status_code in (400, 403)


def test_yekuo_areas_set_size_checks_its_input(db, clock) -> None:
    assert yekuo(db, "areas", "set-size", "rural", "860").stdout.strip() == "rural (农村): 860 km²"
    listed = yekuo(db, "areas", "list").stdout
    assert "rural\t农村\t860 km²" in listed and "urban\t城区\t—" in listed
    for args, said in ((("rural", "-1"), "大于0"), (("rural", "abc"), "不是数字"), (("rural", "200000"), "不超过"),
                       (("mars", "1"), "区域须为")):
        bad = yekuo(db, "areas", "set-size", *args, check=False)
        assert bad.returncode == 1 and said in bad.stderr, (args, bad.stderr)
    assert teams.area_sizes(db) == {"rural": 860.0}


def test_audit_verify_checks_the_dispatch_mode_chain_and_reports_tampering(db, clock) -> None:
    clock.set(_at(2, 10))
    modes.switch(db, "urban", "survey", "self", reason="试行班组自主派工", actor="supervisor")
    modes.switch(db, "rural", "install", "self", reason="农村装表由供电所安排", actor="supervisor")
    good = yekuo(db, "audit", "verify")
    assert "dispatch_mode chain: 2 events, intact" in good.stdout and "0 broken" in good.stdout
    with db.write() as conn:
        row = conn.execute(select(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 1)).one()
        conn.execute(update(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 1)
                     .values(payload=row.payload.replace("试行", "正式")))
    bad = yekuo(db, "audit", "verify", check=False)
    assert bad.returncode == 1 and "TAMPERED dispatch_mode chain: event 1" in bad.stderr and "1 broken" in bad.stdout


def test_the_chain_page_shows_the_dispatch_mode_chain_and_its_tampering(api: Api, clock) -> None:  # noqa: F811
    clock.set(_at(2, 10))
    modes.switch(api.db, "urban", "survey", "self", reason="试行班组自主派工", actor="supervisor")
    auditor = sign_in(api.app, "auditor")
    page = auditor.get("/audit")
    row = page.text.split('data-chain="dispatch_mode"', 1)[1].split("</tr>", 1)[0]
    assert 'data-ok="yes"' in page.text and "派工方式切换" in row and "完整" in row
    with api.db.write() as conn:
        conn.execute(update(dispatch_mode_event_t).where(dispatch_mode_event_t.c.seq == 1).values(actor="someone"))
    page = auditor.get("/audit")
    row = page.text.split('data-chain="dispatch_mode"', 1)[1].split("</tr>", 1)[0]
    assert 'data-ok="no"' in page.text.split('data-chain="dispatch_mode"', 1)[1][:40]
    assert "自第 1 个事件起被篡改" in row and "1 条审计链被篡改" in page.text or "被篡改" in page.text
    assert not ENGLISH.search(page.text)


def test_the_customer_managers_after_sales_list(api: Api, clock) -> None:  # noqa: F811
    seed_deadlines(api.db)
    case = ph.run("lv_res_merged", api.db, clock)
    ended = ph.queries.get_instance(api.db, case.iid, with_data=False).ended_at
    ph.fire_at(api.db, clock, ended + dt.timedelta(minutes=1))
    [follow] = after_sales.follow_up_list(api.db)
    assert follow.case_id == case.iid and follow.finished_at == ended and follow.task.due_at is not None
    manager = sign_in(api.app, "manager")
    tasks = manager.get("/tasks/group")
    assert 'data-testid="after-sales-link"' in tasks.text and "售后跟进清单" in tasks.text
    assert 'data-testid="after-sales-link"' not in sign_in(api.app, "clerk").get("/tasks").text
    page = manager.get("/after-sales")
    assert page.status_code == 200 and page.text.count('data-testid="follow-up-row"') == 1
    row = page.text.split('data-testid="follow-up-row"', 1)[1].split("</tr>", 1)[0]
    assert f'data-case="{case.iid}"' in row and ended.astimezone(CHINA).strftime("%Y-%m-%d") in row
    assert f"/tasks/{follow.task.id}" in row and not ENGLISH.search(page.text)
    listed = api.ok("GET", "/api/v1/after-sales", as_="manager")
    assert [(f["case_id"], f["task_id"]) for f in listed] == [(case.iid, follow.task.id)]
    assert listed[0]["finished_at"] and listed[0]["due_at"]
    assert api.ok("GET", "/api/v1/after-sales", as_="clerk") == []  # not their group's work
    assert api.request("GET", "/api/v1/after-sales").status_code == 401
    assert "暂无待跟进的业务" in sign_in(api.app, "clerk").get("/after-sales").text
    ph.drive(api.db, follow.task.instance_id, {"follow_up_marketing": ph.example("after-sales", 1)})
    assert after_sales.follow_up_list(api.db) == [] and api.ok("GET", "/api/v1/after-sales", as_="manager") == []

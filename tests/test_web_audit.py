"""The auditor's pages without a browser: history with filters, time travel JSON, replay, chain
verification, the case file (page and JSON), the KPI dashboard, and who may open them.

SQLite only, like tests/test_web_pages.py: the engine parts are tested on both backends.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from engine.core import users
from engine.core.models import event_t
from tests.process_helpers import drive, start_case
from tests.test_web_pages import app, calendar_db  # noqa: F401  (fixtures)
from tests.web_support import csrf_of, sign_in


@pytest.fixture
def web(app: Any, calendar_db: Any, clock: Any) -> Any:  # noqa: F811
    for name in ("supervisor", "analyst"):
        users.upsert_user(calendar_db, name, "demo", [name], display_name=f"演示{name}")
    app.case_id = start_case(calendar_db)
    drive(calendar_db, app.case_id)
    app.db = calendar_db
    return app


def test_history_page_lists_events_and_filters(web: Any) -> None:
    client = sign_in(web, "auditor")
    iid = web.case_id
    page = client.get(f"/cases/{iid}/history")
    assert page.status_code == 200
    assert "案卷历史与时间回溯" in page.text and "从历史重放" in page.text
    assert page.text.count('data-testid="tt-event"') > 10
    assert 'data-testid="case-file-link"' in page.text
    done = client.get(f"/cases/{iid}/history?type=task_completed")
    types = set(__import__("re").findall(r'data-testid="tt-event" data-type="([a-z_]+)"', done.text))
    assert types == {"task_completed"}
    clerk = client.get(f"/cases/{iid}/history?actor=demo-clerk")
    assert clerk.text.count('data-testid="tt-event"') < page.text.count('data-testid="tt-event"')
    assert "没有符合条件的事件" in client.get(f"/cases/{iid}/history?actor=nobody").text


def test_as_of_json_gives_marks_and_panels(web: Any) -> None:
    client = sign_in(web, "auditor")
    iid = web.case_id
    first = client.get(f"/cases/{iid}/as-of/1.json").get_json()
    assert first["seq"] == 1 and first["open_tasks"] == ["accept"]
    main = first["processes"][0]
    assert main["active"] == ["accept"] and main["xml"].startswith("<?xml")
    assert "截至第 1 个事件" in first["panel"] and 'data-testid="asof-open"' in first["panel"]
    second = client.get(f"/cases/{iid}/as-of/2.json?have={main['process']}").get_json()
    assert "xml" not in second["processes"][0]
    assert "customer_name" in second["changed"] and 'data-key="customer_name"' in second["panel"]
    last = client.get(f"/cases/{iid}/as-of/{first['last_seq']}.json").get_json()
    assert last["status"] == "completed" and last["open_tasks"] == []
    missing = client.get(f"/cases/{iid}/as-of/999.json", headers={"Accept": "application/json"})
    assert missing.status_code == 404


def test_replay_button_endpoint_needs_csrf_and_reports(web: Any) -> None:
    client = sign_in(web, "analyst")
    iid = web.case_id
    token = csrf_of(client.get("/cases").text)
    assert client.post(f"/cases/{iid}/replay", headers={"Accept": "application/json"}).status_code == 400
    ok = client.post(f"/cases/{iid}/replay", headers={"X-CSRF-Token": token, "Accept": "application/json"}).get_json()
    assert ok["ok"] is True and "重放结果与记录一致" in ok["message"]
    with web.db.write() as conn:  # someone rewrites what the clerk entered
        row = conn.execute(event_t.select().where(event_t.c.instance_id == iid, event_t.c.type == "task_completed")
                           .order_by(event_t.c.seq)).first()
        payload = json.loads(row.payload)
        payload["opened"] = ["nothing_like_this"]
        conn.execute(update(event_t).where(event_t.c.id == row.id).values(payload=json.dumps(payload)))
    bad = client.post(f"/cases/{iid}/replay", headers={"X-CSRF-Token": token, "Accept": "application/json"}).get_json()
    assert bad["ok"] is False and bad["divergence"]["seq"] == row.seq
    assert f"第 {row.seq} 个事件" in bad["message"] and bad["link"].endswith(f"seq={row.seq}")


def test_chain_page_names_the_first_bad_event(web: Any) -> None:
    client = sign_in(web, "supervisor")
    page = client.get("/audit")
    assert page.status_code == 200 and "全部链完整" in page.text and "不能证明" in page.text
    assert 'data-testid="nav-audit"' in page.text and 'data-testid="nav-kpis"' in page.text
    with web.db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.instance_id == web.case_id, event_t.c.seq == 4)
                     .values(actor="mallory"))
    broken = client.get("/audit").text
    assert 'data-testid="chain-failures"' in broken
    assert '<td class="strong" data-testid="first-bad-seq">4</td>' in broken


def test_case_file_page_and_json(web: Any) -> None:
    client = sign_in(web, "auditor")
    iid = web.case_id
    page = client.get(f"/cases/{iid}/file")
    assert page.status_code == 200 and "@media print" not in page.text  # the print sheet is in audit.css
    assert "一致" in page.text and 'data-testid="file-history"' in page.text and "audit.css" in page.text
    download = client.get(f"/cases/{iid}/file.json")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    doc = json.loads(download.data)
    assert doc["replay"]["ok"] is True and doc["chain"]["ok"] is True and doc["instance"]["id"] == iid
    assert doc["history"][0]["type"] == "instance_started"
    assert doc["history"][0]["prev_hash"] == "0" * 64 and doc["hashing"]["algorithm"] == "SHA-256"
    # each step's data under that step, with its form's labels; the raw JSON collapsed for auditors
    assert 'data-testid="file-step" data-task="accept"' in page.text and "各环节录入的案卷数据" in page.text
    accept = page.text.split('data-task="accept"', 1)[1].split("</section>", 1)[0]
    assert 'data-key="customer_name"' in accept and "户名" in accept
    assert '<details class="raw" data-testid="file-raw">' in page.text


def test_kpi_page_shows_figures_charts_and_heatmap(web: Any) -> None:
    client = sign_in(web, "analyst")
    page = client.get("/kpis?start=2026-01-01&end=2026-05-01")
    assert page.status_code == 200
    assert "回访满意率" in page.text and "预约准时率" in page.text
    for chart in ("chart-cases", "chart-on-time", "chart-punctuality", "chart-satisfaction", "chart-waiting"):
        assert f'data-testid="{chart}"' in page.text
    charts = json.loads(page.text.split('id="kpi-charts">', 1)[1].split("</script>", 1)[0])
    assert charts["cases"]["yAxis"]["min"] == 0 and charts["on_time"]["yAxis"]["max"] == 100
    assert sum(v != "-" for v in charts["cases"]["series"][0]["data"]) >= 1
    assert 'lib=\'echarts\'' not in page.text and "/vendor/echarts/echarts.min.js" in page.text
    assert 'data-testid="heat-table"' in page.text and 'id="heat-config"' in page.text
    cfg = json.loads(page.text.split('id="heat-config">', 1)[1].split("</script>", 1)[0])
    assert cfg["processes"][0]["process"] == "new_connection" and cfg["processes"][0]["xml"].startswith("<?xml")
    assert {e["element"] for e in cfg["elements"]} >= {"accept", "callback"}
    assert {e["process"] for e in cfg["elements"]} <= {p["process"] for p in cfg["processes"]}
    backwards = client.get("/kpis?start=2027-05-01&end=2027-01-01&business_type=lv_res")
    assert backwards.status_code == 200 and 'data-testid="kpi-problems"' in backwards.text
    assert "结束日期须晚于开始日期" in backwards.text and 'value="lv_res" selected' in backwards.text
    assert 'data-testid="nav-audit"' not in page.text  # analysts see KPIs, not chain verification


@pytest.mark.parametrize("who, path, status", [
    ("clerk", "/cases/{iid}/history", 403), ("clerk", "/kpis", 403), ("clerk", "/audit", 403),
    ("analyst", "/audit", 403), ("analyst", "/cases/{iid}/file", 403), ("dispatcher", "/cases/{iid}/as-of/1.json", 403),
    ("auditor", "/cases/{iid}/history", 200), ("supervisor", "/kpis", 200), ("auditor", "/cases/99999/history", 404),
])
def test_who_may_open_the_pages(web: Any, who: str, path: str, status: int) -> None:
    client = sign_in(web, who)
    assert client.get(path.format(iid=web.case_id)).status_code == status


def test_kpi_filters_show_chinese_names_and_field_teams(web: Any) -> None:
    client = sign_in(web, "analyst")
    page = client.get("/kpis?start=2026-01-01&end=2028-01-01")
    filters = page.text.split('data-testid="kpi-filters"', 1)[1].split("</form>", 1)[0]
    assert ">新装/增容（业扩报装）</option>" in filters and ">new_connection<" not in filters
    assert "城区勘查一班" in filters and "城区装表接电班" in filters
    assert "受理员" not in filters  # role groups are not teams
    assert ">全部版本</option>" in filters and ">第 1 版</option>" in filters
    team = client.get("/kpis?start=2026-01-01&end=2028-01-01&team=NC-ZH1")
    assert 'value="NC-ZH1" selected' in team.text
    tiles = team.text.split('data-testid="kpi-cases"', 1)[1].split("</div>", 1)[0]
    assert '<span class="kpi-value">0</span>' in tiles  # the one case was worked by urban teams


@pytest.mark.parametrize("query, message", [
    ("start=2026-13-01", "不是日期"), ("end=%3Cscript%3E", "不是日期"), ("start=2027-05-01&end=2027-01-01", "结束日期"),
    ("team=nobody", "没有这个班组"), ("version=99", "没有这个版本"), ("key=%3Cb%3E", "没有这个流程"),
])
def test_bad_kpi_filters_are_an_inline_message(web: Any, query: str, message: str) -> None:
    client = sign_in(web, "analyst")
    page = client.get(f"/kpis?business_type=lv_res&{query}")
    assert page.status_code == 200 and 'data-testid="kpi-problems"' in page.text and message in page.text
    assert 'value="lv_res" selected' in page.text and "<script>" not in page.text.split("kpi-problems")[1][:400]
    assert "Traceback" not in page.text and "not a date" not in page.text

"""Load-growth analysis for grid planning (issue #15), checked against a fixture computed by hand.

The fixture is what the analysis reads from the history: each case's start data, its completed
forms (the accept form's values win over the start data), and the whole-process clock stopping at
energizing. Seven cases over two years:

| case | applied    | area  | voltage | category     | industry  | kW  | energized           |
|------|------------|-------|---------|--------------|-----------|-----|---------------------|
| A    | 2025-03-10 | urban | 380V    | industrial   | 金属制品业 | 100 | 2025-04-02          |
| B    | 2025-03-20 | rural | 220V    | resident     | —         | 10  | 2025-03-25          |
| C    | 2026-03-05 | urban | 10kV    | industrial   | 金属制品业 | 800 (start said 500) | 2026-04-10 |
| D    | 2026-03-15 | urban | 220V    | resident     | —         | 8   | 2026-03-20          |
| E    | 2026-03-18 | rural | 380V    | commercial   | =HYPERLINK(…) | 50 | withdrawn (clock void) |
| F    | 2026-04-01 | rural | 220V    | resident     | —         | 12  | not yet             |
| G    | 2026-03-10 | urban | 380V    | commercial   | 餐饮业     | 30  | a `change` case: not counted |

Areas: urban 50 km², rural 400 km².
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.audit import analysis
from engine.core import store
from engine.core.clock import CHINA, FixedClock
from engine.core.db import Database
from engine.core.errors import InvalidData
from engine.core.history import NewEvent
from engine.dispatch import teams
from tests.api_support import Api, api  # noqa: F401
from tests.dispatch_support import bare_cases
from tests.web_support import sign_in

FORMULA = '=HYPERLINK("http://x","点我")'


def _day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(hour=10, tzinfo=CHINA)


def _case(db: Database, clock: FixedClock, applied: str, data: dict[str, Any], *, key: str = "new_connection",
          accept: dict[str, Any] | None = None, stopped: tuple[str, str] | None = None) -> int:
    clock.set(_day(applied))
    [iid] = bare_cases(db, 1)
    events = [NewEvent("instance_started", clock.now(), actor="channel", payload={"key": key, "version": 1,
                                                                                "data": data})]
    events.append(NewEvent("task_completed", clock.now(), actor="clerk", task_spec="accept",
                           payload={"data": accept or {}}))
    if stopped is not None:
        events.append(NewEvent("sla_stopped", _day(stopped[0]), payload={
            "clock_id": iid, "sla_key": "whole_process", "scope": "process", "status": stopped[1]}))
    with db.write() as conn:
        store.append_to_chain(conn, store.case_head(conn, iid), events)
    return iid


def _load(area: str, voltage: str, category: str, kw: float, industry: str = "") -> dict[str, Any]:
    return {"area": area, "supply_voltage": voltage, "customer_category": category, "capacity_kw": kw,
            "industry": industry}


@pytest.fixture
def fixture(db: Database, clock: FixedClock) -> Database:
    teams.set_area_size(db, "urban", 50, actor="planner")
    teams.set_area_size(db, "rural", 400, actor="planner")
    _case(db, clock, "2025-03-10", _load("urban", "380V", "industrial", 100, "金属制品业"),
          stopped=("2025-04-02", "met"))
    _case(db, clock, "2025-03-20", {"channel": "app"}, accept=_load("rural", "220V", "resident", 10),
          stopped=("2025-03-25", "missed"))
    _case(db, clock, "2026-03-05", _load("urban", "10kV", "industrial", 500, "金属制品业"),
          accept={"capacity_kw": 800}, stopped=("2026-04-10", "met"))
    _case(db, clock, "2026-03-15", _load("urban", "220V", "resident", 8), stopped=("2026-03-20", "met"))
    _case(db, clock, "2026-03-18", _load("rural", "380V", "commercial", 50, FORMULA), stopped=("2026-03-19", "void"))
    _case(db, clock, "2026-04-01", _load("rural", "220V", "resident", 12))
    _case(db, clock, "2026-03-10", _load("urban", "380V", "commercial", 30, "餐饮业"), key="change")
    return db


def _months(result: analysis.Analysis) -> dict[str, dict[str, Any]]:
    return {m["month"]: m for m in result.months}


def test_months_and_growth_against_the_same_month_last_year(fixture: Database) -> None:
    r = analysis.analyse(fixture)
    months = _months(r)
    assert list(months)[0] == "2025-03" and list(months)[-1] == "2026-04" and len(months) == 14
    pick = ("applied_count", "applied_kw", "energized_count", "energized_kw")
    assert {m: tuple(months[m][k] for k in pick) for m in ("2025-03", "2025-04", "2025-05", "2026-03", "2026-04")} == {
        "2025-03": (2, 110, 1, 10),
        "2025-04": (0, 0, 1, 100),
        "2025-05": (0, 0, 0, 0),
        "2026-03": (3, 858, 1, 8),  # C with the accept form's 800 kW, D, and E (withdrawn, but applied)
        "2026-04": (1, 12, 1, 800),
    }
    march, april = months["2026-03"], months["2026-04"]
    assert (march["applied_kw_last_year"], march["applied_growth"]) == (110, 6.8)  # (858 − 110) / 110
    assert (march["energized_kw_last_year"], march["energized_growth"]) == (10, -0.2)  # (8 − 10) / 10
    assert (april["applied_kw_last_year"], april["applied_growth"]) == (0, None)  # nothing to compare with
    assert (april["energized_kw_last_year"], april["energized_growth"]) == (100, 7.0)
    assert months["2025-03"]["applied_growth"] is None
    assert r.totals == {"applied_count": 6, "applied_kw": 980, "energized_count": 4, "energized_kw": 918}


def test_load_density_and_splits_in_a_period(fixture: Database) -> None:
    r = analysis.analyse(fixture, analysis.Filters(start_month="2026-01", end_month="2026-12"))
    assert len(r.months) == 12 and r.totals == {"applied_count": 4, "applied_kw": 870, "energized_count": 2,
                                                "energized_kw": 808}
    areas = {a["area"]: a for a in r.areas}
    assert (areas["urban"]["size_km2"], areas["urban"]["energized_kw"], areas["urban"]["density_kw_per_km2"]) == \
        (50.0, 808, 16.16)  # 808 kW / 50 km²
    assert (areas["rural"]["applied_kw"], areas["rural"]["energized_kw"], areas["rural"]["density_kw_per_km2"]) == \
        (62, 0, 0.0)
    assert {v["key"]: v["applied_kw"] for v in r.by["voltage"]} == {"10kV": 800, "220V": 20, "380V": 50}
    assert {v["key"]: (v["applied_kw"], v["energized_kw"]) for v in r.by["category"]} == {
        "industrial": (800, 800), "resident": (20, 8), "commercial": (50, 0)}
    assert {v["key"]: v["applied_kw"] for v in r.by["industry"]} == {"金属制品业": 800, "未填写": 20, FORMULA: 50}


def test_filters_narrow_every_figure(fixture: Database) -> None:
    urban = _months(analysis.analyse(fixture, analysis.Filters(area="urban")))
    assert (urban["2026-03"]["applied_kw"], urban["2026-03"]["applied_kw_last_year"],
            urban["2026-03"]["applied_growth"]) == (808, 100, 7.08)  # (808 − 100) / 100
    resident = analysis.analyse(fixture, analysis.Filters(category="resident", voltage="220V"))
    assert resident.totals == {"applied_count": 3, "applied_kw": 30, "energized_count": 2, "energized_kw": 18}
    metal = analysis.analyse(fixture, analysis.Filters(industry="金属制品业"))
    assert metal.totals["applied_kw"] == 900 and metal.totals["energized_kw"] == 900
    assert analysis.analyse(fixture, analysis.Filters(area="rural", category="industrial")).months == []
    with pytest.raises(InvalidData):
        analysis.analyse(fixture, analysis.Filters(start_month="2026-13"))


def test_an_area_without_a_size_has_no_density(db: Database, clock: FixedClock) -> None:
    _case(db, clock, "2026-03-05", _load("urban", "380V", "commercial", 40), stopped=("2026-03-06", "met"))
    areas = {a["area"]: a for a in analysis.analyse(db).areas}
    assert (areas["urban"]["size_km2"], areas["urban"]["density_kw_per_km2"]) == (None, None)
    with pytest.raises(InvalidData):
        teams.set_area_size(db, "urban", 0, actor="planner")
    with pytest.raises(InvalidData):
        teams.set_area_size(db, "moon", 5, actor="planner")


def test_csv_is_utf8_with_bom_and_defuses_formulas(fixture: Database) -> None:
    text = analysis.to_csv(analysis.analyse(fixture, analysis.Filters(start_month="2026-03", end_month="2026-03")))
    assert text.startswith("\ufeff月份,区域,供电电压,用电类别,行业,申请户数,申请容量(kW),接电户数,接电容量(kW)\n")
    lines = text[1:].splitlines()[1:]
    assert "2026-03,城区,10kV,大工业,金属制品业,1,800,0,0" in lines
    assert "2026-03,城区,220V,居民生活,未填写,1,8,1,8" in lines
    [formula] = [line for line in lines if "HYPERLINK" in line]
    assert formula.startswith("2026-03,农村,380V,一般工商业,\"'=HYPERLINK(")  # quoted as text, never a formula
    assert len(lines) == 3


def test_analysis_page_and_csv_download(api: Api, clock: FixedClock) -> None:
    db = api.db
    teams.set_area_size(db, "urban", 50, actor="planner")
    _case(db, clock, "2026-03-05", _load("urban", "10kV", "industrial", 800, "<b>金属</b>"),
          stopped=("2026-03-20", "met"))
    supervisor = sign_in(api.app, "supervisor")
    page = supervisor.get("/analysis")
    assert page.status_code == 200
    assert "负荷增长分析" in page.text and "全部区域" in page.text and "导出 CSV" in page.text
    assert 'data-testid="density">16' in page.text  # 800 kW / 50 km²
    assert "<b>金属</b>" not in page.text and "&lt;b&gt;金属&lt;/b&gt;" in page.text
    assert "/vendor/echarts/echarts.min.js" in page.text
    assert supervisor.get("/vendor/echarts/echarts.min.js").status_code == 200
    assert supervisor.get("/vendor/echarts/echarts.js").status_code == 404  # only the minified bundle
    csv = supervisor.get("/analysis.csv?area=urban")
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv.data.startswith("\ufeff月份".encode())
    assert "2026-03,城区,10kV,大工业,<b>金属</b>,1,800,1,800" in csv.data.decode("utf-8")
    assert sign_in(api.app, "clerk").get("/analysis").status_code == 403
    bad = supervisor.get("/analysis?start_month=2026-99")
    assert bad.status_code == 200 and "月份格式为 YYYY-MM" in bad.text
    rest = api.ok("GET", "/api/v1/analysis/load?area=urban", as_="analyst")
    # rural: the demo size, nothing connected
    assert {a["area"]: a["density_kw_per_km2"] for a in rest["areas"]} == {"rural": 0.0, "urban": 16.0}
    assert [m["applied_kw"] for m in rest["months"]] == [800]
    assert api.get("/api/v1/analysis/load", as_="clerk").status_code == 403
    assert api.get("/api/v1/analysis/load?start_month=2026-3", as_="analyst").status_code == 422

"""`yekuo demo cases`: a few days of demonstration cases, driven through the engine's own commands.

The demo must be real data: every business type, cases at several stages, every submission passing
the checks staff submissions pass (plausible times, documents of the case), history that verifies
and replays, KPI figures, and values a utility would recognise (capacity that fits the voltage,
valid mobiles, surveyed load close to the applied load). And it must not pour demo cases into a
database that already holds cases.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.audit import chains, kpi, replay
from engine.core import queries
from engine.core.clock import CHINA
from engine.deadlines import calendar_import, rule_versions
from engine.demo import applications, cases
from tests.cli_support import yekuo
from tests.process_helpers import deploy

END = dt.datetime(2026, 11, 20, 18, 0, tzinfo=CHINA)
MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _ready(db):
    calendar_import.seed_from_package(db)
    rule_versions.seed_rule_sets(db)
    deploy(db)


def _kw_range(data: dict) -> None:
    voltage, kw, kva = data.get("supply_voltage"), data.get("capacity_kw"), data.get("capacity_kva")
    if data.get("customer_category") == "resident":
        assert 4 <= kw <= 16 and voltage in ("220V", "380V") and (kw <= 12 or voltage == "380V"), data
    elif voltage == "380V":
        assert 20 <= kw <= 160, data
    elif voltage == "10kV":
        assert 315 <= kva <= 2000 and data.get("capacity_unit") == "kVA", data


@pytest.mark.submission_checks
def test_a_few_days_of_demo_cases_are_real_cases(db, clock, tmp_path):
    _ready(db)
    clock.set(END)
    report = cases.run(db, days=10, seed=7, end=END, documents_root=tmp_path)
    assert not report.refused, report.refused
    assert set(report.started) == set(applications.TYPES), report
    assert report.tasks > 4 * len(report.instance_ids) // 2 and report.timers > 0
    views = [queries.get_instance(db, iid) for iid in report.instance_ids]
    assert any(v.status == "completed" for v in views) and any(v.status == "running" for v in views)
    stages = {v.milestone for v in views if v.status == "running"}  # cases wait at several stages
    assert len(stages) >= 3, stages
    for view in views:
        data = view.data
        assert MOBILE.match(data.get("mobile", "")), data.get("mobile")
        assert re.search("[\u4e00-\u9fff]", data["customer_name"])
        if view.key == "new_connection" and "supply_voltage" in data:
            _kw_range(data)
            confirmed = data.get("load_confirmed_kw")
            if confirmed is not None and data.get("capacity_kw"):
                assert 0.85 * data["capacity_kw"] <= confirmed <= data["capacity_kw"], data
    assert all(r.ok for r in chains.verify(db))
    for iid in report.instance_ids[::3]:
        result = replay.replay(db, iid)
        assert result.ok, str(result)
    figures = kpi.compute(db)
    assert figures.cases == len(report.instance_ids) and figures.avg_connection_workdays, figures


def test_the_same_seed_gives_the_same_customers():
    import random

    def names(seed):
        rng = random.Random(seed)
        return [applications.lv_res([{"customer_name": ""}], rng, END.date())["customer_name"] for _ in range(5)]

    assert names(3) == names(3) and names(3) != names(4)


def test_the_command_refuses_a_database_with_cases(db, clock, tmp_path):
    _ready(db)
    clock.set(END)
    env = {"YEKUO_DOCUMENTS_DIR": str(tmp_path), "YEKUO_CALENDAR_FALLBACK": "1"}
    first = yekuo(db, "demo", "cases", "--days", "2", "--per-day", "1", "--end", END.isoformat(), env=env)
    assert first.returncode == 0, first.stderr
    assert "demo cases" in first.stdout
    again = yekuo(db, "demo", "cases", "--days", "2", "--end", END.isoformat(), env=env, check=False)
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr
    skipped = yekuo(db, "demo", "cases", "--if-empty", env=env, check=False)
    assert skipped.returncode == 0 and "no demo cases added" in skipped.stdout
    bad = yekuo(db, "demo", "cases", "--days", "0", env=env, check=False)
    assert bad.returncode == 1 and "--days" in bad.stderr

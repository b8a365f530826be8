"""KPIs by field team (every card narrows to the cases the team worked, and arrivals to its own jobs)
and the waiting heatmap across versions of a process (aggregated by element id, or one version)."""

from __future__ import annotations

import pytest

from engine.audit import kpi
from engine.core import definitions
from engine.modeling import authoring
from tests.process_helpers import FORMS_DIR, deploy, drive, example, run, start_case

SURVEY, INSTALL, RURAL = "CQ-KC1", "CQ-ZB1", "NC-ZH1"  # the demo field teams (teams.seed_demo)


@pytest.fixture
def two_cases(db, clock):
    """A 10 kV urban case (urban survey team, urban meter team) and a rural resident (rural team)."""
    deploy(db)
    hv = run("hv_single_ordinary", db, clock).iid
    lv = start_case(db)
    drive(db, lv, {"accept": example("accept", area="rural")})
    return hv, lv


def test_the_team_filter_narrows_every_card(db, clock, two_cases):
    everyone = kpi.compute(db)
    rural, survey, install = (kpi.compute(db, team=t) for t in (RURAL, SURVEY, INSTALL))
    assert (everyone.cases, rural.cases, survey.cases, install.cases) == (2, 1, 1, 1)
    assert set(everyone.avg_milestones) == {"hv_single", "lv_res"}
    assert set(rural.avg_milestones) == {"lv_res"} and set(survey.avg_milestones) == {"hv_single"}
    # arrivals: each team only its own visits (the hv case had two, by two teams)
    assert (everyone.appointments, rural.appointments, survey.appointments, install.appointments) == (3, 1, 1, 1)
    # call-backs and waiting of the cases the team worked
    assert everyone.callbacks == rural.callbacks + survey.callbacks
    assert "customer_works" in survey.waiting_hours and "customer_works" not in rural.waiting_hours
    assert set(rural.waiting_hours) < set(everyone.waiting_hours)
    nobody = kpi.compute(db, team="no-such-team")
    assert (nobody.cases, nobody.appointments, nobody.callbacks, nobody.avg_milestones, nobody.waiting_hours) == \
        (0, 0, 0, {}, {})
    # the monthly series the charts draw narrow the same way
    import datetime as dt
    months = kpi.series(db, dt.date(2027, 3, 1), dt.date(2027, 4, 1), team=RURAL)
    assert [(m, k.cases, k.appointments) for m, k in months] == [("2027-03", 1, 1)]


def test_heatmap_adds_up_an_element_across_versions(db, clock, two_cases):
    v1 = definitions.latest_id(db, "new_connection")
    parent = authoring.version_sources(db, v1)
    renamed = {name: text.replace('name="新装/增容（业扩报装）"', 'name="新装/增容（业扩报装·改名）"')
               for name, text in parent["files"].items()}
    authoring.deploy(db, renamed, forms_dir=FORMS_DIR, forms=parent["forms"], actor="analyst", note="只改名称")
    v2 = definitions.latest_id(db, "new_connection")
    assert v2 != v1
    # the latest version alone has no case yet: that is what the page said after a redeploy
    assert kpi.heatmap(db, v2) == []
    every = {h.element: h for h in kpi.heatmap(db, v2, all_versions=True)}
    assert every["accept"].count == 2 and every["callback"].count == 2
    # called processes' tasks keep their own process and name
    assert every["do_survey"].process == "field_job" and every["do_survey"].name != "do_survey"
    lv = start_case(db)
    drive(db, lv)
    every = {h.element: h for h in kpi.heatmap(db, v2, all_versions=True)}
    assert every["accept"].count == 3
    only_v2 = {h.element: h for h in kpi.heatmap(db, v2)}
    only_v1 = {h.element: h for h in kpi.heatmap(db, v1)}
    assert only_v2["accept"].count == 1 and only_v1["accept"].count == 2
    # one team's cases only
    rural = {h.element: h for h in kpi.heatmap(db, v2, all_versions=True, team=RURAL)}
    assert rural["accept"].count == 1 and "customer_works" not in rural

"""Time-limit rule sets over the API: admins edit, copy and activate; supervisors read; bad input is 422
with the field."""

from __future__ import annotations

import copy
import json

import pytest

from engine.audit import chains as audit
from engine.deadlines import rule_sets
from tests.api_support import Api, api, seed_deadlines  # noqa: F401  (fixture)

R = "/api/v1/rule-sets"


@pytest.fixture
def rules_api(api: Api, db) -> Api:
    seed_deadlines(db)
    return api


def _edit(api: Api, **changes):
    body = copy.deepcopy(api.ok("GET", f"{R}/sgcc_default", as_="admin")["current"]["content"])
    body.update(changes)
    body.setdefault("reason", "测试修改")
    return body


def test_admin_edits_and_activates_a_version(rules_api: Api, db) -> None:
    sets = rules_api.ok("GET", R, as_="supervisor")
    assert {s["name"]: s["active"] for s in sets} == {"sgcc_default": True, "regulator_2009": False}
    body = _edit(rules_api)
    limit = next(r for r in body["rules"] if r["business_type"] == "hv_single" and r["sla_key"] == "scheme_reply")
    limit["workdays"] = 12
    body["escalation"].append({"key": "escalate", "label": "升级", "recipient": "admin", "delay_hours": 16,
                               "requires_ack": True})
    saved = rules_api.ok("POST", f"{R}/sgcc_default/versions", 201, as_="admin", json=body)
    assert saved["version"] == 2 and saved["active"] is False and saved["created_by"] == "admin"
    assert saved["reason"] == "测试修改" and saved["content"]["escalation"][-1]["label"] == "升级"
    assert rule_sets.active_rules(db).find("hv_single", "scheme_reply").workdays == 15  # not active yet
    done = rules_api.ok("POST", f"{R}/sgcc_default/activate", as_="admin", json={"version": 2, "reason": "执行新办法"})
    assert done["active_version"] == 2 and [v["version"] for v in done["versions"] if v["active"]] == [2]
    assert rule_sets.active_rules(db).find("hv_single", "scheme_reply").workdays == 12
    old = rules_api.ok("GET", f"{R}/sgcc_default/versions/1", as_="supervisor")
    assert next(r for r in old["content"]["rules"] if r["sla_key"] == "scheme_reply"
                and r["business_type"] == "hv_single")["workdays"] == 15
    assert audit.verify_rules(db).ok


def test_copy_makes_a_new_set(rules_api: Api) -> None:
    copied = rules_api.ok("POST", f"{R}/sgcc_default/copy", 201, as_="admin",
                          json={"name": "province_x", "title": "某省公司", "reason": "省公司细化"})
    assert (copied["name"], copied["version"], copied["title"]) == ("province_x", 1, "某省公司")
    again = rules_api.post(f"{R}/sgcc_default/copy", as_="admin", json={"name": "province_x", "reason": "x"})
    assert again.status_code == 422 and "name" in again.get_json()["error"]["details"]


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["rules"][0].update(workdays=-1), "rules.0.workdays"),
    (lambda b: b["rules"][0].update(workdays=2.5), "rules.0.workdays"),
    (lambda b: b["rules"][0].update(workdays="5"), "rules.0.workdays"),
    (lambda b: b["rules"][0].update(sla_key="no_such_step"), "rules.0.sla_key"),
    (lambda b: b["rules"][0].update(sla_key="<img src=x onerror=alert(1)>"), "rules.0.sla_key"),
    (lambda b: b.update(warnings=[50, 101]), "warnings.1"),
    (lambda b: b.update(warnings=[0]), "warnings.0"),
    (lambda b: b.update(warnings=["80"]), "warnings.0"),
    (lambda b: b.update(escalation=[]), "escalation"),
    (lambda b: b["escalation"][0].update(recipient="nobody"), "escalation.0.recipient"),
    (lambda b: b["escalation"][0].update(delay_hours=float("inf")), "escalation.0.delay_hours"),
    (lambda b: b["escalation"][1].update(delay_hours=-4), "escalation.1.delay_hours"),
    (lambda b: b.update(reason=""), "reason"),
    (lambda b: b.pop("reason"), "reason"),
    (lambda b: b.update(admin=True), "admin"),
    (lambda b: b.update(rules=[b["rules"][0], b["rules"][0]]), "rules.1"),
])
def test_hostile_edits_are_422_with_the_field(rules_api: Api, mutate, field) -> None:
    body = _edit(rules_api)
    mutate(body)
    if field == "escalation.0.delay_hours":  # JSON has no Infinity: send the text a client might
        r = rules_api.request("POST", f"{R}/sgcc_default/versions", as_="admin", content_type="application/json",
                              data=json.dumps(body, allow_nan=True).replace("Infinity", "1e999"))
    else:
        r = rules_api.post(f"{R}/sgcc_default/versions", as_="admin", json=body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["error"]["details"], r.get_json()
    assert [v["version"] for v in rules_api.ok("GET", f"{R}/sgcc_default", as_="admin")["versions"]] == [1]


def test_roles_and_unknowns(rules_api: Api) -> None:
    body = _edit(rules_api)
    for role in ("supervisor", "clerk", "auditor", "analyst"):
        assert rules_api.post(f"{R}/sgcc_default/versions", as_=role, json=body).status_code == 403
        assert rules_api.post(f"{R}/sgcc_default/activate", as_=role, json={"reason": "x"}).status_code == 403
    assert rules_api.get(R, as_="clerk").status_code == 403
    assert rules_api.get(f"{R}/nothing", as_="admin").status_code == 404
    assert rules_api.post(f"{R}/nothing/versions", as_="admin", json=body).status_code == 404
    assert rules_api.post(f"{R}/sgcc_default/activate", as_="admin", json={"version": 9, "reason": "x"}).status_code == 404
    assert rules_api.get(f"{R}/sgcc_default/versions/7", as_="admin").status_code == 404

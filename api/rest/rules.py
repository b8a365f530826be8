"""Time-limit rule sets: list, view, edit (each edit a new version), copy, activate.

Administrators change them; supervisors read them. Every change is a version with who, when and
why, and an entry on the rule chain (`engine.deadlines.rule_versions`); clocks already running
keep the version they started under.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, path_param
from api.rest.rules_schemas import (
    ActivateSchema,
    CopySchema,
    RuleEditSchema,
    RuleSetDetailSchema,
    RuleSetSummarySchema,
    RuleVersionSchema,
)
from engine.core.errors import NotFound
from engine.deadlines import rule_versions

blp = Blueprint("rule_sets", __name__, url_prefix="/api/v1/rule-sets",
                description="Time limits, warnings and escalation chains as versioned data.")
NAME = [path_param("name", "sgcc_default")]
EDIT_EXAMPLE = {
    "title": "某省公司时限", "source": "", "warnings": [50, 80], "reminder_after_hours": 24,
    "escalation": [
        {"key": "overdue", "label": "超期", "recipient": "lead", "delay_hours": 0, "requires_ack": False},
        {"key": "supervise", "label": "督办", "recipient": "supervisor", "delay_hours": 2, "requires_ack": True},
        {"key": "escalate", "label": "升级", "recipient": "admin", "delay_hours": 16, "requires_ack": True}],
    "rules": [{"business_type": "hv_single", "sla_key": "scheme_reply", "workdays": 12, "hours": None,
               "assessed": True, "title": "供电方案答复"}],
    "reason": "2027年考核办法：供电方案答复缩短为12个工作日"}


def detail(name: str) -> dict[str, Any]:
    summary = next((s for s in rule_versions.list_rule_sets(db()) if s["name"] == name), None)
    if summary is None:
        raise NotFound(f"no rule set named '{name}'")
    return {**summary, "versions": rule_versions.versions_of(db(), name),
            "current": rule_versions.get_version(db(), name)}


@blp.route("", methods=["GET"])
@allow(blp, "rules.read")
@blp.response(200, RuleSetSummarySchema(many=True))
def list_sets() -> Any:
    return rule_versions.list_rule_sets(db())


@blp.route("/<string:name>", methods=["GET"], parameters=NAME)
@allow(blp, "rules.read")
@blp.doc(summary="A rule set: its versions and its newest content")
@blp.response(200, RuleSetDetailSchema)
def get_set(name: str) -> Any:
    return detail(name)


@blp.route("/<string:name>/versions/<int:version>", methods=["GET"],
           parameters=[*NAME, path_param("version", 1)])
@allow(blp, "rules.read")
@blp.response(200, RuleVersionSchema)
def get_version(name: str, version: int) -> Any:
    return rule_versions.get_version(db(), name, version)


@blp.route("/<string:name>/versions", methods=["POST"], parameters=NAME)
@allow(blp, "rules.admin")
@blp.doc(summary="Edit: save the next version",
         description="The whole content of the new version, and why. It is not used until activated. "
                     "422 names each bad field: a limit below 1, an unknown step, a warning outside 0–100, "
                     "an empty escalation chain, an unknown recipient group, levels out of order.")
@blp.arguments(RuleEditSchema, example=EDIT_EXAMPLE)
@blp.response(201, RuleVersionSchema)
def save_version(body: dict[str, Any], name: str) -> Any:
    reason = body.pop("reason")
    rule_versions.get_version(db(), name)  # 404 for a set that does not exist (copy makes new ones)
    version = rule_versions.save_version(db(), name, body, actor=actor().name, reason=reason)
    return rule_versions.get_version(db(), name, version)


@blp.route("/<string:name>/copy", methods=["POST"], parameters=NAME)
@allow(blp, "rules.admin")
@blp.doc(summary="Copy into a new rule set (its version 1)")
@blp.arguments(CopySchema, example={"name": "province_x", "title": "某省公司时限", "reason": "省公司细化"})
@blp.response(201, RuleVersionSchema)
def copy_set(body: dict[str, Any], name: str) -> Any:
    rule_versions.copy_rule_set(db(), name, body["name"], actor=actor().name, reason=body["reason"],
                                version=body.get("version"), title=body.get("title"))
    return rule_versions.get_version(db(), body["name"])


@blp.route("/<string:name>/activate", methods=["POST"], parameters=NAME)
@allow(blp, "rules.admin")
@blp.doc(summary="Activate a version (the newest by default) for new clocks",
         description="Clocks already running keep the version they started under.")
@blp.arguments(ActivateSchema, example={"version": 2, "reason": "自2027年1月1日起执行"})
@blp.response(200, RuleSetDetailSchema)
def activate(body: dict[str, Any], name: str) -> Any:
    rule_versions.activate_version(db(), name, body.get("version"), actor=actor().name, reason=body["reason"])
    return detail(name)

"""Time-limit rule sets as data: what a version says and which version new clocks use.

A rule set (the State Grid default, the regulator's ceiling, a province's copy) is a series of
immutable versions (`rule_set_version`, written by `rule_versions`). A version holds, per business
type × SLA key, the limit in working days or working hours; the warning percentages; and the
escalation chain: ordered levels (催办 → 督办 → 升级 …), each with its recipient (the task's holder or
a group) and a delay in working hours after the deadline. One version of one rule set is active.
Clocks record the version they started under and keep its limit and chain, so editing or
activating never moves a deadline already issued (see `sla.recompute`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.core.db import Database
from engine.core.errors import YekuoError
from engine.core.models import rule_set_t, rule_set_version_t

DEFAULT_FIRST_RESPONSE_HOURS = 4.0
PROCESS_KEY = "whole_process"
HOLDER = "holder"  # the escalation recipient "whoever holds the task" (assignee, else its group)
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_BUSINESS = re.compile(r"^(\*|[a-z][a-z0-9_]{0,19})$")
MAX_WORKDAYS, MAX_HOURS, MAX_DELAY = 365, 2000, 2000

# what a rule file written before escalation chains existed meant (escalate_after_hours of 4)
DEFAULT_CHAIN = [
    {"key": "overdue", "label": "超期", "recipient": "lead", "delay_hours": 0, "requires_ack": False},
    {"key": "supervise", "label": "督办", "recipient": "supervisor", "delay_hours": 4, "requires_ack": True},
]


class RuleError(YekuoError):
    """A rule set that cannot be saved; `details` maps field paths to messages."""

    code, status = "invalid_rules", 422


@dataclass
class Rule:
    workdays: int
    assessed: bool
    title: str
    hours: int | None = None  # a limit in working hours instead of days


@dataclass
class Level:
    key: str
    label: str
    recipient: str
    delay_hours: float
    requires_ack: bool


@dataclass
class RuleSet:
    name: str
    version: int
    content: dict[str, Any]
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)

    def find(self, business_type: str, sla_key: str) -> Rule | None:
        return self.rules.get((business_type, sla_key)) or self.rules.get(("*", sla_key))

    @property
    def warnings(self) -> list[float]:
        """Pre-warning points as percentages of the working time to the deadline."""
        return [float(p) for p in self.content.get("warnings", [])]

    @property
    def escalation(self) -> list[Level]:
        return [Level(lv["key"], lv.get("label", lv["key"]), lv["recipient"], float(lv.get("delay_hours", 0)),
                      bool(lv.get("requires_ack", False))) for lv in self.content.get("escalation", [])]

    def level(self, key: str) -> Level | None:
        return next((lv for lv in self.escalation if lv.key == key), None)

    @property
    def reminder_after_hours(self) -> float:
        return float(self.content.get("reminder_after_hours", 0) or 0)

    @property
    def first_response_hours(self) -> float:
        """Working hours the staff have to answer a customer's message (the thread's KPI)."""
        return float(self.content.get("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS))


def normalize(doc: dict[str, Any]) -> dict[str, Any]:
    """A rule document in today's shape; a file with the old `thresholds` block is read as it meant."""
    out = {k: v for k, v in doc.items() if k not in ("thresholds", "name", "active")}
    old = doc.get("thresholds")
    if isinstance(old, dict):
        out.setdefault("warnings", [round(float(f) * 100, 2) if isinstance(f, (int, float)) else f
                                    for f in old.get("prewarn", [0.5, 0.8])])
        out.setdefault("reminder_after_hours", old.get("reminder_after_hours", 0))
        out.setdefault("first_response_hours", old.get("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS))
        chain = [dict(lv) for lv in DEFAULT_CHAIN]
        chain[1]["delay_hours"] = old.get("escalate_after_hours", 4)
        out.setdefault("escalation", chain)
    out.setdefault("warnings", [50, 80])
    out.setdefault("reminder_after_hours", 0)
    out.setdefault("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS)
    out.setdefault("escalation", [dict(lv) for lv in DEFAULT_CHAIN])
    out.setdefault("source", "")
    out["rules"] = [{"business_type": r.get("business_type"), "sla_key": r.get("sla_key"),
                     "workdays": r.get("workdays"), "hours": r.get("hours"), "assessed": r.get("assessed", True),
                     "title": r.get("title", "")} if isinstance(r, dict) else r for r in doc.get("rules", [])]
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def problems_of(doc: dict[str, Any], *, known_steps: set[str] | None = None,
                groups: set[str] | None = None) -> dict[str, list[str]]:
    """Every problem of a normalized document, by field path (`rules.2.workdays`); empty when valid.

    `known_steps` (SLA keys the models and rule sets use) and `groups` (role groups) are checked
    when given, so an administrator's typo is refused rather than silently never applying."""
    out: dict[str, list[str]] = {}

    def bad(path: str, message: str) -> None:
        out.setdefault(path, []).append(message)

    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        bad("title", "a title is required")
    elif len(doc["title"]) > 200:
        bad("title", "at most 200 characters")
    _rule_problems(doc.get("rules"), known_steps, bad)
    warnings = doc.get("warnings")
    if not isinstance(warnings, list) or len(warnings) > 5:
        bad("warnings", "a list of at most 5 percentages")
    else:
        for i, p in enumerate(warnings):
            if not _number(p) or not 0 < p < 100:
                bad(f"warnings.{i}", "a percentage must be between 0 and 100 (exclusive)")
        if len(set(warnings)) != len(warnings):
            bad("warnings", "each percentage only once")
    if not _number(doc.get("reminder_after_hours")) or not 0 <= doc["reminder_after_hours"] <= MAX_DELAY:
        bad("reminder_after_hours", f"hours between 0 and {MAX_DELAY}")
    first = doc.get("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS)
    if not _number(first) or not 0 < first <= 240:
        bad("first_response_hours", "working hours more than 0 and at most 240")
    _chain_problems(doc.get("escalation"), groups, bad)
    return out


def _rule_problems(rules: Any, known_steps: set[str] | None, bad: Any) -> None:
    if not isinstance(rules, list) or not rules:
        bad("rules", "at least one time limit is required")
        return
    seen = set()
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            bad(f"rules.{i}", "a time limit must be an object")
            continue
        if not isinstance(r.get("business_type"), str) or not _BUSINESS.match(r["business_type"]):
            bad(f"rules.{i}.business_type", "a business type code (or * for all)")
        key = r.get("sla_key")
        if not isinstance(key, str) or not _KEY.match(key):
            bad(f"rules.{i}.sla_key", "a step key: lower-case letters, digits and _")
        elif known_steps is not None and key not in known_steps:
            bad(f"rules.{i}.sla_key", f"unknown step '{key}'")
        days, hours = r.get("workdays"), r.get("hours")
        if (days is None) == (hours is None):
            bad(f"rules.{i}.workdays", "give either working days or working hours")
        elif days is not None and (not isinstance(days, int) or isinstance(days, bool)
                                   or not 1 <= days <= MAX_WORKDAYS):
            bad(f"rules.{i}.workdays", f"workdays must be a whole number between 1 and {MAX_WORKDAYS}")
        elif hours is not None and (not isinstance(hours, int) or isinstance(hours, bool)
                                    or not 1 <= hours <= MAX_HOURS):
            bad(f"rules.{i}.hours", f"working hours must be a whole number between 1 and {MAX_HOURS}")
        if not isinstance(r.get("assessed", True), bool):
            bad(f"rules.{i}.assessed", "true or false")
        if not isinstance(r.get("title", ""), str) or len(r.get("title", "")) > 200:
            bad(f"rules.{i}.title", "text of at most 200 characters")
        ident = (r.get("business_type"), key)
        if ident in seen:
            bad(f"rules.{i}", f"{ident[0]} × {ident[1]} appears twice")
        seen.add(ident)


def _chain_problems(chain: Any, groups: set[str] | None, bad: Any) -> None:
    if not isinstance(chain, list) or not chain:
        bad("escalation", "the escalation chain needs at least one level")
        return
    if len(chain) > 8:
        bad("escalation", "at most 8 levels")
    keys, last = set(), -1.0
    for i, lv in enumerate(chain):
        if not isinstance(lv, dict):
            bad(f"escalation.{i}", "a level must be an object")
            continue
        key = lv.get("key")
        if not isinstance(key, str) or not _KEY.match(key) or key.startswith("prewarn"):
            bad(f"escalation.{i}.key", "a level key: lower-case letters, digits and _ (not prewarn…)")
        elif key in keys:
            bad(f"escalation.{i}.key", f"level '{key}' appears twice")
        keys.add(key)
        if not isinstance(lv.get("label"), str) or not lv["label"].strip() or len(lv["label"]) > 20:
            bad(f"escalation.{i}.label", "a label of 1–20 characters")
        who = lv.get("recipient")
        if not isinstance(who, str) or not who or (groups is not None and who != HOLDER and who not in groups):
            bad(f"escalation.{i}.recipient", f"the task's holder or a known group, not '{who}'")
        delay = lv.get("delay_hours")
        if not _number(delay) or not 0 <= delay <= MAX_DELAY:
            bad(f"escalation.{i}.delay_hours", f"working hours after the deadline, 0 to {MAX_DELAY}")
        elif delay < last:
            bad(f"escalation.{i}.delay_hours", "levels must come in order: no earlier than the level before")
        else:
            last = float(delay)
        if not isinstance(lv.get("requires_ack", False), bool):
            bad(f"escalation.{i}.requires_ack", "true or false")


def build(name: str, version: int, content: dict[str, Any]) -> RuleSet:
    content = normalize(content)
    rules = {(r["business_type"], r["sla_key"]): Rule(int(r["workdays"] or 0), bool(r.get("assessed", True)),
                                                      r.get("title", ""), r.get("hours"))
             for r in content["rules"]}
    return RuleSet(name, version, content, rules)


def version_of(db: Database, name: str, version: int | None) -> RuleSet | None:
    """One stored version (cached: versions never change); None if there is no such version.

    `version` None is a clock started before versions existed: its rule set's first version."""
    key = (name, version or 1)
    cache = db.cache.setdefault("sla_rule_versions", {})
    if key not in cache:
        with db.read() as conn:
            row = conn.execute(select(rule_set_version_t.c.content).where(
                rule_set_version_t.c.rule_set == name, rule_set_version_t.c.version == key[1])).first()
        cache[key] = build(name, key[1], row.content) if row is not None else None
    return cache[key]


def active_rules(db: Database) -> RuleSet | None:
    """The active version of the active rule set, cached per database until one is activated."""
    cached = db.cache.get("sla_rules")
    if cached is not None:
        return cached or None
    with db.read() as conn:
        head = conn.execute(select(rule_set_t.c.name, rule_set_t.c.active_version).where(rule_set_t.c.active)).first()
    rules = version_of(db, head.name, head.active_version) if head is not None else None
    db.cache["sla_rules"] = rules or False
    return rules


def rules_for_clock(db: Database, name: str, version: int | None) -> RuleSet:
    """The rule-set version a clock started under (its warnings and chain); the active set if gone."""
    return version_of(db, name, version) or active_rules(db) or build(name, 0, {})

"""Time-limit rule sets as data: per business type × SLA key, the working days a step may take.

Rule sets are JSON files (the bundled ones in `rules/`, others loaded by an administrator) stored
in `rule_set`/`time_limit`; one is active. Clocks copy their limit when they start, so loading or
activating a rule set never moves a deadline already issued (see `sla.recompute`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import NotFound, YekuoError
from engine.core.models import rule_set_t, time_limit_t

DEFAULT_FIRST_RESPONSE_HOURS = 4.0
BUNDLED = Path(__file__).resolve().parent / "rules"


class RuleError(YekuoError):
    code, status = "invalid_rules", 422


@dataclass
class Rule:
    workdays: int
    assessed: bool
    title: str


@dataclass
class RuleSet:
    name: str
    thresholds: dict[str, Any]
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)

    def find(self, business_type: str, sla_key: str) -> Rule | None:
        return self.rules.get((business_type, sla_key)) or self.rules.get(("*", sla_key))

    @property
    def prewarn(self) -> list[float]:
        return [float(f) for f in self.thresholds.get("prewarn", [0.5, 0.8])]

    @property
    def escalate_after(self) -> dt.timedelta:
        return dt.timedelta(hours=float(self.thresholds.get("escalate_after_hours", 4)))

    @property
    def first_response_hours(self) -> float:
        """Working hours the staff have to answer a customer's message (the thread's KPI)."""
        return float(self.thresholds.get("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS))


def _parse_rule_file(doc: dict[str, Any], origin: str) -> dict[str, Any]:
    problems = []
    for key in ("name", "title", "rules"):
        if key not in doc:
            problems.append(f"missing '{key}'")
    seen = set()
    for i, rule in enumerate(doc.get("rules", []), 1):
        ident = (rule.get("business_type"), rule.get("sla_key"))
        if not all(isinstance(x, str) and x for x in ident):
            problems.append(f"rule {i}: business_type and sla_key are required")
        if not isinstance(rule.get("workdays"), int) or rule["workdays"] < 1:
            problems.append(f"rule {i}: workdays must be a whole number ≥ 1")
        if ident in seen:
            problems.append(f"rule {i}: {ident[0]} × {ident[1]} appears twice")
        seen.add(ident)
    prewarn = doc.get("thresholds", {}).get("prewarn", [0.5, 0.8])
    if not all(isinstance(f, (int, float)) and 0 < f < 1 for f in prewarn):
        problems.append("thresholds.prewarn must be fractions between 0 and 1")
    first = doc.get("thresholds", {}).get("first_response_hours", DEFAULT_FIRST_RESPONSE_HOURS)
    if isinstance(first, bool) or not isinstance(first, (int, float)) or not 0 < first <= 240:
        problems.append("thresholds.first_response_hours must be working hours between 0 and 240")
    if problems:
        raise RuleError(f"{origin}: " + "; ".join(problems), details=problems)
    return doc


def load_rule_set(db: Database, source: Path | dict[str, Any], *, actor: str = "system",
                  activate: bool = False) -> str:
    """Load (or replace) a rule set from a JSON file or dict; returns its name."""
    if isinstance(source, Path):
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RuleError(f"{source}: {exc}") from None
        origin = source.name
    else:
        doc, origin = source, "rules"
    doc = _parse_rule_file(doc, origin)
    with db.write() as conn:
        was_active = conn.execute(select(rule_set_t.c.active).where(rule_set_t.c.name == doc["name"])).scalar()
        conn.execute(delete(time_limit_t).where(time_limit_t.c.rule_set == doc["name"]))
        conn.execute(delete(rule_set_t).where(rule_set_t.c.name == doc["name"]))
        conn.execute(insert(rule_set_t).values(
            name=doc["name"], title=doc["title"], source=doc.get("source", ""),
            thresholds=doc.get("thresholds", {}), active=bool(was_active), loaded_at=clock.now(), loaded_by=actor))
        conn.execute(insert(time_limit_t), [{
            "rule_set": doc["name"], "business_type": r["business_type"], "sla_key": r["sla_key"],
            "workdays": r["workdays"], "assessed": r.get("assessed", True), "title": r.get("title", "")}
            for r in doc["rules"]])
    if activate:
        activate_rule_set(db, doc["name"])
    db.cache.pop("sla_rules", None)
    return doc["name"]


def seed_rule_sets(db: Database) -> list[str]:
    """Load the bundled rule sets that are missing; the State Grid default becomes active."""
    with db.read() as conn:
        have = set(conn.execute(select(rule_set_t.c.name)).scalars())
        any_active = conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.active)).first() is not None
    loaded = []
    for path in sorted(BUNDLED.glob("*.json")):
        name = json.loads(path.read_text(encoding="utf-8"))["name"]
        if name not in have:
            load_rule_set(db, path, activate=(name == "sgcc_default" and not any_active))
            loaded.append(name)
    return loaded


def activate_rule_set(db: Database, name: str) -> None:
    """Make `name` the rule set new clocks use; running clocks keep their limits."""
    with db.write() as conn:
        if conn.execute(select(rule_set_t.c.name).where(rule_set_t.c.name == name)).first() is None:
            raise NotFound(f"no rule set named '{name}'")
        conn.execute(update(rule_set_t).values(active=rule_set_t.c.name == name))
    db.cache.pop("sla_rules", None)


def active_rules(db: Database) -> RuleSet | None:
    """The active rule set, cached per database until a rule set is loaded or activated."""
    cached = db.cache.get("sla_rules")
    if cached is not None:
        return cached or None
    with db.read() as conn:
        head = conn.execute(select(rule_set_t).where(rule_set_t.c.active)).first()
        if head is None:
            db.cache["sla_rules"] = False
            return None
        rows = conn.execute(select(time_limit_t).where(time_limit_t.c.rule_set == head.name)).all()
    rules = RuleSet(head.name, head.thresholds or {},
                    {(r.business_type, r.sla_key): Rule(r.workdays, r.assessed, r.title) for r in rows})
    db.cache["sla_rules"] = rules
    return rules



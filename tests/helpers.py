"""Small drivers shared by the engine tests."""

from __future__ import annotations

from typing import Any

from engine import runtime
from engine.db import Database

ALL_GROUPS = frozenset({"clerk", "dispatcher", "surveyor", "manager", "reviewer", "metering", "lead"})


def actor(name: str = "tester", *groups: str) -> runtime.Actor:
    return runtime.Actor(name, frozenset(groups) if groups else ALL_GROUPS)


def open_items(db: Database, instance_id: int) -> dict[str, runtime.WorkItemView]:
    return {i.task_spec: i for i in runtime.list_work_items(db, instance_id=instance_id)}


def complete(db: Database, instance_id: int, spec: str, data: dict[str, Any] | None = None,
             who: runtime.Actor | None = None) -> runtime.Outcome:
    items = open_items(db, instance_id)
    assert spec in items, f"{spec} is not open; open: {sorted(items)}"
    return runtime.complete_task(db, items[spec].id, data or {}, actor=who or actor())


ACCEPT = {"customer_name": "张三", "capacity_kw": 250, "phone": "13800138000", "address": "幸福路 1 号"}


def drive_engine_model(db: Database, instance_id: int, *, doc_rounds: int = 0, design_rounds: int = 0) -> None:
    """Walk the engine test model from acceptance to the end."""
    complete(db, instance_id, "accept", ACCEPT)
    complete(db, instance_id, "verify_identity")
    for _ in range(doc_rounds):
        complete(db, instance_id, "check_docs", {"docs_complete": False})
        complete(db, instance_id, "request_docs")
    complete(db, instance_id, "check_docs", {"docs_complete": True})
    for spec in ("schedule_survey", "confirm_appointment", "perform_survey", "record_survey",
                 "draft_scheme", "approve_scheme", "reply_scheme"):
        complete(db, instance_id, spec)
    for _ in range(design_rounds):
        complete(db, instance_id, "design_review", {"approved": False})
        complete(db, instance_id, "revise_design")
    complete(db, instance_id, "design_review", {"approved": True})
    for spec in ("sign_contract", "prepare_meter", "collect_fee", "inspection", "install_meter",
                 "energize", "archive", "callback"):
        complete(db, instance_id, spec)

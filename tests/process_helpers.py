"""Drivers for the bundled 业扩报装 models: deploy them, walk cases with the forms' example data.

`drive` completes whatever work is open, one item at a time, as a user of the item's group only
(so a task in the wrong lane fails), with the `examples[0]` entry of the task's form unless the
scenario says otherwise. Each scenario function walks one realistic case and returns what the
tests assert on; `SCENARIOS` lists them all so the path-coverage test can replay the whole set.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

from lxml import etree
from sqlalchemy import select

from engine.core import actors, definitions, queries, runtime, store, timers, worklist
from engine.core import clock as engine_clock
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.core.models import event_t, outbox_t
from engine.core.validation import bundle
from engine.dispatch import teams

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
FORMS_DIR = ROOT / "forms"
#: Scenarios start on a Monday morning; the forms' example dates lie shortly after it.
START = dt.datetime(2027, 3, 1, 9, 0, tzinfo=CHINA)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


# ---------------------------------------------------------------------------------------------
# forms and deployment

@cache
def form(name: str) -> dict[str, Any]:
    return json.loads((FORMS_DIR / name).read_text(encoding="utf-8"))


def example(form_file: str, index: int = 0, **changes: Any) -> dict[str, Any]:
    """A deep copy of one of a form's examples, with top-level fields replaced or (None) removed."""
    if not form_file.endswith(".json"):
        form_file = f"{form_file}.schema.json"
    data = copy.deepcopy(form(form_file)["examples"][index])
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def deploy(db: Database, *, cached: bool = True) -> dict[str, definitions.DeployResult]:
    """Deploy every model in bpmn/ through the normal deployment path, with field teams to book.

    Parsing and validating the bundle takes most of a deployment; the files do not change during
    a test session, so by default the parse is done once and reused for every fresh database.
    """
    seed_field_teams(db)
    if not cached:
        return {r.key: r for r in definitions.deploy_paths(db, [BPMN_DIR], forms_dir=FORMS_DIR)}
    with patch.object(bundle, "parse_bundle", _cached_parse):
        return {r.key: r for r in definitions.deploy_paths(db, [BPMN_DIR], forms_dir=FORMS_DIR)}


#: Field jobs book against the teams' capacity: the demo teams, with a standing weekly report
#: since 2020 and five times the demo numbers (a month of scenarios books many jobs on one day).
FIELD_CAPACITY_SINCE = dt.date(2020, 1, 6)
FIELD_CAPACITY_SCALE = 5


def seed_field_teams(db: Database) -> list[str]:
    return teams.seed_demo(db, week_start=FIELD_CAPACITY_SINCE, scale=FIELD_CAPACITY_SCALE, actor="tests")


_REAL_PARSE = bundle.parse_bundle
_BUNDLES: dict[Any, list[Any]] = {}


def _cached_parse(files: dict[str, bytes], **kwargs: Any) -> list[Any]:
    def norm(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        if isinstance(value, dict):
            return sorted(value.items())
        return str(value)

    key = (tuple(sorted(files.items())), repr(sorted((k, norm(v)) for k, v in kwargs.items())))
    if key not in _BUNDLES:
        _BUNDLES[key] = _REAL_PARSE(files, **kwargs)
    return _BUNDLES[key]


# ---------------------------------------------------------------------------------------------
# driving cases

def items(db: Database, iid: int) -> dict[str, worklist.WorkItemView]:
    return {i.task_spec: i for i in worklist.items(db, worklist.TaskFilter(instance_id=iid))}


def as_group(item: worklist.WorkItemView) -> actors.Actor:
    assert item.candidate_group, f"task {item.task_spec} ({item.name}) has no candidate group"
    return actors.Actor(f"demo-{item.candidate_group}", frozenset({item.candidate_group}))


def complete(db: Database, iid: int, spec: str, data: dict[str, Any] | None = None) -> store.Outcome:
    """Complete the open task `spec` (its form's first example when no data is given)."""
    open_now = items(db, iid)
    assert spec in open_now, f"{spec} is not open; open: {sorted(open_now)}"
    item = open_now[spec]
    if data is None:
        data = example(item.form_schema)
    return runtime.complete_task(db, item.id, data, actor=as_group(item))


def offered(db: Database, item: worklist.WorkItemView, data: dict[str, Any]) -> dict[str, Any]:
    """An example with each choice the case does not offer (a worker of another team, from the
    form's task-data options) replaced by the first choice it does offer, as a person would pick."""
    schema = queries.task_detail(db, item.id).form
    for key, prop in ((schema or {}).get("properties") or {}).items():
        choices = prop.get("enum") if isinstance(prop, dict) else None
        if key in data and isinstance(choices, list) and choices and data[key] not in choices:
            data[key] = choices[0]
    return data


def _answer(db: Database, item: worklist.WorkItemView, answers: dict[str, Any]) -> dict[str, Any]:
    given = answers.get(item.task_spec)
    if isinstance(given, list):  # one answer per visit (loops, repeated field jobs)
        given = given.pop(0) if len(given) > 1 else given[0]
    if given is None:
        return offered(db, item, example(item.form_schema))
    if isinstance(given, int):
        return offered(db, item, example(item.form_schema, given))
    if callable(given):
        return given(item)
    return given


def drive(db: Database, iid: int, answers: dict[str, Any] | None = None, *, until: str | None = None,
          skip: set[str] | frozenset[str] = frozenset(), prefer: list[str] | None = None,
          limit: int = 120) -> list[str]:
    """Complete open work until the case waits on nothing but `skip`, or `until` is open.

    Returns the task specs completed, in order. With parallel work, `prefer` orders the choice
    (earlier names first); otherwise the oldest open item goes first.
    """
    answers = {k: list(v) if isinstance(v, list) else v for k, v in (answers or {}).items()}
    done: list[str] = []
    for _ in range(limit):
        open_now = [i for i in worklist.items(db, worklist.TaskFilter(instance_id=iid)) if i.task_spec not in skip]
        if until is not None and any(i.task_spec == until for i in open_now):
            return done
        if not open_now:
            assert until is None, f"{until} never opened; completed {done}"
            return done
        rank = {name: n for n, name in enumerate(prefer or [])}
        item = min(open_now, key=lambda i: (rank.get(i.task_spec, len(rank)), i.created_at, i.task_spec))
        runtime.complete_task(db, item.id, _answer(db, item, answers), actor=as_group(item))
        done.append(item.task_spec)
    raise AssertionError(f"case {iid} did not settle within {limit} tasks: {done[-10:]}")


def fire_at(db: Database, clock: engine_clock.FixedClock, when: dt.datetime) -> timers.FireReport:
    """Move the engine clock and fire whatever fell due, as the scheduler would."""
    clock.set(when)
    return timers.fire_due(db, when)


def sms(db: Database, iid: int) -> dict[str, dict[str, Any]]:
    """The instance's queued SMS by idempotency-key purpose (the part after the instance id)."""
    with db.read() as conn:
        rows = conn.execute(select(outbox_t).where(outbox_t.c.instance_id == iid, outbox_t.c.channel == "sms")
                            .order_by(outbox_t.c.id)).all()
    return {r.idempotency_key.split(":", 2)[2]: dict(r._mapping) for r in rows}


def start_case(db: Database, key: str = "new_connection", data: dict[str, Any] | None = None) -> int:
    return runtime.start_instance(db, key, data or {"channel": "counter"}).instance_id


# ---------------------------------------------------------------------------------------------
# path coverage

def model_flows(bpmn_dir: Path = BPMN_DIR) -> dict[tuple[str, str], tuple[str, str, str | None]]:
    """Every sequence flow of every model: (process, flow id) -> (source, target, name)."""
    flows = {}
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        root = etree.parse(str(path)).getroot()
        for proc in root.iter(f"{{{BPMN_NS}}}process"):
            for f in proc.iter(f"{{{BPMN_NS}}}sequenceFlow"):
                flows[(proc.get("id"), f.get("id"))] = (f.get("sourceRef"), f.get("targetRef"), f.get("name"))
    return flows


def taken_flows(db: Database, iid: int) -> set[tuple[str, str]]:
    """Sequence flows the instance took, read back from its history's task trails.

    A trail entry [target, state, source, process] means the token reached `target` from
    `source`. Completed entries count; so do cancelled parallel joins, which is how SpiffWorkflow
    records a branch that arrived at a join another branch then fired.
    """
    inst = queries.get_instance(db, iid, with_data=False)
    by_edge: dict[tuple[str, str, str], str] = {}
    meta: dict[str, dict] = {"tasks": {}}
    for summary in definitions.list_definitions(db):  # called processes are versions of their own
        own = definitions.load(db, summary.id).meta
        meta["tasks"].update(own["tasks"])
        for f in own["flows"]:
            by_edge[(f["process"], f["source"], f["target"])] = f["id"]
    taken = set()
    with db.read() as conn:
        payloads = conn.execute(select(event_t.c.payload).where(event_t.c.instance_id == iid)).scalars().all()
    for payload in payloads:
        for entry in json.loads(payload).get("trail") or []:
            if len(entry) < 3 or entry[2] is None:
                continue
            process = entry[3] if len(entry) > 3 else inst.key
            kind = meta["tasks"].get(f"{process}:{entry[0]}", {}).get("type", "")
            if entry[1] == "c" or (entry[1] == "x" and kind == "ParallelGateway"):
                flow = by_edge.get((process, entry[2], entry[0]))
                if flow:
                    taken.add((process, flow))
    return taken


# ---------------------------------------------------------------------------------------------
# scenarios

@dataclass
class Case:
    """What a scenario left behind for its test to check."""

    iid: int
    done: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def instance(self, db: Database) -> queries.InstanceView:
        return queries.get_instance(db, self.iid)


def lv_res_merged(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Resident, 8 kW: contract at acceptance, one visit for survey and installation, energize."""
    iid = start_case(db)
    return Case(iid, drive(db, iid))


def lv_res_surveyed_overdue(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Resident who wants a survey first; the survey runs past its appointment and goes to the lead."""
    iid = start_case(db)
    done = drive(db, iid, {"accept": example("accept", survey_with_install=False)}, until="do_survey")
    report = fire_at(db, clock, dt.datetime(2027, 3, 3, 12, 30, tzinfo=CHINA))  # the am window closed at 12:00
    open_after_timer = sorted(items(db, iid))
    done += drive(db, iid, {"book_appointment": example("field-appointment", appointment_date="2027-03-05")})
    return Case(iid, done, {"fired": report.fired, "open_after_timer": open_after_timer})


def lv_nonres_one_id(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Small/micro restaurant (三零), 一证受理: documents promised for later; the reminder goes out."""
    iid = start_case(db, data={"channel": "app"})
    done = drive(db, iid, {"accept": 1}, skip={"collect_docs"})
    waiting = sorted(items(db, iid))
    report = fire_at(db, clock, dt.datetime(2027, 3, 15, 10, 0, tzinfo=CHINA))
    done += drive(db, iid)
    return Case(iid, done, {"waiting_on": waiting, "fired": report.fired})


def lv_nonres_scheme_grid(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Non-三零 workshop, 120 kW: scheme reply after survey, grid works, an incomplete case file."""
    accept = example("accept", 0, customer_name="北京市和平里五金加工厂", id_type="uscc", id_number="91110105MA03QWER7R",
                     customer_category="industrial", industry="金属制品业", capacity_kw=120, supply_voltage="380V",
                     survey_with_install=False)
    iid = start_case(db)
    done = drive(db, iid, {"accept": accept, "do_survey": 1, "check_file": [1, 0],
                           "book_appointment": [0, example("field-appointment", 2)]})
    return Case(iid, done)


def hv_single_ordinary(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Ordinary 10 kV single-source customer: no design review; contract signed before the meter is set."""
    accept = example("accept", 2, power_sources=1, important_customer=False, load_level="2", capacity_kw=1600)
    iid = start_case(db)
    scheme = example("scheme-reply-hv", source_count=1, capacity_kva=2000)
    done = drive(db, iid, {"accept": accept, "reply_scheme": scheme}, prefer=["draft_contract", "sign_contract"])
    return Case(iid, done)


def hv_dual_important(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Important dual-source customer: design rejected once, inspection failed once, scheme nearly expired."""
    iid = start_case(db, data={"channel": "web95598"})
    # signed almost a year ago: the expiry warning falls due during the customer's works
    done = drive(db, iid, {"accept": 2, "reply_scheme": example("scheme-reply-hv", scheme_signed_on="2026-03-25"),
                           "review_design": [1, 0]}, until="customer_works")
    report = fire_at(db, clock, dt.datetime(2027, 3, 11, 10, 0, tzinfo=CHINA))
    open_after_timer = sorted(items(db, iid))
    booking = example("field-appointment", appointment_date="2027-03-12")
    done += drive(db, iid, {"inspect": [1, 0], "book_appointment": booking},
                  prefer=["book_appointment", "dispatch_job", "report_arrival", "do_install", "report_completion"])
    return Case(iid, done, {"fired": report.fired, "open_after_timer": open_after_timer})


def lv_res_field_rebooked(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Resident with a survey first: the survey team is away on the chosen day (capacity 0), so the
    booking is refused with the next free days; the next booking is cancelled by the centre before
    dispatch (the customer will be away), so the job is booked a third time; the call-back after
    the survey raises a problem, which the customer manager follows up."""
    from engine.dispatch import appointments, capacity, rescheduling

    iid = start_case(db)
    done = drive(db, iid, {"accept": example("accept", survey_with_install=False)}, until="book_appointment")
    capacity.adjust_day(db, "CQ-KC1", dt.date(2027, 3, 3), "survey", 0, actor="lead", note="全班参加安全培训")
    # the form's own check refuses the full day (the task stays open); the model's refusal path is
    # for the race that check cannot rule out (another dispatcher takes the last unit in between)
    check = runtime.FORM_CHECKS.pop("field-appointment.schema.json")
    try:
        complete(db, iid, "book_appointment", example("field-appointment"))
    finally:
        runtime.FORM_CHECKS["field-appointment.schema.json"] = check
    done.append("book_appointment")
    refused = queries.task_data(db, items(db, iid)["book_appointment"].id)["booking"]
    offered = refused["offers"][0]["date"]
    done += drive(db, iid, {"book_appointment": example("field-appointment", appointment_date=offered)},
                  until="dispatch_job")
    first = appointments.list_appointments(db, instance_id=iid)[0]
    cancelled = rescheduling.cancel(db, first.job_no, actor="dispatcher", reason="客户临时出差，改期待定")
    done += drive(db, iid, until="book_appointment")  # the lead's dispatch finds the booking cancelled
    done += drive(db, iid, {"book_appointment": example("field-appointment", appointment_date="2027-03-05"),
                            "job_callback": 1}, until="follow_up_callback")
    done += drive(db, iid)
    capacity.adjust_day(db, "CQ-KC1", dt.date(2027, 3, 3), "survey", 8 * FIELD_CAPACITY_SCALE, actor="lead",
                        note="培训改期，恢复")
    return Case(iid, done, {"refused": refused, "cancelled": cancelled})


def withdraw_at_accept(db: Database, clock: engine_clock.FixedClock) -> Case:
    """An online application withdrawn before the clerk finished acceptance."""
    iid = start_case(db, data={"channel": "app", "customer_name": "赵磊", "mobile": "13566667777"})
    out = runtime.send_message(db, iid, "withdraw", {"reason": "已在其他地址办理"}, actor=actors.SYSTEM)
    return Case(iid, [], {"outcome": out})


def withdraw_during_lv(db: Database, clock: engine_clock.FixedClock) -> Case:
    """一证受理 restaurant withdraws while its survey is being dispatched: survey and document follow-up stop."""
    iid = start_case(db)
    done = drive(db, iid, {"accept": 1}, until="dispatch_job", skip={"collect_docs"})
    before = sorted(items(db, iid))
    out = runtime.send_message(db, iid, "withdraw", {"reason": "店铺转让，不再用电"}, actor=actors.SYSTEM)
    return Case(iid, done, {"open_before": before, "outcome": out})


def withdraw_during_hv(db: Database, clock: engine_clock.FixedClock) -> Case:
    """Important customer withdraws during the design review of its receiving installation."""
    iid = start_case(db)
    done = drive(db, iid, {"accept": 2}, until="review_design")
    out = runtime.send_message(db, iid, "withdraw", {"reason": "项目取消"}, actor=actors.SYSTEM)
    return Case(iid, done, {"outcome": out})


def change_case(kind_index: int, meter_work: str | None) -> Callable[[Database, engine_clock.FixedClock], Case]:
    def run(db: Database, clock: engine_clock.FixedClock) -> Case:
        iid = start_case(db, "change")
        answers: dict[str, Any] = {"accept_change": kind_index}
        if meter_work is not None:
            answers["do_verify"] = example("field-verify", meter_work=meter_work)
        return Case(iid, drive(db, iid, answers))
    run.__doc__ = f"Change of use, example {kind_index} of the acceptance form."
    return run


def after_sales_follow_up(db: Database, clock: engine_clock.FixedClock) -> Case:
    """A finished resident case (archived, called back) opens one after-sales follow-up for the
    customer manager; the scheduler's next pass starts it, and the manager records the offer."""
    from engine.dispatch import after_sales

    case = lv_res_merged(db, clock)
    ended = queries.get_instance(db, case.iid, with_data=False).ended_at
    report = fire_at(db, clock, ended + dt.timedelta(minutes=1))
    follow_up = after_sales._existing(db, case.iid)
    assert follow_up is not None, f"no after-sales case for case {case.iid}: {report}"
    done = drive(db, follow_up)
    return Case(follow_up, done, {"case": case.iid, "fired": report.fired})


CHANGE_KINDS = {"capacity_reduction": (0, "seal"), "suspend": (1, "seal"), "resume": (2, "unseal"),
                "rename": (3, None), "reclassify": (4, "none")}

SCENARIOS: dict[str, Callable[[Database, engine_clock.FixedClock], Case]] = {
    "lv_res_merged": lv_res_merged,
    "lv_res_surveyed_overdue": lv_res_surveyed_overdue,
    "lv_nonres_one_id": lv_nonres_one_id,
    "lv_nonres_scheme_grid": lv_nonres_scheme_grid,
    "hv_single_ordinary": hv_single_ordinary,
    "hv_dual_important": hv_dual_important,
    "lv_res_field_rebooked": lv_res_field_rebooked,
    "after_sales_follow_up": after_sales_follow_up,
    "withdraw_at_accept": withdraw_at_accept,
    "withdraw_during_lv": withdraw_during_lv,
    "withdraw_during_hv": withdraw_during_hv,
    **{f"change_{kind}": change_case(*args) for kind, args in CHANGE_KINDS.items()},
}


def run(name: str, db: Database, clock: engine_clock.FixedClock) -> Case:
    """Run one scenario from the scenarios' start time."""
    clock.set(START)
    return SCENARIOS[name](db, clock)

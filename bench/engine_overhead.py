"""What the engine's persistence costs per human step, against the best in-memory step.

Drives N instances of a realistic process through every human step three ways, in one run:
  (a) raw SpiffWorkflow in memory: restore state -> complete the task -> run the engine -> store
      state, with the same codec optimisations as the engine (cached spec objects, state-only
      converter, orjson + zstd), so the ratio isolates what the database part costs;
  (b) the engine's `complete_task` command on SQLite (one transaction, optimistic lock, history);
  (c) the same on PostgreSQL, when YEKUO_BENCH_PG_URL (or YEKUO_DATABASE_URL) names a server.
Prints per-step medians and p95, the ratio b/a (and c/a), and bytes stored per instance mid-run.
Variants are interleaved per instance so machine noise hits them alike.

    .venv/bin/python bench/engine_overhead.py [--instances 30] [--model engine_model]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow import TaskState  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from engine import wiring  # noqa: E402

wiring.install()
from engine.core import actors, definitions, history, runtime, schema, users, worklist
from engine.core.clock import CHINA
from engine.core.codec import CODEC  # noqa: E402
from engine.core.db import Database  # noqa: E402
from engine.core.models import event_t, instance_t, work_item_t  # noqa: E402
from engine.core.scripting.script_engine import make_script_engine  # noqa: E402

MODELS = {
    "engine_model": (ROOT / "tests/data/engine_model/engine_model.bpmn", ROOT / "tests/data/engine_model/forms"),
    "new_connection": (ROOT / "bpmn", ROOT / "forms"),
}
WHO = actors.Actor("bench", system=True)


def form_data(definition: definitions.Definition, form: str | None, spec: str, rework: dict[str, int]) -> dict[str, Any]:
    """Example data from the task's form; the first pass through each loop takes the loop once."""
    data = dict((definition.forms.get(form) or {}).get("examples", [{}])[0]) if form else {}
    if spec == "accept":
        data["capacity_kw"] = 250
    if spec in ("check_docs", "design_review"):
        key = "docs_complete" if spec == "check_docs" else "approved"
        rework[spec] = rework.get(spec, 0) + 1
        data[key] = rework[spec] > 1
    return data


def _weekdays_before(day: Any, n: int) -> str:
    """The in-memory stand-in for the engine's `workdays_before` (the real one reads the calendar
    table): Monday–Friday, so the raw baseline runs the bundled model without a database."""
    current = dt.date.fromisoformat(day) if isinstance(day, str) else day
    while n > 0:
        current -= dt.timedelta(days=1)
        n -= current.weekday() < 5
    return current.isoformat()


RAW_HELPERS = {"workdays_before": _weekdays_before}


def raw_run(definition: definitions.Definition, times: list[float]) -> None:
    """(a): the in-memory baseline with the engine's own codec."""
    wf = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs))
    wf.script_engine = make_script_engine(helpers=RAW_HELPERS)
    wf.do_engine_steps()
    state = CODEC.dumps(wf)
    rework: dict[str, int] = {}
    while True:
        t0 = time.perf_counter()
        wf = CODEC.loads(state, definition.spec, definition.subprocess_specs)
        wf.script_engine = make_script_engine(helpers=RAW_HELPERS)
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            break
        task = ready[0]
        info = definition.task_info(task)
        task.task_spec.add_data_from_form(task, form_data(definition, info.form_schema, info.bpmn_id, rework))
        task.run()
        wf.refresh_timers()
        wf.do_engine_steps()
        wf.get_tasks(state=TaskState.READY, manual=True)
        state = CODEC.dumps(wf)
        times.append(time.perf_counter() - t0)


def engine_run(db: Database, key: str, times: list[float], mid: dict[str, int]) -> None:
    """(b)/(c): the same steps as engine commands."""
    iid = runtime.start_instance(db, key).instance_id
    definition = definitions.load(db, definitions.latest_id(db, key))
    rework: dict[str, int] = {}
    steps = 0
    while True:
        items = worklist.items(db, worklist.TaskFilter(instance_id=iid))
        if not items:
            break
        item = items[0]
        data = form_data(definition, item.form_schema, item.task_spec, rework)
        t0 = time.perf_counter()
        runtime.complete_task(db, item.id, data, actor=WHO)
        times.append(time.perf_counter() - t0)
        steps += 1
        if steps == 12 and not mid:
            mid.update(stored_bytes(db, iid))


def connection_run(db: Database, key: str, times: list[float], mid: dict[str, int]) -> list[Any]:
    """(b)/(c) on the real process: a 10 kV single-source case driven with its forms' examples.

    Returns the case's recorded inputs, which the raw baseline then feeds to an in-memory workflow.
    """
    from engine.core import clock
    from tests import process_helpers

    original = runtime.complete_task
    steps = {"n": 0, "iid": None}

    def timed(db_: Database, item_id: str, data: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        out = original(db_, item_id, data, **kw)
        times.append(time.perf_counter() - t0)
        steps["n"] += 1
        steps["iid"] = out.instance_id
        if steps["n"] == 12 and not mid:
            mid.update(stored_bytes(db_, out.instance_id))
        return out

    fixed = clock.FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=CHINA))
    previous = clock.set_clock(fixed)
    runtime.complete_task = timed
    try:
        case = process_helpers.hv_single_ordinary(db, fixed)
    finally:
        runtime.complete_task = original
        clock.set_clock(previous)
    with db.read() as conn:
        return list(history.events_of(conn, case.iid))


def raw_replay(definition: definitions.Definition, events: list[Any], times: list[float]) -> None:
    """(a) for the real process: the same inputs on an in-memory workflow, restored and stored per step."""
    from engine.core import clock

    services_by_input: list[list[dict[str, Any]]] = []
    inputs = [e for e in events if e.type in ("instance_started", "task_completed")]
    for i, ev in enumerate(events):
        if ev.type in ("instance_started", "task_completed"):
            services_by_input.append([])
        elif ev.type == "service_called":
            p = history.payload_of(ev)
            services_by_input[-1].append(p["result"])
    state = None
    for ev, recorded in zip(inputs, services_by_input):
        queue = list(recorded)

        def play(_context: Any, _op: str, _params: Any) -> str:
            return json.dumps(queue.pop(0))

        payload = history.payload_of(ev)
        with clock.using(clock.FixedClock(ev.at)):
            t0 = time.perf_counter()
            if state is None:
                wf = BpmnWorkflow(definition.spec, dict(definition.subprocess_specs))
                wf.script_engine = make_script_engine(service_caller=play, helpers=RAW_HELPERS)
                for task in wf.get_tasks(state=TaskState.READY):
                    task.set_data(**payload.get("data", {}))
            else:
                wf = CODEC.loads(state, definition.spec, definition.subprocess_specs)
                wf.script_engine = make_script_engine(service_caller=play, helpers=RAW_HELPERS)
                task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True)
                            if t.task_spec.bpmn_id == ev.task_spec)
                task.task_spec.add_data_from_form(task, payload.get("data", {}))
                task.run()
            wf.refresh_timers()
            wf.do_engine_steps()
            wf.get_tasks(state=TaskState.READY, manual=True)
            state = CODEC.dumps(wf)
            if ev.type == "task_completed":
                times.append(time.perf_counter() - t0)


def stored_bytes(db: Database, iid: int) -> dict[str, int]:
    with db.read() as conn:
        state = conn.execute(select(func.length(instance_t.c.state)).where(instance_t.c.id == iid)).scalar()
        events = conn.execute(select(func.sum(func.length(event_t.c.payload)) + func.count() * 200)
                              .where(event_t.c.instance_id == iid)).scalar()
        items = conn.execute(select(func.count()).select_from(work_item_t).where(work_item_t.c.instance_id == iid)).scalar()
    return {"state": int(state), "history": int(events or 0), "work_items": int(items) * 250}


def prepare(url: str, model: Path, forms: Path) -> tuple[Database, str]:
    """A database set up as `yekuo init` leaves it (calendar, rule sets), with the model deployed."""
    from engine.deadlines import calendar_import, rule_versions

    db = Database(url)
    schema.upgrade(db)
    users.seed_groups(db)
    calendar_import.seed_from_package(db)
    rule_versions.seed_rule_sets(db)
    results = definitions.deploy_paths(db, [model], forms_dir=forms)
    if model.is_dir():  # field jobs book against team capacity
        from tests.process_helpers import seed_field_teams

        seed_field_teams(db)
    key = "new_connection" if model.is_dir() else results[0].key
    return db, key


def pg_scratch(url: str) -> tuple[str, Any]:
    name = f"yekuo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + "/" + name, (admin, name)


def summary(times: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in times)
    return statistics.median(ms), ms[int(len(ms) * 0.95) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--model", default="new_connection", choices=sorted(MODELS))
    args = ap.parse_args()
    model, forms = MODELS[args.model]
    pg_url = os.environ.get("YEKUO_BENCH_PG_URL") or (
        os.environ.get("YEKUO_DATABASE_URL", "") if os.environ.get("YEKUO_DATABASE_URL", "").startswith("postgresql") else "")

    tmp = tempfile.mkdtemp(prefix="yekuo-bench-")
    sqlite_db, key = prepare(f"sqlite:///{tmp}/bench.db", model, forms)
    variants: dict[str, list[float]] = {"raw": [], "sqlite": []}
    mids: dict[str, dict[str, int]] = {"sqlite": {}}
    pg_db = cleanup = None
    if pg_url:
        scratch, cleanup = pg_scratch(pg_url)
        pg_db, _ = prepare(scratch, model, forms)
        variants["postgresql"], mids["postgresql"] = [], {}
    definition = definitions.load(sqlite_db, definitions.latest_id(sqlite_db, key))

    real = args.model == "new_connection"
    for n in range(args.instances + 2):  # the first two warm imports, caches and connections up
        timed = n >= 2
        if real:
            recorded = connection_run(sqlite_db, key, variants["sqlite"] if timed else [],
                                      mids["sqlite"] if timed else {})
            raw_replay(definition, recorded, variants["raw"] if timed else [])
            if pg_db:
                connection_run(pg_db, key, variants["postgresql"] if timed else [],
                               mids["postgresql"] if timed else {})
        else:
            raw_run(definition, variants["raw"] if timed else [])
            engine_run(sqlite_db, key, variants["sqlite"] if timed else [], mids["sqlite"] if timed else {})
            if pg_db:
                engine_run(pg_db, key, variants["postgresql"] if timed else [], mids["postgresql"] if timed else {})

    raw_p50, raw_p95 = summary(variants["raw"])
    print(f"model {args.model}: {len(definition.tasks)} task specs; {args.instances} instances, "
          f"{len(variants['sqlite']) // args.instances} human steps each")
    print(f"{'variant':<12}{'p50 ms':>9}{'p95 ms':>9}{'ratio p50':>11}")
    print(f"{'raw':<12}{raw_p50:>9.2f}{raw_p95:>9.2f}{1.0:>11.2f}")
    for name in [v for v in variants if v != "raw"]:
        p50, p95 = summary(variants[name])
        print(f"{name:<12}{p50:>9.2f}{p95:>9.2f}{p50 / raw_p50:>11.2f}")
    for name, mid in mids.items():
        total = sum(mid.values())
        print(f"stored per instance mid-run ({name}, after 12 steps): state {mid['state']} B, "
              f"history ~{mid['history']} B, work items ~{mid['work_items']} B; total ~{total} B")
    if cleanup:
        pg_db.dispose()
        admin, name = cleanup
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())

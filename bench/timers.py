"""How fast due timers fire, and that each fires exactly once, with several scheduler processes.

Creates N instances waiting on a due BPMN timer (one real instance, then N-1 copies of its state
made in SQL, so set-up stays short), then runs W worker processes doing `fire_due` against the
same database at once. Prints the wall time, the rate, and the number of duplicate and missing
firings (both must be 0). Target: 10,000 timers in ≤ 30 s on PostgreSQL on a 2-core machine.

    .venv/bin/python bench/timers.py --pg postgresql://postgres@127.0.0.1:54329/postgres [-n 10000] [-w 2]
    .venv/bin/python bench/timers.py --sqlite [-n 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from engine import wiring  # noqa: E402

wiring.install()
from engine.core import actors, clock, definitions, runtime, schema, step, timers, users, worklist  # noqa: E402
from engine.core.db import Database  # noqa: E402
from engine.core.models import event_t, timer_t  # noqa: E402
from tests.helpers import clone_waiting_instances  # noqa: E402

MODEL = ROOT / "tests/data/engine_model"
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
WHO = actors.Actor("bench", system=True)


def setup(url: str, n: int) -> None:
    db = Database(url)
    schema.upgrade(db)
    users.seed_groups(db)
    definitions.deploy_paths(db, [MODEL / "engine_model.bpmn"], forms_dir=MODEL / "forms")
    clock.set_clock(clock.FixedClock(T0))
    iid = runtime.start_instance(db, "engine_model").instance_id
    for spec, data in (("accept", {"customer_name": "张三", "capacity_kw": 8, "phone": "13800138000"}),
                       ("verify_identity", {}), ("check_docs", {"docs_complete": True})):
        item = next(i for i in worklist.items(db, worklist.TaskFilter(instance_id=iid)) if i.task_spec == spec)
        runtime.complete_task(db, item.id, data, actor=WHO)
    clone_waiting_instances(db, iid, n - 1)
    db.dispose()


def worker(url: str, name: str, at: dt.datetime, out: mp.Queue, dictionary: bool = True) -> None:
    from engine.core import codec

    if not dictionary:
        codec.WRITE_DICTIONARY = None
    db = Database(url)
    t0 = time.perf_counter()
    report = timers.fire_due(db, at, worker=name, batch=100)
    out.put((name, report.fired, report.conflicts, len(report.failed), time.perf_counter() - t0))
    db.dispose()


def check(url: str, n: int) -> tuple[int, int, int]:
    """(duplicate firings, instances never fired, BPMN timer rows still unfired) from the database:
    history events per instance, and the timer rows themselves."""
    db = Database(url)
    with db.read() as conn:
        per_instance = dict(conn.execute(select(event_t.c.instance_id, func.count()).where(
            event_t.c.type == "timer_fired").group_by(event_t.c.instance_id)).all())
        unfired = conn.execute(select(func.count()).select_from(timer_t).where(
            timer_t.c.fired_at.is_(None), timer_t.c.purpose == step.CLOCK_TIMER)).scalar_one()
    db.dispose()
    duplicates = sum(c - 1 for c in per_instance.values() if c > 1)
    missing = n - len(per_instance)
    return duplicates, missing, unfired


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", help="PostgreSQL server URL (a scratch database is created there)")
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("-w", "--workers", type=int, default=2)
    ap.add_argument("--no-dictionary", action="store_true", help="store fired states without the state dictionary")
    args = ap.parse_args()
    cleanup = None
    if args.pg:
        name = f"yekuo_timers_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url, cleanup = args.pg.rsplit("/", 1)[0] + "/" + name, (admin, name)
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='yekuo-timers-')}/timers.db"
    try:
        t0 = time.perf_counter()
        setup(url, args.n)
        print(f"set-up: {args.n} instances with a due timer in {time.perf_counter() - t0:.1f} s")
        at = T0 + dt.timedelta(days=3)
        queue: mp.Queue = mp.get_context("spawn").Queue()
        procs = [mp.get_context("spawn").Process(target=worker,
                                                        args=(url, f"w{i}", at, queue, not args.no_dictionary))
                 for i in range(args.workers)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        for name, fired, conflicts, failed, secs in sorted(results):
            print(f"  {name}: fired {fired} in {secs:.1f} s ({conflicts} conflicts, {failed} failed)")
        duplicates, missing, unfired = check(url, args.n)
        reported = sum(fired for _name, fired, *_rest in results)
        print(f"{args.n} timers, {args.workers} workers: {wall:.1f} s wall, {args.n / wall:.0f} timers/s; "
              f"duplicates {duplicates}, missing {missing}, timer rows unfired {unfired}, "
              f"fired as reported {reported}; load average {os.getloadavg()[0]:.1f}")
        return 0 if duplicates == 0 and missing == 0 and unfired == 0 and reported == args.n else 1
    finally:
        if cleanup:
            admin, name = cleanup
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())

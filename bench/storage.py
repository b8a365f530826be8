"""Bytes a mid-run case costs on PostgreSQL: every table and index, as the server counts them.

Drives N ordinary 10 kV cases of the real process to the customer's works (mid-run: scheme replied,
timers, SLA clocks, outbox messages and history written) in a scratch database and prints the growth
of `pg_total_relation_size` (rows, TOAST and indexes) per case, by table, after a warm-up so that
empty-table overheads do not count. Also prints the average stored state (compressed) and which
state dictionary wrote it (`engine.core.codec`).

    YEKUO_BENCH_PG_URL=postgresql://postgres@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/storage.py [--cases 60] [--no-dictionary] [--keep-call-data]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.engine_overhead import pg_scratch, prepare  # noqa: E402
from engine import wiring  # noqa: E402
from engine.core import clock, codec, runtime  # noqa: E402
from engine.core.clock import CHINA  # noqa: E402
from engine.core.db import Database  # noqa: E402
from engine.core.models import instance_t  # noqa: E402

SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
"""


def sizes(db: Database, *, compact: bool = False) -> dict[str, int]:
    """Every table's size with its TOAST and indexes; `compact` first rewrites them without the dead
    row versions each update leaves until vacuum (the live bytes)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if compact:
            conn.execute(text("VACUUM FULL"))
        return {name: int(size) for name, size in conn.execute(text(SIZES))}


def mid_run_case(db: Database) -> int:
    """One ordinary 10 kV case driven to the customer's works."""
    from tests import process_helpers as ph

    accept = ph.example("accept", 2, power_sources=1, important_customer=False, load_level="2", capacity_kw=1600)
    iid = ph.start_case(db)
    scheme = ph.example("scheme-reply-hv", source_count=1, capacity_kva=2000)
    ph.drive(db, iid, {"accept": accept, "reply_scheme": scheme}, until="customer_works")
    return iid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--no-dictionary", action="store_true", help="write states without the state dictionary")
    ap.add_argument("--keep-call-data", action="store_true",
                    help="keep finished call activities' task data in states (as before)")
    args = ap.parse_args()
    url = os.environ.get("YEKUO_BENCH_PG_URL") or os.environ.get("YEKUO_TEST_PG_URL")
    if not url:
        print("set YEKUO_BENCH_PG_URL to a PostgreSQL server (a scratch database is made on it)")
        return 2
    wiring.install()
    runtime.SUBMISSION_CHECKS.clear()  # the forms' example data names no uploaded documents
    if args.no_dictionary:
        codec.WRITE_DICTIONARY = None
    if args.keep_call_data:
        codec.PRUNE_FINISHED_CALLS = False
    scratch, (admin, name) = pg_scratch(url)
    previous = clock.set_clock(clock.FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=CHINA)))
    try:
        db, _key = prepare(scratch, ROOT / "bpmn", ROOT / "forms")
        for _ in range(args.warmup):
            mid_run_case(db)
        before, before_live = sizes(db), sizes(db, compact=True)
        ids = [mid_run_case(db) for _ in range(args.cases)]
        after = sizes(db)
        after_live = sizes(db, compact=True)
        with db.read() as conn:
            states = conn.execute(select(instance_t.c.state).where(instance_t.c.id.in_(ids))).scalars().all()
            raw = sum(len(codec.decompress(s)) for s in states)
            stored = conn.execute(select(func.sum(func.length(instance_t.c.state)))
                                  .where(instance_t.c.id.in_(ids))).scalar_one()
        dictionaries = sorted({codec.dictionary_of(s) for s in states})
        db.dispose()
    finally:
        clock.set_clock(previous)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    grew = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    live = {t: after_live.get(t, 0) - before_live.get(t, 0) for t in after_live}
    print(f"{args.cases} mid-run cases (ordinary 10 kV, to customer_works) on PostgreSQL, bytes per case:")
    print(f"  {'table (with TOAST, indexes)':<28} {'as written':>10} {'live':>9}")
    for table in sorted(grew, key=lambda t: -live.get(t, 0)):
        if grew[table] or live.get(table):
            print(f"  {table:<28} {grew[table] / args.cases:>10.0f} {live.get(table, 0) / args.cases:>9.0f}")
    print(f"  {'all tables and indexes':<28} {sum(grew.values()) / args.cases:>10.0f} "
          f"{sum(live.values()) / args.cases:>9.0f}")
    print("  (as written: before vacuum, with the dead row versions of every update; live: after VACUUM FULL)")
    print(f"state: {stored / args.cases:.0f} B stored, {raw / args.cases:.0f} B raw per case; "
          f"dictionary {dictionaries}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

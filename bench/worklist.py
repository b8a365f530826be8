"""The work list at scale (issue 17): grow work_item in bulk, then time each list query.

Grows a fresh PostgreSQL database (or SQLite) to `--items` work items (5 % open, spread over six
groups and 50 users, due times around now), ANALYZEs, and prints p50/p95 (ms) of the group, mine
and overdue lists as the REST API asks them (`worklist.search`: capped count + first page), and a
deep page of the group list by OFFSET and by keyset cursor.

    .venv/bin/python bench/worklist.py [--items 100000] [--repeat 50] [--pg URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.http_load import fresh_database, pct  # noqa: E402
from engine import wiring  # noqa: E402
from engine.core import clock, worklist  # noqa: E402
from engine.core.db import Database  # noqa: E402
from engine.core.models import work_item_t  # noqa: E402
from engine.core.worklist import TaskFilter  # noqa: E402
from tests.process_helpers import start_case  # noqa: E402

GROUPS = ("clerk", "surveyor", "manager", "metering", "reviewer", "dispatcher")


def grow(db: Database, instance_id: int, items: int, now: dt.datetime) -> None:
    """Bulk rows in batches of 50k (one multi-row INSERT each), committed per batch."""
    batch = 50_000
    for start in range(0, items, batch):
        rows = [{"id": f"{n:032x}", "instance_id": instance_id, "process_key": "new_connection", "task_spec": "accept",
                 "name": "受理申请", "candidate_group": GROUPS[n % 6], "assignee": f"user{n % 50}" if n % 7 == 0 else None,
                 "status": "open" if n % 20 == 0 else "completed", "priority": 50,
                 "created_at": now - dt.timedelta(minutes=n), "due_at": now + dt.timedelta(hours=(n % 200) - 100),
                 "completed_at": None if n % 20 == 0 else now, "completed_by": None if n % 20 == 0 else f"user{n % 50}"}
                for n in range(start, min(items, start + batch))]
        with db.write() as conn:
            conn.execute(work_item_t.insert(), rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--pg", default=os.environ.get("YEKUO_BENCH_PG_URL"))
    a = ap.parse_args()
    a.items = min(a.items, 2_000_000)
    wiring.install()
    url = fresh_database(a.pg, tempfile.mkdtemp())
    env = {**os.environ, "YEKUO_DATABASE_URL": url, "YEKUO_CALENDAR_FALLBACK": "1"}
    for cmd in (["init", "--demo"], ["deploy", str(ROOT / "bpmn"), "--note", "bench"]):
        subprocess.run([sys.executable, "-m", "api.cli", *cmd], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    db = Database(url)
    clock.set_clock(clock.FixedClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=clock.CHINA)))
    now = clock.now()
    iid = start_case(db)
    t0 = time.perf_counter()
    grow(db, iid, a.items, now)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    grown = time.perf_counter() - t0
    lists = {
        "group": TaskFilter(visible_groups={"clerk"}, visible_user="user7", candidate_group="clerk"),
        "mine": TaskFilter(visible_groups={"clerk"}, visible_user="user7", assignee="user7"),
        "overdue": TaskFilter(visible_groups={"clerk", "manager"}, visible_user="user7", overdue=True),
        "all_mine_and_groups": TaskFilter(visible_groups={"clerk"}, visible_user="user7"),
    }
    out = {"db": db.dialect, "items": a.items, "grow_s": round(grown, 1)}
    for name, where in lists.items():
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            _, total = worklist.search(db, where, sort="due", limit=50)
            times.append(time.perf_counter() - t)
        out[name] = {"p50_ms": round(pct(times, 50), 2), "p95_ms": round(pct(times, 95), 2), "total": total}
    # a deep page of the group list: by OFFSET, and by keyset cursor after the same row
    group = lists["group"]
    deep = max(0, min(out["group"]["total"], worklist.COUNT_CAP) - 60)
    rows, _ = worklist.search(db, group, sort="due", limit=1, offset=deep)
    if rows:
        after = worklist.decode_cursor(worklist.cursor_after(rows[0], "due", "bench"), "due", "bench")
        for name, kw in ((f"group_offset_{deep}", {"offset": deep}), (f"group_keyset_after_{deep}", {"after": after})):
            times = []
            for _ in range(a.repeat):
                t = time.perf_counter()
                worklist.search(db, group, sort="due", limit=50, **kw)
                times.append(time.perf_counter() - t)
            out[name] = {"p50_ms": round(pct(times, 50), 2), "p95_ms": round(pct(times, 95), 2)}
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out), flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

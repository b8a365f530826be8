"""The work list never scans work_item on PostgreSQL (issue 17): the group, mine and overdue lists
as the REST API asks them, planned on a grown table after ANALYZE, use the open-item indexes.
The statements are the ones `worklist.search` really sends (captured), explained with their parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, text

from engine.core import worklist
from engine.core.clock import FixedClock
from engine.core.db import Database
from engine.core.worklist import TaskFilter
from tests.process_helpers import deploy, start_case

GROW_SQL = """
INSERT INTO work_item (id, instance_id, process_key, task_spec, name, lane, candidate_group, assignee, status,
                       priority, created_at, due_at, completed_at, completed_by)
SELECT md5(n::text || 'wi'), :iid, 'new_connection', 'accept', '受理申请', NULL,
       (ARRAY['clerk','surveyor','manager','metering','reviewer','dispatcher'])[1 + n % 6],
       CASE WHEN n % 7 = 0 THEN 'user' || (n % 50) END,
       CASE WHEN n % 20 = 0 THEN 'open' ELSE 'completed' END,
       50, :now - make_interval(mins => n), :now + make_interval(hours => (n % 200) - 100),
       CASE WHEN n % 20 = 0 THEN NULL ELSE :now END, CASE WHEN n % 20 = 0 THEN NULL ELSE 'user' || (n % 50) END
FROM generate_series(1, :rows) AS n
"""


def _plans(db: Database, where: TaskFilter, after: list[Any] | None = None) -> list[str]:
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        worklist.search(db, where, sort="due", limit=50, after=after)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    plans = []
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters in captured:
            with raw.cursor() as cur:
                cur.execute("EXPLAIN " + statement, parameters)
                plans.append("\n".join(r[0] for r in cur.fetchall()))
        conn.rollback()
    return plans


def test_group_mine_and_overdue_lists_use_the_open_item_indexes(db: Database, clock: FixedClock) -> None:
    if not db.is_postgres:
        pytest.skip("plans are checked on PostgreSQL")
    deploy(db)
    iid = start_case(db)
    now = clock.now()
    with db.engine.begin() as conn:
        conn.execute(text(GROW_SQL), {"iid": iid, "now": now, "rows": 60_000})
        conn.execute(text("ANALYZE work_item"))
        conn.execute(text("ANALYZE process_instance"))
    lists = {
        "group": TaskFilter(visible_groups={"clerk"}, visible_user="user7", candidate_group="clerk"),
        "mine": TaskFilter(visible_groups={"clerk"}, visible_user="user7", assignee="user7"),
        "overdue": TaskFilter(visible_groups={"clerk", "manager"}, visible_user="user7", overdue=True,
                              now=now + dt.timedelta(hours=1)),
    }
    for name, where in lists.items():
        plans = _plans(db, where)
        assert len(plans) == 2, name  # the capped count and the page
        for plan in plans:
            assert "Seq Scan on work_item" not in plan, f"{name}:\n{plan}"
            assert "ix_work_item_open" in plan, f"{name}:\n{plan}"
        print(f"\n--- {name}\n" + "\n\n".join(plans))


def test_a_keyset_page_deep_in_the_list_uses_the_index(db: Database, clock: FixedClock) -> None:
    if not db.is_postgres:
        pytest.skip("plans are checked on PostgreSQL")
    deploy(db)
    iid = start_case(db)
    now = clock.now()
    with db.engine.begin() as conn:
        conn.execute(text(GROW_SQL), {"iid": iid, "now": now, "rows": 60_000})
        conn.execute(text("ANALYZE work_item"))
        conn.execute(text("ANALYZE process_instance"))
    where = TaskFilter(visible_groups={"clerk"}, visible_user="user7", candidate_group="clerk")
    rows, _ = worklist.search(db, where, sort="due", limit=50, offset=400)  # a row deep in the list
    after = worklist.decode_cursor(worklist.cursor_after(rows[-1], "due", "k"), "due", "k")
    following, _ = worklist.search(db, where, sort="due", limit=50, after=after)
    assert [r.id for r in following] == [r.id for r in worklist.search(db, where, sort="due", limit=50,
                                                                          offset=450)[0]]
    for plan in _plans(db, where, after):
        assert "Seq Scan on work_item" not in plan, plan
        assert "ix_work_item_open" in plan, plan
    print("\n--- keyset page\n" + _plans(db, where, after)[1])

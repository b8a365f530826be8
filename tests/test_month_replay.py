"""A month of applications of every type, with deadlines on, replays to exactly what is stored.

Every scenario of the bundled process (each business type, the important-customer branch,
inspection rework, an overdue survey, document follow-up, withdrawals at several points, every
change-of-use kind) runs with the State Grid rule set active and the 2027 calendar imported, so
cases carry SLA clocks, automatic pauses for customer works, warnings and timers. Then every
instance is replayed from its history and every chain verified. Also: an SLA pause by an operator
in the middle of a case, and a case cancelled half-way, so those inputs are replayed too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from engine.audit import chains as audit
from engine.audit import kpi, replay
from engine.core import actors, runtime, timers
from engine.deadlines import calendar_import, rule_versions, sla
from tests.process_helpers import SCENARIOS, START, deploy, drive, run, start_case

DATA = Path(__file__).parent / "data"


def test_a_month_of_cases_replays_exactly(db, clock):
    calendar_import.seed_from_package(db)
    calendar_import.import_year(db, DATA / "calendar" / "2027.csv", actor="admin")
    rule_versions.seed_rule_sets(db)
    deploy(db)
    ids = [run(name, db, clock).iid for name in SCENARIOS]
    # an operator pause in the middle of a low-voltage case, and a case cancelled half-way
    clock.set(START)
    paused = start_case(db)
    drive(db, paused, until="book_appointment")
    sla.pause(db, paused, reason="customer_documents", actor="clerk", note="缺产权证明")
    clock.advance(days=2)
    sla.resume(db, paused, actor="clerk")
    drive(db, paused)
    cancelled = start_case(db)
    drive(db, cancelled, until="book_appointment")
    runtime.cancel(db, cancelled, actor=actors.Actor("supervisor", frozenset({"supervisor"})), reason="重复申请")
    timers.fire_due(db, START + dt.timedelta(days=31))  # the month ends: warnings and reminders fall due
    ids += [paused, cancelled]

    reports = [replay.replay(db, iid) for iid in ids]
    diverged = [str(r) for r in reports if not r.ok]
    assert not diverged, "\n".join(diverged)
    assert all(r.ok for r in audit.verify(db))
    clocks = [c for iid in ids for c in sla.clocks_of(db, iid)]
    assert clocks and {c.status for c in clocks} >= {"met", "void"}
    assert any(c.paused_workdays > 0 for c in clocks)  # customer works paused the utility's clock
    figures = kpi.compute(db)
    assert figures.cases == len(ids) and figures.assessed > 0

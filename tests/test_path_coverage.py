"""Path coverage: every sequence flow of every model in bpmn/ is taken by some scenario.

The flows taken come from the instances' own history (the task trail each command records), so
this measures what ran, not what a test meant to run. The scenarios are those the process tests
check one by one (tests/process_helpers.py SCENARIOS); they are replayed here on one SQLite
database, since coverage is a property of the models, not of the database.
"""

from __future__ import annotations

import shutil

from engine.core import clock as engine_clock
from engine.core.db import Database
from tests.process_helpers import SCENARIOS, START, deploy, model_flows, run, taken_flows


def test_every_sequence_flow_of_every_model_is_taken(tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "coverage.db")
    db = Database(f"sqlite:///{tmp_path / 'coverage.db'}")
    clock = engine_clock.FixedClock(START)
    previous = engine_clock.set_clock(clock)
    try:
        deploy(db)
        taken: set[tuple[str, str]] = set()
        for name in SCENARIOS:
            case = run(name, db, clock)
            taken |= taken_flows(db, case.iid)
    finally:
        engine_clock.set_clock(previous)
        db.dispose()
    flows = model_flows()
    untaken = sorted(set(flows) - taken)
    listing = "\n".join(f"  {proc}: {fid} ({flows[(proc, fid)][0]} -> {flows[(proc, fid)][1]})"
                        for proc, fid in untaken)
    assert not untaken, f"{len(untaken)} of {len(flows)} sequence flows never taken:\n{listing}"
    assert taken <= set(flows)  # the trail reading maps only onto real flows

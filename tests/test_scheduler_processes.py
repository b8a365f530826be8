"""Two scheduler processes against one database fire 1,000 due timers: no duplicates, no misses."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from sqlalchemy import func, select

from engine.core import runtime, step
from engine.core.models import event_t, timer_t
from tests.cli_support import ROOT, command, process_env
from tests.helpers import ACCEPT, clone_waiting_instances, complete

N = 1000


@pytest.mark.slow
def test_two_scheduler_processes_fire_each_timer_exactly_once(db, engine_model, clock):
    template = runtime.start_instance(db, "engine_model").instance_id
    complete(db, template, "accept", ACCEPT)
    complete(db, template, "verify_identity")
    complete(db, template, "check_docs", {"docs_complete": True})
    ids = [template, *clone_waiting_instances(db, template, N - 1)]
    now = (clock.now() + dt.timedelta(days=3)).isoformat()
    procs = [subprocess.Popen(command("timers", "fire-due", "--now", now), cwd=ROOT, env=process_env(db),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    fired_by = [int(out.split()[1]) for out, _ in outputs]
    assert sum(fired_by) == N
    with db.read() as conn:
        per_instance = dict(conn.execute(select(event_t.c.instance_id, func.count()).where(
            event_t.c.type == "timer_fired").group_by(event_t.c.instance_id)).all())
        unfired = conn.execute(select(func.count()).select_from(timer_t).where(timer_t.c.fired_at.is_(None),
                                                                                timer_t.c.purpose == step.CLOCK_TIMER)).scalar()
    assert sorted(per_instance) == sorted(ids)  # no misses
    assert set(per_instance.values()) == {1}  # no duplicates
    assert unfired == 0

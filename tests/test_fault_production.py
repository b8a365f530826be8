"""The production layout under faults (issue 17): two gunicorn workers (`yekuo serve --workers 2`) and
two `yekuo scheduler` processes on PostgreSQL; 20 clients drive cases through claim + complete over
HTTP while due timers fire; one web worker and one scheduler are killed with SIGKILL mid-run (gunicorn
starts a new worker, the test starts a new scheduler). Afterwards no acknowledged completion is lost,
no timer fired twice or not at all, every hash chain verifies and every case replays.

Real processes and the real clock: every wait is bounded (the clients stop starting cases after
`RUN_FOR` seconds, and the test gives up on the timers after `SETTLE` seconds).
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.audit import replay
from engine.core import runtime, step
from engine.core.db import Database
from engine.core.models import event_t, instance_t, timer_t, work_item_t
from tests.api_support import add_user
from tests.cli_support import ROOT, command, process_env, yekuo
from tests.helpers import ACCEPT, complete
from tests.process_helpers import deploy, example
from tests.test_wiring import _call, _free_port, _upload_pdf, _wait_for

pytestmark = pytest.mark.slow

CLIENTS = 20
TIMER_CASES = 30
RUN_FOR = 25.0  # seconds the clients keep starting cases
SETTLE = 45.0  # seconds the schedulers get to fire the rest after the clients stop


def _worker_pids(master: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}
    except OSError:
        return set()


class Clients:
    """`CLIENTS` threads, each starting, claiming and completing cases until told to stop; every 200
    answer to a complete is remembered as acknowledged."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.acked: list[tuple[str, int]] = []
        self.failures: Counter[str] = Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.last_refusal = ""

    def _one(self) -> None:
        started = _call(self.base, "POST", "/api/v1/process-instances", {"key": "new_connection", "data": {}},
                        self.token)
        [accept] = started["new_items"]
        _call(self.base, "POST", f"/api/v1/tasks/{accept['id']}/claim", {}, self.token)
        docs = {kind: {"ref": self._upload(started["instance_id"]), "name": f"{kind}.pdf"}
                for kind in ("identity", "property_proof")}
        done = _call(self.base, "POST", f"/api/v1/tasks/{accept['id']}/complete",
                     {"data": example("accept", documents=docs)}, self.token)
        with self.lock:
            self.acked.append((accept["id"], done["instance_id"]))

    def _upload(self, instance_id: int) -> str:
        return _upload_pdf(self.base, self.token, instance_id)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._one()
            except urllib.error.HTTPError as exc:  # a refused step: not acknowledged, nothing to check
                with self.lock:
                    self.failures[f"http {exc.code}"] += 1
                    self.last_refusal = exc.read().decode(errors="replace")[:300]
            except (OSError, http.client.HTTPException) as exc:  # the worker died under the request
                with self.lock:
                    self.failures[type(exc).__name__] += 1


def _timer_cases(db: Database, clock: Any) -> list[int]:
    """Cases of the engine model waiting on their 2-day reminder, started three days ago (real time),
    so the reminders are due now: the schedulers fire them while the clients run."""
    clock.set(dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    ids = []
    for _ in range(TIMER_CASES):
        iid = runtime.start_instance(db, "engine_model").instance_id
        complete(db, iid, "accept", ACCEPT)
        complete(db, iid, "verify_identity")
        complete(db, iid, "check_docs", {"docs_complete": True})
        ids.append(iid)
    return ids


def _unfired(db: Database, ids: list[int]) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(timer_t).where(
            timer_t.c.instance_id.in_(ids), timer_t.c.fired_at.is_(None),
            timer_t.c.purpose == step.CLOCK_TIMER, timer_t.c.due_at < func.now())).scalar_one()


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _run_with_kills(db: Database, env: dict[str, str], timer_ids: list[int]) -> tuple[Clients, int]:
    """The layout under load; mid-run a web worker and a scheduler die. (clients, acks before the kills)"""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    def scheduler() -> subprocess.Popen[str]:
        return subprocess.Popen(command("scheduler"), env=env, cwd=ROOT, text=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    web = subprocess.Popen(command("serve", "--workers", "2", "--port", str(port)), env=env, cwd=ROOT, text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    procs = [web]
    try:
        _wait_for(base, web)
        token = _call(base, "POST", "/api/v1/auth/token", {"username": "clerk", "password": "demo"})["access_token"]
        procs += [scheduler(), scheduler()]
        clients = Clients(base, token)
        threads = [threading.Thread(target=clients.run, daemon=True) for _ in range(CLIENTS)]
        began = time.monotonic()
        for t in threads:
            t.start()
        # mid-run: once cases are being acknowledged and timers are firing
        while time.monotonic() - began < RUN_FOR / 2 and (len(clients.acked) < 10
                                                           or _unfired(db, timer_ids) == TIMER_CASES):
            time.sleep(0.2)  # waiting on real processes, not on engine time
        workers = _worker_pids(web.pid)
        assert len(workers) == 2, workers
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        os.kill(procs[1].pid, signal.SIGKILL)
        procs[1].wait(timeout=10)
        procs.append(scheduler())  # the restarted scheduler
        killed_at = len(clients.acked)
        time.sleep(max(0.0, RUN_FOR - (time.monotonic() - began)))
        clients.stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        respawned = _worker_pids(web.pid)
        assert len(respawned) == 2 and victim not in respawned, respawned  # gunicorn started a new worker
        settle = time.monotonic()
        while _unfired(db, timer_ids) and time.monotonic() - settle < SETTLE:
            time.sleep(0.5)
    finally:
        _stop(procs)
    return clients, killed_at


def test_killed_worker_and_scheduler_lose_no_completion_and_fire_no_timer_twice(db, engine_model, clock,
                                                                                 tmp_path: Path) -> None:
    if not db.is_postgres:
        pytest.skip("the production layout runs on PostgreSQL")
    deploy(db)
    add_user(db, "clerk", ["clerk"])
    timer_ids = _timer_cases(db, clock)
    env = process_env(db, {"YEKUO_CALENDAR_FALLBACK": "1", "YEKUO_SCHEDULER_INTERVAL": "1",
                           "YEKUO_FORMS_DIR": str(ROOT / "forms"),
                           "YEKUO_OUTBOX_FILE": str(tmp_path / "outbox.jsonl"),
                           "YEKUO_ANCHOR_DIR": str(tmp_path / "anchors"),
                           "YEKUO_DOCUMENTS_DIR": str(tmp_path / "documents")})
    clients, killed_at = _run_with_kills(db, env, timer_ids)
    print(f"\nacknowledged {len(clients.acked)} completions ({killed_at} before the kills), "
          f"failures {dict(clients.failures)} {clients.last_refusal}")
    assert len(clients.acked) > killed_at > 0  # work went on after the kills
    # no acknowledged completion lost
    acked_ids = [task for task, _ in clients.acked]
    with db.read() as conn:
        status = dict(conn.execute(select(work_item_t.c.id, work_item_t.c.status)
                                   .where(work_item_t.c.id.in_(acked_ids))).all())
        fired = Counter(conn.execute(select(event_t.c.instance_id).where(
            event_t.c.type == "timer_fired", event_t.c.instance_id.in_(timer_ids))).scalars())
        unfired_rows = conn.execute(select(func.count()).select_from(timer_t).where(
            timer_t.c.instance_id.in_(timer_ids), timer_t.c.purpose == step.CLOCK_TIMER,
            timer_t.c.fired_at.is_(None), timer_t.c.due_at < func.now())).scalar_one()
        every_case = list(conn.execute(select(instance_t.c.id)).scalars())
    assert {status.get(t) for t in acked_ids} == {"completed"}, Counter(status.get(t) for t in acked_ids)
    # every due reminder fired exactly once, by whichever scheduler
    assert unfired_rows == 0
    assert sorted(fired) == sorted(timer_ids) and set(fired.values()) == {1}, fired
    # the chains verify and every case replays from its history
    assert yekuo(db, "audit", "verify").returncode == 0
    diverged = {iid: r.divergence for iid in every_case if not (r := replay.replay(db, iid)).ok}
    if diverged:
        with db.read() as conn:
            detail = {iid: (conn.execute(select(instance_t.c.status, instance_t.c.error).where(instance_t.c.id == iid))
                            .one(), list(conn.execute(select(event_t.c.type).where(event_t.c.instance_id == iid)
                                                      .order_by(event_t.c.seq)).scalars()),
                            iid in timer_ids, [a for a in clients.acked if a[1] == iid])
                      for iid in diverged}
        print(detail)
    assert diverged == {}

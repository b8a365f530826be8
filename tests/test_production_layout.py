"""The production layout as README documents it: `yekuo serve --workers 2` (gunicorn, no scheduler
in the web processes) plus a separate `yekuo scheduler`, on PostgreSQL behind PgBouncer in
transaction mode (no session state, no server-side prepared statements). Cases run concurrently
through HTTP; afterwards every chain verifies.

Needs YEKUO_TEST_PGBOUNCER_URL (a PgBouncer in front of YEKUO_TEST_PG_URL's server, any database
name passed through; `.ci/run` starts one) — required under CI like the PostgreSQL URL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import PG_URL
from tests.process_helpers import example
from tests.test_wiring import BPMN, ROOT, _call, _free_port, _upload_pdf, _wait_for

PGBOUNCER_URL = os.environ.get("YEKUO_TEST_PGBOUNCER_URL")
if os.environ.get("CI") and not PGBOUNCER_URL:
    raise pytest.UsageError("CI runs must set YEKUO_TEST_PGBOUNCER_URL (see .ci/run)")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (PGBOUNCER_URL and PG_URL), reason="needs YEKUO_TEST_PGBOUNCER_URL and _PG_URL")]


@pytest.fixture
def bounced_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh database on the PostgreSQL server, reached through PgBouncer."""
    assert PG_URL and PGBOUNCER_URL
    name = f"yekuo_pgb_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    env = {**os.environ, "YEKUO_DATABASE_URL": str(make_url(PGBOUNCER_URL).set(database=name)),
           "YEKUO_SECRET_KEY": "k" * 48, "YEKUO_CALENDAR_FALLBACK": "1", "YEKUO_SCHEDULER_INTERVAL": "1",
           "YEKUO_OUTBOX_FILE": str(tmp_path / "outbox.jsonl"), "YEKUO_ANCHOR_DIR": str(tmp_path / "anchors")}
    try:
        yield env
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _one_case(base: str, token: str) -> dict[str, object]:
    started = _call(base, "POST", "/api/v1/process-instances", {"key": "new_connection", "data": {}}, token)
    [accept] = started["new_items"]
    claimed = _call(base, "POST", f"/api/v1/tasks/{accept['id']}/claim", {}, token)
    assert claimed["assignee"] == "clerk", claimed
    docs = {kind: {"ref": _upload_pdf(base, token, started["instance_id"]), "name": f"{kind}.pdf"}
            for kind in ("identity", "property_proof")}
    done = _call(base, "POST", f"/api/v1/tasks/{accept['id']}/complete",
                 {"data": example("accept", documents=docs)}, token)
    assert done["status"] == "running" and done["error"] is None, done
    return _call(base, "GET", f"/api/v1/process-instances/{started['instance_id']}", token=token)


def test_two_gunicorn_workers_and_a_scheduler_behind_pgbouncer(bounced_env: dict[str, str]) -> None:
    _cli(bounced_env, "init", "--demo")
    _cli(bounced_env, "deploy", str(BPMN), "--note", "pgbouncer test")
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
                           env=bounced_env, cwd=ROOT, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    scheduler = subprocess.Popen([sys.executable, "-m", "api.cli", "scheduler"], env=bounced_env, cwd=ROOT,
                                 text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, web)
        token = _call(base, "POST", "/api/v1/auth/token", {"username": "clerk", "password": "demo"})["access_token"]
        with ThreadPoolExecutor(4) as pool:
            cases = list(pool.map(lambda _: _one_case(base, token), range(12)))
    finally:
        for proc in (web, scheduler):
            proc.terminate()
        for proc in (web, scheduler):
            proc.wait(timeout=30)
    assert all(c["status"] == "running" and c["error"] is None for c in cases)
    assert all(re.fullmatch(r"YK\d{8}-\d{4}", str(c["business_key"] or "")) for c in cases)
    assert len({c["business_key"] for c in cases}) == 12  # the counter is safe across processes
    verify = subprocess.run([sys.executable, "-m", "api.cli", "audit", "verify"], env=bounced_env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr

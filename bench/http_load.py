"""Claim + complete over HTTP against the real servers (issue 17), bounded in count and time, loopback only.

Starts its own servers on a fresh database: `yekuo serve` (waitress, one process, scheduler inside)
and `yekuo serve --workers 2` plus one `yekuo scheduler`; prepares N cases, then C client threads
claim and complete the cases' first task. Prints pairs/s, completes/s, p50/p95/p99 of a pair and of
each call, errors by status, and statements per claim/complete (counted in-process on the same code).

    .venv/bin/python bench/http_load.py [--cases 200] [--clients 16] [--seconds 60] [--pg URL] [--layouts waitress,gunicorn2]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.process_helpers import example  # noqa: E402

LAYOUTS = {"waitress": (["serve"], False), "gunicorn2": (["serve", "--workers", "2"], True)}


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(pg: str | None, tmp: str) -> str:
    if not pg:
        return f"sqlite:///{tmp}/bench.db"
    from sqlalchemy import create_engine, make_url, text

    name = f"yekuo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(make_url(pg).set(database=name))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def run_layout(layout: str, env: dict[str, str], cases: int, clients: int, seconds: float) -> dict[str, Any]:
    args, scheduler = LAYOUTS[layout]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "api.cli", *args, "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    if scheduler:
        procs.append(subprocess.Popen([sys.executable, "-m", "api.cli", "scheduler"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for _ in range(600):
            try:
                if call(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        token = call(base, "POST", "/api/v1/auth/token", {"username": "clerk", "password": "demo"})[1]["access_token"]
        with ThreadPoolExecutor(clients) as pool:
            started = list(pool.map(lambda _: call(base, "POST", "/api/v1/process-instances",
                                                   {"key": "new_connection", "data": {}}, token), range(cases)))
        queue = collections.deque(s[1]["new_items"][0]["id"] for s in started if s[0] == 201)
        lock, pairs, claims, completes = threading.Lock(), [], [], []
        errors: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + seconds
        data = example("accept")

        def client() -> None:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    tid = queue.popleft()
                t0 = time.perf_counter()
                s1, _ = call(base, "POST", f"/api/v1/tasks/{tid}/claim", {}, token)
                t1 = time.perf_counter()
                s2, _ = call(base, "POST", f"/api/v1/tasks/{tid}/complete", {"data": data}, token)
                t2 = time.perf_counter()
                with lock:
                    claims.append(t1 - t0)
                    completes.append(t2 - t1)
                    if s1 == 200 and s2 == 200:
                        pairs.append(t2 - t0)
                    for s in (s1, s2):
                        if s != 200:
                            errors[str(s)] += 1

        t_start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t_start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    return {"layout": layout, "clients": clients, "pairs": len(pairs), "wall_s": round(wall, 2),
            "pairs_per_s": round(len(pairs) / wall, 1), "completes_per_s": round(len(completes) / wall, 1),
            "pair_ms": [round(pct(pairs, p), 1) for p in (50, 95, 99)],
            "claim_ms": [round(pct(claims, p), 1) for p in (50, 95, 99)],
            "complete_ms": [round(pct(completes, p), 1) for p in (50, 95, 99)], "errors": dict(errors)}


def statements_per_request(url: str) -> dict[str, int]:
    """claim and complete through the app in-process, counted as tests/test_round_trips.py does."""
    from engine import wiring
    from engine.core import config
    from engine.core.db import Database
    from tests.api_support import Api, make_app
    from tests.test_round_trips import counted

    wiring.install()
    db = Database(url)
    api = Api(make_app(db, Path(tempfile.mkdtemp())))
    started = api.ok("POST", "/api/v1/process-instances", 201, json={"key": "new_connection", "data": {}}, as_="clerk")
    tid = started["new_items"][0]["id"]
    with counted(db) as claim:
        api.ok("POST", f"/api/v1/tasks/{tid}/claim", as_="clerk")
    with counted(db) as complete:
        api.ok("POST", f"/api/v1/tasks/{tid}/complete", json={"data": example("accept")}, as_="clerk")
    db.dispose()
    _ = config
    return {"claim": len(claim["statements"]), "complete": len(complete["statements"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0, help="stop driving after this long")
    ap.add_argument("--pg", default=os.environ.get("YEKUO_BENCH_PG_URL"), help="PostgreSQL server (else SQLite)")
    ap.add_argument("--layouts", default="waitress,gunicorn2")
    a = ap.parse_args()
    a.cases, a.clients, a.seconds = min(a.cases, 5000), min(a.clients, 64), min(a.seconds, 600)  # bounded
    for layout in a.layouts.split(","):
        tmp = tempfile.mkdtemp()
        url = fresh_database(a.pg, tmp)
        env = {**os.environ, "YEKUO_DATABASE_URL": url, "YEKUO_SECRET_KEY": "b" * 48, "YEKUO_CALENDAR_FALLBACK": "1",
               "YEKUO_OUTBOX_FILE": f"{tmp}/outbox.jsonl", "YEKUO_ANCHOR_DIR": f"{tmp}/anchors"}
        for cmd in (["init", "--demo"], ["deploy", str(ROOT / "bpmn"), "--note", "bench"]):
            subprocess.run([sys.executable, "-m", "api.cli", *cmd], env=env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        result = run_layout(layout, env, a.cases, a.clients, a.seconds)
        result["db"] = "postgresql" if a.pg else "sqlite"
        result["statements"] = statements_per_request(url)
        result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

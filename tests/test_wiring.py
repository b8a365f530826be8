"""Explicit wiring: importing registers nothing; `engine.wiring.install()` is what every entry point
calls, and a process started as gunicorn starts it runs a case through its service tasks."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from engine import wiring
from engine.core import services, store, timers
from engine.deadlines import calendar_import
from tests.process_helpers import example

ROOT = Path(__file__).resolve().parent.parent
BPMN = ROOT / "bpmn"

IMPORT_EVERYTHING = """
import importlib, pkgutil, json
import engine, api
for package in (engine, api):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
from engine.core import runtime, services, step, store, timers
from engine.deadlines import calendar_import
from engine.messages import sinks
print(json.dumps({"services": sorted(services.operators()), "timers": sorted(timers.HANDLERS),
                  "case_end": len(store.CASE_END_HOOKS), "write": len(store.WRITE_HOOKS),
                  "helpers": sorted(step.SCRIPT_HELPERS), "calendar": len(calendar_import.after_import),
                  "form_checks": sorted(runtime.FORM_CHECKS),
                  "submission_checks": len(runtime.SUBMISSION_CHECKS), "channel_sinks": sorted(sinks.CHANNEL_SINKS)}))
"""


def test_importing_every_module_registers_nothing() -> None:
    proc = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"services": [], "timers": [], "case_end": 0, "write": 0, "helpers": [],
                                       "calendar": 0, "form_checks": [], "submission_checks": 0,
                                       "channel_sinks": []}


def test_install_knows_every_operator_the_bundled_models_call() -> None:
    used = {m for f in BPMN.glob("*.bpmn")
            for m in re.findall(r'serviceTaskOperator[^>]*?id="([^"]+)"', f.read_text(encoding="utf-8"))}
    installed = wiring.install()
    assert used and used <= set(installed.services) == services.operators() & set(wiring.SERVICES)
    assert wiring.install() is installed  # idempotent: a second entry point changes nothing
    assert set(installed.timer_purposes) <= set(timers.HANDLERS)
    assert store.WRITE_HOOKS.count(wiring.steps.on_write) == 1
    assert all(store.CASE_END_HOOKS.count(h) == 1 for h in wiring.CASE_END_HOOKS)
    assert calendar_import.after_import.count(wiring.sla.after_calendar_import) == 1


# ---------------------------------------------------------------------------------------------
# the multi-process layout the README recommends, started exactly as documented


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _upload_pdf(base: str, token: str, instance_id: int) -> str:
    """A case document, as the counter clerk scans it in through the API (the accept form names it)."""
    from tests.api_support import PDF

    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.pdf\"\r\n"
            b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--b--\r\n")
    request = urllib.request.Request(f"{base}/api/v1/documents?instance_id={instance_id}", data=body, method="POST",
                                     headers={"Content-Type": "multipart/form-data; boundary=b",
                                              "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return str(json.loads(resp.read())["ref"])


def _wait_for(base: str, proc: subprocess.Popen[str]) -> None:
    for _ in range(300):
        try:
            _call(base, "GET", "/healthz")
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read() if proc.stderr else "gunicorn exited")
            time.sleep(0.1)  # waiting for a real server process to bind, not for engine time
    pytest.fail("gunicorn did not answer /healthz")


@pytest.mark.slow
def test_gunicorn_runs_a_new_case_through_its_service_tasks(tmp_path: Path) -> None:
    """`gunicorn 'api.app:create_app()'` imports nothing but the app: the case must still get its
    application number from the `yekuo/next_number` service (it went to `error` when the handlers
    were registered by importing a module the app never imported)."""
    env = {**os.environ, "YEKUO_DATABASE_URL": f"sqlite:///{tmp_path / 'yekuo.db'}", "YEKUO_DEMO": "1",
           "YEKUO_CALENDAR_FALLBACK": "1", "YEKUO_SECRET_KEY": "k" * 48}
    for args in (["init", "--demo"], ["deploy", str(BPMN), "--note", "gunicorn test"]):
        done = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "api.app:create_app()", "--workers", "2",
                             "--bind", f"127.0.0.1:{port}"], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, proc)
        token = _call(base, "POST", "/api/v1/auth/token", {"username": "clerk", "password": "demo"})["access_token"]
        started = _call(base, "POST", "/api/v1/process-instances", {"key": "new_connection", "data": {}}, token)
        assert started["status"] == "running", started
        [accept] = _call(base, "GET", f"/api/v1/tasks?instance={started['instance_id']}", token=token)["items"]
        _call(base, "POST", f"/api/v1/tasks/{accept['id']}/claim", {}, token)
        data = _with_case_documents(env, tmp_path, started["instance_id"], example("accept"))
        done = _call(base, "POST", f"/api/v1/tasks/{accept['id']}/complete", {"data": data}, token)
        case = _call(base, "GET", f"/api/v1/process-instances/{started['instance_id']}", token=token)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert done["status"] == "running" and done["error"] is None, done
    assert case["status"] == "running" and case["error"] is None
    assert re.fullmatch(r"YK\d{8}-\d{4}", case["business_key"] or ""), case["business_key"]


def _with_case_documents(env: dict[str, str], tmp_path: Path, instance_id: int, data: dict) -> dict:
    """The served app checks that a form names documents of its case: store the example's as the
    clerk's uploads for this case."""
    from engine.core.db import Database
    from engine.intake import documents

    db = Database(env["YEKUO_DATABASE_URL"])
    try:
        for part in data["documents"].values():
            part["ref"] = documents.store(db, b"%PDF-1.4 example", filename=part["name"], uploaded_by="clerk",
                                          root=tmp_path / "documents", instance_id=instance_id).ref
    finally:
        db.dispose()
    return data

"""The `yekuo` command line as operators use it: one-line errors, exit codes.

Commands run in-process through the shared runner (tests/cli_support.py); the entry point itself,
`yekuo serve` and `yekuo scheduler` run as real processes in the `slow` smoke tests at the end.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from sqlalchemy import func, select, update

from engine.core import runtime
from engine.core.models import event_t
from tests.cli_support import ROOT, command, process_env
from tests.cli_support import yekuo as run
from tests.conftest import DATA, ENGINE_MODEL
from tests.helpers import ACCEPT, complete


def test_init_is_repeatable_and_seeds_demo_users(db):
    from engine.core import schema

    first = run(db, "init", "--demo")
    assert f"revision {schema.head_revision(db)}" in first.stdout and "clerk" in first.stdout
    again = run(db, "init", "--demo")
    assert "0 role group(s) added" in again.stdout
    from engine.core import users

    assert users.authenticate(db, "clerk", "demo").groups == frozenset({"clerk"})
    assert users.authenticate(db, "clerk", "wrong") is None


def test_deploy_is_idempotent_and_versions_changes(db, tmp_path):
    out = run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn"))
    assert out.stdout.strip() == "engine_model 1"
    assert run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn")).stdout.strip() == "engine_model 1 (unchanged)"
    changed = tmp_path / "engine_model.bpmn"
    changed.write_text((ENGINE_MODEL / "engine_model.bpmn").read_text().replace("受理申请", "受理用电申请"))
    assert run(db, "deploy", str(changed)).stdout.strip() == "engine_model 2"


def test_invalid_bpmn_is_refused_with_file_line_and_element(db):
    bad = DATA / "bad_bpmn" / "multi_problem.bpmn"
    out = run(db, "deploy", str(bad), check=False)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "problem" in lines[0]
    assert any("multi_problem.bpmn:" in line and "[" in line for line in lines[1:])


def test_missing_file_is_one_line_error(db):
    out = run(db, "deploy", "/nonexistent/x.bpmn", check=False)
    assert out.returncode == 1 and out.stderr.count("\n") <= 2 and "no such file" in out.stderr


def test_start_show_fire_due_and_audit(db):
    run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn"))
    started = run(db, "instances", "start", "engine_model", "--data", '{"channel": "95598"}', "--business-key", "YK-9")
    assert started.stdout.strip() == "instance 1 running"
    shown = json.loads(run(db, "instances", "show", "1").stdout)
    assert shown["business_key"] == "YK-9" and shown["open_tasks"][0]["group"] == "clerk"
    assert run(db, "timers", "fire-due", "--now", "2030-01-01T00:00:00+08:00").stdout.strip().startswith("fired 0")
    assert "0 broken" in run(db, "audit", "verify").stdout
    with db.write() as conn:
        conn.execute(update(event_t).where(event_t.c.seq == 1).values(actor="mallory"))
    tampered = run(db, "audit", "verify", "1", check=False)
    assert tampered.returncode == 1
    assert "instance 1: event 1 was altered" in tampered.stderr


def test_bad_arguments_are_one_clear_line(db):
    out = run(db, "timers", "fire-due", "--now", "tomorrow", check=False)
    assert out.returncode == 1 and out.stderr.strip() == "error: not an ISO-8601 instant: 'tomorrow' (e.g. 2026-03-01T09:00:00+08:00)"
    out = run(db, "instances", "start", "engine_model", "--data", "{oops", check=False)
    assert out.returncode == 1 and out.stderr.startswith("error: --data is not valid JSON")
    out = run(db, "instances", "show", "42", check=False)
    assert (out.returncode, out.stderr.strip()) == (1, "error: process instance 42 does not exist")


def test_replay_and_sla_commands(db, tmp_path):
    run(db, "init")
    run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn"))
    run(db, "instances", "start", "engine_model", "--data", '{"channel": "app"}')
    out = run(db, "audit", "replay", "1")
    assert out.stdout.startswith("instance 1: replayed 1 inputs") and "match" in out.stdout
    report = json.loads(run(db, "audit", "replay", "1", "--json").stdout)
    assert report["ok"] and report["final"]["open_tasks"] == ["accept"]
    assert run(db, "sla", "show", "1").stdout.strip() == "on time: yes"  # no assessed step yet
    out = run(db, "sla", "pause", "1", "--reason", "nonsense", check=False)
    assert out.returncode == 1 and "unknown pause reason" in out.stderr
    assert run(db, "sla", "pause", "1", "--reason", "customer_documents").stdout.strip() == "0 clock(s) paused"
    assert run(db, "sla", "resume", "1").stdout.strip() == "0 clock(s) resumed"
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"name": "province_x", "title": "某省", "rules": [
        {"business_type": "*", "sla_key": "callback", "workdays": 1}]}), encoding="utf-8")
    assert "loaded and active" in run(db, "rules", "load", str(rules), "--activate").stdout
    assert run(db, "rules", "activate", "sgcc_default").stdout.strip() == "rule set sgcc_default is active"


def test_anchor_and_verify_against_it(db, tmp_path):
    run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn"))
    run(db, "instances", "start", "engine_model")
    env = {"YEKUO_ANCHOR_KEY": "test-key", "YEKUO_ANCHOR_DIR": str(tmp_path)}
    out = run(db, "audit", "anchor", env=env)
    assert out.stdout.startswith("anchored 1 chain head(s) in ")
    [path] = list(tmp_path.glob("anchor-*.json"))
    assert "anchor holds for 1 chain head(s)" in run(db, "audit", "verify", "--anchor", str(path), env=env).stdout
    bad = run(db, "audit", "verify", "--anchor", str(path), env={**env, "YEKUO_ANCHOR_KEY": "wrong-key"}, check=False)
    assert bad.returncode == 1 and "signature does not verify" in bad.stderr
    missing = run(db, "audit", "anchor", env={"YEKUO_ANCHOR_DIR": str(tmp_path)}, check=False)
    assert missing.returncode == 1 and "YEKUO_ANCHOR_KEY" in missing.stderr


def test_versions_diff_and_migration_commands(db, tmp_path):
    run(db, "deploy", str(ENGINE_MODEL / "engine_model.bpmn"))
    run(db, "instances", "start", "engine_model")
    changed = tmp_path / "engine_model.bpmn"
    changed.write_text((ENGINE_MODEL / "engine_model.bpmn").read_text().replace('"P2D"', '"P1D"'))
    run(db, "deploy", str(changed))
    diff = run(db, "versions", "diff", "engine_model", "1", "2").stdout
    assert "changed  engine_model/survey_reminder" in diff and "running: v1: 1" in diff
    assert run(db, "migrate", "check", "1").stdout.strip() == "instance 1 v1 -> v2: can move"
    assert run(db, "migrate", "run", "1", "--note", "提醒提前").stdout.strip() == "instance 1 moved v1 -> v2"
    assert run(db, "migrate", "revert", "1").stdout.strip() == "instance 1 reverted"
    assert json.loads(run(db, "instances", "show", "1").stdout)["version"] == 1


def test_the_runner_sees_only_its_own_environment(db, tmp_path, monkeypatch):
    """In-process runs read the settings per call, from the variables given for that call only."""
    monkeypatch.setenv("YEKUO_CALENDAR_FALLBACK", "1")  # a developer's shell must not leak in
    status = run(db, "calendar", "status").stdout
    assert "other years: refused" in status
    assert "counted Monday–Friday" in run(db, "calendar", "status", env={"YEKUO_CALENDAR_FALLBACK": "1"}).stdout
    other = type(db)(f"sqlite:///{tmp_path / 'other.db'}")
    assert run(other, "init").returncode == 0 and "0 chain(s) checked" in run(other, "audit", "verify").stdout
    assert run(db, "--help").stdout.startswith("usage: yekuo")
    assert run(db, "nonsense", check=False).returncode == 2
    other.dispose()


# ---------------------------------------------------------------------------------------------
# real processes: the entry point, the server, the scheduler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_python_m_api_cli_runs_help_and_deploy(db):
    shown = subprocess.run(command("--help"), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0 and "instances" in shown.stdout and "dispatch" in shown.stdout
    deployed = subprocess.run(command("deploy", str(ENGINE_MODEL / "engine_model.bpmn")), capture_output=True,
                              text=True, env=process_env(db), cwd=ROOT, timeout=120)
    assert (deployed.returncode, deployed.stdout, deployed.stderr) == (0, "engine_model 1\n", "")
    refused = subprocess.run(command("instances", "show", "42"), capture_output=True, text=True,
                             env=process_env(db), cwd=ROOT, timeout=120)
    assert (refused.returncode, refused.stderr) == (1, "error: process instance 42 does not exist\n")


@pytest.mark.slow
def test_serve_answers_healthz(db):
    port = _free_port()
    proc = subprocess.Popen(command("serve", "--port", str(port)), env=process_env(db), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(proc.stderr.read())
                time.sleep(0.1)  # waiting for a real server process to bind, not for engine time
        assert body["status"] == "ok" and body["scheduler"]["recent"] in (True, False)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_scheduler_process_fires_a_due_timer_and_stops_on_ctrl_c(db, engine_model, clock, tmp_path):
    """`yekuo scheduler` on its own wires the engine (no import does it) and fires what is due."""
    iid = runtime.start_instance(db, "engine_model").instance_id
    complete(db, iid, "accept", ACCEPT)
    complete(db, iid, "verify_identity")
    complete(db, iid, "check_docs", {"docs_complete": True})  # now waiting on a timer due days ago in real time
    env = process_env(db, {"YEKUO_SCHEDULER_INTERVAL": "0.2", "YEKUO_OUTBOX_FILE": str(tmp_path / "outbox.jsonl")})
    with open(tmp_path / "scheduler.log", "w") as log:
        proc = subprocess.Popen(command("scheduler"), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout.readline() == "Yekuo scheduler running; Ctrl-C stops it\n"
            for _ in range(300):
                with db.read() as conn:
                    fired = conn.execute(select(func.count()).select_from(event_t).where(
                        event_t.c.instance_id == iid, event_t.c.type == "timer_fired")).scalar()
                if fired or proc.poll() is not None:
                    break
                time.sleep(0.1)  # waiting for a real process's interval job, not for engine time
            assert fired, (tmp_path / "scheduler.log").read_text()
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0

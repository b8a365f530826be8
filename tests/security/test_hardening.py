"""Headers, sessions, settings, the database gone, and pages that gave 500 on odd input.

Each test reproduces one finding of the hardening review: it failed before the fix and passes
after. The browser side (stored XSS, CSP in a real Chromium) is in test_xss_browser.py.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from api import security
from api.app import create_app
from engine import scheduler
from engine.core import config
from engine.core.db import Database
from tests.api_support import TEST_SECRET, Api, api, make_app  # noqa: F401  (fixture)
from tests.process_helpers import start_case
from tests.web_support import csrf_of, sign_in

ROOT = Path(__file__).resolve().parents[2]
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- Content-Security-Policy and the other headers --------------------------------------------------

def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else "" for part in header.split("; ")}


@pytest.mark.parametrize("path", ["/login", "/api/v1/docs"])
def test_pages_carry_a_strict_policy_with_a_fresh_nonce(api: Api, path: str) -> None:
    first, second = api.client.get(path), api.client.get(path)
    assert first.status_code == 200
    policy = _policy(first)
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", policy["script-src"])
    assert nonce, policy["script-src"]  # only scripts with this request's nonce: no 'unsafe-inline', no 'self'
    assert "unsafe-eval" not in first.headers["Content-Security-Policy"]
    assert (policy["frame-ancestors"], policy["object-src"], policy["base-uri"]) == ("'none'", "'none'", "'none'")
    assert _policy(second)["script-src"] != policy["script-src"]
    scripts = re.findall(r"<script\b[^>]*>", first.text)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in s or 'type="application/json"' in s for s in scripts)
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["Referrer-Policy"] == "same-origin"


def test_no_page_has_inline_handlers_or_inline_script(api: Api) -> None:
    iid = start_case(api.db, data={"channel": "counter", "customer_name": "张伟"})
    client = sign_in(api.app, "auditor")
    for path in ("/tasks", "/tasks/all", "/cases", f"/cases/{iid}", f"/cases/{iid}/history", f"/cases/{iid}/file",
                 "/dispatch", "/dispatch/lists", "/dispatch/works", "/dispatch/lists/print", "/kpis", "/modeler"):
        page = client.get(path)
        if page.status_code != 200:
            continue  # a page this role may not see
        assert not HANDLER.search(page.text), (path, HANDLER.search(page.text).group(0))
        inline = [s for s in re.findall(r"<script\b[^>]*>", page.text) if "src=" not in s and "application/json" not in s]
        assert inline == [], (path, inline)


# -- the session cookie -----------------------------------------------------------------------------

def _login_cookie(app: Flask) -> str:
    client = app.test_client()
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "clerk", "password": "demo", "csrf_token": token})
    assert response.status_code == 302
    return response.headers["Set-Cookie"]


def test_session_cookie_is_lax_httponly_and_secure_outside_demo(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.delenv("YEKUO_COOKIE_SECURE", raising=False)
    cookie = _login_cookie(make_app(api.db, tmp_path))
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" in cookie

    demo = create_app(config.Settings(database_url=api.db.url, demo=True), api.db)
    assert "Secure" not in _login_cookie(demo) and "SameSite=Lax" in _login_cookie(demo)

    monkeypatch.setenv("YEKUO_COOKIE_SECURE", "0")  # e.g. a plain-http intranet test install
    assert "Secure" not in _login_cookie(make_app(api.db, tmp_path))
    monkeypatch.setenv("YEKUO_COOKIE_SECURE", "1")
    assert "Secure" in _login_cookie(create_app(config.Settings(database_url=api.db.url, demo=True), api.db))


def test_sign_in_starts_a_new_session(api: Api) -> None:
    client = api.client
    before = csrf_of(client.get("/login").text)
    client.post("/login", data={"username": "clerk", "password": "demo", "csrf_token": before})
    after = csrf_of(client.get("/tasks").text)
    assert after != before  # nothing a planted pre-login session carried survives sign-in


def test_a_copied_session_cookie_is_dead_after_sign_out(api: Api) -> None:
    owner = sign_in(api.app, "clerk")
    cookie = owner.get_cookie("session")
    thief = api.app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/tasks").status_code == 200  # the copy works while the session lives

    token = csrf_of(owner.get("/tasks").text)
    assert owner.post("/logout", data={"csrf_token": token}).status_code == 302

    replay = thief.get("/tasks")
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    assert sign_in(api.app, "clerk").get("/tasks").status_code == 200  # signing in again works


def test_sign_in_form_needs_its_csrf_token(api: Api) -> None:
    forged = api.app.test_client()  # a cross-site form post: no session, no token
    response = forged.post("/login", data={"username": "clerk", "password": "demo"})
    assert response.status_code == 400
    assert forged.get("/tasks").status_code == 302  # not signed in

    other = csrf_of(api.app.test_client().get("/login").text)  # a token from another browser
    forged.get("/login")
    assert forged.post("/login", data={"username": "clerk", "password": "demo", "csrf_token": other}).status_code == 400


# -- the secret key ---------------------------------------------------------------------------------

def test_server_refuses_to_start_without_a_proper_key(db: Database) -> None:
    for key in (config.Settings().secret_key, "short", "x" * 31):
        with pytest.raises(security.InsecureSettings) as caught:
            create_app(config.Settings(database_url=db.url, secret_key=key), db)
        message = caught.value.message
        assert "YEKUO_SECRET_KEY" in message and security.MAKE_KEY in message and "\n" not in message
    create_app(config.Settings(database_url=db.url, secret_key="x" * 32), db)
    create_app(config.Settings(database_url=db.url, demo=True), db)  # demo mode runs with the default


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["scheduler"]])
def test_cli_refuses_to_start_without_a_key(db: Database, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("YEKUO_SECRET_KEY", "YEKUO_DEMO")}
    env["YEKUO_DATABASE_URL"] = db.url
    proc = subprocess.run([sys.executable, "-m", "api.cli", *command], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: YEKUO_SECRET_KEY"), proc.stderr
    assert "secrets.token_urlsafe(48)" in lines[0]


# -- the database gone ------------------------------------------------------------------------------

def test_health_and_api_answer_503_when_the_database_is_unreachable(api: Api) -> None:
    token = api.headers("clerk")  # signed while the database was there
    gone = Database(f"postgresql://yekuo:x@127.0.0.1:{_closed_port()}/yekuo", connect_args={"connect_timeout": 2})
    app = create_app(config.Settings(database_url=gone.url, secret_key=TEST_SECRET), gone)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unavailable"
    assert health.get_json()["error"]["code"] == "database_unavailable"
    r = client.get("/api/v1/tasks", headers=token)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.get_json()["error"]["code"] == "database_unavailable" and r.get_json()["error"]["message"]
    page = client.get("/login")  # a page renders nothing that needs the database: still up
    assert page.status_code == 200
    gone.dispose()


def test_health_says_ok_with_the_database_and_whether_a_scheduler_runs(api: Api, clock) -> None:
    """No scheduler has ever run: the app is up, and health says timers are not being worked."""
    assert api.client.get("/healthz").get_json() == {"status": "ok",
                                                      "scheduler": {"last_run": None, "recent": False}}
    scheduler.fire_due_job(api.db)  # one pass of a scheduler process
    fresh = api.client.get("/healthz").get_json()["scheduler"]
    assert fresh == {"last_run": clock.now().astimezone(dt.timezone.utc).isoformat(), "recent": True}
    clock.advance(seconds=61)  # three 5-second intervals, at least a minute, have passed
    assert api.client.get("/healthz").get_json()["scheduler"]["recent"] is False


# -- odd input that gave 500 ------------------------------------------------------------------------

def test_second_pages_of_cases_and_all_tasks(api: Api) -> None:
    for n in range(21):  # one more than a page
        start_case(api.db, data={"channel": "counter", "customer_name": f"客户{n:02d}"})
    client = sign_in(api.app, "auditor")
    for path in ("/cases?page=2", "/tasks/all?page=2"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "第 2 / 2 页" in page.text or "Page 2 of 2" in page.text, path
        assert "page=1" in page.text  # the link back keeps working
    assert client.get("/cases?page=99999999999999999999").status_code == 200


def test_a_twenty_digit_id_is_not_found(api: Api) -> None:
    client = sign_in(api.app, "auditor")
    big = "9" * 20
    for path in (f"/cases/{big}", f"/cases/{big}/history", f"/cases/{big}/file"):
        assert client.get(path).status_code == 404, path
    assert api.get(f"/api/v1/process-instances/{big}", as_="auditor").status_code == 404


def test_search_for_a_percent_sign_matches_it_literally(api: Api) -> None:
    start_case(api.db, data={"channel": "counter", "customer_name": "百分百%电力"})
    start_case(api.db, data={"channel": "counter", "customer_name": "和平里_餐饮"})
    start_case(api.db, data={"channel": "counter", "customer_name": "张伟"})
    client = sign_in(api.app, "auditor")
    for query, expected in (("%", ["百分百%电力"]), ("_", ["和平里_餐饮"]), ("张", ["张伟"])):
        text = client.get("/cases", query_string={"q": query}).text
        found = [name for name in ("百分百%电力", "和平里_餐饮", "张伟") if name in text]
        assert found == expected, (query, found)

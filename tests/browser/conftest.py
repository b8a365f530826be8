"""Browser tests: the real app on a live server, driven by Playwright with Debian's Chromium.

Nothing downloads a browser: `browser_type_launch_args` points pytest-playwright at the system
Chromium (`CHROMIUM_PATH`, else `chromium` on PATH; `.ci/run` installs it with apt-get). Without
one the tests are skipped locally and fail under CI.

The server runs in this process on a fresh SQLite database (the browser tests do not repeat on
PostgreSQL: the engine tests cover both, and one browser pass keeps CI short), with the bundled
models deployed, the demo users seeded, demo mode on, and the engine clock frozen at a Monday
morning in 2026 — the forms' example dates lie in 2027 and the packaged working-day calendar ends
with 2026, so a frozen clock keeps "not in the past" dates and deadlines stable whenever CI runs.
Screenshots go to `test-artifacts/` (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage
from werkzeug.serving import make_server

from engine.core import clock as engine_clock
from engine.core import config, schema, users
from engine.core.clock import CHINA
from engine.core.db import Database
from engine.deadlines import rule_versions

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
#: A Monday, 09:00 in Beijing (a working day in the packaged 2026 calendar).
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA)
#: console errors a test may cause on purpose: an HTTP error answer (a 422 with field errors, a 409)
#: is logged by Chromium as "Failed to load resource"; the test checks what the page shows instead
EXPECTED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of (4\d\d|503)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("browser tests need Chromium under CI: apt-get install chromium (see .ci/run)")
    skip = pytest.mark.skip(reason="no Chromium on this machine (apt-get install chromium fonts-noto-cjk)")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


class LiveServer:
    """The app on 127.0.0.1 with a random port, served from a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def frozen_clock() -> engine_clock.FixedClock:
    """The browser tests' clock; installed only while a browser test runs (see `_frozen`)."""
    return engine_clock.FixedClock(NOW)


@pytest.fixture(autouse=True)
def _frozen(frozen_clock: engine_clock.FixedClock) -> Iterator[None]:
    """The server thread reads the engine clock per request: freeze it for this test only, so
    the rest of the suite keeps its own clock; leave no failed sign-ins behind either."""
    from api import auth

    frozen_clock.set(NOW)
    previous = engine_clock.set_clock(frozen_clock)
    try:
        yield
    finally:
        engine_clock.set_clock(previous)
        auth.reset_throttle()


@pytest.fixture(autouse=True)
def console_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every browser context of the test reports console errors and uncaught exceptions — a
    Content-Security-Policy violation shows up here — and the test fails if there was one."""
    errors: list[str] = []
    original = Browser.new_context

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not EXPECTED_CONSOLE.match(msg.text):
            errors.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def new_context(self: Browser, *args: Any, **kwargs: Any) -> BrowserContext:
        context = original(self, *args, **kwargs)
        context.on("console", on_console)
        context.on("weberror", lambda err: errors.append(f"uncaught: {err.error}"))
        return context

    monkeypatch.setattr(Browser, "new_context", new_context)
    yield errors
    assert not errors, "\n".join(errors)


def seeded_database(path: Path, frozen_clock: engine_clock.FixedClock) -> Database:
    """What `yekuo init --demo && yekuo deploy bpmn/` leaves, on a scratch SQLite file."""
    from engine.deadlines import calendar_import
    from tests.process_helpers import deploy

    db = Database(f"sqlite:///{path}")
    previous = engine_clock.set_clock(frozen_clock)
    try:
        schema.upgrade(db)
        users.seed_groups(db)
        calendar_import.seed_from_package(db, only=range(2025, 2027))
        rule_versions.seed_rule_sets(db)
        users.seed_demo_users(db, "demo")
        deploy(db)
    finally:
        engine_clock.set_clock(previous)
    return db


def serve(db: Database) -> LiveServer:
    """The app on `db` in a live server (enter it with `with`)."""
    from api import auth
    from api.app import create_app

    settings = config.Settings(database_url=str(db.engine.url), secret_key="browser-tests", demo=True)
    app = create_app(settings, db=db)
    auth.reset_throttle()
    return LiveServer(app)


@pytest.fixture(scope="session")
def web_db(tmp_path_factory: pytest.TempPathFactory, frozen_clock: engine_clock.FixedClock) -> Iterator[Database]:
    """The database the browser tests share (see `seeded_database`)."""
    db = seeded_database(tmp_path_factory.mktemp("web") / "yekuo.db", frozen_clock)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def live_server(web_db: Database) -> Iterator[LiveServer]:
    with serve(web_db) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    """Overrides pytest-base-url: `page.goto("/tasks")` goes to the live server."""
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}, "locale": "zh-CHINA",
            "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def new_context(browser: Browser, browser_context_args: dict[str, Any]) -> Any:
    contexts: list[BrowserContext] = []

    def make(**extra: Any) -> BrowserContext:
        ctx = browser.new_context(**{**browser_context_args, **extra})
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()

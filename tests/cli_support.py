"""One way for tests to run the `yekuo` command.

`yekuo(db, ...)` calls `api.cli.main` in this process — a command costs milliseconds instead of
the second an interpreter start and imports take — but sees what a fresh process would: the
environment holds only the `YEKUO_*` variables given (settings are read from it on every call),
and output and exit code come back as a subprocess would return them. The engine clock is the
test's (pin it with the `clock` fixture); the process-wide state a command may replace (the clock,
the active message templates) is put back afterwards.

`command()` and `process_env()` are for the few tests that need a real process: servers, the
scheduler, racing processes, and the `@pytest.mark.slow` smoke tests of the entry point itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from api.cli import main
from engine.core import clock
from engine.core.db import Database
from engine.messages import templates
from tests.api_support import TEST_SECRET
from tests.conftest import ENGINE_MODEL

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Result:
    """What `subprocess.run(..., capture_output=True, text=True)` would have returned."""

    returncode: int
    stdout: str
    stderr: str


def cli_env(db: Database, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `YEKUO_*` variables of a run: the database, the engine model's forms, a real secret key
    (servers and schedulers refuse to start without one), then `env`."""
    return {"YEKUO_DATABASE_URL": db.url, "YEKUO_FORMS_DIR": str(ENGINE_MODEL / "forms"),
            "YEKUO_SECRET_KEY": TEST_SECRET, **(env or {})}


def yekuo(db: Database, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> Result:
    """Run `yekuo ARGS` in-process against `db`; with `check`, exit 0 is asserted."""
    out, err = io.StringIO(), io.StringIO()
    with _environ(cli_env(db, env)), _process_state(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse: --help, or a usage error
            code = exit_.code if isinstance(exit_.code, int) else 1 if exit_.code else 0
    result = Result(code, out.getvalue(), err.getvalue())
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stderr
    return result


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("YEKUO_")]:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _process_state() -> Iterator[None]:
    """A real process would take its replacements to the grave; here they must not reach the next test."""
    saved_clock = clock.set_clock(clock.SystemClock())
    clock.set_clock(saved_clock)
    saved_templates = templates._active
    try:
        yield
    finally:
        clock.set_clock(saved_clock)
        templates._active = saved_templates


def command(*args: str) -> list[str]:
    """`yekuo ARGS` as a real process (run with `cwd=ROOT`, so it imports this checkout)."""
    return [sys.executable, "-m", "api.cli", *args]


def process_env(db: Database, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a real `yekuo` process: this one's, with the run's `YEKUO_*` variables."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("YEKUO_")}
    return {**inherited, **cli_env(db, env)}

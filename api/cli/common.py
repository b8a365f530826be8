"""What every command module shares: the context of one run and the argument readers.

Argument readers raise `YekuoError`, so a bad value becomes one line on stderr and exit 1 (see
`api.cli.main`), never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from engine.core import clock, config
from engine.core.db import Database
from engine.core.errors import YekuoError


class Context:
    """One command run: the settings read from the environment, and the database opened on first
    use — once, and closed by `main`, so in-process runs (the tests) leave no pools behind."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None


#: A command: reads its arguments, calls the engine, prints; returns the exit code.
Command = Callable[[argparse.Namespace, Context], int]
#: What `add_subparsers()` returns; each command module adds its parsers to it.
Subparsers = Any


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise YekuoError(f"not a date: {text!r} (e.g. 2026-02-13)") from None


def optional_date(text: str | None) -> dt.date | None:
    return parse_date(text) if text else None


def today(text: str | None) -> dt.date:
    """`text` as a date, or today in China."""
    return parse_date(text) if text else clock.now().astimezone(clock.CHINA).date()


def parse_instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise YekuoError(f"not an ISO-8601 instant: {text!r} (e.g. 2026-03-01T09:00:00+08:00)") from None
    if value.tzinfo is None:
        raise YekuoError(f"{text!r} has no UTC offset; write e.g. {text}+08:00")
    return value


def optional_instant(text: str | None) -> dt.datetime | None:
    """`--now`/`--at`: an instant, or None for the engine clock's now."""
    return parse_instant(text) if text else None


def json_object(text: str | None) -> dict[str, Any]:
    """`--data`: a JSON object, `{}` when absent."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise YekuoError(f"--data is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise YekuoError("--data must be a JSON object")
    return value


def print_json(value: Any) -> None:
    """The `--json` output of every listing: readable, Chinese kept as is."""
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))

"""The deterministic helpers every script sees: dates, decimals, rounding, a regex test; no clock.

`step_helpers` adds what one command knows (its engine time, its actor) for spiff-arena scripts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    raise TypeError(f"expected a date or an ISO date string, got {type(value).__name__}")


def parse_date(value: str) -> date:
    """An ISO date ('2026-03-01') or the date part of an ISO datetime."""
    return _as_date(value)


def parse_datetime(value: str) -> datetime:
    """An ISO datetime; include an offset ('+08:00'), naive values are taken as they are."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO datetime string, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def days_between(start: date | str, end: date | str) -> int:
    """Whole calendar days from `start` to `end` (negative if `end` is earlier)."""
    return (_as_date(end) - _as_date(start)).days


def re_match(pattern: str, value: str) -> bool:
    """True if `value` matches `pattern` at its start (Python `re.match`); returns no match object."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        raise TypeError("re_match(pattern, value) takes two strings")
    return re.match(pattern, value) is not None


def floor(x: float | Decimal) -> int:
    """Largest integer <= x."""
    return math.floor(x)


def ceil(x: float | Decimal) -> int:
    """Smallest integer >= x."""
    return math.ceil(x)


#: Deterministic helpers every script sees. `date`/`datetime` are the real classes (so values
#: compare and serialize normally); their now/today/utcnow are refused by the attribute guard.
DEFAULT_HELPERS: dict[str, Any] = {
    "Decimal": Decimal,
    "date": date,
    "datetime": datetime,
    "timedelta": timedelta,
    "parse_date": parse_date,
    "parse_datetime": parse_datetime,
    "days_between": days_between,
    "floor": floor,
    "ceil": ceil,
    "re_match": re_match,
}



class HelperNamespace(SimpleNamespace):
    """A module-like helper (`time.time()`): each attribute is a function of the calling process,
    which the sandbox worker reaches by its dotted name."""


def step_helpers(now: datetime, user: Callable[[], str | None]) -> dict[str, Any]:
    """spiff-arena's common helpers, deterministic: `time.time()` is the command's engine time (what
    replay pins again), `get_current_user()` the person whose command runs the script."""

    def time_time() -> float:
        return now.timestamp()

    def get_current_user() -> dict[str, Any]:
        name = user()
        return {"username": name, "id": name} if name else {}

    return {"time": HelperNamespace(time=time_time), "get_current_user": get_current_user}

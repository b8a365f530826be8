"""The one clock of the engine.

Everything that needs "now" (deadlines, timers, history timestamps) asks `now()`. Tests and replay
swap the clock instead of sleeping. SpiffWorkflow's timer module reads `datetime.now(timezone.utc)`
directly, so `install()` points that module at this clock too.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import threading
import time as _time
from collections.abc import Iterator
from typing import Protocol

UTC = _dt.timezone.utc


class Clock(Protocol):
    def now(self) -> _dt.datetime: ...


class SystemClock:
    def now(self) -> _dt.datetime:
        return _dt.datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to: for tests, replay and `fire-due --now`."""

    def __init__(self, at: _dt.datetime) -> None:
        self._at = _aware(at)

    def now(self) -> _dt.datetime:
        return self._at

    def set(self, at: _dt.datetime) -> None:
        self._at = _aware(at)

    def advance(self, **delta: float) -> _dt.datetime:
        self._at += _dt.timedelta(**delta)
        return self._at


_default: Clock = SystemClock()
_override: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("yekuo_clock", default=None)


def now() -> _dt.datetime:
    """The current instant, timezone-aware UTC."""
    clock = _override.get() or _default
    return clock.now()


def set_clock(clock: Clock) -> Clock:
    """Replace the process-wide clock; returns the previous one."""
    global _default
    previous, _default = _default, clock
    return previous


@contextlib.contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Use `clock` in this thread/context only (replay, operator commands)."""
    token = _override.set(clock)
    try:
        yield clock
    finally:
        _override.reset(token)


def _aware(at: _dt.datetime) -> _dt.datetime:
    if at.tzinfo is None:
        raise ValueError("the engine clock only accepts timezone-aware datetimes")
    return at.astimezone(UTC)


class _SpiffDatetime(_dt.datetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        current = now()
        return current.astimezone(tz) if tz else current.astimezone().replace(tzinfo=None)


class _StrictlyIncreasingTime:
    """SpiffWorkflow stamps each state change with `time.time()` and orders joins and our history
    trail by it; two changes within one clock tick would tie and could order differently on
    replay. Strictly increasing stamps make that order the order things happened."""

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            stamp = _time.time()
            if stamp <= self._last:
                stamp = self._last + 1e-6
            self._last = stamp
            return stamp


def install() -> None:
    """Make SpiffWorkflow's timers read the engine clock, and its state stamps strictly ordered."""
    import SpiffWorkflow.task as task_module
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _SpiffDatetime
    if not isinstance(task_module.time, _StrictlyIncreasingTime):
        task_module.time = _StrictlyIncreasingTime()

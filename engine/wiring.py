"""Builds the engine for one process: the only place that connects the packages.

Every entry point — the app factory, the scheduler, the command line, the tests and benchmarks —
calls `install()` once before it runs a case. Nothing registers itself by being imported: the
service handlers come from each package's `SERVICES` table, and the core's hooks (case end,
command writes, timers by purpose, script helpers, calendar imports) are filled here, so a process
started any way at all (a gunicorn worker importing only `api.app`) knows everything it needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.connectors import call_center, outbound, sms_platform, systems
from engine.core import clock, runtime, services, step, store, timers
from engine.deadlines import calendar_import, notices, sla, steps
from engine.dispatch import after_sales, booking, field, modes, plausibility, rescheduling, works
from engine.dispatch import handlers as dispatch_handlers
from engine.intake import capacity, documents, numbers, threads
from engine.messages import sinks, sms

#: Every service operator the bundled models may call, by package.
SERVICES: Mapping[str, services.Handler] = {**numbers.SERVICES, **capacity.SERVICES, **sms.SERVICES,
                                            **dispatch_handlers.SERVICES}
#: Timers the scheduler fires besides BPMN timers, by purpose.
TIMER_HANDLERS: Mapping[str, Callable[..., Any]] = {
    sla.PURPOSE: notices.fire,
    notices.REMINDER: notices.fire_reminder,
    field.ARRIVAL_PURPOSE: field.fire_arrival_check,
    works.PURPOSE: works.fire_follow_up,
    threads.OVERDUE: threads.fire_overdue,
    after_sales.PURPOSE: after_sales.fire_start,
}
#: Form checks that need the case or the database, by form file (`runtime.FORM_CHECKS`).
FORM_CHECKS: Mapping[str, runtime.FormCheck] = {"field-appointment.schema.json": booking.check_form}
#: Checks every staff form's submission goes through (`runtime.SUBMISSION_CHECKS`): plausible
#: times, and documents that belong to the case.
SUBMISSION_CHECKS: tuple[runtime.SubmissionCheck, ...] = (plausibility.check, documents.check_refs)
#: Records a case holds outside its state, released in the transaction that ends it.
CASE_END_HOOKS = (rescheduling.release_for_case, works.close_for_case)


@dataclass(frozen=True)
class Installed:
    """What `install` plugged in, for the start-up log and for tests."""

    services: tuple[str, ...]
    timer_purposes: tuple[str, ...]


_lock = threading.Lock()
_installed: Installed | None = None


def install() -> Installed:
    """Plug every package into the core; idempotent, safe to call from any entry point."""
    global _installed
    with _lock:
        if _installed is None:
            clock.install()
            for name, handler in SERVICES.items():
                services.register(name, handler)
            timers.HANDLERS.update(TIMER_HANDLERS)
            runtime.FORM_CHECKS.update(FORM_CHECKS)
            _add_once(runtime.SUBMISSION_CHECKS, *SUBMISSION_CHECKS)
            _add_once(store.CASE_END_HOOKS, *CASE_END_HOOKS)
            _add_once(store.WRITE_HOOKS, steps.on_write, systems.on_write, modes.on_write, after_sales.on_write)
            sinks.CHANNEL_SINKS.setdefault(outbound.CHANNEL, outbound.sink_from_settings)
            sinks.CHANNEL_SINKS.setdefault(sms_platform.CHANNEL, sms_platform.sink_from_settings)
            _add_once(field.URGING_HOOKS, call_center.on_urging)
            step.SCRIPT_HELPERS["workdays_before"] = steps.workdays_before
            _add_once(calendar_import.after_import, sla.after_calendar_import)
            _installed = Installed(tuple(sorted(SERVICES)), tuple(sorted(timers.HANDLERS)))
        return _installed


def _add_once(hooks: list[Any], *fns: Any) -> None:
    for fn in fns:
        if fn not in hooks:
            hooks.append(fn)

"""Service-task handlers: the registry BPMN `serviceTaskOperator` ids resolve against.

A handler receives a `ServiceCall` and returns JSON-able data, which lands in the task's result
variable. Side effects go through `call.effects` so they commit in the same transaction as the
step that caused them (an SMS is queued only if the step is saved). Every result is recorded in
the history, which is what replay feeds back instead of calling the handler again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datetime as dt

Handler = Callable[["ServiceCall"], Any]
_REGISTRY: dict[str, Handler] = {}


@dataclass
class Effects:
    """Writes a command performs besides the workflow state, applied in its transaction."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def send(self, channel: str, recipient: str, body: str, *, key: str, template: str | None = None) -> None:
        """Queue a message; `key` makes a repeated send (a retried step) a no-op."""
        self.outbox.append({"channel": channel, "recipient": recipient, "body": body,
                            "template": template, "idempotency_key": key})


@dataclass
class ServiceCall:
    operator: str
    params: dict[str, Any]
    data: dict[str, Any]
    instance_id: int | None
    business_key: str | None
    now: dt.datetime
    effects: Effects
    allocate: Callable[[str], int]
    #: The command's database, for handlers that keep records of their own (the dispatch centre's
    #: bookings); they write in short transactions of their own, keyed so that a retry is a no-op.
    db: Any = None


def service(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under the operator id used in BPMN."""

    def register(fn: Handler) -> Handler:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"service operator {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return register


def get(name: str) -> Handler | None:
    return _REGISTRY.get(name)


def operators() -> set[str]:
    return set(_REGISTRY)


def unregister(name: str) -> None:
    """For tests that register throwaway handlers."""
    _REGISTRY.pop(name, None)

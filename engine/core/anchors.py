"""Event anchors: a named earlier event of a case, and the instant it happened.

A task's property may name where something it measures begins (the deadlines package's
`slaFrom`), as one or more anchors separated by commas — the latest of those that happened counts:

- `task:<bpmn id>`: when that element (user task, call activity, any flow node) last completed,
  from the trails of the case's history — or now, if it completed in the running command;
- `field:<data key>`: an ISO date or date-time in the task's data (a date means its start, China
  time), e.g. the customer's `intermediate_requested_on`; never later than now;
- `message:<name>`: when that BPMN message was last received.

The grammar and the look-up are generic (they know events, not business rules), so deploy-time
validation (`validation.lints`) and the deadlines package share them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from engine.core import history
from engine.core.clock import CHINA

KINDS = ("task", "field", "message")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$")


@dataclass(frozen=True)
class Anchor:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse(spec: str) -> list[Anchor]:
    """The anchors of a property value; ValueError says what is wrong with it."""
    anchors = []
    for part in (spec or "").split(","):
        kind, sep, name = part.strip().partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(f"anchor {part.strip()!r} must be one of {', '.join(k + ':<name>' for k in KINDS)}")
        if not _NAME.match(name.strip()):
            raise ValueError(f"anchor {part.strip()!r} names no valid {kind}")
        anchors.append(Anchor(kind, name.strip()))
    return anchors


def resolve(conn: Connection, step: Any, task: Any, spec: str) -> tuple[dt.datetime, str] | None:
    """The latest instant among the anchors of `spec` that happened, with the anchor it came from;
    None if none did. `step` is the running command (`engine.core.step.Step`), `task` the opened task."""
    found: list[tuple[dt.datetime, str]] = []
    past: list[Any] | None = None
    for anchor in parse(spec):
        if anchor.kind == "field":
            when = _date_field(task.data.get(anchor.name), step.now)
        elif _now_in(step, anchor):
            when = step.now
        else:
            past = past if past is not None else list(history.events_of(conn, step.instance_id))
            when = _last_in_history(past, anchor)
        if when is not None:
            found.append((when, str(anchor)))
    return max(found, key=lambda f: f[0]) if found else None


def _now_in(step: Any, anchor: Anchor) -> bool:
    if anchor.kind == "message":
        return anchor.name in step.messages
    return any(entry[0] == anchor.name and entry[1] == "c" for entry in step.trail())


def _last_in_history(events: list[Any], anchor: Anchor) -> dt.datetime | None:
    for ev in reversed(events):
        payload = history.payload_of(ev)
        if anchor.kind == "message":
            if ev.type == "message_received" and payload.get("name") == anchor.name:
                return ev.at
        elif any(e[0] == anchor.name and e[1] == "c" for e in payload.get("trail") or ()):
            return ev.at
    return None


def _date_field(value: Any, now: dt.datetime) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = (dt.datetime.fromisoformat(value) if "T" in value or " " in value.strip()
                else dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0), tzinfo=CHINA))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=CHINA)
    return min(when, now)

"""The auditor's API: case state as of an event, case-file export, chain verification, KPIs."""

from __future__ import annotations

from typing import Any

#: registered by `api.rest.register`
blueprints: list[Any] = []

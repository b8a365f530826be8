"""The dispatch centre's API: teams, capacity, appointments, dispatch lists, field reports, call-backs, works."""

from __future__ import annotations

from typing import Any

#: registered by `api.rest.register`
blueprints: list[Any] = []

"""The analyst's API: check a bundle without deploying, version diff, migration of running cases, export."""

from __future__ import annotations

from typing import Any

#: registered by `api.rest.register`
blueprints: list[Any] = []

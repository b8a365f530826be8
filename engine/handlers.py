"""Built-in service-task handlers (registered on import)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.services import ServiceCall, service

CHINA = dt.timezone(dt.timedelta(hours=8))


@service("yekuo/next_number")
def next_number(call: ServiceCall) -> dict[str, Any]:
    """A business number like YK20260301-0007: prefix, local (UTC+8) date, daily sequence."""
    prefix = str(call.params.get("prefix") or "YK")
    day = call.now.astimezone(CHINA).strftime("%Y%m%d")
    seq = call.allocate(f"number:{prefix}:{day}")
    return {"number": f"{prefix}{day}-{seq:04d}"}

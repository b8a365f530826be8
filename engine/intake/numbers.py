"""Numbers the process hands out: application numbers (YK20260301-0007) and archive numbers.

Service handlers (`yekuo/next_number`, `yekuo/archive_case`); `engine.wiring` registers them.
"""

from __future__ import annotations

from typing import Any

from engine.core.clock import CHINA
from engine.core.services import Handler, ServiceCall


def next_number(call: ServiceCall) -> dict[str, Any]:
    """A business number like YK20260301-0007: prefix, local (UTC+8) date, daily sequence.

    A case whose application number already has this prefix (an application taken online got its
    number at intake, and the customer was told it) keeps it; other numbers (contracts…) are new."""
    prefix = str(call.params.get("prefix") or "YK")
    existing = call.data.get("application_no")
    if isinstance(existing, str) and existing.startswith(prefix):
        return {"number": existing}
    day = call.now.astimezone(CHINA).strftime("%Y%m%d")
    seq = call.allocate(f"number:{prefix}:{day}")
    return {"number": f"{prefix}{day}-{seq:04d}"}


def _attachments(value: Any) -> list[str]:
    """Attachment references anywhere in a value (fileRef objects: {"ref": "att-…", "name": …})."""
    if isinstance(value, dict):
        if isinstance(value.get("ref"), str) and value["ref"].startswith("att-"):
            return [value["ref"]]
        return [r for v in value.values() for r in _attachments(v)]
    if isinstance(value, list):
        return [r for v in value for r in _attachments(v)]
    return []


def archive_case(call: ServiceCall) -> dict[str, Any]:
    """Give the case file an archive number (DA + year + sequence) and list its attachments."""
    year = call.now.astimezone(CHINA).year
    number = f"DA{year}-{call.allocate(f'archive:{year}'):06d}"
    refs = sorted(set(_attachments(call.data)))
    return {"archive_no": number, "attachments": refs, "attachment_count": len(refs),
            "archived_at": call.now.astimezone(CHINA).isoformat()}



SERVICES: dict[str, Handler] = {
    "yekuo/next_number": next_number,
    "yekuo/archive_case": archive_case,
}

"""What a member of staff types into a task's form during the demonstration.

The deployed form's own example is the starting point (index 1 on a first visit the case plans to
rework: a design sent back, a failed inspection, a call-back that raises a problem). The case's own
facts replace the example's (number, customer, address, capacity), dates move to the simulated
day, reported times to just before the simulated now, and confirmed loads stay close to the
applied load.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from typing import Any

from engine.core.clock import CHINA

#: the case's facts a form repeats: the case's value wins over the example's
FACTS = ("application_no", "customer_name", "address", "mobile", "job_kind", "area", "capacity_kw", "capacity_kva",
         "supply_voltage", "account_no", "meter_asset_no", "scheme_voltage")
#: dates a person fills with a day still to come
FUTURE_DATES = ("appointment_date", "expected_date", "effective_date", "docs_promised_by", "planned_date",
                "due_date", "works_due")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def next_workday(day: dt.date, ahead: int = 1) -> dt.date:
    """`ahead` weekdays after `day`."""
    while ahead > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            ahead -= 1
    return day


def _when(key: str, value: str, now: dt.datetime, rng: random.Random) -> str:
    local = now.astimezone(CHINA)
    if _INSTANT.match(value):
        return (local - dt.timedelta(minutes=rng.randint(1, 5))).replace(microsecond=0).isoformat()
    if key in FUTURE_DATES or key.endswith("_by") or key.startswith("planned"):
        return next_workday(local.date(), rng.randint(1, 3)).isoformat()
    return local.date().isoformat()


def _retime(data: Any, now: dt.datetime, rng: random.Random, key: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _retime(v, now, rng, k) for k, v in data.items()}
    if isinstance(data, list):
        return [_retime(v, now, rng, key) for v in data]
    if isinstance(data, str) and (_DATE.match(data) or _INSTANT.match(data)):
        return _when(key, data, now, rng)
    return data


def _loads(data: dict[str, Any], case: dict[str, Any], rng: random.Random) -> None:
    applied_kw = case.get("capacity_kw")
    if "load_confirmed_kw" in data and isinstance(applied_kw, (int, float)):
        data["load_confirmed_kw"] = max(1, round(applied_kw * rng.choice((1.0, 1.0, 1.0, 0.95, 0.9))))
    if "capacity_kva" in data and isinstance(case.get("capacity_kva"), (int, float)):
        data["capacity_kva"] = case["capacity_kva"]
    if "source_count" in data and case.get("power_sources") in (1, 2):
        data["source_count"] = case["power_sources"]
    if "meter_asset_no" in data and not case.get("meter_asset_no"):
        data["meter_asset_no"] = f"110{rng.randrange(10**19):019d}"


def answer(form: dict[str, Any] | None, case: dict[str, Any], *, rework: bool, now: dt.datetime,
           rng: random.Random) -> dict[str, Any]:
    """The submission for a task whose form is `form`, on a case whose data is `case`."""
    examples = (form or {}).get("examples") or [{}]
    data = copy.deepcopy(examples[1 if rework and len(examples) > 1 else 0])
    for key in FACTS:
        if key in data and case.get(key) not in (None, ""):
            data[key] = case[key]
    _loads(data, case, rng)
    for key, prop in ((form or {}).get("properties") or {}).items():
        options = prop.get("enum") if isinstance(prop, dict) else None
        if key in data and options and data[key] not in options:  # a list filled from the case (派工's workers)
            data[key] = rng.choice(options)
    return _retime(data, now, rng)


#: the smallest files the upload check accepts: a one-page PDF, a 1×1 PNG (a "photo")
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                    "f8cfc0f01f0005fe02fea7d6a0a40000000049454e44ae426082")


def upload_files(db: Any, data: Any, *, instance_id: int, uploaded_by: str, root: Any) -> Any:
    """`data` with every attachment ({ref, name}) replaced by a file stored for the case, as the
    form's file input would have uploaded it."""
    from engine.intake import documents

    if isinstance(data, list):
        return [upload_files(db, v, instance_id=instance_id, uploaded_by=uploaded_by, root=root) for v in data]
    if not isinstance(data, dict):
        return data
    if set(data) >= {"ref", "name"} and isinstance(data.get("ref"), str):
        name = str(data["name"])
        photo = name.lower().endswith((".jpg", ".jpeg", ".png"))
        filename = name.rsplit(".", 1)[0] + (".png" if photo else ".pdf")
        info = documents.store(db, PNG if photo else PDF + name.encode(), filename=filename,
                               uploaded_by=uploaded_by, root=root, instance_id=instance_id)
        return {**data, "ref": info.ref, "name": filename}
    return {k: upload_files(db, v, instance_id=instance_id, uploaded_by=uploaded_by, root=root)
            for k, v in data.items()}

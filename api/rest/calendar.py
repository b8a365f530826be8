"""The working-day calendar: loaded years (staff read), export a year as CSV, import a year (admins)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api.rest.common import actor, allow, db, path_param
from api.rest.schemas import ImportReportSchema, YearSchema
from engine.core.errors import InvalidData, NotFound
from engine.deadlines import calendar, calendar_import

blp = Blueprint("calendar", __name__, url_prefix="/api/v1/calendar",
                description="Official working days (调休 included); deadlines count them.")
YEAR = [path_param("year", 2030)]
_DATE_AT_LINE_START = re.compile(r"^\s*\"?(\d{4})-\d{2}-\d{2}", re.MULTILINE)


def _example_year(year: int) -> str:
    holidays = {dt.date(year, 1, 1): "元旦"}
    lines = ["date,type,name"]
    day = dt.date(year, 1, 1)
    while day.year == year:
        if day in holidays:
            lines.append(f"{day.isoformat()},holiday,{holidays[day]}")
        else:
            lines.append(f"{day.isoformat()},{'weekend' if day.weekday() >= 5 else 'workday'},")
        day += dt.timedelta(days=1)
    return "\n".join(lines) + "\n"


CSV_EXAMPLE = _example_year(2030)


@blp.route("", methods=["GET"])
@allow(blp, "staff.read")
@blp.response(200, YearSchema(many=True))
def list_years() -> Any:
    return [{**y.__dict__, "complete": y.complete} for y in calendar.years(db())]


@blp.route("/<int(min=1900, max=2200):year>", methods=["GET"], parameters=YEAR)
@allow(blp, "staff.read")
@blp.doc(summary="Export a year as CSV (the import format)")
@blp.response(200, content_type="text/csv", description="`date,type,name`, one line per day",
              example="date,type,name\n2030-01-01,holiday,元旦\n")
def export_year(year: int) -> Any:
    try:
        text = calendar.export_csv(db(), year)
    except calendar.CalendarMissing:
        raise NotFound(f"no calendar is loaded for {year}") from None
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{year}.csv"'})


@blp.route("/<int(min=1900, max=2200):year>", methods=["POST"], parameters=YEAR)
@allow(blp, "calendar.import")
@blp.doc(summary="Import a year",
         description="The body is the whole year as CSV (`date,type,name`; types workday, weekend, holiday, "
                     "adjusted_workday) or the JSON format of `yekuo calendar import`. Every day of the year must be "
                     "listed. Identical content changes nothing (`changed: false`); provisional deadlines are "
                     "recomputed after a change. 422 lists every problem with its line.",
         requestBody={"required": True, "content": {
             "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}}})
@blp.response(200, ImportReportSchema)
def import_year(year: int) -> Any:
    if not 1900 <= year <= 2200:
        raise InvalidData("not a plausible calendar year", details={"year": ["1900–2200"]})
    raw = request.get_data(cache=False)
    if len(raw) > calendar_import.MAX_FILE_BYTES:
        raise InvalidData("the file is too large", details={"_body": [f"at most {calendar_import.MAX_FILE_BYTES} bytes"]})
    text = raw.decode("utf-8", errors="replace")
    others = sorted({int(y) for y in _DATE_AT_LINE_START.findall(text)} - {year})
    if others:
        raise InvalidData(f"the file holds days of {', '.join(map(str, others))}, not only {year}",
                          details={"year": [f"the path says {year}"]})
    report = calendar_import.import_year(db(), raw, actor=actor().name, name=f"{year}.csv")
    return report

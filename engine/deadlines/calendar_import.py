"""Filling the working-day calendar: seeding years from `chinesecalendar`, importing a year's file.

The `chinesecalendar` package has the official data 2004–2026; later years come from an
administrator's file (README, "Working-day calendar"), checked completely before one transaction
replaces the year. Either way the `after_import` hooks run afterwards, so the SLA module can
recompute deadlines that were counted provisionally.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import Conflict, YekuoError
from engine.core.models import calendar_day_t
from engine.deadlines.calendar import ONE_DAY, invalidate

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
KINDS = ("workday", "weekend", "holiday", "adjusted_workday")
WORKING_KINDS = frozenset({"workday", "adjusted_workday"})
ALIASES = {"工作日": "workday", "周末": "weekend", "休息日": "weekend", "节假日": "holiday",
           "法定节假日": "holiday", "补班": "adjusted_workday", "调休上班": "adjusted_workday"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

after_import: list[Callable[[Database, int], None]] = []
"""Called as `hook(db, year)` after a year was imported or seeded (committed, content changed)."""


class CalendarImportError(YekuoError):
    """A calendar file was refused; `problems` lists every finding as `file:line: message`."""

    code, status = "invalid_calendar", 422

    def __init__(self, file_name: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in calendar file {file_name}", details=problems)


@dataclass
class ImportReport:
    """What an import did; `changed` is False when the year already held exactly this content."""

    year: int
    source: str
    days: int
    workdays: int
    holidays: int
    adjusted_workdays: int
    changed: bool
    changed_days: int
    previous_source: str | None = None
    hook_errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        counts = (f"{self.days} days, {self.workdays} working days, {self.holidays} holidays, "
                  f"{self.adjusted_workdays} adjusted working days")
        if not self.changed:
            return f"{self.year} unchanged ({counts}; source {self.previous_source})"
        verb = f"replaced ({self.changed_days} day(s) changed, was {self.previous_source})" \
            if self.previous_source else "imported"
        return f"{self.year} {verb} from {self.source}: {counts}"


# ---------------------------------------------------------------------------------------------
# seeding from the package


def package_source() -> str:
    return f"chinesecalendar {metadata.version('chinesecalendar')}"


@functools.lru_cache(maxsize=1)
def _package_days() -> tuple[tuple[dt.date, bool, str, str | None], ...]:
    """Every day of every year `chinesecalendar` has official data for, classified once."""
    from chinese_calendar import constants

    chinese = {h.value: h.chinese for h in constants.Holiday}
    covered = sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})
    out = []
    day, end = dt.date(covered[0], 1, 1), dt.date(covered[-1], 12, 31)
    while day <= end:
        if day in constants.workdays:
            out.append((day, True, "adjusted_workday", chinese.get(constants.workdays[day])))
        elif day in constants.holidays:
            out.append((day, False, "holiday", chinese.get(constants.holidays[day])))
        elif day.weekday() >= 5:
            out.append((day, False, "weekend", None))
        else:
            out.append((day, True, "workday", None))
        day += ONE_DAY
    return tuple(out)


def package_years() -> list[int]:
    """The years the installed package has official data for."""
    return sorted({d[0].year for d in _package_days()})


def seed_from_package(db: Database, *, actor: str = "system", only: Iterable[int] | None = None) -> int:
    """Load every packaged year the table does not hold yet; returns the number of days added.

    A year already present — seeded earlier or imported by an administrator — is never
    overwritten, so `yekuo init` can run this every time. `only` limits the years (tests seed
    the two or three they need: all 23 years take ~0.2 s).
    """
    t = calendar_day_t
    with db.read() as conn:
        present = set(conn.execute(select(t.c.year).distinct()).scalars())
    wanted = None if only is None else set(only)
    source, now = package_source(), clock.now()
    rows = [{"date": d, "year": d.year, "is_workday": w, "kind": k, "name": n, "source": source,
             "imported_at": now, "imported_by": actor}
            for d, w, k, n in _package_days()
            if d.year not in present and (wanted is None or d.year in wanted)]
    if not rows:
        return 0
    try:
        with db.write() as conn:
            conn.execute(insert(t), rows)
    except IntegrityError:  # a concurrent `yekuo init` seeded the same years first
        return 0
    invalidate(db)
    _run_hooks(db, sorted({r["year"] for r in rows}))
    return len(rows)


# ---------------------------------------------------------------------------------------------
# importing a year


@dataclass(frozen=True)
class _Entry:
    line: int
    date: dt.date
    kind: str
    name: str | None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def import_year(db: Database, file: Path | bytes, *, actor: str, name: str | None = None) -> ImportReport:
    """Replace one year with the content of a calendar file, atomically, after validating all of it.

    Formats (README, "Working-day calendar"): CSV with the header `date,type,name` (primary), or
    JSON `{"year": 2027, "days": [{"date", "type", "name"}]}`. Every problem is reported with its
    line. Identical content is a no-op (no write, no hooks); otherwise the year's rows are deleted
    and inserted in one transaction with source `import:<file name>`, then `after_import` runs.
    """
    raw, file_name = _read(file, name)
    year, entries = _parse(raw, file_name)
    t = calendar_day_t
    new = {e.date: (e.kind, e.name) for e in entries}
    with db.read() as conn:
        old_rows = conn.execute(select(t.c.date, t.c.kind, t.c.name, t.c.source).where(t.c.year == year)).all()
    old = {r.date: (r.kind, r.name or None) for r in old_rows}
    previous = old_rows[0].source if old_rows else None
    source = f"import:{file_name}"[:200]
    counts = collections.Counter(kind for kind, _ in new.values())
    report = ImportReport(year, source, len(new), counts["workday"] + counts["adjusted_workday"],
                          counts["holiday"], counts["adjusted_workday"], changed=new != old,
                          changed_days=sum(1 for d, v in new.items() if old.get(d) != v), previous_source=previous)
    if not report.changed:
        report.source = previous or source
        return report
    now = clock.now()
    rows = [{"date": d, "year": year, "is_workday": kind in WORKING_KINDS, "kind": kind, "name": label,
             "source": source, "imported_at": now, "imported_by": actor} for d, (kind, label) in sorted(new.items())]
    try:
        with db.write() as conn:
            conn.execute(delete(t).where(t.c.year == year))
            conn.execute(insert(t), rows)
    except IntegrityError:
        raise Conflict(f"another import of {year} ran at the same time; run this one again") from None
    invalidate(db)
    report.hook_errors = _run_hooks(db, [year])
    return report


def _run_hooks(db: Database, changed_years: Iterable[int]) -> list[str]:
    """The data is committed by now: a failing hook is logged and reported, never undoes it."""
    errors = []
    for year in changed_years:
        for hook in list(after_import):
            try:
                hook(db, year)
            except Exception as exc:  # noqa: BLE001 — reported to the caller, not swallowed
                log.exception("calendar hook %r failed for %s", hook, year)
                errors.append(f"{getattr(hook, '__qualname__', hook)}({year}): {type(exc).__name__}: {exc}")
    return errors


def on_year_imported(hook: Callable[[Database, int], None]) -> Callable[[Database, int], None]:
    """Decorator form of `after_import.append(hook)`."""
    after_import.append(hook)
    return hook


def _read(file: Path | bytes, name: str | None) -> tuple[str, str]:
    if isinstance(file, (bytes, bytearray)):
        data, file_name = bytes(file), name or "upload"
    else:
        path = Path(file)
        file_name = name or path.name
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CalendarImportError(file_name, [f"{file_name}: larger than {MAX_FILE_BYTES} bytes"])
            data = path.read_bytes()
        except FileNotFoundError:
            raise YekuoError(f"{path}: no such file") from None
        except OSError as exc:
            raise YekuoError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise CalendarImportError(file_name, [f"{file_name}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # a CSV saved by Chinese Excel
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise CalendarImportError(file_name, [f"{file_name}: not UTF-8 or GB18030 text"]) from None
    return text, file_name


def _parse(text: str, file_name: str) -> tuple[int, list[_Entry]]:
    problems: list[tuple[int, str]] = []
    if text.lstrip().startswith("{"):
        declared, entries = _parse_json(text, problems)
    else:
        declared, entries = None, _parse_csv(text, problems)
    year = _check(declared, entries, problems)
    if problems:
        problems.sort(key=lambda p: p[0])
        raise CalendarImportError(file_name, [f"{file_name}:{line}: {msg}" for line, msg in problems])
    assert year is not None
    return year, entries


def _parse_csv(text: str, problems: list[tuple[int, str]]) -> list[_Entry]:
    entries: list[_Entry] = []
    header_seen = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        if not header_seen:
            header_seen = True
            if [f.lower() for f in fields] not in (["date", "type", "name"], ["date", "type"]):
                problems.append((number, f"expected the header `date,type,name`, found {line.strip()!r}"))
            continue
        if len(fields) not in (2, 3):
            problems.append((number, f"expected 3 fields `date,type,name`, found {len(fields)}: {line.strip()!r}"))
            continue
        entry = _entry(number, fields[0], fields[1], fields[2] if len(fields) == 3 else "", problems)
        if entry:
            entries.append(entry)
    if not header_seen:
        problems.append((1, "empty file: expected the header `date,type,name` and one line per day"))
    return entries


def _parse_json(text: str, problems: list[tuple[int, str]]) -> tuple[int | None, list[_Entry]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append((exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return None, []
    if not isinstance(doc, dict) or not isinstance(doc.get("days"), list):
        problems.append((1, 'expected an object {"year": 2027, "days": [{"date", "type", "name"}, ...]}'))
        return None, []
    year = doc.get("year")
    if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
        problems.append((_json_line(text, '"year"'), f'"year" must be a number like 2027, not {year!r}'))
        year = None
    lines = _json_element_lines(text, len(doc["days"]))
    entries = []
    for i, item in enumerate(doc["days"]):
        line = lines[i]
        if not isinstance(item, dict):
            problems.append((line, f"days[{i}] must be an object with date, type and name"))
            continue
        unknown = set(item) - {"date", "type", "name"}
        if unknown:
            problems.append((line, f"days[{i}] has unknown key(s) {', '.join(sorted(unknown))}"))
            continue
        entry = _entry(line, str(item.get("date", "")), str(item.get("type", "")), str(item.get("name") or ""), problems)
        if entry:
            entries.append(entry)
    return year, entries


def _json_line(text: str, token: str) -> int:
    pos = text.find(token)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else 1


def _json_element_lines(text: str, count: int) -> list[int]:
    """The line where each element of the "days" array starts (json.loads keeps no positions)."""
    fallback = [_json_line(text, '"days"')] * count
    match = re.search(r'"days"\s*:\s*\[', text)
    if not match:
        return fallback
    decoder, pos, lines = json.JSONDecoder(), match.end(), []
    try:
        for _ in range(count):
            pos = _skip(text, pos, ", \t\r\n")
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = decoder.raw_decode(text, pos)
    except (json.JSONDecodeError, IndexError):
        return fallback
    return lines


def _skip(text: str, pos: int, chars: str) -> int:
    while text[pos] in chars:
        pos += 1
    return pos


def _entry(line: int, date_text: str, kind_text: str, name: str, problems: list[tuple[int, str]]) -> _Entry | None:
    if not _DATE.fullmatch(date_text):
        problems.append((line, f"{date_text!r} is not a date like 2027-01-01"))
        return None
    try:
        day = dt.date.fromisoformat(date_text)
    except ValueError:
        problems.append((line, f"{date_text} is not a real date"))
        return None
    kind = ALIASES.get(kind_text, kind_text.lower())
    if kind not in KINDS:
        problems.append((line, f"{day}: unknown type {kind_text!r}; use one of {', '.join(KINDS)}"))
        return None
    if len(name) > 60:
        problems.append((line, f"{day}: name longer than 60 characters"))
        return None
    return _Entry(line, day, kind, name or None)


def _check(declared: int | None, entries: list[_Entry], problems: list[tuple[int, str]]) -> int | None:
    """One year, every date exactly once, every type possible on its weekday."""
    if declared is None and not entries:
        if not problems:
            problems.append((1, "no days in the file"))
        return None
    year = declared if declared is not None else collections.Counter(e.date.year for e in entries).most_common(1)[0][0]
    if not 1900 <= year <= 2200:
        problems.append((entries[0].line if entries else 1, f"{year} is not a plausible calendar year"))
        return None
    seen: dict[dt.date, _Entry] = {}
    for e in entries:
        if e.date.year != year:
            problems.append((e.line, f"{e.date} is not in {year}: a file holds exactly one year"))
            continue
        if e.date in seen:
            first = seen[e.date]
            what = "listed twice" if first.kind == e.kind else f"listed twice with conflicting types ({first.kind} there, {e.kind} here)"
            problems.append((e.line, f"{e.date} {what}: first on line {first.line}"))
            continue
        seen[e.date] = e
        weekday, weekend = WEEKDAYS[e.date.weekday()], e.date.weekday() >= 5
        if e.kind == "workday" and weekend:
            problems.append((e.line, f"{e.date} is a {weekday}: a working {weekday} is type adjusted_workday (调休)"))
        elif e.kind == "weekend" and not weekend:
            problems.append((e.line, f"{e.date} is a {weekday}, not a weekend day: use workday or holiday"))
        elif e.kind == "adjusted_workday" and not weekend:
            problems.append((e.line, f"{e.date} is a {weekday}: adjusted_workday (调休) is only for a "
                                     f"Saturday or Sunday; use workday"))
    problems.extend(_missing(year, seen, entries))
    return year


def _missing(year: int, seen: dict[dt.date, _Entry], entries: list[_Entry]) -> list[tuple[int, str]]:
    """Gaps as ranges, each located at the line of the day before it (or after it, at the start)."""
    out, day, end = [], dt.date(year, 1, 1), dt.date(year, 12, 31)
    last_line = max((e.line for e in entries), default=1)
    while day <= end:
        if day in seen:
            day += ONE_DAY
            continue
        gap_start = day
        while day <= end and day not in seen:
            day += ONE_DAY
        gap_end, size = day - ONE_DAY, (day - gap_start).days
        span = str(gap_start) if size == 1 else f"{gap_start} … {gap_end} ({size} days)"
        before = seen.get(gap_start - ONE_DAY)
        after = seen.get(day)
        if before:
            out.append((before.line, f"missing {span} after {before.date}"))
        elif after:
            out.append((after.line, f"missing {span} before {after.date}"))
        else:
            out.append((last_line, f"missing {span}: every day of {year} must be listed"))
    return out

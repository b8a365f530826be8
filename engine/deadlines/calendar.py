"""Working days (工作日): the official calendar in the `calendar_day` table, and counting in it.

Time limits in 业扩报装 are counted in working days, start day excluded (DOMAIN §2–§3). A weekday
is not simply Monday–Friday: statutory holidays are off, and 调休 Saturdays/Sundays
(`adjusted_workday`) are working days. The State Council publishes a year late in the year before,
so the calendar lives in a table — seeded from the `chinesecalendar` package (official data
2004–2026) and extended by an administrator's import — never in code.

A year is present completely or not at all. Counting into a year without official data refuses
with `CalendarMissing` by default, because a silently wrong deadline is worse than none; with the
fallback allowed (`YEKUO_CALENDAR_FALLBACK=1` or `fallback=True`) that year counts Monday–Friday
and every result that crossed it is marked `provisional`. Importing the year calls the
`after_import` hooks, so the SLA module can recompute provisional deadlines.

Loaded years are cached per `Database` (`db.cache`) as one flag byte per day; the cache is
dropped on import in this process; for imports made by other processes a loaded year is re-read
after `CACHE_SECONDS` (5 min) and a missing one after `MISSING_CACHE_SECONDS` (5 s — short, so a
newly imported year ends refusals almost at once, yet a fallback count over a missing year does
not query for every day).
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from engine.core import clock
from engine.core.db import Database
from engine.core.errors import Conflict, YekuoError
from engine.core.models import calendar_day_t

log = logging.getLogger(__name__)

CHINA = dt.timezone(dt.timedelta(hours=8))
BUSINESS_CLOSE = dt.time(17, 0)
CACHE_SECONDS = 300.0
MISSING_CACHE_SECONDS = 5.0
MAX_WORKDAYS = 2500  # about ten years: far beyond any time limit, small enough to stop a runaway
MAX_FILE_BYTES = 1024 * 1024
KINDS = ("workday", "weekend", "holiday", "adjusted_workday")
WORKING_KINDS = frozenset({"workday", "adjusted_workday"})
ALIASES = {"工作日": "workday", "周末": "weekend", "休息日": "weekend", "节假日": "holiday",
           "法定节假日": "holiday", "补班": "adjusted_workday", "调休上班": "adjusted_workday"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ONE_DAY = dt.timedelta(days=1)
_CACHE_KEY = ("calendar", "years")

after_import: list[Callable[[Database, int], None]] = []
"""Called as `hook(db, year)` after a year was imported or seeded (committed, content changed)."""


class CalendarMissing(YekuoError):
    """A count reached a year with no official calendar and the fallback is not allowed."""

    code, status = "calendar_missing", 409

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(f"no official working-day calendar for {year}; "
                         f"import it with `yekuo calendar import FILE`", details={"year": year})


class CalendarImportError(YekuoError):
    """A calendar file was refused; `problems` lists every finding as `file:line: message`."""

    code, status = "invalid_calendar", 422

    def __init__(self, file_name: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in calendar file {file_name}", details=problems)


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class WorkdayResult:
    """The day a count ended on; `provisional` when it crossed a year counted by the fallback."""

    date: dt.date
    provisional: bool = False
    fallback_years: tuple[int, ...] = ()

    def close_at(self, close: dt.time = BUSINESS_CLOSE, tz: dt.tzinfo = CHINA) -> dt.datetime:
        """The end of that business day as an aware UTC instant (what deadlines are stored as)."""
        return dt.datetime.combine(self.date, close, tzinfo=tz).astimezone(dt.timezone.utc)

    def __str__(self) -> str:
        if not self.provisional:
            return self.date.isoformat()
        years = ", ".join(map(str, self.fallback_years))
        return f"{self.date.isoformat()} (provisional: no official calendar for {years}, counted Monday–Friday)"


@dataclass(frozen=True)
class YearInfo:
    """One loaded year, for `yekuo calendar status` and admin pages."""

    year: int
    days: int
    workdays: int
    holidays: int
    adjusted_workdays: int
    source: str
    imported_at: dt.datetime | None
    imported_by: str

    @property
    def complete(self) -> bool:
        return self.days == _days_in_year(self.year)


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
# counting


@dataclass(frozen=True)
class _Year:
    year: int
    first: int  # ordinal of 1 January
    flags: bytes  # one byte per day of the year: 1 = working day
    official: bool

    def workday(self, day: dt.date) -> bool:
        return self.flags[day.toordinal() - self.first] == 1


def add_workdays(db: Database, start: dt.date, n: int, *, fallback: bool | None = None) -> WorkdayResult:
    """The n-th working day after `start` (start day excluded), as time limits count.

    `n = 0` returns `start` itself, whatever kind of day it is: adding nothing moves nothing, so
    `workdays_between(start, add_workdays(start, n).date) == n` holds for every n ≥ 0.
    `fallback=None` takes `Settings.calendar_fallback`; see the module doc for what it changes.
    """
    if isinstance(start, dt.datetime):  # its UTC date may not be the local business date
        raise YekuoError("add_workdays takes a date; use deadline() or business_date() for an instant")
    if n < 0 or n > MAX_WORKDAYS:
        raise YekuoError(f"the number of working days must be between 0 and {MAX_WORKDAYS}, not {n}")
    day, counted, cal = start, 0, None
    fallback_years: list[int] = []
    while counted < n:
        day += ONE_DAY
        if cal is None or cal.year != day.year:
            cal = _year(db, day.year, fallback)
            if not cal.official:
                fallback_years.append(cal.year)
        counted += cal.workday(day)
    return WorkdayResult(day, bool(fallback_years), tuple(fallback_years))


def workdays_between(db: Database, a: dt.date, b: dt.date, *, fallback: bool | None = None) -> int:
    """Working days in (a, b] — the elapsed working time from `a` to `b`; negative if b < a.

    The inverse of `add_workdays`. With the fallback, a year without official data counts
    Monday–Friday, so the result is an estimate.
    """
    if b < a:
        return -workdays_between(db, b, a, fallback=fallback)
    total, lo = 0, a + ONE_DAY
    while lo <= b:
        cal = _year(db, lo.year, fallback)
        hi = min(b, dt.date(lo.year, 12, 31))
        total += cal.flags[lo.toordinal() - cal.first:hi.toordinal() - cal.first + 1].count(1)
        lo = hi + ONE_DAY
    return total


def is_workday(db: Database, day: dt.date, *, fallback: bool | None = None) -> bool:
    """Whether `day` is a working day in the official calendar (weekday-only under the fallback)."""
    return _year(db, day.year, fallback).workday(day)


def business_date(instant: dt.datetime, tz: dt.tzinfo = CHINA) -> dt.date:
    """The local (China) calendar date of an instant: counting starts from the local day."""
    if instant.tzinfo is None:
        raise YekuoError("a naive datetime has no business date; give it a UTC offset")
    return instant.astimezone(tz).date()


def deadline(db: Database, start: dt.datetime, n_workdays: int, *, close: dt.time = BUSINESS_CLOSE,
             tz: dt.tzinfo = CHINA, fallback: bool | None = None) -> dt.datetime:
    """End of the business day (17:00 China time by default) of the n-th working day after the
    start's local date, as an aware UTC instant: a limit of N days is met by close of business.

    Use `add_workdays(...).close_at()` instead when the `provisional` flag is needed too.
    """
    return add_workdays(db, business_date(start, tz), n_workdays, fallback=fallback).close_at(close, tz)


def _year(db: Database, year: int, fallback: bool | None) -> _Year:
    found = _load_year(db, year)
    if found is not None:
        return found
    if fallback is None:
        from engine.core import config

        fallback = config.from_env().calendar_fallback
    if not fallback:
        raise CalendarMissing(year)
    return _weekends_only(year)


def _load_year(db: Database, year: int) -> _Year | None:
    cache: dict[int, tuple[float, _Year | None]] = db.cache.setdefault(_CACHE_KEY, {})
    hit = cache.get(year)
    if hit is not None and time.monotonic() - hit[0] < (CACHE_SECONDS if hit[1] else MISSING_CACHE_SECONDS):
        return hit[1]
    t = calendar_day_t
    with db.read() as conn:
        rows = conn.execute(select(t.c.date, t.c.is_workday).where(t.c.year == year)).all()
    if not rows:
        cache[year] = (time.monotonic(), None)
        return None
    first = dt.date(year, 1, 1).toordinal()
    flags = bytearray(_days_in_year(year))
    for day, working in rows:
        flags[day.toordinal() - first] = 1 if working else 0
    if len(rows) != len(flags):  # imports and seeding never leave a partial year; a hand edit might
        raise YekuoError(f"the working-day calendar for {year} is incomplete ({len(rows)} of "
                         f"{len(flags)} days); re-import it with `yekuo calendar import FILE`")
    cal = _Year(year, first, bytes(flags), official=True)
    cache[year] = (time.monotonic(), cal)
    return cal


@functools.lru_cache(maxsize=64)
def _weekends_only(year: int) -> _Year:
    first = dt.date(year, 1, 1).toordinal()
    flags = bytes(1 if dt.date.fromordinal(first + i).weekday() < 5 else 0 for i in range(_days_in_year(year)))
    return _Year(year, first, flags, official=False)


def _days_in_year(year: int) -> int:
    return (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days


def invalidate(db: Database) -> None:
    """Forget the cached years of this database (after any change to `calendar_day`)."""
    db.cache.pop(_CACHE_KEY, None)


# ---------------------------------------------------------------------------------------------
# loaded years


def years(db: Database) -> list[YearInfo]:
    """Every year in the table with its counts and provenance, oldest first."""
    t = calendar_day_t
    q = (select(t.c.year, func.count(), func.sum(case((t.c.is_workday, 1), else_=0)),
                func.sum(case((t.c.kind == "holiday", 1), else_=0)),
                func.sum(case((t.c.kind == "adjusted_workday", 1), else_=0)),
                func.max(t.c.source), func.max(t.c.imported_at), func.max(t.c.imported_by))
         .group_by(t.c.year).order_by(t.c.year))
    with db.read() as conn:
        rows = conn.execute(q).all()
    return [YearInfo(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), r[5], _aware(r[6]), r[7]) for r in rows]


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """`max()` bypasses the column type on SQLite, which then hands back naive text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def export_csv(db: Database, year: int) -> str:
    """A year in the import format: the easiest start for next year's file."""
    t = calendar_day_t
    with db.read() as conn:
        rows = conn.execute(select(t.c.date, t.c.kind, t.c.name, t.c.source)
                            .where(t.c.year == year).order_by(t.c.date)).all()
    if not rows:
        raise CalendarMissing(year)
    lines = [f"# working-day calendar {year}, exported from Yekuo (source: {rows[0].source})", "date,type,name"]
    lines += [f"{r.date.isoformat()},{r.kind},{_csv_field(r.name or '')}" for r in rows]
    return "\n".join(lines) + "\n"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


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
